/// Why a transport did not deliver a message, classified for the worker: try again later, or never.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 4xx, a dropped connection, a timeout: the message goes back to the queue with backoff.
        case transient
        /// 5xx for this message or recipient: the message fails and a bounce is recorded.
        case permanent
    }

    public var kind: Kind
    /// The recipient's mailbox does not exist (RFC 3463 5.1.x): the address is suppressed.
    public var mailboxUnknown: Bool
    /// The server's reply, or what went wrong when there was none.
    public var reply: String
    /// False when the failure says nothing about this message: the server is down or refuses our
    /// connection, credentials or sender. Such retries do not use up the message's attempts, so an
    /// outage of any length never fails a campaign.
    public var countsAsAttempt: Bool

    public init(_ kind: Kind, reply: String, mailboxUnknown: Bool = false, countsAsAttempt: Bool = true) {
        self.kind = kind
        // PostgreSQL's text cannot hold NUL; a hostile or broken server must not make results unwritable.
        self.reply = reply.contains("\u{0}") ? reply.replacingOccurrences(of: "\u{0}", with: "") : reply
        self.mailboxUnknown = mailboxUnknown
        self.countsAsAttempt = countsAsAttempt
    }

    public var description: String { "\(kind == .transient ? "transient" : "permanent") delivery failure: \(reply)" }
}
