import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Synchronization

/// How a worker sends; every value has a production default and an environment variable.
public struct SendWorkerSettings: Sendable {
    /// Names this worker in `messages.locked_by`; unique per process.
    public var id: String
    /// Batches processed at once; messages in flight are at most `lanes × batchSize` (the most a
    /// `kill -9` can cause to be sent twice).
    public var lanes = 4
    public var batchSize = 50
    /// How long a claim holds; a crashed worker's messages are due again after it.
    public var leaseSeconds = 300.0
    /// Attempts before a message that keeps failing transiently is marked failed.
    public var maxAttempts = 6
    /// Backoff after a transient failure: `retryBase × 2^(attempt-1)`, capped, with jitter.
    public var retryBase = 60.0
    public var retryMax = 3600.0
    /// Messages in flight per recipient domain; `defaultDomainLimit` for unlisted domains.
    public var domainLimits: [String: Int] = [:]
    public var defaultDomainLimit: Int?
    /// How long a lane waits when there is nothing to send.
    public var idleDelay: Duration = .milliseconds(200)

    public init(id: String = SendWorkerSettings.processID()) {
        self.id = id
    }

    /// `host-pid-random`: readable in `locked_by`, unique even for two workers in one container.
    public static func processID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&name, 255) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        return "\(host)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// Reads `FACTEUR_WORKER_LANES`, `FACTEUR_WORKER_BATCH`, `FACTEUR_LEASE_SECONDS`,
    /// `FACTEUR_MAX_ATTEMPTS`, `FACTEUR_RETRY_BASE_SECONDS` and `FACTEUR_DOMAIN_LIMITS`.
    public static func fromEnvironment(_ environment: [String: String]) throws -> SendWorkerSettings {
        var settings = SendWorkerSettings()
        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
            try EnvironmentSettings.double(environment, key, range)
        }
        if let value = try number("FACTEUR_WORKER_LANES", 1...64) { settings.lanes = Int(value) }
        if let value = try number("FACTEUR_WORKER_BATCH", 1...1000) { settings.batchSize = Int(value) }
        if let value = try number("FACTEUR_LEASE_SECONDS", 10...86_400) { settings.leaseSeconds = value }
        if let value = try number("FACTEUR_MAX_ATTEMPTS", 1...100) { settings.maxAttempts = Int(value) }
        if let value = try number("FACTEUR_RETRY_BASE_SECONDS", 0.01...86_400) { settings.retryBase = value }
        if let raw = environment["FACTEUR_DOMAIN_LIMITS"], !raw.isEmpty {
            (settings.domainLimits, settings.defaultDomainLimit) = try DomainLimiter.parse(raw)
        }
        return settings
    }
}

/// Sends the queued messages of sending campaigns: claims batches with a lease, renders each
/// message from its campaign's pre-parsed template, signs it, hands it to the transport, and
/// writes results back a batch at a time. Any number of workers share one database.
public final class SendWorker: Service, Sendable {
    let database: Database
    let transport: any MailTransport
    let settings: SendWorkerSettings
    let logger: Logger
    let listener: PostgresListener?
    let control: CampaignControl
    let composers: ComposerCache
    let domains: DomainLimiter
    /// The transport's real concurrency, one key for all: see ``MailTransport/concurrentSends``.
    let connections: DomainLimiter
    let metrics = SendMetrics()

    public init(
        database: Database, transport: any MailTransport, links: LinkBuilder, assembler: MessageAssembler, layouts: EmailLayouts,
        settings: SendWorkerSettings, logger: Logger, listener: PostgresListener? = nil
    ) {
        self.database = database
        self.transport = transport
        self.settings = settings
        self.logger = logger
        self.listener = listener
        control = CampaignControl()
        composers = ComposerCache(database: database, layouts: layouts, links: links, assembler: assembler)
        domains = DomainLimiter(limits: settings.domainLimits, defaultLimit: settings.defaultDomainLimit)
        connections = DomainLimiter(limits: [:], defaultLimit: transport.concurrentSends)
    }

    /// Runs until graceful shutdown: batches in flight finish and their results are written;
    /// nothing new is claimed.
    public func run() async throws {
        do {
            try await refreshCampaigns()
        } catch {
            // A database still starting is no reason to stop: housekeeping asks again every second.
            logger.warning("cannot read the sending campaigns yet", metadata: ["error": "\(error)"])
        }
        await withDiscardingTaskGroup { group in
            if let listener {
                group.addTask {
                    _ = try? await cancelWhenGracefulShutdown { try await self.follow(listener) }
                }
            }
            group.addTask { await self.housekeeping() }
            for _ in 0..<settings.lanes { group.addTask { await self.lane() } }
        }
        logger.info("send worker stopped", metadata: ["worker": "\(settings.id)"])
    }

    /// Sends everything due now and returns how many messages were processed (tests, `--once`).
    @discardableResult
    public func sendDue() async throws -> Int {
        try await refreshCampaigns()
        var total = 0
        while true {
            var round = 0
            for campaign in control.sendingCampaigns() { round += try await processBatch(campaign: campaign) }
            total += round
            if round == 0 { return total }
        }
    }

