import Foundation
import Postgres

/// Compiles a rule tree to one SQL predicate over `subscribers s`, every value a bound parameter
/// and every name from the schema. Each condition correlates on the subscriber (`s.id`), so a
/// segment stays a per-subscriber query.
///
/// Semantics, shared with the reference evaluator the tests check it against:
/// - a field whose value is missing (NULL, an absent attribute, no company) matches `ne`,
///   `not_in` and `not_exists` and nothing else; text compares without regard to case;
/// - relative dates and windows are resolved against `now`, bound as instants;
/// - email activity counts events (`opened` = `open`, `received` = `sent`, …), people's only
///   for opens and clicks unless `machine` is set; a link pattern's `*` matches any run;
/// - an aggregate ignores events whose property is not a number and fails over none;
/// - `device`/`client` match an open or click by a person on it; with `mostly`, the most used
///   one in the engagement rollup.
public struct SegmentCompiler: Sendable {
    public let schema: SegmentSchema
    /// The definitions of the segments a tree may refer to, by id.
    public let segments: [Int64: SegmentRule]
    public let now: Date

    public init(schema: SegmentSchema, segments: [Int64: SegmentRule] = [:], now: Date = Date()) {
        self.schema = schema
        self.segments = segments
        self.now = now
    }

    /// `SELECT s.id … ORDER BY s.id` of the members.
    public func members(_ rule: SegmentRule) throws -> SQL {
        "SELECT s.id FROM subscribers s WHERE \(try predicate(rule)) ORDER BY s.id"
    }

    public func count(_ rule: SegmentRule) throws -> SQL {
        "SELECT count(*) AS n FROM subscribers s WHERE \(try predicate(rule))"
    }

    public func predicate(_ rule: SegmentRule) throws -> SQL {
        var visiting: Set<Int64> = []
        var leaves = 0
        return try compile(rule, visiting: &visiting, leaves: &leaves)
    }

    /// Conditions a rule may reach once the segments it uses are put in place (each brings its
    /// own): a bound on the query's size, far below PostgreSQL's 65,535 parameters.
    public static let maxExpandedLeaves = 2_000

    private func compile(_ rule: SegmentRule, visiting: inout Set<Int64>, leaves: inout Int) throws -> SQL {
        switch rule {
        case .and, .or, .not, .segment: break
        default:
            leaves += 1
            guard leaves <= Self.maxExpandedLeaves else {
                throw FacteurError.invalid(
                    "segment", "with the segments it uses, the rule has more than \(Self.maxExpandedLeaves) conditions")
            }
        }
        switch rule {
        case .and(let children):
            return "(\(SQL.joined(try children.map { try compile($0, visiting: &visiting, leaves: &leaves) }, separator: " AND ")))"
        case .or(let children):
            return "(\(SQL.joined(try children.map { try compile($0, visiting: &visiting, leaves: &leaves) }, separator: " OR ")))"
        case .not(let child):
            return "(NOT \(try compile(child, visiting: &visiting, leaves: &leaves)))"
        case .field(let condition):
            return Self.compare(try fieldValue(condition), condition, now: now)
        case .company(let condition):
            let inner = Self.compare(companyValue(condition), condition, now: now)
            return "COALESCE((SELECT \(inner) FROM companies c WHERE c.id = s.company_id), \(unsafeRaw: Self.whenMissing(condition.op)))"
        case .topic(let key, let state):
            switch state {
            case .never:
                return
                    "(NOT EXISTS (SELECT 1 FROM subscriptions x JOIN topics t ON t.id = x.topic_id WHERE x.subscriber_id = s.id AND t.key = \(key)))"
            case .subscribed, .unsubscribed:
                return
                    "EXISTS (SELECT 1 FROM subscriptions x JOIN topics t ON t.id = x.topic_id WHERE x.subscriber_id = s.id AND t.key = \(key) AND x.status = \(state.rawValue))"
            }
        case .activity(let activity):
            return Self.counted(activityEvents(activity), activity.count)
        case .event(let event):
            let events = eventEvents(event)
            var parts = [Self.counted(events, event.count)]
            if let aggregate = event.aggregate {
                let path = aggregate.property.split(separator: ".").map(String.init)
                let value: SQL =
                    "CASE WHEN jsonb_typeof(e.properties #> \(path)) = 'number' THEN (e.properties #>> \(path))::float8 END"
                let total: SQL = "(SELECT \(unsafeRaw: aggregate.function.rawValue)(\(value)) FROM events e WHERE \(events))"
                // Over no numbers there is nothing to compare: false, whatever the operator.
                parts.append(
                    Self.compare(
                        total, .init(field: aggregate.property, type: .number, op: aggregate.op, value: aggregate.value), now: now,
                        missing: "false"))
            }
            return "(\(SQL.joined(parts, separator: " AND ")))"
        case .technographic(let technographic):
            let column = technographic.dimension == .device ? "device" : "client"
            if technographic.mostly {
                let top = technographic.dimension == .device ? "g.top_device" : "g.top_client"
                return
                    "EXISTS (SELECT 1 FROM engagement g WHERE g.subscriber_id = s.id AND lower(\(unsafeRaw: top)) = lower(\(technographic.value)))"
            }
            var events: SQL =
                "e.subscriber_id = s.id AND e.type IN ('open', 'click') AND NOT e.machine AND lower(e.\(unsafeRaw: column)) = lower(\(technographic.value))"
            if let window = technographic.window { events.append(Self.window(window, now: now)) }
            return "EXISTS (SELECT 1 FROM events e WHERE \(events))"
        case .segment(let id):
            guard let definition = segments[id] else { throw FacteurError.invalid("segment", "no segment with id \(id)") }
            guard visiting.insert(id).inserted else {
                throw FacteurError.invalid("segment", "segment \(id) refers back to itself: segments cannot form a cycle")
            }
            defer { visiting.remove(id) }
            return try compile(definition, visiting: &visiting, leaves: &leaves)
        }
    }

