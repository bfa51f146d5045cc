import Foundation
import Postgres

/// A stored segment: its rule tree (JSON and text) and what it is.
public struct Segment: Sendable, Encodable {
    public var id: Int64
    public var name: String
    public var description: String
    public var rule: JSONValue
    /// The same tree in the text syntax.
    public var text: String
    /// `dynamic` (evaluated each time it is used) or `static` (a stored snapshot).
    public var kind: String
    /// When a static segment's snapshot was last taken.
    public var refreshedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, description, rule, text, kind
        case refreshedAt = "refreshed_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// Segment CRUD, preview, members and snapshots. Every rule is checked against the field registry
/// and the other segments (references must exist and may not loop) before it is stored.
///
/// A dynamic segment is evaluated each time it is used. A static one keeps the members it had
/// when it was created or last refreshed (`segment_members`), like a list frozen for a one-off
/// send or a hand-over; its members, campaigns and other segments that use it read that snapshot.
public struct Segments: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func schema() async throws -> SegmentSchema {
        SegmentSchema(customFields: try await FieldRegistry(database: database).list())
    }

    /// A compiler that knows every stored segment: their definitions, and which are snapshots. A
    /// definition that no longer checks (a field since deleted) is left out, so a reference to
    /// it fails with "no segment" rather than a wrong query.
    public func compiler(
        schema: SegmentSchema, on connection: PostgresConnection? = nil, now: Date = Date()
    ) async throws -> SegmentCompiler {
        var definitions: [Int64: SegmentRule] = [:]
        var snapshots: Set<Int64> = []
        for row in try await query(database.sql("segment-definitions"), on: connection) {
            let id = try row.decode(Int64.self, "id")
            let json = try row.decode(PostgresJSON.self, "definition").decode(as: JSONValue.self)
            definitions[id] = try? SegmentRule(json: json, schema: schema)
            if try row.decode(String.self, "kind") == "static" { snapshots.insert(id) }
        }
        var topics: [String: Int64] = [:]
        for row in try await query(database.sql("segment-topics"), on: connection) {
            topics[try row.decode(String.self, "key")] = try row.decode(Int64.self, "id")
        }
        return SegmentCompiler(schema: schema, segments: definitions, snapshots: snapshots, topics: topics, now: now)
    }

    /// `sql` on the caller's connection (inside its transaction) when it has one, else the pool.
    private func query(_ sql: SQL, on connection: PostgresConnection?) async throws -> PostgresRows {
        if let connection { try await connection.query(sql) } else { try await database.pool.query(sql) }
    }

