import Logging
import SMTP

/// Hands messages to an SMTP server through a connection pool (`SMTP_URL`), and classifies what
/// goes wrong for the worker.
public struct SMTPMailTransport: ClosableTransport {
    let pool: SMTPClientPool
    let logger: Logger

    /// - Parameter url: `smtp://user:pass@host:587?tls=starttls`, `smtps://host:465`, `smtp://host:25`.
    public init(url: String, logger: Logger) throws {
        do {
            pool = try SMTPClientPool(configuration: try SMTPConfiguration(url: url), logger: logger)
        } catch {
            throw FacteurError(.invalid, "SMTP_URL: \(error)")
        }
        self.logger = logger
    }

    public func send(_ message: [UInt8], from: String, to recipients: [String], requiresSMTPUTF8: Bool) async throws -> String {
        do {
            let result = try await pool.send(from: from, to: recipients, message: message, requiresSMTPUTF8: requiresSMTPUTF8)
            return result.queueID
        } catch let error as SMTPError {
            throw Self.classify(error, logger: logger)
        }
    }

    public var concurrentSends: Int? { pool.configuration.maximumConnections }

    public func close() async {
        await pool.shutdown()
    }

    /// The worker's view of an SMTP failure:
    /// - 4xx for this message (greylisting, a full mailbox): retried with backoff, counting attempts;
    /// - 5xx at RCPT, DATA or the final reply: failed, with a bounce; a 5.1.x status at RCPT (the
    ///   mailbox or its domain does not exist) also suppresses the address;
    /// - the server unreachable, the connection lost, a timeout, authentication or TLS refused,
    ///   or our sender refused at MAIL FROM: nothing to do with this recipient, so the message is
    ///   retried without using up its attempts, and the operator is told.
    static func classify(_ error: SMTPError, logger: Logger) -> DeliveryError {
        let reply = error.recipients.first(where: { !$0.isAccepted })?.reply ?? error.reply
        let text = reply.map { "\($0)" } ?? error.message
        if error.scope == .configuration || error.phase == .mailFrom {
            logger.error("SMTP server refuses our configuration or sender; messages will be retried", metadata: ["error": "\(error)"])
            return DeliveryError(.transient, reply: text, countsAsAttempt: false)
        }
        guard error.scope == .message else { return DeliveryError(.transient, reply: text, countsAsAttempt: false) }
        guard error.isPermanent else { return DeliveryError(.transient, reply: text) }
        let unknown = error.phase == .rcptTo && reply?.enhancedCode.map { $0.statusClass == 5 && $0.subject == 1 } == true
        return DeliveryError(.permanent, reply: text, mailboxUnknown: unknown)
    }
}
