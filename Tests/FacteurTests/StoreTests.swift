import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Postgres
import Testing

@Suite("Migrations and named queries")
struct StoreTests {
    @Test func every_named_query_prepares_against_the_migrated_schema() async throws {
        try await withFacteurDatabase(maxConnections: 1) { database in
            #expect(database.queries.queries.count > 20)
            try await database.queries.verify(on: database.pool)
        }
    }

    @Test func a_query_that_does_not_match_the_schema_is_caught_by_name() async throws {
        try await withFacteurDatabase(maxConnections: 1) { database in
            var queries = database.queries.queries
            queries["broken"] = try QueryCatalog.parseForTests("-- name: broken\nSELECT no_such_column FROM subscribers")[0]
            let catalog = QueryCatalog(queries: queries)
            let error = await #expect(throws: QueryCheckError.self) { try await catalog.verify(on: database.pool) }
            #expect(error?.name == "broken")
            #expect(error?.description.contains("no_such_column") == true)
        }
    }

    @Test func migrating_twice_applies_nothing_the_second_time() async throws {
        try await withFacteurDatabase { database in
            let migrator = try Migrator(directory: testHome.migrationsDirectory)
            #expect(try await migrator.migrate(database.pool).isEmpty)
            let rows = try await database.pool.query("SELECT count(*) AS n FROM schema_migrations")
            #expect(try rows[0].decode(Int.self, "n") == migrator.migrations.count)
        }
    }

    @Test func concurrent_migrators_on_an_empty_database_apply_each_migration_once() async throws {
        let name = try await facteurTemplate.makeCopy()
        defer { Task { try? await TemplateDatabase.drop(name + "_empty") } }
        let admin = PostgresPool(configuration: TestServer.configuration, maxConnections: 1)
        try await admin.execute("CREATE DATABASE \(identifier: name + "_empty")")
        await admin.close()
        try await TemplateDatabase.drop(name)
        let pool = PostgresPool(configuration: TestServer.configuration.with(database: name + "_empty"), maxConnections: 4)
        let migrator = try Migrator(directory: testHome.migrationsDirectory)
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<3 { group.addTask { try await migrator.migrate(pool) } }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(results.flatMap { $0 }.sorted() == migrator.migrations.map(\.version))
        await pool.close()
    }

    @Test func an_edited_applied_migration_is_refused() async throws {
        try await withFacteurDatabase { database in
            try await database.pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
            let error = await #expect(throws: MigrationError.self) {
                try await Migrator(directory: testHome.migrationsDirectory).migrate(database.pool)
            }
            #expect(error?.description.contains("was edited after it was applied") == true)
        }
    }

    @Test func query_files_parse_names_and_count_parameters() throws {
        let queries = try QueryCatalog.parseForTests(
            """
            -- name: one
            SELECT $1, $2, $1
            -- name: two
            -- a comment
            SELECT 1
            """)
        #expect(queries.map(\.name) == ["one", "two"])
        #expect(queries.map(\.parameterCount) == [2, 0])
    }

    @Test func consent_log_is_append_only_outside_erasure() async throws {
        try await withFacteurDatabase { database in
            try await database.pool.execute("INSERT INTO consent_log (subscriber_id, action, source) VALUES (1, 'subscribe', 'api')")
            await #expect(throws: PostgresError.self) { try await database.pool.execute("UPDATE consent_log SET source = 'admin'") }
            await #expect(throws: PostgresError.self) { try await database.pool.execute("DELETE FROM consent_log") }
            let rows = try await database.pool.query("SELECT count(*) AS n FROM consent_log")
            #expect(try rows[0].decode(Int.self, "n") == 1)
        }
    }
}

@Suite("Event partitions")
struct PartitionTests {
    @Test func partitions_are_created_ahead_and_events_land_in_their_month() async throws {
        try await withFacteurDatabase { database in
            let maintenance = PartitionMaintenance(pool: database.pool, logger: .init(label: "test"))
            #expect(try await maintenance.ensurePartitions(monthsAhead: 3) == 0)
            #expect(try await maintenance.ensurePartitions(monthsAhead: 6) == 3)
            let future = Date().addingTimeInterval(150 * 86_400)
            try await database.pool.execute("INSERT INTO events (type, subscriber_id, occurred_at) VALUES ('open', 1, \(future))")
            let row = try await database.pool.query("SELECT tableoid::regclass::text AS part FROM events")[0]
            #expect(try row.decode(String.self, "part").hasPrefix("events_y"))
        }
    }
}
