import Foundation
import Postgres

/// Compiles a rule tree to one SQL predicate over `subscribers s`, every value a bound parameter
/// and every name from the schema.
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
///
/// The shape of the SQL is what makes it fast (see bench/segments.sh):
/// - `not` is pushed down to the conditions (De Morgan), so no SQL `NOT` stands above anything
///   that can be NULL, and each condition is written for the side it is on;
/// - a condition on events, topics, companies or the rollup is a set of subscriber ids,
///   uncorrelated: `s.id IN (…)`. Among the conditions that must all hold (the top-level `and`)
///   PostgreSQL turns it into a semi-join, and a negated one into an anti-join
///   (`NOT EXISTS … = s.id`); under an `or` it is hashed once rather than probed per person. A
///   correlated `EXISTS` under an `or` would probe every monthly partition for each of a million
///   people;
/// - counts, sums and averages are one `GROUP BY subscriber_id … HAVING` over the window;
/// - "opened, clicked or received, within a window, at least once or never" reads the
///   `engagement` rollup (one row a person) instead of the events;
/// - property filters are plain expressions on the event's properties, not a function call per
///   event.
///
/// Every condition still joins on the subscriber's id, so the query stays per subscriber and
/// pushes down to shards distributed by subscriber.
public struct SegmentCompiler: Sendable {
    public let schema: SegmentSchema
    /// The definitions of the segments a tree may refer to, by id.
    public let segments: [Int64: SegmentRule]
    /// Static segments among them: a reference reads their stored snapshot (`segment_members`).
    public let snapshots: Set<Int64>
    public let now: Date

    /// Topic ids by key, when known: a topic condition then names its topic by id, which lets
    /// PostgreSQL see that a person appears once in it (the key is (subscriber, topic)) and how
    /// many people it holds. Without them, the topic is looked up by key in the query.
    public let topics: [String: Int64]?

    public init(
        schema: SegmentSchema, segments: [Int64: SegmentRule] = [:], snapshots: Set<Int64> = [], topics: [String: Int64]? = nil,
        now: Date = Date()
    ) {
        self.schema = schema
        self.segments = segments
        self.snapshots = snapshots
        self.topics = topics
        self.now = now
    }

    /// `SELECT s.id … ORDER BY s.id` of the members.
    public func members(_ rule: SegmentRule) throws -> SQL {
        try select("s.id", where: rule, then: " ORDER BY s.id")
    }

    public func count(_ rule: SegmentRule) throws -> SQL {
        try select("count(*) AS n", where: rule)
    }

    /// `SELECT columns FROM subscribers s WHERE` the rule `[AND also] then`, with the sets it
    /// computes once ahead (`WITH`). `also` and `then` are the caller's SQL (a page's bound, an
    /// order and a limit).
    public func select(_ columns: SQL, where rule: SegmentRule, also condition: SQL? = nil, then suffix: SQL = "") throws -> SQL {
        try check(rule)
        let shared = Shared()
        var predicate = try part(rule, negated: false, topLevel: true, shared: shared).sql(topLevel: true)
        if let condition { predicate = "\(condition) AND \(predicate)" }
        var sql: SQL = ""
        if !shared.sets.isEmpty {
            let sets = shared.sets.enumerated().map {
                "segment_set_\(unsafeRaw: String($0.offset + 1)) AS MATERIALIZED (\($0.element))" as SQL
            }
            sql.append("WITH \(SQL.joined(sets, separator: ", ")) ")
        }
        sql.append("SELECT \(columns) FROM subscribers s WHERE \(predicate)\(suffix)")
        return sql
    }

    /// Checks that the rule compiles: the segments it uses exist and do not loop, and it stays
    /// within the size bound.
    public func check(_ rule: SegmentRule) throws {
        var visiting: Set<Int64> = []
        var leaves = 0
        try expand(rule, visiting: &visiting, leaves: &leaves)
    }

    /// Sets the query computes once, ahead of the rest (`WITH … AS MATERIALIZED`): a count or a
    /// sum per person over events, under a parallel scan, would otherwise be computed again by
    /// every worker.
    private final class Shared {
        var sets: [SQL] = []
    }

    /// Conditions a rule may reach once the segments it uses are put in place (each brings its
    /// own): a bound on the query's size, far below PostgreSQL's 65,535 parameters.
    public static let maxExpandedLeaves = 2_000

