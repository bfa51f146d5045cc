import Foundation
import Postgres

/// Writes every subscriber as CSV, in pages, so memory stays flat whatever the list size.
/// The columns are the importer's, so an export re-imports as is.
public struct SubscriberExporter: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Calls `write` with CSV chunks (header first). Cells starting with `=`, `+`, `-` or `@` are
    /// prefixed with `'` when `forSpreadsheets` is set, so a spreadsheet never runs them as formulas.
    /// With `only`, the people of that list (a segment's members, in id order), else everyone.
    public func export(
        only ids: [Int64]? = nil, forSpreadsheets: Bool = false, pageSize: Int = 5000, write: ([UInt8]) async throws -> Void
    ) async throws -> Int {
        let fields = try await FieldRegistry(database: database).list()
        let writer = CSVWriter(neutralizeFormulas: forSpreadsheets)
        var buffer: [UInt8] = []
        writer.appendRecord(["email", "name", "status", "locale", "timezone", "topics", "created_at"] + fields.map(\.key), to: &buffer)
        try await write(buffer)
        var after: Int64 = 0
        var total = 0
        var next = ids.map { $0[...] }
        while true {
            let rows: PostgresRows
            if let remaining = next {
                guard !remaining.isEmpty else { break }
                rows = try await database.pool.query(database.sql("subscribers-export-of", Array(remaining.prefix(pageSize))))
                next = remaining.dropFirst(pageSize)
            } else {
                rows = try await database.pool.query(database.sql("subscribers-export", after, pageSize))
                guard !rows.isEmpty else { break }
            }
            buffer.removeAll(keepingCapacity: true)
            for row in rows {
                let attributes = try row.decode(PostgresJSON.self, "attributes").decode(as: [String: JSONValue].self)
                var cells = [
                    try row.decode(String.self, "email"), try row.decode(String.self, "name"), try row.decode(String.self, "status"),
                    try row.decode(String.self, "locale"), try row.decode(String?.self, "timezone") ?? "",
                    try row.decode(String.self, "topics"),
                    ISODates.format(try row.decode(Date.self, "created_at")),
                ]
                for field in fields {
                    switch attributes[field.key] {
                    case .string(let text)?: cells.append(text)
                    case .bool(let flag)?: cells.append(flag ? "true" : "false")
                    case .number(let number)?: cells.append(Int64(exactly: number).map(String.init) ?? String(number))
                    case nil, .null?: cells.append("")
                    case let other?: cells.append(other.jsonText)
                    }
                }
                writer.appendRecord(cells, to: &buffer)
                after = try row.decode(Int64.self, "id")
                total += 1
            }
            try await write(buffer)
        }
        return total
    }
}
