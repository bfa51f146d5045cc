import Foundation
import Postgres

/// A lead-scoring rule: points for each event of a type whose properties match (`event`), or points
/// while a subscriber's custom attributes match (`attribute`).
public struct ScoringRule: Sendable, Encodable, Equatable {
    public enum Kind: String, Sendable, Encodable { case event, attribute }

    public var id: Int64
    public var name: String
    public var kind: Kind
    public var eventType: String?
    /// All must hold: event properties (`event`) or custom attributes (`attribute`).
    public var filters: [PropertyFilter]
    public var points: Double
    /// Most points (in absolute value) one subscriber earns from this rule per UTC day.
    public var dailyCap: Double?
    /// Points earned halve every this many days.
    public var halfLifeDays: Int?
    public var enabled: Bool
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, kind, condition, points, enabled
        case eventType = "event_type"
        case dailyCap = "daily_cap"
        case halfLifeDays = "half_life_days"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        try container.encode(eventType, forKey: .eventType)
        try container.encode(JSONValue.object(["where": filters.json]), forKey: .condition)
        try container.encode(points, forKey: .points)
        try container.encode(dailyCap, forKey: .dailyCap)
        try container.encode(halfLifeDays, forKey: .halfLifeDays)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        kind = Kind(rawValue: try row.decode(String.self, "kind")) ?? .event
        eventType = try row.decode(String?.self, "event_type")
        let condition = try JSONValue.parse(Data(try row.decode(String.self, "condition").utf8))
        if case .object(let members) = condition {
            filters = try PropertyFilter.list(members["where"], path: "condition.where")
        } else {
            filters = []
        }
        points = try row.decode(Double.self, "points")
        dailyCap = try row.decode(Double?.self, "daily_cap")
        halfLifeDays = try row.decode(Int?.self, "half_life_days")
        enabled = try row.decode(Bool.self, "enabled")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
    }
}

