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
    public var kind: String
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, description, rule, text, kind
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// Segment CRUD, preview and members. Every rule is checked against the field registry and the
/// other segments (references must exist and may not loop) before it is stored.
public struct Segments: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func schema() async throws -> SegmentSchema {
        SegmentSchema(customFields: try await FieldRegistry(database: database).list())
    }

    /// The stored definitions, by id; one that no longer checks (a field since deleted) is left
    /// out, so a reference to it fails with "no segment" rather than a wrong query.
    public func definitions(schema: SegmentSchema, on connection: PostgresConnection? = nil) async throws -> [Int64: SegmentRule] {
        var definitions: [Int64: SegmentRule] = [:]
        let sql = database.sql("segment-definitions")
        let rows: PostgresRows
        if let connection { rows = try await connection.query(sql) } else { rows = try await database.pool.query(sql) }
        for row in rows {
            let json = try row.decode(PostgresJSON.self, "definition").decode(as: JSONValue.self)
            definitions[try row.decode(Int64.self, "id")] = try? SegmentRule(json: json, schema: schema)
        }
        return definitions
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
        if let kind = try object.string("kind"), kind != "dynamic" {
            throw FacteurError.invalid("kind", "only dynamic segments (evaluated when used) can be made for now")
        }
        let schema = try await schema()
        let rule = try rule(object, schema: schema, required: true)!
        let description = try object.string("description", maxLength: 2000) ?? ""
        let id: Int64 = try await withSegmentsLocked { tx in
            // References must exist and must not loop; compiling checks both.
            _ = try SegmentCompiler(schema: schema, segments: try await definitions(schema: schema, on: tx)).predicate(rule)
            let rows = try await tx.query(database.sql("segment-insert", name, description, PostgresJSON(rawJSON: rule.json.jsonText)))
            return try rows[0].decode(Int64.self, "id")
        }
        return try await get(id: id)
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> Segment {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "description", "rule", "text"])
        _ = try await get(id: id)
        let schema = try await schema()
        let rule = try rule(object, schema: schema, required: false)
        let name = try Self.name(object, required: false)
        let description = try object.string("description", maxLength: 2000)
        try await withSegmentsLocked { tx in
            if let rule {
                var definitions = try await definitions(schema: schema, on: tx)
                definitions[id] = rule
                _ = try SegmentCompiler(schema: schema, segments: definitions).predicate(.segment(id))
            }
            let rows = try await tx.query(
                database.sql("segment-update", id, name, description, rule.map { PostgresJSON(rawJSON: $0.json.jsonText) }))
            guard !rows.isEmpty else { throw FacteurError.notFound("no segment with id \(id)") }
        }
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        let schema = try await schema()
        do {
            try await withSegmentsLocked { tx in
                let users = try await definitions(schema: schema, on: tx).filter { $0.value.referencedSegments.contains(id) }.keys.sorted()
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
        let definitions = try await definitions(schema: schema)
        let rule: SegmentRule
        switch (id, text) {
        case (let id?, nil):
            _ = try await get(id: id)
            rule = .segment(id)
        case (nil, let text?):
            rule = try SegmentText.parse(text, schema: schema)
        default:
            throw FacteurError.invalid("segment", "name a segment by id, or give a rule as text, one of them")
        }
        return (rule, SegmentCompiler(schema: schema, segments: definitions, now: now))
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
        let compiler = SegmentCompiler(schema: schema, segments: try await definitions(schema: schema), now: now)
        let count = try await database.pool.query(try compiler.count(rule))[0].decode(Int.self, "n")
        let page = try await members(rule, compiler: compiler, after: 0, limit: 50)
        let members = try compiler.members(rule)
        return Preview(
            count: count, members: page.items, text: SegmentText.format(rule), sql: members.text, parameters: members.binds.map(\.value))
    }

    /// A stored segment's members, by id, in keyset pages.
    public func members(id: Int64, after: Int64, limit: Int, now: Date = Date()) async throws -> Page<Member> {
        let schema = try await schema()
        let definitions = try await definitions(schema: schema)
        guard let rule = definitions[id] else {
            _ = try await get(id: id)
            throw FacteurError(.conflict, "segment \(id) no longer checks against the field registry; update its rule")
        }
        return try await members(
            rule, compiler: SegmentCompiler(schema: schema, segments: definitions, now: now), after: after, limit: limit)
    }

    private func members(_ rule: SegmentRule, compiler: SegmentCompiler, after: Int64, limit: Int) async throws -> Page<Member> {
        let limit = max(1, min(limit, 1000))
        let sql: SQL =
            "SELECT s.id, s.email, s.name FROM subscribers s WHERE s.id > \(after) AND \(try compiler.predicate(rule)) ORDER BY s.id LIMIT \(limit + 1)"
        let rows = try await database.pool.query(sql)
        let members = try rows.map {
            Member(
                id: try $0.decode(Int64.self, "id"), email: try $0.decode(String.self, "email"), name: try $0.decode(String.self, "name"))
        }
        return Page(fetched: members, limit: limit, id: \.id)
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
            kind: try row.decode(String.self, "kind"), createdAt: try row.decode(Date.self, "created_at"),
            updatedAt: try row.decode(Date.self, "updated_at"))
    }
}
