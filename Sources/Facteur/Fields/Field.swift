import Foundation
import Postgres

/// A registered custom field: subscriber attributes are checked against these.
public struct Field: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case text, number, boolean, date
    }

    public var key: String
    public var type: Kind
    public var label: String
    public var createdAt: Date?

    enum CodingKeys: String, CodingKey {
        case key, type, label
        case createdAt = "created_at"
    }

    /// Checks one attribute value and returns it in its stored form (dates normalized to ISO 8601).
    public func validate(_ value: JSONValue, path: String) throws -> JSONValue {
        switch (type, value) {
        case (_, .null): return .null
        case (.text, .string(let text)):
            guard text.utf8.count <= 10_000 else { throw FacteurError.invalid(path, "is longer than 10000 bytes") }
            guard !text.utf8.contains(0) else { throw FacteurError.invalid(path, "contains a NUL character") }
            return value
        case (.number, .number(let number)):
            guard number.isFinite else { throw FacteurError.invalid(path, "must be a finite number") }
            return value
        case (.boolean, .bool): return value
        case (.date, .string(let text)):
            if let day = ISODates.normalizeDay(text) { return .string(day) }
            guard let date = ISODates.parse(text) else {
                throw FacteurError.invalid(path, "must be a date such as 2026-05-01 or 2026-05-01T12:00:00Z, got '\(text)'")
            }
            return .string(ISODates.format(date))
        default:
            throw FacteurError.invalid(path, "field '\(key)' is of type \(type.rawValue), got \(value.typeName)")
        }
    }

    /// Parses a CSV cell into this field's JSON value; empty cells are nil (not set).
    public func parseCell(_ cell: String, path: String) throws -> JSONValue? {
        if cell.isEmpty { return nil }
        switch type {
        case .text: return try validate(.string(cell), path: path)
        case .number:
            let trimmed = cell.first == " " || cell.last == " " ? cell.trimmingCharacters(in: .whitespaces) : cell
            guard let number = Double(trimmed), number.isFinite else {
                throw FacteurError.invalid(path, "'\(cell)' is not a number")
            }
            return .number(number)
        case .boolean:
            switch cell.lowercased() {
            case "true", "t", "yes", "y", "1": return .bool(true)
            case "false", "f", "no", "n", "0": return .bool(false)
            default: throw FacteurError.invalid(path, "'\(cell)' is not a boolean (true/false)")
            }
        case .date: return try validate(.string(cell), path: path)
        }
    }
}

/// The custom-field registry.
public struct FieldRegistry: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func list() async throws -> [Field] {
        try await database.pool.query(database.sql("fields-list")).map { row in
            Field(
                key: try row.decode(String.self, "key"), type: Field.Kind(rawValue: try row.decode(String.self, "type")) ?? .text,
                label: try row.decode(String.self, "label"), createdAt: try row.decode(Date.self, "created_at"))
        }
    }

    /// Fields by key, for validating a request.
    public func byKey() async throws -> [String: Field] {
        Dictionary(uniqueKeysWithValues: try await list().map { ($0.key, $0) })
    }

    public func create(_ body: JSONValue) async throws -> Field {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["key", "type", "label"])
        let key = try object.string("key", required: true, maxLength: 63)!
        guard key.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw FacteurError.invalid("key", "must start with a lowercase letter and hold only a-z, 0-9 and _ (at most 63)")
        }
        guard !Self.reserved.contains(key) else {
            throw FacteurError.invalid("key", "'\(key)' is a built-in subscriber field; choose another key")
        }
        let typeName = try object.string("type", required: true)!
        guard let type = Field.Kind(rawValue: typeName) else {
            throw FacteurError.invalid("type", "must be one of text, number, boolean, date")
        }
        let label = try object.string("label", maxLength: 200) ?? key
        do {
            let field = try await database.pool.withTransaction { tx in
                let rows = try await tx.query(database.sql("field-insert", key, type.rawValue, label))
                let field = Field(key: key, type: type, label: label, createdAt: try rows[0].decode(Date.self, "created_at"))
                if let statistics = SegmentCompiler.statistics(for: field) { try await tx.execute(SQL(unsafeSQL: statistics)) }
                return field
            }
            return field
        } catch let error as PostgresError where error.isUniqueViolation {
            throw FacteurError(.conflict, "a field with key '\(key)' already exists", field: "key")
        }
    }

    /// Creates the statistics segments need (see `SegmentCompiler.statistics(for:)`) for the
    /// fields that lack them, and has PostgreSQL gather them; returns how many were missing.
    /// Run after migrations (`Database.migrate`), for fields registered before the statistics
    /// existed.
    @discardableResult
    public func ensureStatistics() async throws -> Int {
        let existing = Set(
            try await database.pool.query(database.sql("field-statistics")).map { try $0.decode(String.self, "stxname") })
        var created = 0
        for field in try await list() where !existing.contains("facteur_field_\(field.key)") {
            guard let statistics = SegmentCompiler.statistics(for: field) else { continue }
            try await database.pool.execute(SQL(unsafeSQL: statistics))
            created += 1
        }
        if created > 0 { try await database.pool.execute("ANALYZE subscribers") }
        return created
    }

    /// Built-in subscriber columns; the migration's CHECK holds the same list.
    static let reserved: Set<String> = [
        "id", "email", "name", "domain", "status", "locale", "timezone", "score", "company", "company_id",
        "frequency", "paused_until", "confirmed_at", "created_at", "updated_at",
    ]
}
