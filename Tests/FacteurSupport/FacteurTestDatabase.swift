import Facteur
import Foundation
import Postgres
@_exported import TestSupport

/// The repository as a Facteur home: tests read `sql/` from the checkout.
public let testHome = FacteurHome(root: TestServer.repositoryRoot)

/// A template migrated once per test process with the real migrations.
public let facteurTemplate = TemplateDatabase(name: "facteur_template") { pool in
    try await Migrator(directory: testHome.migrationsDirectory).migrate(pool)
}

/// Runs `body` against a fresh, fully migrated database of its own.
public func withFacteurDatabase<T: Sendable>(
    maxConnections: Int = 4, _ body: @Sendable (Database) async throws -> T
) async throws -> T {
    try await facteurTemplate.withDatabase(maxConnections: maxConnections) { pool in
        try await body(Database(pool: pool, queries: try QueryCatalog(directory: testHome.queriesDirectory)))
    }
}

extension JSONValue {
    /// Parses JSON text written in a test.
    public static func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Data(text.utf8))
    }
}
