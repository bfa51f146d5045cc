import Logging
import Postgres
import ServiceLifecycle

/// Keeps monthly `events` partitions created three months ahead: once at start, then every six hours.
/// Any number of servers may run it; the SQL function takes an advisory lock and skips what exists.
public struct PartitionMaintenance: Service {
    let pool: PostgresPool
    let logger: Logger
    let interval: Duration

    public init(pool: PostgresPool, logger: Logger, interval: Duration = .seconds(6 * 3600)) {
        self.pool = pool
        self.logger = logger
        self.interval = interval
    }

    /// Creates missing partitions now; returns how many were created.
    @discardableResult
    public func ensurePartitions(monthsAhead: Int = 3) async throws -> Int {
        try await pool.query("SELECT facteur_ensure_event_partitions(\(monthsAhead)::integer) AS created")[0].decode(Int.self, "created")
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let created = try await ensurePartitions()
                if created > 0 { logger.info("created event partitions", metadata: ["count": "\(created)"]) }
            } catch {
                logger.error("could not create event partitions", metadata: ["error": "\(error)"])
            }
            let interval = self.interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
