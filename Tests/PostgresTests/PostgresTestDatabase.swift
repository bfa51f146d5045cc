import Postgres
import TestSupport

/// An empty template: the Postgres library's tests create the tables they need.
let postgresTemplate = TemplateDatabase(name: "postgres_lib_template") { _ in }

func withTestPool<T: Sendable>(maxConnections: Int = 4, _ body: @Sendable (PostgresPool) async throws -> T) async throws -> T {
    try await postgresTemplate.withDatabase(maxConnections: maxConnections, body)
}