    // MARK: Values

    /// The SQL value of a subscriber field, NULL when missing.
    private func fieldValue(_ condition: SegmentRule.Condition) throws -> SQL {
        switch condition.field {
        case "email", "name", "status", "locale", "timezone", "frequency":
            return "s.\(unsafeRaw: condition.field)"
        case "domain": return "split_part(s.email, '@', 2)"
        case "created_at", "confirmed_at", "paused_until", "score": return "s.\(unsafeRaw: condition.field)"
        default:
            let key = condition.field
            switch condition.type {
            case .text: return "(CASE WHEN jsonb_typeof(s.attributes -> \(key)) = 'string' THEN s.attributes ->> \(key) END)"
            case .number: return "(CASE WHEN jsonb_typeof(s.attributes -> \(key)) = 'number' THEN (s.attributes ->> \(key))::float8 END)"
            case .boolean: return "(CASE WHEN jsonb_typeof(s.attributes -> \(key)) = 'boolean' THEN (s.attributes ->> \(key))::boolean END)"
            case .date:
                return
                    "(CASE WHEN (s.attributes ->> \(key)) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' THEN (s.attributes ->> \(key))::timestamptz END)"
            }
        }
    }

    private func companyValue(_ condition: SegmentRule.Condition) -> SQL {
        switch condition.field {
        case "employees": "c.employees::float8"
        case "revenue": "c.revenue::float8"
        default: "c.\(unsafeRaw: condition.field)"
        }
    }

    /// What a condition gives when the value is missing.
    static func whenMissing(_ op: SegmentRule.Operator) -> String {
        [.ne, .notIn, .notExists].contains(op) ? "true" : "false"
    }

    /// `value op bound`, with the missing-value rule; text without regard to case.
    static func compare(_ value: SQL, _ condition: SegmentRule.Condition, now: Date, missing: String? = nil) -> SQL {
        let text = condition.type == .text
        let left: SQL = text ? "lower(\(value))" : value
        let comparison: SQL
        switch (condition.op, condition.value) {
        case (.exists, _): return "(\(value) IS NOT NULL)"
        case (.notExists, _): return "(\(value) IS NULL)"
        case (.eq, let bound): comparison = "\(left) = \(bind(bound, lowered: text, now: now))"
        case (.ne, let bound): comparison = "\(left) <> \(bind(bound, lowered: text, now: now))"
        case (.gt, let bound): comparison = "\(left) > \(bind(bound, lowered: text, now: now))"
        case (.gte, let bound): comparison = "\(left) >= \(bind(bound, lowered: text, now: now))"
        case (.lt, let bound): comparison = "\(left) < \(bind(bound, lowered: text, now: now))"
        case (.lte, let bound): comparison = "\(left) <= \(bind(bound, lowered: text, now: now))"
        case (.in, .texts(let items)): comparison = "\(left) = ANY(ARRAY(SELECT lower(x) FROM unnest(\(items)) AS x))"
        case (.notIn, .texts(let items)): comparison = "NOT (\(left) = ANY(ARRAY(SELECT lower(x) FROM unnest(\(items)) AS x)))"
        case (.in, .numbers(let items)): comparison = "\(left) = ANY(\(items))"
        case (.notIn, .numbers(let items)): comparison = "NOT (\(left) = ANY(\(items)))"
        case (.contains, .text(let part)): comparison = "strpos(\(left), lower(\(part))) > 0"
        case (.startsWith, .text(let part)): comparison = "starts_with(\(left), lower(\(part)))"
        case (.endsWith, .text(let part)): comparison = "right(\(left), char_length(lower(\(part)))) = lower(\(part))"
        case (.between, .numberRange(let low, let high)): comparison = "\(left) BETWEEN \(low) AND \(high)"
        case (.between, .dateRange(let from, let to)): comparison = "\(left) BETWEEN \(from.resolve(now: now)) AND \(to.resolve(now: now))"
        default: comparison = "false"
        }
        return "COALESCE(\(comparison), \(unsafeRaw: missing ?? whenMissing(condition.op)))"
    }