    /// Checks the references (they exist, they do not loop) and the expanded size.
    private func expand(_ rule: SegmentRule, visiting: inout Set<Int64>, leaves: inout Int) throws {
        switch rule {
        case .and(let children), .or(let children):
            for child in children { try expand(child, visiting: &visiting, leaves: &leaves) }
        case .not(let child): try expand(child, visiting: &visiting, leaves: &leaves)
        case .segment(let id):
            guard let definition = segments[id] else { throw FacteurError.invalid("segment", "no segment with id \(id)") }
            guard visiting.insert(id).inserted else {
                throw FacteurError.invalid("segment", "segment \(id) refers back to itself: segments cannot form a cycle")
            }
            defer { visiting.remove(id) }
            // A snapshot is read as it is, but its rule must still be sound to be refreshed.
            try expand(definition, visiting: &visiting, leaves: &leaves)
        default:
            leaves += 1
            guard leaves <= Self.maxExpandedLeaves else {
                throw FacteurError.invalid(
                    "segment", "with the segments it uses, the rule has more than \(Self.maxExpandedLeaves) conditions")
            }
        }
    }

    /// A compiled condition: an expression on the person's row, or the membership (or, when
    /// `negated`, the absence) of a set of subscriber ids (SQL selecting a `subscriber_id`).
    enum Part {
        case sql(SQL)
        /// `probed`: the set reads a table with one row per person at most (the rollup), which
        /// a lookup per person can check as cheaply as a hash.
        case set(SQL, negated: Bool, probed: Bool = false)
        /// A set worth computing once for the whole query (a GROUP BY over events).
        case once(SQL, negated: Bool)

        func sql(topLevel: Bool) -> SQL {
            switch self {
            case .sql(let sql): sql
            case .set(let rows, let negated, _), .once(let rows, let negated):
                SegmentCompiler.member(of: rows, negated: negated, topLevel: topLevel)
            }
        }
    }

    /// `rule`, or `not rule` when `negated`. `topLevel`: the condition is one of those that must
    /// all hold, where PostgreSQL can join instead of filtering.
    private func part(_ rule: SegmentRule, negated: Bool, topLevel: Bool, shared: Shared) throws -> Part {
        let built = try build(rule, negated: negated, topLevel: topLevel, shared: shared)
        guard case .once(let rows, let negated) = built else { return built }
        shared.sets.append(rows)
        return .set("SELECT subscriber_id FROM segment_set_\(unsafeRaw: String(shared.sets.count))", negated: negated)
    }

