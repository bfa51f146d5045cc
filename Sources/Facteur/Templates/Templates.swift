import Foundation
import Postgres

/// A stored campaign template.
public struct StoredTemplate: Sendable, Encodable, Equatable {
    public var id: Int64
    public var name: String
    public var subject: String
    public var html: String
    public var text: String?
    public var layout: String?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, subject, html, text, layout
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        subject = try row.decode(String.self, "subject")
        html = try row.decode(String.self, "html")
        text = try row.decode(String?.self, "text")
        layout = try row.decode(String?.self, "layout")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
    }
}

/// Template CRUD. Nothing is stored until it parses and uses only variables a message will have.
public struct Templates: Sendable {
    let database: Database
    let layouts: EmailLayouts

    public init(database: Database, layouts: EmailLayouts) {
        self.database = database
        self.layouts = layouts
    }

    /// Largest Mustache source accepted per part.
    public static let maxSourceBytes = 512 * 1024

    public func list() async throws -> [StoredTemplate] {
        try await database.pool.query(database.sql("templates-list")).map(StoredTemplate.init(row:))
    }

    public func get(id: Int64) async throws -> StoredTemplate {
        try StoredTemplate(row: try await database.one(database.sql("template-select", id), notFound: "no template with id \(id)"))
    }

    public func create(_ body: JSONValue) async throws -> StoredTemplate {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "subject", "html", "text", "layout"])
        let name = try object.string("name", required: true, maxLength: 200)!
        let subject = try object.string("subject", required: true, maxLength: 2000)!
        let html = try object.string("html", required: true, maxLength: Self.maxSourceBytes, multiline: true)!
        let text = try object.string("text", maxLength: Self.maxSourceBytes, multiline: true)
        let layout = try object.string("layout", maxLength: 100)
        try await validate(subject: subject, html: html, text: text, layout: layout)
        let rows = try await database.pool.query(database.sql("template-insert", name, subject, html, text, layout))
        return try await get(id: try rows[0].decode(Int64.self, "id"))
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> StoredTemplate {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "subject", "html", "text", "layout"])
        let current = try await get(id: id)
        let name = try object.string("name", maxLength: 200)
        let subject = try object.string("subject", maxLength: 2000)
        let html = try object.string("html", maxLength: Self.maxSourceBytes, multiline: true)
        let text = try object.string("text", maxLength: Self.maxSourceBytes, multiline: true)
        let layout = try object.string("layout", maxLength: 100)
        if subject != nil || html != nil || object.has("text") || object.has("layout"),
            let row = try await database.pool.query(database.sql("template-sending-campaign", id)).first
        {
            throw FacteurError(
                .conflict,
                "template \(id) is used by campaign \(try row.decode(Int64.self, "id")), which is sending: its content cannot change until "
                    + "the campaign ends; create a new template instead")
        }
        try await validate(
            subject: subject ?? current.subject, html: html ?? current.html, text: object.has("text") ? text : current.text,
            layout: object.has("layout") ? layout : current.layout)
        _ = try await database.pool.query(
            database.sql("template-update", id, name, subject, html, text, object.has("text"), layout, object.has("layout")))
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        do {
            guard try await database.pool.query(database.sql("template-delete", id)).first != nil else {
                throw FacteurError.notFound("no template with id \(id)")
            }
        } catch let error as PostgresError where error.isForeignKeyViolation {
            throw FacteurError(.conflict, "template \(id) is used by a campaign")
        }
    }

    /// Parses and checks the sources; every problem comes back in one 422, the first one's part as field.
    @discardableResult
    public func validate(subject: String, html: String, text: String?, layout: String?) async throws -> MessageTemplate {
        let fields = try await FieldRegistry(database: database).list().map(\.key)
        do {
            return try MessageTemplate(
                subject: subject, html: html, text: text, layout: layout, layouts: layouts,
                variables: .forMessages(customFields: fields))
        } catch let error as TemplateError {
            let first = error.problems.first
            throw FacteurError(.invalid, error.problems.map(\.description).joined(separator: "; "), field: first?.part)
        }
    }
}
