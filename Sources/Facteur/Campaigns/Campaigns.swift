import Foundation
import Postgres

/// Campaign CRUD and the status flow: draft → scheduled → sending → sent, with paused and cancelled.
public struct Campaigns: Sendable {
    let database: Database
    let templates: Templates

    public init(database: Database, templates: Templates) {
        self.database = database
        self.templates = templates
    }

    /// The channel workers LISTEN on; payloads are `start:<id>`, `pause:<id>`, `resume:<id>`, `cancel:<id>`.
    public static let channel = "facteur_campaigns"

    public func get(id: Int64) async throws -> Campaign {
        try Campaign(row: try await database.one(database.sql("campaign-select", id), notFound: "no campaign with id \(id)"))
    }

    public func list(status: Campaign.Status?, after: Int64, limit: Int) async throws -> Page<Campaign> {
        let limit = max(1, min(limit, 1000))
        let items = try await database.pool.query(database.sql("campaigns-list", after, status?.rawValue, limit + 1)).map(
            Campaign.init(row:))
        return Page(fetched: items, limit: limit, id: \.id)
    }

    public func create(_ body: JSONValue) async throws -> Campaign {
        let input = try CampaignInput(try JSONObject(body), creating: true)
        let template = try await existingTemplate(input.templateID!)
        let subject = input.subject ?? template.subject
        try await check(input, subject: subject)
        let topicID = try await self.topicID(input.topicKey)
        let rows = try await database.pool.query(
            database.sql(
                "campaign-insert", input.name!, subject, input.fromName ?? "", input.fromEmail!, input.replyTo, input.templateID!,
                input.segmentID,
                topicID, PostgresJSON(rawJSON: try Self.json(input.headers ?? [:])), input.trackOpens ?? true, input.trackClicks ?? true,
                input.rateLimit, try input.abTest.map { PostgresJSON(rawJSON: try Self.json($0)) }))
        return try await get(id: try rows[0].decode(Int64.self, "id"))
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> Campaign {
        let input = try CampaignInput(try JSONObject(body), creating: false)
        let current = try await get(id: id)
        guard current.status == .draft || current.status == .scheduled else {
            throw FacteurError(.conflict, "campaign \(id) is \(current.status.rawValue); only drafts and scheduled campaigns can change")
        }
        if let templateID = input.templateID { _ = try await existingTemplate(templateID) }
        try await check(input, subject: input.subject ?? current.subject)
        let topicID = try await self.topicID(input.topicKey)
        let rows = try await database.pool.query(
            database.sql(
                "campaign-update", id, input.name, input.subject, input.fromName, input.fromEmail, input.replyTo, input.templateID, topicID,
                try input.headers.map { PostgresJSON(rawJSON: try Self.json($0)) }, input.trackOpens, input.trackClicks, input.rateLimit,
                try input.abTest.map { PostgresJSON(rawJSON: try Self.json($0)) }, input.cleared, input.segmentID))
        guard !rows.isEmpty else { throw FacteurError(.conflict, "campaign \(id) changed status while being edited; try again") }
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        guard try await database.pool.query(database.sql("campaign-delete", id)).first != nil else {
            let campaign = try await get(id: id)
            throw FacteurError(.conflict, "campaign \(id) is \(campaign.status.rawValue); cancel it before deleting it")
        }
    }

    private func existingTemplate(_ id: Int64) async throws -> StoredTemplate {
        do {
            return try await templates.get(id: id)
        } catch let error as FacteurError where error.kind == .notFound {
            throw FacteurError.invalid("template_id", "no template with id \(id)")
        }
    }

    private func check(_ input: CampaignInput, subject: String) async throws {
        if let segmentID = input.segmentID {
            // It must compile with everything it uses, or the campaign would fail at start.
            let segments = Segments(database: database)
            do {
                try await segments.compiler(schema: try await segments.schema()).check(.segment(segmentID))
            } catch let error as FacteurError {
                throw FacteurError.invalid("segment_id", "segment \(segmentID) cannot be used: \(error.message)")
            }
        }
        let fields = try await FieldRegistry(database: database).list().map(\.key)
        let variables = TemplateVariables.forMessages(customFields: fields)
        let subjects =
            [("subject", subject)] + (input.abTest?.subjects.enumerated().map { ("ab.subjects[\($0.offset)]", $0.element) } ?? [])
        for (field, text) in subjects {
            if let problem = variables.problems(in: text, part: field, partials: []).first {
                throw FacteurError.invalid(field, problem.description)
            }
        }
    }

    private func topicID(_ key: String?) async throws -> Int64? {
        guard let key else { return nil }
        guard let row = try await database.pool.query(database.sql("topic-keys", [key])).first else {
            throw FacteurError.invalid("topic", "no topic with key '\(key)'")
        }
        return try row.decode(Int64.self, "id")
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
