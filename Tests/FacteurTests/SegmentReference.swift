import Foundation

@testable import Facteur

/// The data a segment is evaluated over, in memory: the reference evaluator's world. The
/// property tests write the same data to PostgreSQL and compare the compiled SQL with it.
struct SegmentWorld {
    struct Person {
        var id: Int64
        var email: String
        var name: String
        var status: String
        var locale: String
        var createdAt: Date
        var score: Double
        var attributes: [String: JSONValue]
        var company: Int64?
    }

    struct Company {
        var id: Int64
        var name: String
        var industry: String?
        var naics: String?
        var employees: Int?
        var revenue: Double?
        var region: String?
        var attributes: [String: JSONValue] = [:]
    }

    struct Event {
        var type: String
        var subscriber: Int64
        var campaign: Int64?
        var link: Int64?
        var machine: Bool
        var device: String?
        var client: String?
        var properties: JSONValue
        var occurredAt: Date
    }

    var now: Date
    var people: [Person] = []
    var companies: [Int64: Company] = [:]
    /// Subscriber → topic key → status.
    var subscriptions: [Int64: [String: String]] = [:]
    var events: [Event] = []
    /// Campaign id → when it started (nil: never).
    var campaigns: [Int64: Date?] = [:]
    var links: [Int64: String] = [:]
    /// From the engagement rollup the database keeps.
    var topDevice: [Int64: String] = [:]
    var topClient: [Int64: String] = [:]
    var segments: [Int64: SegmentRule] = [:]

    /// The members of `rule`, by the semantics `SegmentCompiler` documents.
    func members(_ rule: SegmentRule) -> [Int64] {
        people.filter { matches(rule, $0) }.map(\.id).sorted()
    }

    func matches(_ rule: SegmentRule, _ person: Person) -> Bool {
        switch rule {
        case .and(let children): return children.allSatisfy { matches($0, person) }
        case .or(let children): return children.contains { matches($0, person) }
        case .not(let child): return !matches(child, person)
        case .field(let condition): return compare(fieldValue(condition, person), condition)
        case .company(let condition):
            guard let id = person.company, let company = companies[id] else { return Self.whenMissing(condition.op) }
            return compare(companyValue(condition, company), condition)
        case .topic(let key, let state):
            let status = subscriptions[person.id]?[key]
            switch state {
            case .never: return status == nil
            case .subscribed, .unsubscribed: return status == state.rawValue
            }
        case .activity(let activity):
            return activity.count.contains(events(of: person, activity).count)
        case .event(let event):
            let matching = events.filter { candidate in
                candidate.subscriber == person.id && candidate.type == event.name
                    && event.filters.allSatisfy { $0.matches(candidate.properties) } && inside(event.window, candidate.occurredAt)
            }
            guard event.count.contains(matching.count) else { return false }
            guard let aggregate = event.aggregate else { return true }
            let values = matching.compactMap { event -> Double? in
                var current: JSONValue? = event.properties
                for part in aggregate.property.split(separator: ".") {
                    guard case .object(let members)? = current else { return nil }
                    current = members[String(part)]
                }
                if case .number(let number)? = current { return number }
                return nil
            }
            guard !values.isEmpty else { return false }
            let total: Double
            switch aggregate.function {
            case .sum: total = values.reduce(0, +)
            case .avg: total = values.reduce(0, +) / Double(values.count)
            case .min: total = values.min()!
            case .max: total = values.max()!
            }
            return compare(.number(total), .init(field: aggregate.property, type: .number, op: aggregate.op, value: aggregate.value))
        case .technographic(let technographic):
            let wanted = technographic.value.lowercased()
            if technographic.mostly {
                let top = technographic.dimension == .device ? topDevice[person.id] : topClient[person.id]
                return top?.lowercased() == wanted
            }
            return events.contains {
                $0.subscriber == person.id && ($0.type == "open" || $0.type == "click") && !$0.machine
                    && (technographic.dimension == .device ? $0.device : $0.client)?.lowercased() == wanted
                    && inside(technographic.window, $0.occurredAt)
            }
        case .segment(let id):
            return segments[id].map { matches($0, person) } ?? false
        }
    }

    private func events(of person: Person, _ activity: SegmentRule.Activity) -> [Event] {
        let types: [SegmentRule.Activity.Kind: String] = [
            .opened: "open", .clicked: "click", .received: "sent", .bounced: "bounce", .unsubscribed: "unsubscribe",
            .complained: "complaint",
        ]
        let lastCampaigns = activity.lastCampaigns.map { last in
            Set(
                campaigns.compactMap { id, started in started.map { (id, $0) } }
                    .sorted { ($0.1, $0.0) > ($1.1, $1.0) }.prefix(last).map(\.0))
        }
        return events.filter { event in
            event.subscriber == person.id && event.type == types[activity.kind]
                && (!(activity.kind == .opened || activity.kind == .clicked) || activity.includeMachine || !event.machine)
                && (activity.campaign.map { event.campaign == $0 } ?? true)
                && (lastCampaigns.map { set in event.campaign.map(set.contains) ?? false } ?? true)
                && (activity.link.map { pattern in event.link.flatMap { links[$0] }.map { Self.glob(pattern, $0) } ?? false } ?? true)
                && inside(activity.window, event.occurredAt)
        }
    }

