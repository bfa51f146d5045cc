import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// A bounded pool of libpq connections with an async API.
///
/// Blocking libpq calls run on the pool's own threads, one per connection, so they never stall Swift's
/// cooperative pool. A caller waits at most `acquireTimeout` for a free connection. Connections found
/// broken (a terminated backend, a restarted server) are closed and replaced without the caller noticing.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    public let acquireTimeout: Duration
    let threads: NIOThreadPool
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    private struct State {
        var idle: [RawConnection] = []
        /// Connections open or being opened (idle + in use + connecting).
        var open = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Grant, Error>)] = []
        var nextWaiterID = 0
        var closed = false
    }

    /// What a waiting caller receives: a connection, or the right to open one.
    private enum Grant: Sendable {
        case connection(RawConnection)
        case slot
    }

    public init(
        configuration: PostgresConfiguration, maxConnections: Int = 10, acquireTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "facteur.postgres")
    ) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        self.logger = logger
        self.threads = NIOThreadPool(numberOfThreads: maxConnections)
        threads.start()
    }

    /// Closes idle connections, fails waiting callers and stops the threads. Call once, at shutdown.
    public func close() async {
        let (idle, waiters) = state.withLockedValue { state in
            state.closed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        _ = idle
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the connection pool is closed"))
        }
        try? await threads.shutdownGracefully()
    }

    /// Lends a connection to `body` and takes it back afterwards, even when `body` throws.
    public func withConnection<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        let raw = try await acquire()
        let connection = PostgresConnection(raw: raw, threads: threads)
        do {
            let result = try await body(connection)
            release(raw)
            return result
        } catch {
            release(raw)
            throw error
        }
    }

    /// Runs one statement on any free connection.
    @discardableResult
    public func query(_ sql: SQL) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql) }
    }

    /// Runs one statement on any free connection and returns the rows it changed.
    @discardableResult
    public func execute(_ sql: SQL) async throws -> Int {
        try await withConnection { try await $0.execute(sql) }
    }

    /// Runs `body` in a transaction on one connection.
    public func withTransaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { try await $0.withTransaction(body) }
    }

    /// Connections currently open (idle or lent), for metrics.
    public var openConnections: Int { state.withLockedValue { $0.open } }

    // MARK: Lending

    private func acquire() async throws -> RawConnection {
        while true {
            let grant = try await grant()
            switch grant {
            case .connection(let raw):
                // Checked on the caller's task: `poll` with a zero timeout never blocks.
                if raw.isHealthyWhileIdle() { return raw }
                logger.info("replacing a broken idle connection", metadata: ["backend": "\(raw.backendPID)"])
                // Keep the slot: open a fresh connection in its place.
                return try await openConnection()
            case .slot:
                return try await openConnection()
            }
        }
    }

    private func grant() async throws -> Grant {
        enum Immediate {
            case grant(Grant)
            case wait
            case closed
        }
        let immediate: Immediate = state.withLockedValue { state in
            if state.closed { return .closed }
            if let raw = state.idle.popLast() { return .grant(.connection(raw)) }
            if state.open < maxConnections {
                state.open += 1
                return .grant(.slot)
            }
            return .wait
        }
        switch immediate {
        case .grant(let grant): return grant
        case .closed: throw PostgresError(code: .poolClosed, message: "the connection pool is closed")
        case .wait: return try await waitForGrant()
        }
    }

    private func waitForGrant() async throws -> Grant {
        let id = state.withLockedValue { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let timeout = acquireTimeout
        return try await withThrowingTaskGroup(of: Grant?.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        let closed = self.state.withLockedValue { state in
                            if state.closed { return true }
                            state.waiters.append((id, continuation))
                            return false
                        }
                        if closed {
                            continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the connection pool is closed"))
                        }
                    }
                } onCancel: {
                    self.removeWaiter(id, error: CancellationError())
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.removeWaiter(
                    id,
                    error: PostgresError(
                        code: .poolTimeout,
                        message: "no database connection became free within \(timeout) (pool of \(self.maxConnections))"))
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let grant = next { return grant }
            }
            throw CancellationError()
        }
    }

    private func removeWaiter(_ id: Int, error: Error) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Grant, Error>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        waiter?.resume(throwing: error)
    }

    private func openConnection() async throws -> RawConnection {
        let configuration = self.configuration
        do {
            return try await threads.runIfActive { try RawConnection(configuration: configuration) }
        } catch {
            giveBackSlot()
            throw error
        }
    }

    /// Returns a connection: to the next waiter, to the idle list, or closed if it broke.
    private func release(_ raw: RawConnection) {
        guard raw.isOK, !raw.inTransaction else {
            logger.debug("dropping a connection that broke or was left in a transaction")
            giveBackSlot()
            return
        }
        let waiter = state.withLockedValue { state -> CheckedContinuation<Grant, Error>? in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.idle.append(raw)
            return nil
        }
        waiter?.resume(returning: .connection(raw))
    }

    /// A connection slot became free without a connection: let a waiter open one, or shrink.
    private func giveBackSlot() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Grant, Error>? in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: .slot)
    }
}