/// Scoring rules and scores. A rule's changes apply to events from then on (scores of an
/// attribute rule at once); `rebuild()` recomputes every score from the events kept.
public struct ScoringRules: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func list() async throws -> [ScoringRule] {
        try await database.pool.query(database.sql("scoring-rules-list")).map(ScoringRule.init(row:))
    }

    public func get(id: Int64) async throws -> ScoringRule {
        try ScoringRule(row: try await database.one(database.sql("scoring-rule-select", id), notFound: "no scoring rule with id \(id)"))
    }

    public func create(_ body: JSONValue) async throws -> ScoringRule {
        let rule = try Draft(body, existing: nil)
        // The rule and the scores it changes at once commit together.
        let id = try await database.pool.withTransaction { connection in
            let rows = try await connection.query(
                database.sql(
                    "scoring-rule-insert", rule.name, rule.kind.rawValue, rule.eventType, rule.conditionJSON, rule.points, rule.dailyCap,
                    rule.halfLifeDays, rule.enabled))
            let id = try rows[0].decode(Int64.self, "id")
            if rule.kind == .attribute { _ = try await connection.query(database.sql("scores-attribute-refresh", id)) }
            return id
        }
        return try await get(id: id)
    }

    /// Changes the given fields; the kind of a rule cannot change (make a new rule).
    public func update(id: Int64, _ body: JSONValue) async throws -> ScoringRule {
        let existing = try await get(id: id)
        let rule = try Draft(body, existing: existing)
        try await database.pool.withTransaction { connection in
            let rows = try await connection.query(
                database.sql(
                    "scoring-rule-update", id, rule.name, rule.eventType, rule.conditionJSON, rule.points, rule.dailyCap,
                    rule.halfLifeDays, rule.enabled))
            guard !rows.isEmpty else { throw FacteurError.notFound("no scoring rule with id \(id)") }
            if rule.kind == .attribute { _ = try await connection.query(database.sql("scores-attribute-refresh", id)) }
            // Points already earned keep their value; their weight (decay, enabled) may have changed.
            _ = try await connection.query(database.sql("scores-refresh-rule", id))
        }
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        try await database.pool.withTransaction { connection in
            let row = try await connection.query(database.sql("scoring-rule-delete", id))[0]
            guard try row.decode(Int64?.self, "id") != nil else { throw FacteurError.notFound("no scoring rule with id \(id)") }
            if let ids = try row.decode([Int64]?.self, "ids"), !ids.isEmpty {
                _ = try await connection.query(database.sql("scores-refresh-ids", ids))
            }
        }
    }

    /// Recomputes the ledger and every score; returns how many scores changed.
    public func rebuild() async throws -> Int {
        try await database.pool.query(database.sql("scores-rebuild"))[0].decode(Int.self, "changed")
    }

    /// Attribute rules against the attributes as they are now; returns how many scores changed.
    public func refreshAttributeRules() async throws -> Int {
        try await database.pool.query(database.sql("scores-attribute-refresh", Int64?.none))[0].decode(Int.self, "changed")
    }

    /// The daily decay pass (a no-op after today's); returns how many scores changed.
    public func decay() async throws -> Int {
        try await database.pool.query(database.sql("scores-decay"))[0].decode(Int.self, "changed")
    }

    /// A validated rule body, merged over the stored rule for an update.
    struct Draft {
        var name: String
        var kind: ScoringRule.Kind
        var eventType: String?
        var filters: [PropertyFilter]
        var points: Double
        var dailyCap: Double?
        var halfLifeDays: Int?
        var enabled: Bool

        var conditionJSON: PostgresJSON { PostgresJSON(rawJSON: JSONValue.object(["where": filters.json]).jsonText) }

        init(_ body: JSONValue, existing: ScoringRule?) throws {
            let object = try JSONObject(body)
            try object.rejectUnknownKeys(["name", "kind", "event_type", "condition", "points", "daily_cap", "half_life_days", "enabled"])
            if let existing {
                if let kind = try object.string("kind"), kind != existing.kind.rawValue {
                    throw FacteurError.invalid("kind", "a rule's kind cannot change; create a new rule")
                }
                kind = existing.kind
            } else {
                let raw = try object.string("kind") ?? (object.has("event_type") ? "event" : "")
                guard let kind = ScoringRule.Kind(rawValue: raw) else {
                    throw FacteurError.invalid("kind", "must be 'event' (points per event) or 'attribute' (points while attributes match)")
                }
                self.kind = kind
            }
            name = try object.string("name", required: existing == nil, maxLength: 200) ?? existing?.name ?? ""
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw FacteurError.invalid("name", "must not be blank") }

            eventType = try object.string("event_type", maxLength: 100) ?? existing?.eventType
            switch kind {
            case .event:
                guard let type = eventType, !type.isEmpty else {
                    throw FacteurError.invalid("event_type", "is required for an event rule (e.g. page_view, open, click)")
                }
            case .attribute:
                guard eventType == nil else { throw FacteurError.invalid("event_type", "an attribute rule has no event type") }
            }

            if let condition = try object.object("condition") {
                try JSONObject(.object(condition), path: "condition.").rejectUnknownKeys(["where"])
                filters = try PropertyFilter.list(condition["where"], path: "condition.where")
            } else {
                filters = existing?.filters ?? []
            }
            if kind == .attribute && filters.isEmpty {
                throw FacteurError.invalid("condition.where", "an attribute rule needs at least one filter on the subscriber's attributes")
            }

            points = try object.double("points") ?? existing?.points ?? .nan
            guard points.isFinite, points != 0, abs(points) <= 1_000_000 else {
                throw FacteurError.invalid(
                    "points", existing == nil && !object.has("points") ? "is required" : "must be a non-zero number up to ±1000000")
            }
            dailyCap = object.isNull("daily_cap") ? nil : try object.double("daily_cap") ?? existing?.dailyCap
            if let cap = dailyCap, !(cap > 0 && cap <= 1_000_000) {
                throw FacteurError.invalid("daily_cap", "must be a positive number up to 1000000, or null for no cap")
            }
            if kind == .attribute && dailyCap != nil {
                throw FacteurError.invalid(
                    "daily_cap", "attribute rules have no daily cap: they give their points once, while the attributes match")
            }
            halfLifeDays =
                object.isNull("half_life_days")
                ? nil : try object.int("half_life_days", range: 1...36500).map { Int($0) } ?? existing?.halfLifeDays
            if kind == .attribute && halfLifeDays != nil {
                throw FacteurError.invalid("half_life_days", "attribute rules do not decay: their points hold while the attributes match")
            }
            enabled = try object.bool("enabled") ?? existing?.enabled ?? true
        }
    }
}
