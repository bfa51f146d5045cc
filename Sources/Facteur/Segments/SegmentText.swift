import Foundation

/// The text syntax of rule trees, for people:
///
///     country = "FR" and (opened within 30d or clicked campaign 12)
///       and event page_view where path = "/pricing" count >= 5 within 7d
///       and not topic "newsletter" unsubscribed
///
/// `and` binds tighter than `or`; `not` applies to what follows; parentheses group. Leaves:
/// - a field: `name op value`, or `field name op value` when the name is a keyword; `company name op value`
///   (`company attributes.tier = "gold"` for a company's own attributes);
///   operators `= != > >= < <= in [..] not in [..] contains starts with ends with between A and B exists not exists`;
/// - `topic "key" [subscribed | unsubscribed | never]`;
/// - `opened | clicked | received | bounced | unsubscribed | complained` then, in any order,
///   `campaign N`, `last N campaigns`, `link "url*"`, `within 30d`, `from "date" [to "date"]`,
///   `count >= 3` (or `= < <= > between A and B`), `including machines`;
/// - `event name [where prop op value, prop op value] [within …] [count …] [sum(prop) >= 1000]`;
/// - `device mobile [mostly] [within …]`, `client "Gmail" [mostly] [within …]`, `segment 7`.
///
/// Values are JSON strings, numbers, `true`/`false`, lists `[…]`, and relative dates (`-30d`).
/// The text parses to the JSON form, which is then checked like any API input; a mistake is
/// reported with its line and column and what was expected.
public enum SegmentText {
    /// Parses text to the rule tree's JSON form and checks it.
    public static func parse(_ text: String, schema: SegmentSchema) throws -> SegmentRule {
        var parser = Parser(text)
        let json = try parser.parseAll()
        do {
            return try SegmentRule(json: json, schema: schema)
        } catch let error as FacteurError {
            // Point at the condition the checked path belongs to.
            let field = error.field ?? ""
            let place = parser.positions.filter { field == $0.key || field.hasPrefix($0.key + ".") || $0.key.isEmpty }
                .max { $0.key.count < $1.key.count }?.value
            let at = place.map { "line \($0.line), column \($0.column): " } ?? ""
            throw FacteurError(error.kind, at + (field.isEmpty ? "" : "\(field): ") + error.message, field: "text")
        }
    }

    /// The text of a tree; `parse` reads it back to an equal tree.
    public static func format(_ rule: SegmentRule) -> String {
        switch rule {
        case .and(let children): return children.map { group($0, inside: "and") }.joined(separator: " and ")
        case .or(let children): return children.map { group($0, inside: "or") }.joined(separator: " or ")
        case .not(let child): return "not " + group(child, inside: "not")
        case .field(let condition):
            let name = keywords.contains(condition.field) ? "field \(condition.field)" : condition.field
            return "\(name) \(comparison(condition.op, condition.value.json))"
        case .company(let condition): return "company \(condition.field) \(comparison(condition.op, condition.value.json))"
        case .topic(let key, let state): return "topic \(quote(key)) \(state.rawValue)"
        case .activity(let activity):
            var words = [activity.kind.rawValue]
            if let campaign = activity.campaign { words.append("campaign \(campaign)") }
            if let last = activity.lastCampaigns { words.append("last \(last) campaigns") }
            if let link = activity.link { words.append("link \(quote(link))") }
            if let window = activity.window { words.append(format(window)) }
            if let count = format(activity.count) { words.append(count) }
            if activity.includeMachine { words.append("including machines") }
            return words.joined(separator: " ")
        case .event(let event):
            var words = ["event", name(event.name)]
            if !event.filters.isEmpty {
                words.append("where " + event.filters.map { "\(name($0.property)) \(comparison($0.op, $0.value))" }.joined(separator: ", "))
            }
            if let window = event.window { words.append(format(window)) }
            if let count = format(event.count) { words.append(count) }
            if let aggregate = event.aggregate {
                words.append(
                    "\(aggregate.function.rawValue)(\(name(aggregate.property))) \(comparison(aggregate.op, aggregate.value.json))")
            }
            return words.joined(separator: " ")
        case .technographic(let technographic):
            var words = [
                technographic.dimension.rawValue, technographic.dimension == .device ? technographic.value : quote(technographic.value),
            ]
            if technographic.mostly { words.append("mostly") }
            if let window = technographic.window { words.append(format(window)) }
            return words.joined(separator: " ")
        case .segment(let id): return "segment \(id)"
        }
    }

    /// Words that start a condition, so a field of that name needs `field` before it.
    static let keywords: Set<String> = [
        "and", "or", "not", "field", "company", "topic", "event", "device", "client", "segment", "opened", "clicked", "received",
        "bounced", "unsubscribed", "complained", "true", "false",
    ]

    private static func group(_ rule: SegmentRule, inside: String) -> String {
        switch rule {
        case .and, .or: return "(\(format(rule)))"
        default: return format(rule)
        }
    }

    private static func comparison(_ op: SegmentRule.Operator, _ value: JSONValue) -> String {
        switch op {
        case .eq: "= \(literal(value))"
        case .ne: "!= \(literal(value))"
        case .gt: "> \(literal(value))"
        case .gte: ">= \(literal(value))"
        case .lt: "< \(literal(value))"
        case .lte: "<= \(literal(value))"
        case .in: "in \(literal(value))"
        case .notIn: "not in \(literal(value))"
        case .contains: "contains \(literal(value))"
        case .startsWith: "starts with \(literal(value))"
        case .endsWith: "ends with \(literal(value))"
        case .exists: "exists"
        case .notExists: "not exists"
        case .between:
            if case .array(let bounds) = value, bounds.count == 2 {
                "between \(literal(bounds[0])) and \(literal(bounds[1]))"
            } else {
                "between \(literal(value))"
            }
        }
    }

    private static func literal(_ value: JSONValue) -> String {
        switch value {
        case .string(let text):
            // A relative date stays a bare word (-30d), as written.
            if let first = text.first, first == "-" || first == "+", SegmentRule.Window.seconds(String(text.dropFirst())) != nil {
                return text
            }
            return quote(text)
        case .array(let items): return "[" + items.map(literal).joined(separator: ", ") + "]"
        default: return value.jsonText
        }
    }

    private static func quote(_ text: String) -> String { JSONValue.string(text).jsonText }

    /// A bare word when it reads as one, else a quoted string.
    private static func name(_ text: String) -> String {
        let plain =
            text.first.map { $0.isLetter || $0 == "_" } == true
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.:-".contains($0)) } && !keywords.contains(text)
            && !["where", "within", "from", "count", "sum", "avg", "min", "max", "mostly", "including"].contains(text)
        return plain ? text : quote(text)
    }

    private static func format(_ window: SegmentRule.Window) -> String {
        switch window {
        case .last(_, let text): return "within \(text)"
        case .between(let from, let to):
            var words: [String] = []
            if let from { words.append("from \(quote(SegmentRule.DateValue.format(from)))") }
            if let to { words.append("to \(quote(SegmentRule.DateValue.format(to)))") }
            return words.joined(separator: " ")
        }
    }

    private static func format(_ count: SegmentRule.CountBound) -> String? {
        switch (count.min, count.max) {
        case (1?, nil): return nil
        case (let low?, let high?) where low == high: return "count = \(low)"
        case (let low?, let high?): return "count between \(low) and \(high)"
        case (let low?, nil): return "count >= \(low)"
        case (nil, let high?): return "count <= \(high)"
        case (nil, nil): return "count >= 0"
        }
    }
}