    /// Runs `body` in a transaction set up to evaluate segments (see `segment-settings`).
    public func evaluating<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await database.pool.withTransaction { tx in
            try await Self.prepareEvaluation(on: tx, database: database)
            return try await body(tx)
        }
    }

    /// Sets up the current transaction to evaluate segments: JIT off, room to hash id sets.
    public static func prepareEvaluation(on connection: PostgresConnection, database: Database) async throws {
        _ = try await connection.query(database.sql("segment-settings"))
    }

    /// The rule of a request: `rule` (the JSON tree) or `text` (the text syntax), one of them.
    func rule(_ object: JSONObject, schema: SegmentSchema, required: Bool) throws -> SegmentRule? {
        switch (object.values["rule"], try object.string("text", maxLength: 20_000, multiline: true)) {
        case (nil, nil):
            if required { throw FacteurError.invalid("rule", "give the rule as a JSON tree in rule, or in the text syntax in text") }
            return nil
        case (let json?, nil):
            do {
                return try SegmentRule(json: json, schema: schema)
            } catch let error as FacteurError {
                throw FacteurError(error.kind, error.message, field: error.field.map { "rule." + $0 } ?? "rule")
            }
        case (nil, let text?):
            return try SegmentText.parse(text, schema: schema)
        default:
            throw FacteurError.invalid("text", "give rule or text, not both")
        }
    }

    public func list() async throws -> [Segment] {
        let schema = try await schema()
        return try await database.pool.query(database.sql("segments-list")).map { try Self.segment($0, schema: schema) }
    }

    public func get(id: Int64) async throws -> Segment {
        try Self.segment(
            try await database.one(database.sql("segment-select", id), notFound: "no segment with id \(id)"), schema: try await schema())
    }

    public func create(_ body: JSONValue) async throws -> Segment {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "description", "rule", "text", "kind"])
        let name = try Self.name(object, required: true)!
        let kind = try Self.kind(object) ?? "dynamic"
        let schema = try await schema()
        let rule = try rule(object, schema: schema, required: true)!
        let description = try object.string("description", maxLength: 2000) ?? ""
        let id: Int64 = try await withSegmentsLocked { tx in
            // References must exist and must not loop; compiling checks both.
            let compiler = try await compiler(schema: schema, on: tx)
            try compiler.check(rule)
            let rows = try await tx.query(
                database.sql("segment-insert", name, description, PostgresJSON(rawJSON: rule.json.jsonText), kind))
            let id = try rows[0].decode(Int64.self, "id")
            if kind == "static" { try await snapshot(id: id, rule: rule, compiler: compiler, on: tx) }
            return id
        }
        return try await get(id: id)
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> Segment {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "description", "rule", "text", "kind"])
        let current = try await get(id: id)
        let schema = try await schema()
        let rule = try rule(object, schema: schema, required: false)
        let name = try Self.name(object, required: false)
        let description = try object.string("description", maxLength: 2000)
        let kind = try Self.kind(object)
        try await withSegmentsLocked { tx in
            let compiler = try await compiler(schema: schema, on: tx)
            var definitions = compiler.segments
            if let rule { definitions[id] = rule }
            guard let definition = definitions[id] else {
                throw Self.stale(id)
            }
            let updated = SegmentCompiler(
                schema: schema, segments: definitions, snapshots: compiler.snapshots, topics: compiler.topics, now: compiler.now)
            try updated.check(.segment(id))
            let rows = try await tx.query(
                database.sql("segment-update", id, name, description, rule.map { PostgresJSON(rawJSON: $0.json.jsonText) }, kind))
            guard !rows.isEmpty else { throw FacteurError.notFound("no segment with id \(id)") }
            switch (current.kind, kind ?? current.kind) {
            case ("static", "dynamic"):
                _ = try await tx.query(database.sql("segment-members-clear", id))
                _ = try await tx.query(database.sql("segment-refreshed", id, false))
            case (_, "static") where rule != nil || current.kind != "static":
                // A new rule or a new snapshot: the members are taken again, now.
                try await snapshot(id: id, rule: definition, compiler: updated, on: tx)
            default: break
            }
        }
        return try await get(id: id)
    }

    /// Takes a static segment's snapshot again: its members become whoever its rule selects now.
    public func refresh(id: Int64) async throws -> Segment {
        let schema = try await schema()
        try await withSegmentsLocked { tx in
            let compiler = try await compiler(schema: schema, on: tx)
            guard let row = try await tx.query(database.sql("segment-select", id)).first else {
                throw FacteurError.notFound("no segment with id \(id)")
            }
            guard try row.decode(String.self, "kind") == "static" else {
                throw FacteurError(
                    .conflict, "segment \(id) is dynamic: it is evaluated each time it is used, there is no snapshot to refresh")
            }
            guard let rule = compiler.segments[id] else {
                throw Self.stale(id)
            }
            try await snapshot(id: id, rule: rule, compiler: compiler, on: tx)
        }
        return try await get(id: id)
    }

    /// Replaces the snapshot of segment `id` with the members of `rule` (its definition: the
    /// segments it uses are read as they are, snapshots included), in the caller's transaction.
    private func snapshot(id: Int64, rule: SegmentRule, compiler: SegmentCompiler, on tx: PostgresConnection) async throws {
        try await Self.prepareEvaluation(on: tx, database: database)
        _ = try await tx.query(database.sql("segment-members-clear", id))
        _ = try await tx.query(
            "INSERT INTO segment_members (segment_id, subscriber_id) \(try compiler.select("\(id), s.id", where: rule))"
        )
        _ = try await tx.query(database.sql("segment-refreshed", id, true))
    }

    public func delete(id: Int64) async throws {
        let schema = try await schema()
        do {
            try await withSegmentsLocked { tx in
                let users = try await compiler(schema: schema, on: tx).segments.filter { $0.value.referencedSegments.contains(id) }.keys
                    .sorted()
                guard users.isEmpty else {
                    throw FacteurError(
                        .conflict, "segment \(id) is used by segment \(users.map(String.init).joined(separator: ", ")); change those first")
                }
                guard try await tx.query(database.sql("segment-delete", id)).first != nil else {
                    throw FacteurError.notFound("no segment with id \(id)")
                }
            }
        } catch let error as PostgresError where error.isForeignKeyViolation {
            throw FacteurError(.conflict, "segment \(id) is the audience of a campaign; change the campaign first")
        }
    }

    /// Changes to segments one at a time: the reference and cycle checks see what the write
    /// changes, so two edits at once cannot build a loop or leave a dangling reference.
    private func withSegmentsLocked<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await database.pool.withTransaction { tx in
            _ = try await tx.query(database.sql("segments-lock"))
            return try await body(tx)
        }
    }

    /// The rule of a stored segment (`id`) or of a text, and a compiler that knows every segment.
    public func compiled(id: Int64?, text: String?, now: Date = Date()) async throws -> (rule: SegmentRule, compiler: SegmentCompiler) {
        let schema = try await schema()
        let compiler = try await compiler(schema: schema, now: now)
        switch (id, text) {
        case (let id?, nil):
            _ = try await get(id: id)
            return (.segment(id), compiler)
        case (nil, let text?):
            return (try SegmentText.parse(text, schema: schema), compiler)
        default:
            throw FacteurError.invalid("segment", "name a segment by id, or give a rule as text, one of them")
        }
    }

    /// What a rule selects, before it is saved: the count, the first members, and the SQL.
    public struct Preview: Sendable, Encodable {
        public var count: Int
        public var members: [Member]
        public var text: String
        public var sql: String
        public var parameters: [String?]
    }

    public struct Member: Sendable, Encodable {
        public var id: Int64
        public var email: String
        public var name: String
    }

    public func preview(_ body: JSONValue, now: Date = Date()) async throws -> Preview {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["rule", "text"])
        let schema = try await schema()
        let rule = try rule(object, schema: schema, required: true)!
        let compiler = try await compiler(schema: schema, now: now)
        let (count, page) = try await evaluating { tx in
            (
                try await tx.query(try compiler.count(rule))[0].decode(Int.self, "n"),
                try await members(rule, compiler: compiler, after: 0, limit: 50, on: tx)
            )
        }
        let sql = try compiler.members(rule)
        return Preview(
            count: count, members: page.items, text: SegmentText.format(rule), sql: sql.text, parameters: sql.binds.map(\.value))
    }

    /// A stored segment's members, by id, in keyset pages.
    public func members(id: Int64, after: Int64, limit: Int, now: Date = Date()) async throws -> Page<Member> {
        let compiler = try await checkedCompiler(id: id, now: now)
        return try await evaluating { tx in try await members(.segment(id), compiler: compiler, after: after, limit: limit, on: tx) }
    }

    /// Every member's id, in order: one evaluation, for exports.
    public func memberIDs(id: Int64, now: Date = Date()) async throws -> [Int64] {
        let compiler = try await checkedCompiler(id: id, now: now)
        return try await evaluating { tx in
            try await tx.query(try compiler.members(.segment(id))).map { try $0.decode(Int64.self, "id") }
        }
    }

    /// A compiler for a stored segment that exists and still checks.
    private func checkedCompiler(id: Int64, now: Date) async throws -> SegmentCompiler {
        let compiler = try await compiler(schema: try await schema(), now: now)
        guard compiler.segments[id] != nil else {
            _ = try await get(id: id)
            throw Self.stale(id)
        }
        return compiler
    }

    private func members(
        _ rule: SegmentRule, compiler: SegmentCompiler, after: Int64, limit: Int, on tx: PostgresConnection
    ) async throws -> Page<Member> {
        let limit = max(1, min(limit, 1000))
        let sql: SQL =
            try compiler.select("s.id, s.email, s.name", where: rule, also: "s.id > \(after)", then: " ORDER BY s.id LIMIT \(limit + 1)")
        let members = try await tx.query(sql).map {
            Member(
                id: try $0.decode(Int64.self, "id"), email: try $0.decode(String.self, "email"), name: try $0.decode(String.self, "name"))
        }
        return Page(fetched: members, limit: limit, id: \.id)
    }

    /// A stored rule that no longer checks (it names a field since changed) cannot be evaluated.
    private static func stale(_ id: Int64) -> FacteurError {
        FacteurError(.conflict, "segment \(id) no longer checks against the field registry; give it a new rule")
    }

    private static func kind(_ object: JSONObject) throws -> String? {
        guard let kind = try object.string("kind") else { return nil }
        guard kind == "dynamic" || kind == "static" else {
            throw FacteurError.invalid(
                "kind", "must be dynamic (evaluated each time it is used) or static (a snapshot, refreshed on demand)")
        }
        return kind
    }

    private static func name(_ object: JSONObject, required: Bool) throws -> String? {
        guard let name = try object.string("name", required: required, maxLength: 200) else { return nil }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw FacteurError.invalid("name", "must not be blank") }
        return name
    }

    private static func segment(_ row: PostgresRow, schema: SegmentSchema) throws -> Segment {
        let json = try row.decode(PostgresJSON.self, "definition").decode(as: JSONValue.self)
        let text = (try? SegmentRule(json: json, schema: schema)).map(SegmentText.format)
        return Segment(
            id: try row.decode(Int64.self, "id"), name: try row.decode(String.self, "name"),
            description: try row.decode(String.self, "description"), rule: json, text: text ?? "",
            kind: try row.decode(String.self, "kind"), refreshedAt: try row.decode(Date?.self, "refreshed_at"),
            createdAt: try row.decode(Date.self, "created_at"),
            updatedAt: try row.decode(Date.self, "updated_at"))
    }
}
