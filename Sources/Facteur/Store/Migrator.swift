import Crypto
import Foundation
import Logging
import Postgres

/// Applies `sql/migrations/NNNN_name.sql` in order, each in its own transaction, and records them.
///
/// An applied migration is remembered with the SHA-256 of its text; if the file changes afterwards
/// the runner refuses to continue rather than guess. A session advisory lock makes concurrent
/// starts (two servers, server + worker) wait for each other instead of racing.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let sql: String
        public var checksum: String { SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined() }
    }

    public let migrations: [Migration]
    private static let lockKey: Int64 = 0x4661_6374_6575_72  // "Facteur"

    public init(directory: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for file in files {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw FacteurError(.badRequest, "migration file '\(file)' must be named NNNN_description.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (a, b) in zip(migrations, migrations.dropFirst()) where a.version == b.version {
            throw FacteurError(.conflict, "two migrations share version \(a.version): \(a.name) and \(b.name)")
        }
        self.migrations = migrations
    }

    /// Applies what is pending and returns the versions applied by this call.
    @discardableResult
    public func migrate(_ pool: PostgresPool, logger: Logger = Logger(label: "facteur.migrate")) async throws -> [Int] {
        try await pool.withConnection { connection in
            try await connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))")
            do {
                let applied = try await apply(on: connection, logger: logger)
                try await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                return applied
            } catch {
                _ = try? await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                throw error
            }
        }
    }

    private func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        // The runner's own bookkeeping table is the one thing created outside a numbered migration.
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        var recorded: [Int: String] = [:]
        for row in try await connection.query("SELECT version, checksum FROM schema_migrations") {
            recorded[try row.decode(Int.self, "version")] = try row.decode(String.self, "checksum")
        }
        for migration in migrations {
            if let checksum = recorded[migration.version], checksum != migration.checksum {
                throw MigrationError(
                    "migration \(migration.version)_\(migration.name) was edited after it was applied; add a new migration instead")
            }
        }
        let known = Set(migrations.map(\.version))
        if let unknown = recorded.keys.filter({ !known.contains($0) }).max() {
            throw MigrationError("the database has migration \(unknown), which this build does not know; run a newer facteur")
        }
        var applied: [Int] = []
        for migration in migrations where recorded[migration.version] == nil {
            let started = ContinuousClock.now
            try await connection.withTransaction { tx in
                try await tx.executeScript(migration.sql)
                try await tx.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))"
                )
            }
            applied.append(migration.version)
            logger.info(
                "applied migration",
                metadata: ["version": "\(migration.version)", "name": "\(migration.name)", "took": "\(ContinuousClock.now - started)"])
        }
        return applied
    }
}

/// A migration cannot be applied safely.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
