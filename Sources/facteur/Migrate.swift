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
        let applied = try await Migrator(directory: environment.home.migrationsDirectory).migrate(database.pool, logger: logger)
        print(applied.isEmpty ? "The database is up to date." : "Applied migrations: \(applied.map(String.init).joined(separator: ", ")).")
        let statistics = try await FieldRegistry(database: database).ensureStatistics()
        if statistics > 0 { print("Created statistics for \(statistics) custom fields.") }
        await database.pool.close()
    }
}