    private func build(_ rule: SegmentRule, negated: Bool, topLevel: Bool, shared: Shared) throws -> Part {
        switch rule {
        case .and(let children):
            return negated
                ? try disjunction(children, negated: true, shared: shared)
                : .sql(try conjunction(children, negated: false, topLevel: topLevel, shared: shared))
        case .or(let children):
            return negated
                ? .sql(try conjunction(children, negated: true, topLevel: topLevel, shared: shared))
                : try disjunction(children, negated: false, shared: shared)
        case .not(let child):
            return try part(child, negated: !negated, topLevel: topLevel, shared: shared)
        case .segment(let id):
            if snapshots.contains(id) {
                return .set("SELECT m.subscriber_id FROM segment_members m WHERE m.segment_id = \(id)", negated: negated)
            }
            return try part(segments[id]!, negated: negated, topLevel: topLevel, shared: shared)
        case .field(let condition):
            return .sql(
                Self.compare(
                    try fieldValue(condition), condition, now: now, negated: negated,
                    nullable: !Self.requiredFields.contains(condition.field), caseless: Self.lowercaseFields.contains(condition.field)))
        case .company(let condition):
            // Every company_id names a company (a foreign key): a person matches through theirs,
            // or by having none when a missing value matches.
            let companies: SQL = "s.company_id IN (SELECT c.id FROM companies c WHERE \(companyCondition(condition, negated: negated)))"
            return .sql((Self.whenMissing(condition.op) == "true") != negated ? "(s.company_id IS NULL OR \(companies))" : companies)
        case .topic(let key, let state):
            var rows: SQL =
                if let topics {
                    // A key with no topic selects no one (no topic has id 0).
                    "SELECT x.subscriber_id FROM subscriptions x WHERE x.topic_id = \(topics[key] ?? 0)"
                } else {
                    "SELECT x.subscriber_id FROM subscriptions x JOIN topics t ON t.id = x.topic_id WHERE t.key = \(key)"
                }
            if state != .never { rows.append(" AND x.status = \(state.rawValue)") }
            return .set(rows, negated: negated != (state == .never))
        case .activity(let activity):
            if let rollup = rollup(activity) { return .set(rollup.rows, negated: negated != !rollup.member, probed: true) }
            return Self.counted(activityEvents(activity), activity.count, negated: negated)
        case .event(let event):
            let events = eventEvents(event)
            guard let aggregate = event.aggregate else { return Self.counted(events, event.count, negated: negated) }
            var having: [SQL] = []
            if let low = event.count.min, low > 1 { having.append("count(*) >= \(low)") }
            if let high = event.count.max { having.append("count(*) <= \(high)") }
            let (json, text) = Self.property(aggregate.property)
            let value: SQL = "CASE WHEN jsonb_typeof(\(json)) = 'number' THEN (\(text))::float8 END"
            // Over no numbers there is nothing to compare: false, whatever the operator.
            having.append(
                Self.compare(
                    "\(unsafeRaw: aggregate.function.rawValue)(\(value))",
                    .init(field: aggregate.property, type: .number, op: aggregate.op, value: aggregate.value), now: now, missing: false))
            return .once(
                "SELECT e.subscriber_id FROM events e WHERE \(events) GROUP BY e.subscriber_id HAVING \(SQL.joined(having, separator: " AND "))",
                negated: negated)
        case .technographic(let technographic):
            let column = technographic.dimension == .device ? "device" : "client"
            if technographic.mostly {
                let top = technographic.dimension == .device ? "g.top_device" : "g.top_client"
                return .set(
                    "SELECT g.subscriber_id FROM engagement g WHERE lower(\(unsafeRaw: top)) = lower(\(technographic.value))",
                    negated: negated, probed: true)
            }
            var events: SQL =
                "e.type IN ('open', 'click') AND NOT e.machine AND lower(e.\(unsafeRaw: column)) = lower(\(technographic.value))"
            if let window = technographic.window { events.append(Self.window(window, now: now)) }
            return .set("SELECT e.subscriber_id FROM events e WHERE \(events)", negated: negated)
        }
    }

    /// Conditions that must all hold (`negated`: the negations of conditions of which one must
    /// hold). Company conditions that a person without a company fails are checked in one pass
    /// over companies, as one would join them by hand.
    private func conjunction(_ children: [SegmentRule], negated: Bool, topLevel: Bool, shared: Shared) throws -> SQL {
        var parts: [SQL] = []
        var companies: [SQL] = []
        for child in children {
            if case .company(let condition) = child, (Self.whenMissing(condition.op) == "true") == negated {
                companies.append(companyCondition(condition, negated: negated))
            } else {
                parts.append(try part(child, negated: negated, topLevel: topLevel, shared: shared).sql(topLevel: topLevel))
            }
        }
        if !companies.isEmpty {
            parts.append("s.company_id IN (SELECT c.id FROM companies c WHERE \(SQL.joined(companies, separator: " AND ")))")
        }
        return "(\(SQL.joined(parts, separator: " AND ")))"
    }

    /// Conditions of which one must hold (`negated`: the negations of conditions that must all
    /// hold). The sets a person must be in one of are one set, their union: PostgreSQL does not
    /// turn an OR into a union itself, and a union can be joined where an OR is a filter on
    /// every person.
    private func disjunction(_ children: [SegmentRule], negated: Bool, shared: Shared) throws -> Part {
        var parts: [SQL] = []
        var sets: [SQL] = []
        for child in children {
            let part = try part(child, negated: negated, topLevel: false, shared: shared)
            if case .set(let rows, negated: false, probed: false) = part {
                sets.append(rows)
            } else if case .set(let rows, negated: false, probed: true) = part {
                // Checked for the people the other conditions leave, rather than read whole.
                parts.append("EXISTS (SELECT 1 FROM (\(rows)) AS m WHERE m.subscriber_id = s.id)")
            } else {
                parts.append(part.sql(topLevel: false))
            }
        }
        guard !sets.isEmpty else { return .sql("(\(SQL.joined(parts, separator: " OR ")))") }
        let union = Part.set(SQL.joined(sets, separator: " UNION "), negated: false)
        return parts.isEmpty ? union : .sql("(\(SQL.joined(parts + [union.sql(topLevel: false)], separator: " OR ")))")
    }

