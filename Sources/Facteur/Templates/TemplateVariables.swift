/// The names a message template may use, and the check that a template uses no others.
public struct TemplateVariables: Sendable {
    /// Top-level names (`first_name`, `unsubscribe_url`) and dotted names (`company.name`).
    public let names: Set<String>

    /// Subscriber fields, company, topic, campaign and link helpers, plus the registered custom
    /// fields, both as `attributes.<key>` and as `<key>`.
    public static func forMessages(customFields: [String]) -> TemplateVariables {
        var names: Set<String> = [
            "email", "name", "first_name", "last_name", "locale", "timezone", "score", "status", "subscriber_id",
            "company", "company.name", "company.domain", "company.industry", "company.naics", "company.employees",
            "company.revenue", "company.region",
            "topic", "topic.key", "topic.name", "topic.description",
            "campaign", "campaign.id", "campaign.name", "campaign.subject",
            "unsubscribe_url", "preferences_url", "view_in_browser_url", "attributes",
            "footer", "footer.preferences", "footer.unsubscribe",
        ]
        for key in customFields {
            names.insert(key)
            names.insert("attributes." + key)
        }
        return TemplateVariables(names: names)
    }

    public init(names: Set<String>) {
        self.names = names
    }

    /// One problem in a template source, with its position.
    public struct Problem: Sendable, Equatable, Error, CustomStringConvertible {
        public var part: String
        public var line: Int
        public var column: Int
        public var message: String
        public var description: String { "\(part) line \(line), column \(column): \(message)" }
    }

    /// Every unknown variable, unbalanced section and unsupported tag in `source`.
    func problems(in source: String, part: String, partials: Set<String>) -> [Problem] {
        let tags: [MustacheTags.Tag]
        do {
            tags = try MustacheTags.scan(source)
        } catch {
            return [Problem(part: part, line: error.line, column: error.column, message: error.message)]
        }
        var problems: [Problem] = []
        var open: [MustacheTags.Tag] = []
        for tag in tags {
            switch tag.kind {
            case .variable, .unescaped:
                if tag.name != ".", !names.contains(tag.name) {
                    problems.append(
                        Problem(
                            part: part, line: tag.line, column: tag.column, message: "unknown variable '\(tag.name)'\(suggestion(tag.name))"
                        ))
                }
            case .section, .inverted:
                if !names.contains(tag.name) {
                    problems.append(
                        Problem(
                            part: part, line: tag.line, column: tag.column, message: "unknown variable '\(tag.name)'\(suggestion(tag.name))"
                        ))
                }
                open.append(tag)
            case .block:
                open.append(tag)
            case .parent:
                if !partials.contains(tag.name) {
                    problems.append(Problem(part: part, line: tag.line, column: tag.column, message: "unknown layout '\(tag.name)'"))
                }
                open.append(tag)
            case .close:
                guard let last = open.popLast() else {
                    problems.append(Problem(part: part, line: tag.line, column: tag.column, message: "'{{/\(tag.name)}}' closes nothing"))
                    continue
                }
                if last.name != tag.name {
                    problems.append(
                        Problem(
                            part: part, line: tag.line, column: tag.column,
                            message: "'{{/\(tag.name)}}' closes '\(last.name)' opened at line \(last.line)"))
                }
            case .partial:
                if !partials.contains(tag.name) {
                    problems.append(Problem(part: part, line: tag.line, column: tag.column, message: "unknown partial '\(tag.name)'"))
                }
            case .comment, .pragma, .setDelimiter:
                break
            }
        }
        for tag in open {
            problems.append(Problem(part: part, line: tag.line, column: tag.column, message: "'\(tag.name)' is never closed"))
        }
        return problems
    }

    /// " (did you mean 'first_name'?)" for a near miss.
    private func suggestion(_ name: String) -> String {
        let best = names.min { distance($0, name) < distance($1, name) }
        guard let best, distance(best, name) <= 2 else { return "" }
        return " (did you mean '\(best)'?)"
    }

    private func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