    private func inside(_ window: SegmentRule.Window?, _ at: Date) -> Bool {
        switch window {
        case nil: return true
        case .last(let seconds, _)?: return at >= now.addingTimeInterval(-TimeInterval(seconds))
        case .between(let from, let to)?: return (from.map { at >= $0 } ?? true) && (to.map { at < $0 } ?? true)
        }
    }

    /// `*` matches any run of characters.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.hasPrefix(parts[0]) else { return false }
        var rest = Substring(text.dropFirst(parts[0].count))
        for (index, part) in parts.dropFirst().enumerated() {
            if index == parts.count - 2 { return rest.hasSuffix(part) && rest.count >= part.count }
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }

    // MARK: Values

    /// A value as the comparison sees it: nil when missing.
    enum Value {
        case text(String)
        case number(Double)
        case bool(Bool)
        case date(Date)
    }

    private func fieldValue(_ condition: SegmentRule.Condition, _ person: Person) -> Value? {
        switch condition.field {
        case "email": return .text(person.email)
        case "domain": return .text(String(person.email.split(separator: "@").last ?? ""))
        case "name": return .text(person.name)
        case "status": return .text(person.status)
        case "locale": return .text(person.locale)
        case "frequency": return .text("as_sent")
        case "timezone", "confirmed_at", "paused_until": return nil
        case "created_at": return .date(person.createdAt)
        case "score": return .number(person.score)
        default: return Self.typed(person.attributes[condition.field], condition.type)
        }
    }

    /// A JSON attribute read as the condition's type; nil when absent or of another type.
    static func typed(_ value: JSONValue?, _ type: SegmentRule.FieldType) -> Value? {
        switch (type, value) {
        case (.text, .string(let text)?): .text(text)
        case (.number, .number(let number)?): .number(number)
        case (.boolean, .bool(let flag)?): .bool(flag)
        case (.date, .string(let text)?): ISODates.parse(text).map(Value.date)
        default: nil
        }
    }

    private func companyValue(_ condition: SegmentRule.Condition, _ company: Company) -> Value? {
        if condition.field.hasPrefix("attributes.") {
            let value = company.attributes[String(condition.field.dropFirst("attributes.".count))]
            if condition.op == .exists || condition.op == .notExists {
                if case nil = value { return nil }
                if case .null? = value { return nil }
                return .text("")
            }
            return Self.typed(value, condition.type)
        }
        switch condition.field {
        case "name": return .text(company.name)
        case "industry": return company.industry.map(Value.text)
        case "naics": return company.naics.map(Value.text)
        case "region": return company.region.map(Value.text)
        case "employees": return company.employees.map { .number(Double($0)) }
        case "revenue": return company.revenue.map(Value.number)
        default: return nil
        }
    }

    static func whenMissing(_ op: SegmentRule.Operator) -> Bool { [.ne, .notIn, .notExists].contains(op) }

    private func compare(_ value: Value?, _ condition: SegmentRule.Condition) -> Bool {
        switch condition.op {
        case .exists: return value != nil
        case .notExists: return value == nil
        default: break
        }
        guard let value else { return Self.whenMissing(condition.op) }
        switch (value, condition.op, condition.value) {
        case (.text(let text), _, _):
            let left = text.lowercased()
            switch (condition.op, condition.value) {
            case (.eq, .text(let bound)): return left == bound.lowercased()
            case (.ne, .text(let bound)): return left != bound.lowercased()
            case (.in, .texts(let items)): return items.map { $0.lowercased() }.contains(left)
            case (.notIn, .texts(let items)): return !items.map { $0.lowercased() }.contains(left)
            case (.contains, .text(let part)): return left.contains(part.lowercased())
            case (.startsWith, .text(let part)): return left.hasPrefix(part.lowercased())
            case (.endsWith, .text(let part)): return left.hasSuffix(part.lowercased())
            default: return false
            }
        case (.number(let number), _, _):
            return Self.order(
                number, condition,
                bound: { value in
                    switch value {
                    case .number(let bound): return bound
                    default: return nil
                    }
                })
        case (.date(let date), _, _):
            return Self.order(
                date.timeIntervalSince1970, condition,
                bound: { value in
                    if case .date(let bound) = value { return bound.resolve(now: now).timeIntervalSince1970 }
                    return nil
                },
                range: { value in
                    if case .dateRange(let from, let to) = value {
                        return (from.resolve(now: now).timeIntervalSince1970, to.resolve(now: now).timeIntervalSince1970)
                    }
                    return nil
                })
        case (.bool(let flag), .eq, .bool(let bound)): return flag == bound
        case (.bool(let flag), .ne, .bool(let bound)): return flag != bound
        default: return false
        }
    }

    private static func order(
        _ left: Double, _ condition: SegmentRule.Condition, bound: (SegmentRule.Value) -> Double?,
        range: (SegmentRule.Value) -> (Double, Double)? = { value in
            if case .numberRange(let low, let high) = value { return (low, high) }
            return nil
        }
    ) -> Bool {
        switch condition.op {
        case .between: return range(condition.value).map { left >= $0.0 && left <= $0.1 } ?? false
        case .in:
            if case .numbers(let items) = condition.value { return items.contains(left) }
            return false
        case .notIn:
            if case .numbers(let items) = condition.value { return !items.contains(left) }
            return false
        default: break
        }
        guard let right = bound(condition.value) else { return false }
        switch condition.op {
        case .eq: return left == right
        case .ne: return left != right
        case .gt: return left > right
        case .gte: return left >= right
        case .lt: return left < right
        case .lte: return left <= right
        default: return false
        }
    }
}
