import Foundation
import Postgres

/// The conditions on events: the rollup's answers, activity and custom events with their
/// windows, counts and property filters.
extension SegmentCompiler {
    /// The rollup's answer to an activity condition, when it has one: opened, clicked or received,
    /// of any campaign, at least once or never, ever or since an instant. (`engagement` keeps the
    /// latest human open and click and the latest send of each person, in the same transaction
    /// as the events, and outlives the event partitions that retention drops.)
    func rollup(_ activity: SegmentRule.Activity) -> (rows: SQL, member: Bool)? {
        let column: String
        switch activity.kind {
        case .opened where !activity.includeMachine: column = "g.last_open_at"
        case .clicked where !activity.includeMachine: column = "g.last_click_at"
        case .received: column = "g.last_sent_at"
        default: return nil
        }
        guard activity.campaign == nil, activity.lastCampaigns == nil, activity.link == nil else { return nil }
        let member: Bool
        switch (activity.count.min ?? 0, activity.count.max) {
        case (1, nil): member = true
        case (_, 0?): member = false
        default: return nil
        }
        let since: Date?
        switch activity.window {
        case nil: since = nil
        case .last(let seconds, _): since = now.addingTimeInterval(-TimeInterval(seconds))
        case .between(let from, nil): since = from
        case .between(_, _?): return nil
        }
        let condition: SQL = since.map { "\(unsafeRaw: column) >= \($0)" } ?? "\(unsafeRaw: column) IS NOT NULL"
        return ("SELECT g.subscriber_id FROM engagement g WHERE \(condition)", member)
    }

    /// The conditions on `events e` of an activity (no subscriber: the sets are uncorrelated).
    func activityEvents(_ activity: SegmentRule.Activity) -> SQL {
        let types: [SegmentRule.Activity.Kind: String] = [
            .opened: "open", .clicked: "click", .received: "sent", .bounced: "bounce", .unsubscribed: "unsubscribe",
            .complained: "complaint",
        ]
        var events: SQL = "e.type = \(types[activity.kind]!)"
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

    func eventEvents(_ event: SegmentRule.Event) -> SQL {
        var events: SQL = "e.type = \(event.name)"
        for filter in event.filters { events.append(" AND \(Self.matches(filter))") }
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

    /// Whether the count of `events` meets the bound (or not, when `negated`): at least once is
    /// the set of people with one; never, its absence; other bounds count per person. A bound
    /// with a maximum only is the absence of the people above it.
    static func counted(_ events: SQL, _ bound: SegmentRule.CountBound, negated: Bool) -> Part {
        let plain: SQL = "SELECT e.subscriber_id FROM events e WHERE \(events)"
        func grouped(_ having: SQL) -> SQL { "\(plain) GROUP BY e.subscriber_id HAVING \(having)" }
        switch (bound.min ?? 0, bound.max) {
        case (0, nil): return .sql(negated ? "false" : "true")
        case (1, nil): return .set(plain, negated: negated)
        case (_, 0?): return .set(plain, negated: !negated)
        case (0, let high?): return .once(grouped("count(*) > \(high)"), negated: !negated)
        case (let low, let high?): return .once(grouped("count(*) BETWEEN \(low) AND \(high)"), negated: negated)
        case (let low, nil): return .once(grouped("count(*) >= \(low)"), negated: negated)
        }
    }

    /// An event property (`a` or `a.b`) as JSON and as text.
    static func property(_ name: String) -> (json: SQL, text: SQL) {
        let path = name.split(separator: ".").map(String.init)
        if path.count == 1 { return ("(e.properties -> \(path[0]))", "(e.properties ->> \(path[0]))") }
        return ("(e.properties #> \(path))", "(e.properties #>> \(path))")
    }

    /// A property filter as an expression on `e.properties`, with the semantics of the SQL
    /// function facteur_filter_match (scoring rules) and of PropertyFilter.matches; NULL counts as
    /// false (it only ever stands in a WHERE, under no NOT). Text tests come first and the JSON
    /// type check after, so most events are turned down by one lookup: this runs once per event
    /// of the window.
    static func matches(_ filter: PropertyFilter) -> SQL {
        let (json, text) = property(filter.property)
        func typed(_ kind: String, _ test: SQL) -> SQL {
            "(CASE WHEN jsonb_typeof(\(json)) = \(unsafeRaw: "'" + kind + "'") THEN \(test) ELSE false END)"
        }
        // One expression, not two conditions: PostgreSQL has no statistics on properties and
        // would multiply two guesses into a handful of events, then plan nested loops on that.
        func isString(_ test: SQL) -> SQL { "(CASE WHEN \(test) THEN jsonb_typeof(\(json)) = 'string' ELSE false END)" }
        /// Equal to one of `values` (JSON scalars); NULL or false otherwise.
        func equal(_ values: [JSONValue]) -> SQL {
            var tests: [SQL] = []
            let strings = values.compactMap { if case .string(let string) = $0 { string } else { nil } }
            if !strings.isEmpty {
                tests.append(isString("lower(\(text)) IN (\(SQL.joined(strings.map { "lower(\($0))" }, separator: ", ")))"))
            }
            let numbers = values.compactMap { if case .number(let number) = $0 { number } else { nil } }
            if !numbers.isEmpty { tests.append(typed("number", "\(text)::float8 = ANY(\(numbers))")) }
            for value in values {
                switch value {
                case .string, .number: continue
                default: tests.append("(\(json) = \(PostgresJSON(rawJSON: value.jsonText))::jsonb)")
                }
            }
            return tests.isEmpty ? "false" : "(\(SQL.joined(tests, separator: " OR ")))"
        }
        func number(_ op: String, _ value: JSONValue) -> SQL {
            guard case .number(let bound) = value else { return "false" }
            return typed("number", "\(text)::float8 \(unsafeRaw: op) \(bound)")
        }
        func string(_ value: JSONValue, _ test: (SQL) -> SQL) -> SQL {
            guard case .string(let part) = value else { return "false" }
            return isString(test("lower(\(part))"))
        }
        switch filter.op {
        case .exists: return "(jsonb_typeof(\(json)) <> 'null')"
        case .notExists: return "COALESCE(jsonb_typeof(\(json)) = 'null', true)"
        case .eq: return equal([filter.value])
        case .ne: return "(NOT COALESCE(\(equal([filter.value])), false))"
        case .in, .notIn:
            guard case .array(let items) = filter.value else { return "false" }
            return filter.op == .in ? equal(items) : "(NOT COALESCE(\(equal(items)), false))"
        case .contains: return string(filter.value) { "strpos(lower(\(text)), \($0)) > 0" }
        case .startsWith: return string(filter.value) { "starts_with(lower(\(text)), \($0))" }
        case .endsWith: return string(filter.value) { "right(lower(\(text)), char_length(\($0))) = \($0)" }
        case .gt: return number(">", filter.value)
        case .gte: return number(">=", filter.value)
        case .lt: return number("<", filter.value)
        case .lte: return number("<=", filter.value)
        case .between:
            guard case .array(let bounds) = filter.value, bounds.count == 2, case .number(let low) = bounds[0],
                case .number(let high) = bounds[1]
            else { return "false" }
            return typed("number", "\(text)::float8 BETWEEN \(low) AND \(high)")
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
