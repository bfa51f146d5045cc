import Foundation
import Postgres

/// The outcome of a bulk upsert or an import: counts, and each refused item with its reason.
public struct BulkReport: Sendable, Encodable {
    public struct Failure: Sendable, Encodable, Equatable {
        /// Position in the JSON array (0-based) or CSV line number (1-based, header is line 1).
        public var index: Int
        public var field: String?
        public var message: String
    }

    public var inserted = 0
    public var updated = 0
    public var failed: Int { failureCount }
    /// The first 1,000 failures; `failed` counts them all.
    public var failures: [Failure] = []
    var failureCount = 0

    mutating func fail(_ index: Int, _ error: FacteurError) {
        failureCount += 1
        if failures.count < 1000 { failures.append(Failure(index: index, field: error.field, message: error.message)) }
    }

    enum CodingKeys: String, CodingKey {
        case inserted, updated, failed, failures
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inserted, forKey: .inserted)
        try container.encode(updated, forKey: .updated)
        try container.encode(failureCount, forKey: .failed)
        try container.encode(failures, forKey: .failures)
    }
}

extension Subscribers {
    /// The most items one bulk request may carry.
    public static let maxBatch = 10_000

    /// Upserts up to 10,000 subscribers. Valid items land together in one statement; each invalid
    /// item is reported with its index and reason and changes nothing. A repeated address keeps the
    /// last occurrence. Topics in bulk items are not supported (use PUT …/topics or import).
    public func upsert(batch body: JSONValue) async throws -> BulkReport {
        guard case .array(let items) = body else {
            throw FacteurError(.badRequest, "expected a JSON array of subscribers, got \(body.typeName)")
        }
        guard items.count <= Self.maxBatch else {
            throw FacteurError(.tooLarge, "a batch holds at most \(Self.maxBatch) subscribers; got \(items.count)")
        }
        let fields = try await self.fields.byKey()
        var report = BulkReport()
        var byEmail: [String: (index: Int, row: JSONValue)] = [:]
        for (index, item) in items.enumerated() {
            do {
                let object = try JSONObject(item, path: "[\(index)].")
                let input = try SubscriberInput(object, fields: fields, requireEmail: true)
                guard input.topics == nil else {
                    throw FacteurError.invalid("[\(index)].topics", "bulk upsert does not set topics; use PUT /api/subscribers/{id}/topics")
                }
                guard input.removeAttributes.isEmpty else {
                    throw FacteurError.invalid("[\(index)].attributes", "null attribute values are not allowed in bulk upsert")
                }
                var row: [String: JSONValue] = ["email": .string(input.email!), "attributes": .object(input.setAttributes)]
                if let name = input.name { row["name"] = .string(name) }
                if let status = input.status { row["status"] = .string(status.rawValue) }
                if let locale = input.locale { row["locale"] = .string(locale) }
                if let timezone = input.timezone, let zone = timezone { row["timezone"] = .string(zone) }
                if let company = input.companyID, let id = company { row["company_id"] = .number(Double(id)) }
                byEmail[input.email!.lowercased()] = (index, .object(row))
            } catch let error as FacteurError {
                report.fail(index, error)
            }
        }
        let rows = byEmail.values.sorted { $0.index < $1.index }.map(\.row)
        guard !rows.isEmpty else { return report }
        do {
            let result = try await database.pool.query(
                database.sql("subscribers-upsert-batch", PostgresJSON(rawJSON: JSONValue.array(rows).jsonText)))
            report.inserted = try result[0].decode(Int.self, "inserted")
            report.updated = try result[0].decode(Int.self, "updated")
        } catch let error as PostgresError {
            throw Self.translate(error, email: nil)
        }
        return report
    }
}
