import Foundation
import Postgres

/// A B2B account: firmographics that company segments select on.
public struct Company: Sendable, Encodable, Equatable {
    public var id: Int64
    public var name: String
    public var domain: String?
    public var industry: String?
    public var naics: String?
    public var employees: Int64?
    public var revenue: Double?
    public var region: String?
    public var attributes: [String: JSONValue]
    public var subscriberCount: Int64
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, domain, industry, naics, employees, revenue, region, attributes
        case subscriberCount = "subscriber_count"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        domain = try row.decode(String?.self, "domain")
        industry = try row.decode(String?.self, "industry")
        naics = try row.decode(String?.self, "naics")
        employees = try row.decode(Int64?.self, "employees")
        revenue = try row.decode(Double?.self, "revenue")
        region = try row.decode(String?.self, "region")
        attributes = try row.decode(PostgresJSON.self, "attributes").decode(as: [String: JSONValue].self)
        subscriberCount = try row.decode(Int64.self, "subscriber_count")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
    }
}

/// Company CRUD and linking subscribers to companies.
public struct Companies: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let keys: Set<String> = ["name", "domain", "industry", "naics", "employees", "revenue", "region", "attributes"]
    static let nullable = ["domain", "industry", "naics", "employees", "revenue", "region"]

    private struct Input {
        var name, domain, industry, naics, region: String?
        var employees: Int64?
        var revenue: Double?
        var attributes: [String: JSONValue] = [:]
        var cleared: [String] = []

        init(_ object: JSONObject, creating: Bool) throws {
            try object.rejectUnknownKeys(Companies.keys)
            name = try object.string("name", required: creating, maxLength: 300)
            if let name, name.trimmingCharacters(in: .whitespaces).isEmpty { throw FacteurError.invalid("name", "must not be blank") }
            if let raw = try object.string("domain", maxLength: 253) {
                let lowered = raw.lowercased()
                guard lowered.range(of: "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", options: .regularExpression) != nil else {
                    throw FacteurError.invalid("domain", "'\(raw)' is not a domain name such as example.com")
                }
                domain = lowered
            }
            industry = try object.string("industry", maxLength: 200)
            if let raw = try object.string("naics", maxLength: 6) {
                guard raw.range(of: "^[0-9]{2,6}$", options: .regularExpression) != nil else {
                    throw FacteurError.invalid("naics", "must be a NAICS code of 2 to 6 digits, such as 238220")
                }
                naics = raw
            }
            employees = try object.int("employees", range: 0...10_000_000)
            if let value = try object.double("revenue") {
                guard value.isFinite, value >= 0, value < 1e16 else {
                    throw FacteurError.invalid("revenue", "must be a non-negative amount")
                }
                revenue = value
            }
            region = try object.string("region", maxLength: 200)
            attributes = try object.object("attributes") ?? [:]
            if let path = JSONValue.object(attributes).pathOfNUL(prefix: "attributes") {
                throw FacteurError.invalid(path, "contains a NUL character, which cannot be stored")
            }
            cleared = Companies.nullable.filter { object.isNull($0) }
        }
    }

    public func create(_ body: JSONValue) async throws -> Company {
        let input = try Input(try JSONObject(body), creating: true)
        do {
            let rows = try await database.pool.query(
                database.sql(
                    "company-insert", input.name!, input.domain, input.industry, input.naics, input.employees,
                    input.revenue.map { String($0) },
                    input.region, PostgresJSON(rawJSON: JSONValue.object(input.attributes).jsonText)))
            return try await get(id: try rows[0].decode(Int64.self, "id"))
        } catch let error as PostgresError where error.isUniqueViolation {
            throw FacteurError(.conflict, "a company with domain '\(input.domain ?? "")' already exists", field: "domain")
        }
    }

    public func get(id: Int64) async throws -> Company {
        try Company(row: try await database.one(database.sql("company-select", id), notFound: "no company with id \(id)"))
    }

    public func list(search: String?, after: Int64, limit: Int) async throws -> Page<Company> {
        let limit = max(1, min(limit, 1000))
        let rows = try await database.pool.query(database.sql("companies-list", after, search.map(Subscribers.escapeLike), limit + 1))
        return Page(fetched: try rows.map(Company.init(row:)), limit: limit, id: \.id)
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> Company {
        let input = try Input(try JSONObject(body), creating: false)
        do {
            let rows = try await database.pool.query(
                database.sql(
                    "company-update", id, input.name, input.domain, input.industry, input.naics, input.employees,
                    input.revenue.map { String($0) },
                    input.region, PostgresJSON(rawJSON: JSONValue.object(input.attributes).jsonText), input.cleared))
            guard !rows.isEmpty else { throw FacteurError.notFound("no company with id \(id)") }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw FacteurError(.conflict, "a company with domain '\(input.domain ?? "")' already exists", field: "domain")
        }
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        guard try await database.pool.query(database.sql("company-delete", id)).first != nil else {
            throw FacteurError.notFound("no company with id \(id)")
        }
    }

    /// Links subscribers to a company: `{"subscriber_ids": [1, 2, 3]}`. All or nothing.
    public func link(companyID: Int64, _ body: JSONValue) async throws -> Int {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["subscriber_ids"])
        guard case .array(let raw)? = object.values["subscriber_ids"], !raw.isEmpty, raw.count <= 10_000 else {
            throw FacteurError.invalid("subscriber_ids", "must be an array of 1 to 10000 subscriber ids")
        }
        let ids: [Int64] = try raw.enumerated().map { index, value in
            guard case .number(let number) = value, let id = Int64(exactly: number), id > 0 else {
                throw FacteurError.invalid("subscriber_ids[\(index)]", "must be a positive whole number")
            }
            return id
        }
        _ = try await get(id: companyID)
        return try await database.pool.withTransaction { tx in
            let missing = try await tx.query(database.sql("subscribers-missing", ids))
            if let first = missing.first {
                throw FacteurError.invalid("subscriber_ids", "no subscriber with id \(try first.decode(Int64.self, "id"))")
            }
            return try await tx.execute(database.sql("company-link-subscribers", companyID, ids))
        }
    }
}