    private var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    /// One lane: claim a batch of a sending campaign, send it, repeat; rest when nothing is due.
    private func lane() async {
        var failures = 0
        while !stopping {
            guard let campaign = control.nextCampaign() else {
                await rest(settings.idleDelay)
                continue
            }
            do {
                let processed = try await processBatch(campaign: campaign)
                if processed == 0 { control.markIdle(campaign, for: .seconds(1)) }
                failures = 0
            } catch {
                failures += 1
                logger.error("send batch failed", metadata: ["campaign": "\(campaign)", "error": "\(error)"])
                await rest(.milliseconds(min(100 << min(failures, 5), 3000)))
            }
        }
    }

    private func rest(_ duration: Duration) async {
        _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    /// Every second: which campaigns are sending (a missed NOTIFY costs a second at most);
    /// every quarter lease (15 s at most): reclaim expired leases and sample the queue depth.
    private func housekeeping() async {
        var tick = 0
        let period = max(1, min(15, Int(settings.leaseSeconds / 4)))
        while !stopping {
            do {
                try await refreshCampaigns()
                if tick % period == 0 {
                    let reclaimed = try await reclaimExpiredLeases()
                    if reclaimed > 0 { logger.warning("reclaimed messages with expired leases", metadata: ["count": "\(reclaimed)"]) }
                    let depth = try await database.pool.query(database.sql("messages-queue-depth"))[0].decode(Int.self, "n")
                    metrics.queueDepth.record(depth)
                }
            } catch {
                logger.warning("send worker housekeeping failed", metadata: ["error": "\(error)"])
            }
            tick += 1
            await rest(.seconds(1))
        }
    }

    /// Makes messages whose lease ran out (their worker died) due again; returns how many.
    @discardableResult
    public func reclaimExpiredLeases() async throws -> Int {
        try await database.pool.execute(database.sql("messages-reclaim-expired"))
    }

    func refreshCampaigns() async throws {
        let asked = ContinuousClock.now
        let ids = try await database.pool.query(database.sql("sending-campaigns")).map { try $0.decode(Int64.self, "id") }
        control.replace(sending: ids, askedAt: asked)
        await composers.retain(only: Set(ids))
    }

    /// Applies `pause:`, `resume:`, `cancel:`, `start:` and `winner:` notifications at once.
    private func follow(_ listener: PostgresListener) async throws {
        for await notification in listener.notifications() {
            let parts = notification.payload.split(separator: ":")
            guard parts.count == 2, let id = Int64(parts[1]) else {
                try? await refreshCampaigns()  // (re)connected: catch up on what may have been missed
                continue
            }
            switch parts[0] {
            case "pause", "cancel":
                control.stop(id)
                logger.info("campaign \(parts[0]) received", metadata: ["campaign": "\(id)"])
            case "resume", "start":
                control.resume(id)
            case "winner":
                await composers.forget(id)
                control.resume(id)
            default:
                continue
            }
        }
    }
}

/// Which campaigns are sending, as this process knows it; read before every message so a pause
/// stops sending within one message's time, not one batch's.
final class CampaignControl: Sendable {
    private struct State {
        var sending: [Int64] = []
        var idleUntil: [Int64: ContinuousClock.Instant] = [:]
        /// When a pause or cancel arrived, so an answer to a question asked before it cannot undo it.
        var stoppedAt: [Int64: ContinuousClock.Instant] = [:]
        var cursor = 0
    }
    private let state = Mutex(State())

    /// The database's list of sending campaigns, as asked at `askedAt`.
    func replace(sending ids: [Int64], askedAt: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.sending = ids.filter { id in state.stoppedAt[id].map { $0 < askedAt } ?? true }
            for (id, at) in state.stoppedAt where at < askedAt { state.stoppedAt[id] = nil }
        }
    }

    func sendingCampaigns() -> [Int64] { state.withLock { $0.sending } }

    func isSending(_ id: Int64) -> Bool { state.withLock { $0.sending.contains(id) } }

    func stop(_ id: Int64) {
        state.withLock {
            $0.sending.removeAll { $0 == id }
            $0.stoppedAt[id] = .now
        }
    }

    func resume(_ id: Int64) {
        state.withLock {
            if !$0.sending.contains(id) { $0.sending.append(id) }
            $0.idleUntil[id] = nil
            $0.stoppedAt[id] = nil
        }
    }

    func markIdle(_ id: Int64, for duration: Duration) {
        state.withLock { $0.idleUntil[id] = .now + duration }
    }

    /// The next sending campaign with work possibly due, in turn, so campaigns share the worker.
    func nextCampaign() -> Int64? {
        state.withLock { state in
            let now = ContinuousClock.Instant.now
            for _ in 0..<state.sending.count {
                state.cursor = (state.cursor + 1) % state.sending.count
                let id = state.sending[state.cursor]
                if let until = state.idleUntil[id], until > now { continue }
                return id
            }
            return nil
        }
    }
}

/// The worker's metrics (exported on `/metrics` by the process that bootstraps Prometheus).
struct SendMetrics: Sendable {
    let sent = Counter(label: "facteur_messages_total", dimensions: [("outcome", "sent")])
    let retried = Counter(label: "facteur_messages_total", dimensions: [("outcome", "retried")])
    let failed = Counter(label: "facteur_messages_total", dimensions: [("outcome", "failed")])
    let skipped = Counter(label: "facteur_messages_total", dimensions: [("outcome", "skipped")])
    let released = Counter(label: "facteur_messages_total", dimensions: [("outcome", "released")])
    let latency = Timer(label: "facteur_smtp_send_seconds")
    let queueDepth = Gauge(label: "facteur_queue_depth")
}
