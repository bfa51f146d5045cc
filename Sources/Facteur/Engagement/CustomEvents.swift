import Foundation
import Postgres

/// What became of a batch of custom events.
public struct EventBatchReport: Sendable, Encodable {
    public var recorded = 0
    /// Events whose idempotency key was seen before (a client retry): not counted twice.
    public var duplicates = 0
    public var failed: Int { failures.count }
    public var failures: [BulkReport.Failure] = []
    /// `events.id` per input index, for the recorded ones.
    public var ids: [Int64?] = []

    enum CodingKeys: String, CodingKey { case recorded, duplicates, failed, failures, ids }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(recorded, forKey: .recorded)
        try container.encode(duplicates, forKey: .duplicates)
        try container.encode(failed, forKey: .failed)
        try container.encode(failures, forKey: .failures)
        try container.encode(ids, forKey: .ids)
    }
}

/// `POST /api/events`: page views, purchases, sign-ups … sent by the customer's systems.
public struct CustomEvents: Sendable {
    /// The most events one request may carry.
    public static let maxBatch = 10_000
    /// The largest `properties` object, serialized.
    public static let maxPropertiesBytes = 32 * 1024

    let database: Database
    let batcher: EventBatcher

    public init(database: Database, batcher: EventBatcher) {
        self.database = database
        self.batcher = batcher
    }

    /// One event: its id, or nil when its idempotency key was used before.
    /// Throws `.notFound` for an unknown subscriber, `.invalid` for a bad field.
    public func record(one body: JSONValue) async throws -> (id: Int64?, duplicate: Bool) {
        let parsed = try Self.parse(body, index: 0, path: "")
        let (ready, unknown) = try await resolve([parsed])
        if let failure = unknown.first { throw FacteurError(.notFound, failure.message, field: failure.field) }
        switch try await batcher.record(ready[0].event) {
        case .recorded(let id): return (id, false)
        case .duplicate: return (nil, true)
        case .unmatched: throw FacteurError.notFound("the subscriber was erased meanwhile")
        }
    }

    /// Up to 10,000 events. Invalid items and unknown subscribers are reported by index and write
    /// nothing; the rest land together (one transaction).
    public func record(batch body: JSONValue) async throws -> EventBatchReport {
        guard case .array(let items) = body else {
            throw FacteurError(.badRequest, "expected a JSON array of events, got \(body.typeName)")
        }
        guard items.count <= Self.maxBatch else {
            throw FacteurError(.tooLarge, "a batch holds at most \(Self.maxBatch) events; got \(items.count)")
        }
        return try await record(items: items)
    }

    private struct Parsed {
        var index: Int
        var event: EventInput
        var subscriberID: Int64?
        var email: String?
        var field: String
    }

    private func record(items: [JSONValue]) async throws -> EventBatchReport {
        var report = EventBatchReport()
        report.ids = Array(repeating: nil, count: items.count)
        var parsed: [Parsed] = []
        for (index, item) in items.enumerated() {
            let path = "[\(index)]."
            do {
                parsed.append(try Self.parse(item, index: index, path: path))
            } catch let error as FacteurError {
                report.failures.append(.init(index: index, field: error.field, message: error.message))
            }
        }
        let (ready, unknown) = try await resolve(parsed)
        report.failures += unknown
        let outcomes = try await batcher.record(ready.map(\.event))
        for (item, outcome) in zip(ready, outcomes) {
            switch outcome {
            case .recorded(let id):
                report.recorded += 1
                report.ids[item.index] = id
            case .duplicate:
                report.duplicates += 1
            case .unmatched:
                report.failures.append(
                    .init(index: item.index, field: item.field, message: "no subscriber with id \(item.event.subscriberID ?? 0)"))
            }
        }
        report.failures.sort { $0.index < $1.index }
        return report
    }

    /// Finds who each event is about, in one query; the unknown ones come back as failures.
    private func resolve(_ parsed: [Parsed]) async throws -> (ready: [Parsed], unknown: [BulkReport.Failure]) {
        guard !parsed.isEmpty else { return ([], []) }
        let ids = Array(Set(parsed.compactMap(\.subscriberID)))
        let emails = Array(Set(parsed.compactMap(\.email)))
        var known = Set<Int64>()
        var byEmail: [String: Int64] = [:]
        for row in try await database.pool.query(database.sql("events-resolve-subscribers", ids, emails)) {
            let id = try row.decode(Int64.self, "id")
            known.insert(id)
            byEmail[try row.decode(String.self, "email")] = id
        }
        var ready: [Parsed] = []
        var unknown: [BulkReport.Failure] = []
        for var item in parsed {
            if let id = item.subscriberID, known.contains(id) {
                item.event.subscriberID = id
            } else if let email = item.email, let id = byEmail[email] {
                item.event.subscriberID = id
            } else {
                let who = item.subscriberID.map { "id \($0)" } ?? "email \(item.email ?? "")"
                unknown.append(.init(index: item.index, field: item.field, message: "no subscriber with \(who)"))
                continue
            }
            ready.append(item)
        }
        return (ready, unknown)
    }

    private static func parse(_ item: JSONValue, index: Int, path: String) throws -> Parsed {
        let object = try JSONObject(item, path: path)
        try object.rejectUnknownKeys(["subscriber_id", "email", "name", "properties", "occurred_at", "idempotency_key", "campaign_id"])
        let subscriberID = try object.int("subscriber_id", range: 1...Int64.max)
        let email = try object.string("email", maxLength: 320)?.lowercased()
        guard (subscriberID == nil) != (email == nil) else {
            throw FacteurError.invalid(path + "subscriber_id", "give the subscriber by subscriber_id or by email (one of them)")
        }
        let name = try object.string("name", required: true, maxLength: 100) ?? ""
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw FacteurError.invalid(path + "name", "must not be blank") }
        // The database refuses every control character in a type (C1 and line separators too).
        guard
            !name.unicodeScalars.contains(where: {
                [.control, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory)
            })
        else { throw FacteurError.invalid(path + "name", "must not contain control characters or line breaks") }
        guard !EventType.isBuiltIn(name) else {
            throw FacteurError.invalid(
                path + "name",
                "'\(name)' is a built-in event recorded by Facteur itself; name custom events otherwise (page_view, purchase …)")
        }
        var properties = "{}"
        if let members = try object.object("properties") {
            if let nul = JSONValue.object(members).pathOfNUL(prefix: path + "properties") {
                throw FacteurError.invalid(nul, "contains a NUL character")
            }
            properties = JSONValue.object(members).jsonText
            guard properties.utf8.count <= maxPropertiesBytes else {
                throw FacteurError(.tooLarge, "properties are larger than \(maxPropertiesBytes) bytes", field: path + "properties")
            }
        }
        var key = try object.string("idempotency_key", maxLength: 240)
        if let given = key {
            guard !given.isEmpty else { throw FacteurError.invalid(path + "idempotency_key", "must not be empty") }
            // Clients' keys live apart from the keys Facteur itself claims (bounce reports).
            key = "api:" + given
        }
        let occurredAt = try object.date("occurred_at")
        if let occurredAt, occurredAt > Date().addingTimeInterval(86_400) {
            throw FacteurError.invalid(path + "occurred_at", "is more than a day in the future")
        }
        let event = EventInput(
            type: name, campaignID: try object.int("campaign_id", range: 1...Int64.max), properties: properties, idempotencyKey: key,
            occurredAt: occurredAt)
        return Parsed(
            index: index, event: event, subscriberID: subscriberID, email: email,
            field: path + (subscriberID == nil ? "email" : "subscriber_id"))
    }
}
