import CLibPQ
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Receives `NOTIFY` messages on a connection of its own, on a thread of its own.
///
/// The connection is reopened (and every channel listened to again) if it breaks, so a server
/// restart costs subscribers only the notifications sent while it was down.
public final class PostgresListener: Sendable {
    private let configuration: PostgresConfiguration
    private let channels: [String]
    private let logger: Logger
    private let stopped = NIOLockedValueBox(false)

    public init(configuration: PostgresConfiguration, channels: [String], logger: Logger = Logger(label: "facteur.listen")) {
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
    }

    /// Starts listening; the stream ends when the consumer stops iterating.
    /// Yields after every (re)connection a notification with an empty channel, so consumers can
    /// re-read state they may have missed while disconnected.
    public func notifications() -> AsyncStream<PostgresNotification> {
        let (stream, continuation) = AsyncStream<PostgresNotification>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let stopped = self.stopped
        continuation.onTermination = { _ in stopped.withLockedValue { $0 = true } }
        let thread = Thread { [self] in self.run(continuation) }
        thread.name = "postgres-listen"
        thread.start()
        return stream
    }

    private func isStopped() -> Bool { stopped.withLockedValue { $0 } }

    private func run(_ continuation: AsyncStream<PostgresNotification>.Continuation) {
        var backoff = 0.05
        while !isStopped() {
            do {
                let raw = try RawConnection(configuration: configuration)
                for channel in channels {
                    try raw.executeScript("LISTEN \(SQL.quoteIdentifier(channel))")
                }
                backoff = 0.05
                continuation.yield(PostgresNotification(channel: "", payload: "", backendPID: raw.backendPID))
                try pump(raw, continuation)
            } catch {
                if isStopped() { break }
                logger.warning("LISTEN connection lost; reconnecting", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
        continuation.finish()
    }

    private func pump(_ raw: RawConnection, _ continuation: AsyncStream<PostgresNotification>.Continuation) throws {
        while !isStopped() {
            var descriptor = pollfd(fd: raw.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready < 0, errno != EINTR { throw PostgresError(code: .connection, message: "poll failed: errno \(errno)") }
            if ready > 0 {
                for notification in try raw.drainNotifications() { continuation.yield(notification) }
                guard raw.isOK else { throw raw.connectionError(query: nil) }
            }
        }
    }
}

extension PostgresPool {
    /// Sends `NOTIFY channel, payload` (committed with the surrounding statement).
    public func notify(channel: String, payload: String) async throws {
        try await execute("SELECT pg_notify(\(channel), \(payload))")
    }
}
