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

    public func close() async {
        await pool.shutdown()
    }

    /// The worker's view of an SMTP failure:
    /// - transient (4xx, lost connection, timeout): retried with backoff;
    /// - permanent for this message (5xx at MAIL, RCPT or DATA): failed, with a bounce; a 5.1.x
    ///   status (the mailbox or domain does not exist) also suppresses the address;
    /// - a problem with the server or our configuration (authentication refused, STARTTLS not
    ///   offered, TLS failure): the message is not at fault, so it is retried like a transient
    ///   failure, and the error is logged for the operator.
    static func classify(_ error: SMTPError, logger: Logger) -> DeliveryError {
        let reply = error.recipients.first(where: { !$0.isAccepted })?.reply ?? error.reply
        let text = reply.map { "\($0)" } ?? error.message
        if error.scope == .configuration {
            logger.error("SMTP server or configuration problem; messages will be retried", metadata: ["error": "\(error)"])
            return DeliveryError(.transient, reply: text)
        }
        guard error.isPermanent, error.scope == .message else { return DeliveryError(.transient, reply: text) }
        let status = reply?.enhancedCode
        let unknown = status.map { $0.statusClass == 5 && $0.subject == 1 } ?? false
        return DeliveryError(.permanent, reply: text, mailboxUnknown: unknown)
    }
}
