import Foundation
import Postgres

/// Compiles a rule tree to one SQL query over `subscribers s`, every value a bound parameter
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
///   that can be NULL, and each condition is written for the side it is on, plainly (no
///   COALESCE), so PostgreSQL estimates it from its statistics (custom fields get theirs when
///   registered: `statistics(for:)`);
/// - a condition on events, topics, companies or a snapshot is a set of subscriber ids,
///   uncorrelated: `s.id IN (…)`. Among the conditions that must all hold (the top-level `and`)
///   PostgreSQL turns it into a semi-join, and a negated one into an anti-join
///   (`NOT EXISTS … = s.id`). A correlated `EXISTS` per person would probe every monthly
///   partition for each of a million people;
/// - the sets under an `or` are one union, which can be joined; the rollup's rows there are
///   looked up per person (`EXISTS` on its key), or hashed when the people are many;
/// - counts, sums and averages are one `GROUP BY subscriber_id … HAVING` over the window,
///   computed once for the query (`WITH … AS MATERIALIZED`), not once per parallel worker;
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
            return .sql(Self.whenMissing(condition.op) != negated ? "(s.company_id IS NULL OR \(companies))" : companies)
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
            if case .company(let condition) = child, Self.whenMissing(condition.op) == negated {
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
                parts.append(Self.exists(rows))
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
        case (true, true): "NOT \(exists(rows))"
        case (true, false): "(NOT s.id IN (\(rows)))"
        }
    }

    /// The person is in the set, as a correlated subquery: PostgreSQL pulls it up into a join
    /// (an anti-join under NOT), or checks it per person.
    static func exists(_ rows: SQL) -> SQL { "EXISTS (SELECT 1 FROM (\(rows)) AS m WHERE m.subscriber_id = s.id)" }
}