    /// Whether a company meets the condition (or not, when `negated`).
    private func companyCondition(_ condition: SegmentRule.Condition, negated: Bool) -> SQL {
        Self.compare(companyValue(condition), condition, now: now, negated: negated, caseless: condition.field == "naics")
    }

    /// Built-in fields that always have a value.
    static let requiredFields: Set<String> = ["email", "name", "status", "locale", "created_at", "score", "frequency", "domain"]
    /// Text fields whose values are lowercase already (a fixed vocabulary): compared as they are,
    /// which lets PostgreSQL use their statistics and indexes.
    static let lowercaseFields: Set<String> = ["status", "frequency"]

    /// Membership of a set of subscriber ids (`rows` selects a `subscriber_id` column), or its
    /// absence when `negated`: a semi-join or an anti-join among the top-level conditions, a set
    /// hashed once elsewhere. Ids are never NULL, so neither form is ever NULL.
    static func member(of rows: SQL, negated: Bool, topLevel: Bool) -> SQL {
        switch (negated, topLevel) {
        case (false, _): "s.id IN (\(rows))"
        case (true, true): "NOT EXISTS (SELECT 1 FROM (\(rows)) AS m WHERE m.subscriber_id = s.id)"
        case (true, false): "(NOT s.id IN (\(rows)))"
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
            guard Self.isFieldKey(condition.field) else { throw FacteurError.invalid("field", "'\(condition.field)' is not a field key") }
            return "\(unsafeRaw: Self.attribute(condition.field, condition.type, row: "s."))"
        }
    }

    /// A custom field's typed value, NULL when absent or of another JSON type. The key (from the
    /// registry: lowercase letters, digits and `_`) is written into the SQL rather than bound,
    /// so that the expression is the very one `statistics(for:)` describes, and PostgreSQL
    /// estimates a condition on it from what it knows of the values.
    static func attribute(_ key: String, _ type: SegmentRule.FieldType, row: String) -> String {
        let json = "\(row)attributes -> '\(key)'"
        let text = "\(row)attributes ->> '\(key)'"
        switch type {
        case .text: return "(CASE WHEN jsonb_typeof(\(json)) = 'string' THEN \(text) END)"
        case .number: return "(CASE WHEN jsonb_typeof(\(json)) = 'number' THEN (\(text))::float8 END)"
        case .boolean: return "(CASE WHEN jsonb_typeof(\(json)) = 'boolean' THEN (\(text))::boolean END)"
        case .date: return "(CASE WHEN (\(text)) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' THEN (\(text))::timestamptz END)"
        }
    }

    static func isFieldKey(_ key: String) -> Bool {
        key.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil
    }

    /// `CREATE STATISTICS` for what the compiler compares of a custom field (text: lowered), so
    /// that PostgreSQL knows how common each value is. Without it, "plan = trial" is guessed at
    /// half a percent of the people, and a plan built on that guess probes events a hundred
    /// thousand times over.
    public static func statistics(for field: Field) -> String? {
        guard isFieldKey(field.key), let type = SegmentRule.FieldType(rawValue: field.type.rawValue) else { return nil }
        let value = attribute(field.key, type, row: "")
        let compared = type == .text ? "lower(\(value))" : value
        return "CREATE STATISTICS IF NOT EXISTS facteur_field_\(field.key) ON (\(compared)) FROM subscribers"
    }

    private func companyValue(_ condition: SegmentRule.Condition) -> SQL {
        if condition.field.hasPrefix(SegmentRule.companyAttributePrefix) {
            let key = String(condition.field.dropFirst(SegmentRule.companyAttributePrefix.count))
            guard Self.isFieldKey(key) else { return "NULL" }
            // Present at all (any JSON type but null) for exists; else the typed value.
            if condition.op == .exists || condition.op == .notExists { return "NULLIF(c.attributes -> \(key), 'null'::jsonb)" }
            return "\(unsafeRaw: Self.attribute(key, condition.type, row: "c."))"
        }
        switch condition.field {
        case "employees": return "c.employees::float8"
        case "revenue": return "c.revenue::float8"
        default: return "c.\(unsafeRaw: condition.field)"
        }
    }

