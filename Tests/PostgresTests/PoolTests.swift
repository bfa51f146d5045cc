import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Connection pool")
struct PoolTests {
    @Test func two_hundred_concurrent_queries_share_four_connections() async throws {
        try await withTestPool(maxConnections: 4) { pool in
            // The last of 200 callers waits for 49 rounds of the others; with the whole suite running
            // beside it on two cores, that took longer than the default 10 s, which is not what this tests.
            let shared = PostgresPool(configuration: pool.configuration, maxConnections: 4, acquireTimeout: .seconds(120))
            let sums = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<200 {
                    group.addTask { try await shared.query("SELECT \(i) + 1 AS n, pg_sleep(0.001)").first!.decode(Int.self, "n") }
                }
                var total = 0
                for try await n in group { total += n }
                return total
            }
            #expect(sums == (1...200).reduce(0, +))
            #expect(shared.openConnections <= 4)
            let backends = try await shared.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()")
            #expect(try backends[0].decode(Int.self, "n") <= 4 + pool.openConnections)
            await shared.close()
        }
    }

    @Test func a_terminated_backend_is_replaced_without_the_caller_noticing() async throws {
        try await withTestPool(maxConnections: 1) { pool in
            let first = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
            // Kill it from outside the pool, as an operator or a failover would.
            let killer = PostgresPool(configuration: pool.configuration, maxConnections: 1)
            try await killer.execute("SELECT pg_terminate_backend(\(first))")
            // The backend exits asynchronously: wait until it is gone (on a busy machine 100 ms was not always enough).
            for _ in 0..<200 {
                let alive = try await killer.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(first)")[0]
                if try alive.decode(Int.self, "n") == 0 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            await killer.close()
            let second = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
            #expect(second != first)
        }
    }

    @Test func waiting_for_a_busy_pool_times_out_with_a_clear_error() async throws {
        try await postgresTemplate.withDatabase(maxConnections: 1) { pool in
            let short = PostgresPool(configuration: pool.configuration, maxConnections: 1, acquireTimeout: .milliseconds(200))
            // While the only connection is lent out, another caller waits and then gives up.
            // (Holding it here, not in a concurrent task, leaves nothing to the scheduler.)
            try await short.withConnection { conn in
                _ = try await conn.query("SELECT 1")
                let error = await #expect(throws: PostgresError.self) { try await short.query("SELECT 1") }
                #expect(error?.code == .poolTimeout)
                #expect(error?.message.contains("no database connection became free") == true)
            }
            // The pool still works once the connection is back.
            #expect(try await short.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
            await short.close()
        }
    }

    @Test func a_transaction_rolls_back_when_its_body_throws() async throws {
        struct Boom: Error {}
        try await withTestPool { pool in
            try await pool.execute("CREATE TABLE ledger (n int)")
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { conn in
                    try await conn.execute("INSERT INTO ledger VALUES (1)")
                    throw Boom()
                }
            }
            try await pool.withTransaction { conn in try await conn.execute("INSERT INTO ledger VALUES (2)") }
            let rows = try await pool.query("SELECT n FROM ledger")
            #expect(rows.map { try? $0.decode(Int.self, "n") } == [2])
        }
    }

    @Test func a_connection_left_in_a_failed_transaction_is_not_reused() async throws {
        try await withTestPool(maxConnections: 1) { pool in
            try await pool.withConnection { conn in
                try await conn.execute("BEGIN")
                _ = try? await conn.execute("SELECT 1/0")
            }
            #expect(try await pool.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
        }
    }

    @Test func connecting_to_a_missing_database_reports_the_server_message() async throws {
        let pool = PostgresPool(configuration: TestServer.configuration.with(database: "no_such_db_\(getpid())"), maxConnections: 1)
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.code == .connection)
        #expect(error?.message.contains("does not exist") == true)
        await pool.close()
    }
}

@Suite("Server restart")
struct RestartTests {
    @Test func the_pool_recovers_by_itself_after_the_server_restarts() async throws {
        // A cluster of its own: restarting the shared test server would disturb other tests.
        let cluster = try LocalCluster(
            directory: TestServer.repositoryRoot.appendingPathComponent(".facteur/test-restart-pg").path, settings: ["fsync": "off"])
        try cluster.start()
        let pool = PostgresPool(configuration: cluster.configuration(), maxConnections: 2, acquireTimeout: .seconds(5))
        let before = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
        try cluster.stop()
        try cluster.start()
        let after = try await pool.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
        #expect(after != before)
        #expect(try await pool.query("SELECT 40 + 2 AS n")[0].decode(Int.self, "n") == 42)
        await pool.close()
        try cluster.stop()
    }
}
