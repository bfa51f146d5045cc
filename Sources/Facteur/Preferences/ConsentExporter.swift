import Foundation
import Postgres

/// The consent log for a date range as CSV, in pages (memory stays flat), oldest first: the
/// record an operator hands over to prove who agreed to what, when, from where.
public struct ConsentExporter: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public static let columns = [
        "id", "subscriber_id", "email", "topic", "action", "source", "ip", "user_agent", "details", "occurred_at",
    ]

    /// Validates the range before anything is written: `from` ≤ `to`, both given.
    public static func range(from: String?, to: String?) throws -> (from: Date, to: Date) {
        guard let fromText = from, let start = ISODates.parse(fromText) else {
            throw FacteurError.invalid("from", "give the start as an ISO 8601 date or timestamp, e.g. from=2026-01-01")
        }
        guard let toText = to, let end = ISODates.parse(toText) else {
            throw FacteurError.invalid("to", "give the end (excluded) as an ISO 8601 date or timestamp, e.g. to=2027-01-01")
        }
        guard start <= end else { throw FacteurError.invalid("to", "must not be before from") }
        return (start, end)
    }

    /// Calls `write` with CSV chunks, header first; returns the number of entries. Cells that a
    /// spreadsheet would run as formulas are neutralized when `forSpreadsheets` is set.
    @discardableResult
    public func export(
        from start: Date, to end: Date, forSpreadsheets: Bool = false, pageSize: Int = 5000, write: ([UInt8]) async throws -> Void
    ) async throws -> Int {
        let writer = CSVWriter(neutralizeFormulas: forSpreadsheets)
        var buffer: [UInt8] = []
        writer.appendRecord(Self.columns, to: &buffer)
        try await write(buffer)
        var after = (at: start.addingTimeInterval(-1), id: Int64(0))
        var total = 0
        while true {
            let rows = try await database.pool.query(database.sql("consent-export-page", start, end, after.at, after.id, pageSize))
            guard !rows.isEmpty else { break }
            buffer.removeAll(keepingCapacity: true)
            for row in rows {
                let id = try row.decode(Int64.self, "id")
                let at = try row.decode(Date.self, "occurred_at")
                writer.appendRecord(
                    [
                        String(id), String(try row.decode(Int64.self, "subscriber_id")), try row.decode(String?.self, "email") ?? "",
                        try row.decode(String?.self, "topic") ?? "", try row.decode(String.self, "action"),
                        try row.decode(String.self, "source"), try row.decode(String?.self, "ip") ?? "",
                        try row.decode(String?.self, "user_agent") ?? "", try row.decode(PostgresJSON.self, "details").text,
                        ISODates.format(at),
                    ], to: &buffer)
                after = (at, id)
                total += 1
            }
            try await write(buffer)
        }
        return total
    }
}
