import Logging
import Postgres
import ServiceLifecycle

/// Keeps monthly `events` partitions created three months ahead and, with a retention set
/// (`FACTEUR_EVENT_RETENTION_MONTHS`), drops the partitions older than that many months: once at
/// start, then every six hours. Any number of servers may run it; the SQL functions take an
/// advisory lock and skip what exists or is gone.
public struct PartitionMaintenance: Service {
    let pool: PostgresPool
    let logger: Logger
    let interval: Duration
    let retentionMonths: Int?

    public init(pool: PostgresPool, logger: Logger, interval: Duration = .seconds(6 * 3600), retentionMonths: Int? = nil) {
        self.pool = pool
        self.logger = logger
        self.interval = interval
        self.retentionMonths = retentionMonths
    }

    /// Drops the partitions wholly older than `months` months; returns their names.
    @discardableResult
    public func dropExpired(months: Int) async throws -> [String] {
        try await pool.query("SELECT facteur_drop_event_partitions(\(months)::integer) AS dropped")[0].decode([String].self, "dropped")
    }

    /// Creates missing partitions now; returns how many were created.
    @discardableResult
    public func ensurePartitions(monthsAhead: Int = 3) async throws -> Int {
        try await pool.query("SELECT facteur_ensure_event_partitions(\(monthsAhead)::integer) AS created")[0].decode(Int.self, "created")
    }

    public func run() async throws {
        await runPeriodically(every: interval, logger: logger, failure: "event partition maintenance failed") {
            let created = try await ensurePartitions()
            if created > 0 { logger.info("created event partitions", metadata: ["count": "\(created)"]) }
            if let retentionMonths {
                let dropped = try await dropExpired(months: retentionMonths)
                if !dropped.isEmpty { logger.info("dropped expired event partitions", metadata: ["tables": "\(dropped)"]) }
            }
        }
    }
}
