import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Connections to one SMTP server, shared by any number of concurrent senders.
///
/// Sessions are expensive (TCP, TLS, AUTH: several round trips), so connections are reused across
/// messages up to ``SMTPConfiguration/maximumMessagesPerConnection``, kept idle for at most
/// ``SMTPConfiguration/idleTimeout`` and never more than ``SMTPConfiguration/maximumConnections`` at once;
/// extra senders wait (suspended, not blocking a thread) for a connection to come back.
/// A connection that failed for any reason other than the message itself is discarded, never reused.
public actor SMTPClientPool {
    public nonisolated let configuration: SMTPConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let sslContext: NIOSSLContext?

    private struct Pooled {
        var connection: SMTPConnection
        var messagesSent = 0
        var idleSince = NIODeadline.now()
    }

    /// What a waiting sender is handed: a live connection, or permission to open a new one.
    private enum Lease {
        case reuse(Pooled)
        case connect
    }

    private var idle: [Pooled] = []
    /// Idle, leased and connecting connections together; bounded by the configured maximum.
    private var openCount = 0
    private var waiters: [CheckedContinuation<Lease, any Error>] = []
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    private var pruneTask: Task<Void, Never>?
    private var isShutDown = false

    /// Throws ``SMTPError`` when the TLS settings cannot be loaded (for example a missing `ca` file).
    public init(
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "smtp.pool")
    ) throws {
        guard configuration.maximumConnections > 0, configuration.maximumMessagesPerConnection > 0 else {
            throw SMTPError.invalidConfiguration("maximumConnections and maximumMessagesPerConnection must be positive")
        }
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.sslContext = try configuration.makeSSLContext()
    }

    /// Connections currently open (idle, in use or being opened).
    public var openConnections: Int { openCount }
    public var idleConnections: Int { idle.count }

    /// Sends one message over a pooled connection; see ``SMTPConnection/send(from:to:message:requiresSMTPUTF8:)``.
    ///
    /// If a reused connection turns out to be dead before the server accepted MAIL FROM (it was closed while
    /// idle, or the server said 421), nothing of the message was delivered, so it is retried once on a new connection.
    public func send(from: String, to recipients: [String], message: [UInt8], requiresSMTPUTF8: Bool = false) async throws
        -> SMTPDeliveryResult
    {
        let envelope = try SMTPEnvelope(from: from, to: recipients, message: message, requiresSMTPUTF8: requiresSMTPUTF8)
        var retried = false
        while true {
            let (pooled, reused) = try await lease()
            do {
                let result = try await pooled.connection.send(envelope)
                release(pooled, after: nil)
                return result
            } catch {
                let smtpError = error as? SMTPError ?? .connectionClosed(phase: .mailFrom, message: "\(error)")
                release(pooled, after: smtpError)
                if reused && !retried && smtpError.scope == .connection && smtpError.phase == .mailFrom {
                    logger.debug("retrying on a fresh connection", metadata: ["error": "\(smtpError)"])
                    retried = true
                    continue
                }
                throw smtpError
            }
        }
    }

    /// Refuses new sends, waits for those in flight, then QUITs and closes every connection.
    public func shutdown() async {
        guard !isShutDown else { return }
        isShutDown = true
        pruneTask?.cancel()
        pruneTask = nil
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume(throwing: Self.shutDownError) }
        let closing = idle
        idle = []
        openCount -= closing.count
        await withTaskGroup(of: Void.self) { group in
            for pooled in closing { group.addTask { await pooled.connection.close() } }
        }
        if openCount > 0 {
            await withCheckedContinuation { drainWaiters.append($0) }
        }
    }

    // MARK: Leasing

    private static let shutDownError = SMTPError(
        kind: .shutDown, phase: .idle, scope: .connection, isTransient: true, message: "the SMTP pool was shut down")

    private func lease() async throws -> (Pooled, reused: Bool) {
        let lease = try await acquire()
        switch lease {
        case .reuse(var pooled):
            pooled.messagesSent += 1
            return (pooled, true)
        case .connect:
            do {
                let connection = try await SMTPConnection.connect(
                    configuration: configuration, sslContext: sslContext, eventLoopGroup: eventLoopGroup, logger: logger)
                return (Pooled(connection: connection, messagesSent: 1), false)
            } catch {
                openCount -= 1
                slotFreed()
                throw error
            }
        }
    }

    private func acquire() async throws -> Lease {
        guard !isShutDown else { throw Self.shutDownError }
        // Most recently used first: keeps few connections warm and lets the others reach the idle timeout.
        while let pooled = idle.popLast() {
            if pooled.connection.isActive { return .reuse(pooled) }
            openCount -= 1
        }
        if openCount < configuration.maximumConnections {
            openCount += 1
            return .connect
        }
        return try await withCheckedThrowingContinuation { waiters.append($0) }
    }

    private func release(_ pooled: Pooled, after error: SMTPError?) {
        let broken = error.map { $0.scope != .message } ?? false
        if isShutDown || broken || !pooled.connection.isActive
            || pooled.messagesSent >= configuration.maximumMessagesPerConnection
        {
            pooled.connection.requestClose()
            openCount -= 1
            slotFreed()
            return
        }
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: .reuse(pooled))
            return
        }
        var pooled = pooled
        pooled.idleSince = .now()
        idle.append(pooled)
        schedulePrune()
    }

    /// A connection went away: let a waiting sender open a replacement, or finish a shutdown.
    private func slotFreed() {
        if !isShutDown, !waiters.isEmpty {
            openCount += 1
            waiters.removeFirst().resume(returning: .connect)
        } else if isShutDown, openCount == 0 {
            let waiting = drainWaiters
            drainWaiters = []
            for waiter in waiting { waiter.resume() }
        }
    }

    // MARK: Idle timeout

    private func schedulePrune() {
        guard pruneTask == nil else { return }
        pruneTask = Task { await self.pruneIdle() }
    }

    private func pruneIdle() async {
        let timeout = configuration.idleTimeout
        while !isShutDown, let oldest = idle.map(\.idleSince).min() {
            let wait = oldest + timeout - .now()
            if wait > .zero {
                do { try await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) } catch { break }
            }
            let now = NIODeadline.now()
            let expired = idle.filter { $0.idleSince + timeout <= now }
            idle.removeAll { $0.idleSince + timeout <= now }
            for pooled in expired {
                pooled.connection.requestClose()
                openCount -= 1
                slotFreed()
            }
        }
        pruneTask = nil
    }
}