    /// A bound value; text is lowered in SQL, like the column it meets (one notion of case).
    private static func bind(_ value: SegmentRule.Value, lowered: Bool, now: Date) -> SQL {
        switch value {
        case .text(let text): lowered ? "lower(\(text))" : "\(text)"
        case .number(let number): "\(number)"
        case .bool(let flag): "\(flag)"
        case .date(let date): "\(date.resolve(now: now))"
        default: "NULL"
        }
    }

    // MARK: Events

    private func activityEvents(_ activity: SegmentRule.Activity) -> SQL {
        let types: [SegmentRule.Activity.Kind: String] = [
            .opened: "open", .clicked: "click", .received: "sent", .bounced: "bounce", .unsubscribed: "unsubscribe",
            .complained: "complaint",
        ]
        var events: SQL = "e.subscriber_id = s.id AND e.type = \(types[activity.kind]!)"
        if (activity.kind == .opened || activity.kind == .clicked) && !activity.includeMachine { events.append(" AND NOT e.machine") }
        if let campaign = activity.campaign { events.append(" AND e.campaign_id = \(campaign)") }
        if let last = activity.lastCampaigns {
            events.append(
                " AND e.campaign_id = ANY(ARRAY(SELECT c.id FROM campaigns c WHERE c.started_at IS NOT NULL ORDER BY c.started_at DESC, c.id DESC LIMIT \(last)))"
            )
        }
        if let link = activity.link {
            events.append(" AND e.link_id IN (SELECT l.id FROM campaign_links l WHERE l.url LIKE \(Self.likePattern(link)))")
        }
        if let window = activity.window { events.append(Self.window(window, now: now)) }
        return events
    }

    private func eventEvents(_ event: SegmentRule.Event) -> SQL {
        var events: SQL = "e.subscriber_id = s.id AND e.type = \(event.name)"
        if !event.filters.isEmpty {
            events.append(
                " AND facteur_filters_match(e.properties, \(PostgresJSON(rawJSON: JSONValue.array(event.filters.map(\.json)).jsonText)))")
        }
        if let window = event.window { events.append(Self.window(window, now: now)) }
        return events
    }

    static func window(_ window: SegmentRule.Window, now: Date) -> SQL {
        switch window {
        case .last(let seconds, _): return " AND e.occurred_at >= \(now.addingTimeInterval(-TimeInterval(seconds)))"
        case .between(let from, let to):
            var sql: SQL = ""
            if let from { sql.append(" AND e.occurred_at >= \(from)") }
            if let to { sql.append(" AND e.occurred_at < \(to)") }
            return sql
        }
    }

    /// How many of the events match the bound: EXISTS for "at least once", NOT EXISTS for
    /// "never", else a count that stops as soon as the answer is known.
    static func counted(_ events: SQL, _ bound: SegmentRule.CountBound) -> SQL {
        let low = bound.min ?? 0
        switch (low, bound.max) {
        case (0, nil): return "true"
        case (1, nil): return "EXISTS (SELECT 1 FROM events e WHERE \(events))"
        case (_, 0?): return "(NOT EXISTS (SELECT 1 FROM events e WHERE \(events)))"
        case (_, let high?):
            return "((SELECT count(*) FROM (SELECT 1 FROM events e WHERE \(events) LIMIT \(high + 1)) AS hits) BETWEEN \(low) AND \(high))"
        case (_, nil):
            return "((SELECT count(*) FROM (SELECT 1 FROM events e WHERE \(events) LIMIT \(low)) AS hits) >= \(low))"
        }
    }

    /// `*` matches any run of characters; `%`, `_` and `\` are themselves.
    static func likePattern(_ pattern: String) -> String {
        var out = ""
        for character in pattern {
            switch character {
            case "*": out += "%"
            case "%", "_", "\\": out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out
    }
}
