import Postgres

extension QueryCatalog {
    /// PREPAREs every query against the connected schema, inside a transaction that is rolled back,
    /// so a typo or a column a migration renamed stops the process at start instead of failing a
    /// request later. Import queries read a temporary staging table, created first as the importer does.
    /// - Throws: `QueryCheckError` naming the first query that does not prepare.
    public func verify(on pool: PostgresPool) async throws {
        struct Rollback: Error {}
        do {
            try await pool.withTransaction { tx in
                if let staging = queries["import-create-staging"] { try await tx.execute(SQL(unsafeSQL: staging.text)) }
                for (name, query) in queries.sorted(by: { $0.key < $1.key }) where name != "import-create-staging" {
                    do {
                        try await tx.execute(SQL(unsafeSQL: "PREPARE facteur_check AS \(query.text)"))
                        try await tx.execute("DEALLOCATE facteur_check")
                    } catch {
                        throw QueryCheckError(name: name, file: query.file, underlying: "\(error)")
                    }
                }
                throw Rollback()
            }
        } catch is Rollback {
            return
        }
    }
}

/// A named query does not prepare against the schema.
public struct QueryCheckError: Error, CustomStringConvertible {
    public let name: String
    public let file: String
    public let underlying: String
    public var description: String { "query '\(name)' in sql/queries/\(file) does not prepare: \(underlying)" }
}
