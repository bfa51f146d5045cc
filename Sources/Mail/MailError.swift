/// Why a ``Message`` or ``Mailbox`` cannot be built or rendered.
/// ``message`` (also ``description``) says what is wrong in plain English.
public struct MailError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The specific rule that failed.
    public enum Reason: Sendable, Equatable {
        /// A CR, LF or NUL in a header value or display name (header injection).
        case lineBreakInHeader(field: String)
        /// A header name that is empty or holds characters outside RFC 5322 `ftext`.
        case invalidHeaderName(String)
        /// An extra header that would duplicate one the writer produces itself.
        case reservedHeader(String)
        /// A Message-ID that is not `left@right` of printable ASCII without `<>`, spaces or `"`.
        case invalidMessageID(String)
        /// An address that ``EmailAddress`` rejects.
        case invalidAddress(EmailAddressError)
        /// A header that cannot be folded into lines of at most 998 octets.
        case headerTooLong(field: String)
        /// Neither a text nor an HTML body.
        case missingBody
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { message }

    public var message: String {
        switch reason {
        case .lineBreakInHeader(let field):
            "\(field) contains a line break (CR or LF) or NUL character; header values must be on one line"
        case .invalidHeaderName(let name):
            "'\(Self.printable(name))' is not a valid header name (printable ASCII without ':' or spaces)"
        case .reservedHeader(let name):
            "header '\(name)' is written by the message itself and cannot be added as an extra header"
        case .invalidMessageID(let id):
            "'\(Self.printable(id))' is not a valid Message-ID (expected left@right, printable ASCII, no <>, spaces or quotes)"
        case .invalidAddress(let error): "invalid address: \(error.message)"
        case .headerTooLong(let field):
            "\(field) has a word (or run of spaces) too long to fit a header line of 998 octets"
        case .missingBody: "a message needs a text body, an HTML body or both"
        }
    }

    /// Replaces control characters so the message is safe to log.
    private static func printable(_ text: String) -> String {
        String(
            text.prefix(80).unicodeScalars.map { s -> Character in
                s.value < 0x20 || s.value == 0x7F ? "?" : Character(s)
            })
    }
}
