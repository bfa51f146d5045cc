import Logging
import Postgres

extension Database {
    /// Applies the pending migrations from `home`, then creates the statistics segments need for
    /// custom fields registered before they existed (`FieldRegistry.ensureStatistics`). Every
    /// command that migrates (`facteur migrate`, `serve --migrate`, `dev`) goes through here.
    @discardableResult
    public func migrate(home: FacteurHome, logger: Logger) async throws -> (applied: [Int], statistics: Int) {
        let applied = try await Migrator(directory: home.migrationsDirectory).migrate(pool, logger: logger)
        let statistics = try await FieldRegistry(database: self).ensureStatistics()
        if statistics > 0 { logger.info("created statistics for \(statistics) custom fields (segments estimate from them)") }
        return (applied, statistics)
    }
}