    /// What a condition gives when the value is missing.
    static func whenMissing(_ op: SegmentRule.Operator) -> String {
        [.ne, .notIn, .notExists].contains(op) ? "true" : "false"
    }

    /// Whether `value op bound` holds (or, when `negated`, does not), with the missing-value
    /// rule; text without regard to case. The result may be NULL where the answer is false: it
    /// is only ever combined with AND and OR, never under a NOT (the compiler pushes those down
    /// to here). Written plainly, without COALESCE, so PostgreSQL estimates it from its
    /// statistics. `nullable`: the value can be missing; `caseless`: it is lowercase already;
    /// `missing`: what a missing value gives, when not the operator's rule.
    static func compare(
        _ value: SQL, _ condition: SegmentRule.Condition, now: Date, negated: Bool = false, nullable: Bool = true,
        caseless: Bool = false, missing: Bool? = nil
    ) -> SQL {
        switch condition.op {
        case .exists: return negated ? "(\(value) IS NULL)" : "(\(value) IS NOT NULL)"
        case .notExists: return negated ? "(\(value) IS NOT NULL)" : "(\(value) IS NULL)"
        default: break
        }
        let text = condition.type == .text
        let left: SQL = text && !caseless ? "lower(\(value))" : value
        func bound(_ value: SegmentRule.Value) -> SQL { bind(value, lowered: text, now: now) }
        // NULL exactly when the value is missing (bounds never are).
        let comparison: SQL
        switch (condition.op, condition.value) {
        case (.eq, let value): comparison = "\(left) = \(bound(value))"
        case (.ne, let value): comparison = "\(left) <> \(bound(value))"
        case (.gt, let value): comparison = "\(left) > \(bound(value))"
        case (.gte, let value): comparison = "\(left) >= \(bound(value))"
        case (.lt, let value): comparison = "\(left) < \(bound(value))"
        case (.lte, let value): comparison = "\(left) <= \(bound(value))"
        case (.in, .texts(let items)) where !items.isEmpty:
            comparison = "\(left) IN (\(SQL.joined(items.map { "lower(\($0))" }, separator: ", ")))"
        case (.notIn, .texts(let items)) where !items.isEmpty:
            comparison = "\(left) NOT IN (\(SQL.joined(items.map { "lower(\($0))" }, separator: ", ")))"
        case (.in, .numbers(let items)): comparison = "\(left) = ANY(\(items))"
        case (.notIn, .numbers(let items)): comparison = "\(left) <> ALL(\(items))"
        case (.contains, .text(let part)): comparison = "strpos(\(left), lower(\(part))) > 0"
        case (.startsWith, .text(let part)): comparison = "starts_with(\(left), lower(\(part)))"
        case (.endsWith, .text(let part)): comparison = "right(\(left), char_length(lower(\(part)))) = lower(\(part))"
        case (.between, .numberRange(let low, let high)): comparison = "\(left) BETWEEN \(low) AND \(high)"
        case (.between, .dateRange(let from, let to)): comparison = "\(left) BETWEEN \(from.resolve(now: now)) AND \(to.resolve(now: now))"
        default: comparison = "false"
        }
        let expression: SQL = negated ? "(NOT \(comparison))" : comparison
        let missingMatches = (missing ?? (whenMissing(condition.op) == "true")) != negated
        return nullable && missingMatches ? "(\(expression) OR \(value) IS NULL)" : expression
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

    /// The rollup's answer to an activity condition, when it has one: opened, clicked or received,
    /// of any campaign, at least once or never, ever or since an instant. (`engagement` keeps the
    /// latest human open and click and the latest send of each person, in the same transaction
    /// as the events, and outlives the event partitions that retention drops.)
    private func rollup(_ activity: SegmentRule.Activity) -> (rows: SQL, member: Bool)? {
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
    private func activityEvents(_ activity: SegmentRule.Activity) -> SQL {
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

    private func eventEvents(_ event: SegmentRule.Event) -> SQL {
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
