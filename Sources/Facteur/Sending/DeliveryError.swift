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

    public init(_ kind: Kind, reply: String, mailboxUnknown: Bool = false) {
        self.kind = kind
        self.reply = reply
        self.mailboxUnknown = mailboxUnknown
    }

    public var description: String { "\(kind == .transient ? "transient" : "permanent") delivery failure: \(reply)" }
}
