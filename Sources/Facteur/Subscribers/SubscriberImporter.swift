import Foundation
import Mail
import Postgres

/// Imports subscribers from CSV: streams good rows through COPY into a staging table, then upserts
/// them in one statement, all in one transaction. Each bad row is reported with its line number and
/// reason and changes nothing; the file is never held in memory.
///
/// Columns (header required, any order): `email` (required), `name`, `status`, `locale`, `timezone`,
/// `topics` (topic keys separated by `;` or `|`), `created_at` (kept for new people, so an export
/// re-imports as is), and any registered custom field.
public struct SubscriberImporter: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Progress for a progress bar: bytes read so far and rows seen.
    public typealias Progress = @Sendable (_ bytes: Int, _ rows: Int) -> Void

    /// - Parameters:
    ///   - nextChunk: returns the next bytes of the file, or nil at its end.
    ///   - topics: topic keys every imported row is subscribed to, on top of its `topics` cell.
    public func run(
        topics defaultTopics: [String] = [], progress: Progress? = nil, nextChunk: @escaping () async throws -> [UInt8]?
    ) async throws -> BulkReport {
        let fields = try await FieldRegistry(database: database).byKey()
        let knownTopics = Set(try await Topics(database: database).list().map(\.key))
        for key in defaultTopics where !knownTopics.contains(key) {
            throw FacteurError.invalid("topic", "no topic with key '\(key)'")
        }
        var reader = CSVReader()
        var bytes = 0
        var ended = false

        /// The next record or parse error, feeding the reader as needed; nil at the end of input.
        func next() async throws -> Result<CSVRecord, CSVError>? {
            while true {
                do {
                    if let record = try reader.nextRecord() { return .success(record) }
                } catch {
                    return .failure(error)
                }
                if ended { return nil }
                if let chunk = try await nextChunk() {
                    bytes += chunk.count
                    reader.feed(chunk)
                } else {
                    ended = true
                    reader.finish()
                }
            }
        }

        guard case .success(let header)? = try await next() else {
            throw FacteurError(.badRequest, "the CSV is empty or its header line cannot be read")
        }
        let layout = try ImportLayout(header: header.fields, fields: fields)
        var report = BulkReport()
        var rowsSeen = 0
        let result = try await database.pool.withTransaction { tx in
            try await tx.execute(database.sql("import-create-staging"))
            try await tx.copyFrom(
                "COPY import_rows (line, email, name, status, locale, timezone, attributes, topics, created_at) FROM STDIN"
            ) {
                writer in
                var line: [UInt8] = []
                while let item = try await next() {
                    rowsSeen += 1
                    if rowsSeen % 10_000 == 0 { progress?(bytes, rowsSeen) }
                    switch item {
                    case .failure(let error):
                        report.fail(error.line, FacteurError(.invalid, error.message))
                    case .success(let record):
                        do {
                            line.removeAll(keepingCapacity: true)
                            try layout.encode(record, knownTopics: knownTopics, defaultTopics: defaultTopics, into: &line)
                            try await writer.write(line)
                        } catch let error as FacteurError {
                            report.fail(record.line, error)
                        }
                    }
                }
            }
            // The de-duplicating sort of a large file would otherwise spill to disk.
            try await tx.execute("SET LOCAL work_mem = '256MB'")
            let counts = try await tx.query(database.sql("import-upsert"))
            if layout.hasTopics || !defaultTopics.isEmpty { try await tx.execute(database.sql("import-subscribe")) }
            return (try counts[0].decode(Int.self, "inserted"), try counts[0].decode(Int.self, "updated"))
        }
        progress?(bytes, rowsSeen)
        report.inserted = result.0
        report.updated = result.1
        return report
    }
}
