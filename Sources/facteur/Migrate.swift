import ArgumentParser
import Facteur
import Logging

/// `facteur migrate`: applies pending migrations.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (safe to run from several places at once).")

    func run() async throws {
        let environment = Environment()
        environment.bootstrapLogging()
        let logger = Logger(label: "facteur.migrate")
        let database = try Database(
            configuration: try environment.databaseConfiguration(), home: environment.home, maxConnections: 1, logger: logger)
        // The statistics it creates for custom fields are logged.
        let applied = try await database.migrate(home: environment.home, logger: logger).applied
        print(applied.isEmpty ? "The database is up to date." : "Applied migrations: \(applied.map(String.init).joined(separator: ", ")).")
        await database.pool.close()
    }
}
