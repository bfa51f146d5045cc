/// The step of the SMTP dialogue during which something happened.
public enum SMTPPhase: String, Sendable, Hashable {
    case connect
    case greeting
    case ehlo
    case helo
    case startTLS
    case tlsHandshake
    case authentication
    case mailFrom
    case rcptTo
    case dataInitiation
    /// Sending the message body and waiting for the reply to the terminating `.`.
    case dataTermination
    case reset
    case quit
    /// Between transactions, when nothing was outstanding.
    case idle
}

/// Everything that can go wrong while talking to an SMTP server, classified for a send queue.
///
/// The two questions a caller has to answer are "may this be retried later?" (``isTransient``) and "is
/// the problem this message or everything sent to this server?" (``scope``). A message-scoped permanent
/// error fails the message; a connection-scoped transient one requeues it; a configuration-scoped one
/// should stop sending through this server until an operator looks.
public struct SMTPError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The server answered with a 4xx or 5xx reply (see ``SMTPError/reply``).
        case rejected
        /// Every recipient was refused; the per-recipient replies are in ``SMTPError/recipients``.
        case allRecipientsRejected
        /// The TCP connection could not be established.
        case connectFailed
        /// The connection was closed or reset while a reply was expected.
        case connectionClosed
        /// The server did not answer within the configured time for the phase.
        case timeout
        /// The TLS handshake or certificate verification failed.
        case tlsFailure
        /// `tls=starttls` was configured but the server does not advertise STARTTLS.
        case startTLSNotOffered
        /// Credentials were configured but the server offers no mechanism we support.
        case authenticationNotSupported
        /// The message needs SMTPUTF8 and the server does not offer it.
        case smtpUTF8NotSupported
        /// The message is larger than the limit the server announced with SIZE.
        case messageTooLarge
        /// An address contained CR, LF, NUL or angle brackets, or a recipient list was empty.
        case invalidAddress
        /// The server sent something that is not valid SMTP.
        case protocolViolation
        /// The configuration (usually the URL) is invalid.
        case invalidConfiguration
        /// The pool was shut down.
        case shutDown
    }

    /// Who is affected by the failure.
    public enum Scope: String, Sendable, Hashable {
        /// Only this message (or some of its recipients); other messages can go through the same connection.
        case message
        /// This connection is unusable; the message may succeed on another connection or later.
        case connection
        /// Server or client configuration is wrong (authentication, TLS, missing extension): every message is affected.
        case configuration
    }

    public var kind: Kind
    public var phase: SMTPPhase
    public var scope: Scope
    /// True when retrying later may succeed (4xx replies, timeouts, lost connections).
    public var isTransient: Bool
    /// The server's reply that caused the failure, when there was one.
    public var reply: SMTPReply?
    /// Per-recipient outcomes when the failure happened after RCPT TO.
    public var recipients: [SMTPRecipientResult]
    /// Human-readable detail.
    public var message: String

    public init(
        kind: Kind, phase: SMTPPhase, scope: Scope, isTransient: Bool, reply: SMTPReply? = nil,
        recipients: [SMTPRecipientResult] = [], message: String
    ) {
        self.kind = kind
        self.phase = phase
        self.scope = scope
        self.isTransient = isTransient
        self.reply = reply
        self.recipients = recipients
        self.message = message
    }

    public var isPermanent: Bool { !isTransient }

    public var description: String {
        var text = "SMTP \(isTransient ? "transient" : "permanent") \(scope.rawValue) error during \(phase.rawValue): \(message)"
        if let reply { text += " (server replied: \(reply))" }
        return text
    }

    /// Classifies a negative reply: 421 always means the server is closing the connection.
    static func rejected(_ reply: SMTPReply, phase: SMTPPhase, scope: Scope, message: String) -> SMTPError {
        let scope: Scope = reply.code == 421 ? .connection : scope
        return SMTPError(
            kind: .rejected, phase: phase, scope: scope, isTransient: reply.code < 500, reply: reply, message: message)
    }

    static func protocolViolation(_ message: String, phase: SMTPPhase = .idle, reply: SMTPReply? = nil) -> SMTPError {
        SMTPError(kind: .protocolViolation, phase: phase, scope: .connection, isTransient: true, reply: reply, message: message)
    }

    static func connectionClosed(phase: SMTPPhase, message: String = "connection closed by the server") -> SMTPError {
        SMTPError(kind: .connectionClosed, phase: phase, scope: .connection, isTransient: true, message: message)
    }

    static func invalidConfiguration(_ message: String) -> SMTPError {
        SMTPError(kind: .invalidConfiguration, phase: .idle, scope: .configuration, isTransient: false, message: message)
    }
}
