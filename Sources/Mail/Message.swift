import Foundation

/// An address with an optional display name, as written in From, To and Reply-To.
///
/// The name is kept exactly as given (Unicode allowed); the header writer quotes or
/// RFC 2047-encodes it as needed. A CR, LF or NUL in the name is rejected.
public struct Mailbox: Sendable, Hashable, CustomStringConvertible {
    /// The display name, `nil` when there is none (an empty name counts as none).
    public let name: String?
    public let address: EmailAddress

    public init(_ address: EmailAddress, name: String? = nil) throws(MailError) {
        if let name, Message.containsLineBreakOrNUL(name) {
            throw MailError(.lineBreakInHeader(field: "display name"))
        }
        self.address = address
        self.name = name?.isEmpty == true ? nil : name
    }

    /// Parses `address` with ``EmailAddress/init(_:)``.
    public init(_ address: String, name: String? = nil) throws(MailError) {
        let parsed: EmailAddress
        do { parsed = try EmailAddress(address) } catch { throw MailError(.invalidAddress(error)) }
        try self.init(parsed, name: name)
    }

    /// `true` when the local part is not ASCII, so sending needs SMTPUTF8 (RFC 6531).
    public var requiresSMTPUTF8: Bool { !address.isASCII }

    /// `"Name" <address>` for logs; not the header encoding (see ``Message/renderParts()``).
    public var description: String {
        guard let name else { return address.value }
        return "\"\(name)\" <\(address.value)>"
    }
}

/// One email: envelope-independent headers and a text and/or HTML body.
///
/// Every field is validated by the initializer, so a `Message` value can always be
/// rendered: no header value or display name holds a CR, LF or NUL (header
/// injection is impossible), extra header names are RFC 5322 `ftext`, and none of them
/// duplicates a header the writer produces itself (see ``reservedHeaderNames``).
public struct Message: Sendable {
    public let from: Mailbox
    public let replyTo: Mailbox?
    /// May be empty (the To header is then omitted, e.g. for Bcc-only sends).
    public let to: [Mailbox]
    /// Any Unicode text; non-ASCII words are RFC 2047-encoded when rendered.
    public let subject: String
    public let date: Date
    /// Without angle brackets, e.g. `20261122.abc@example.com`.
    public let messageID: String
    /// Extra headers in order, e.g. `List-Unsubscribe`, `List-Unsubscribe-Post`, `X-Campaign`.
    /// ASCII values are written as given (folded at spaces when long), so structured
    /// values such as `<https://…>, <mailto:…>` stay intact; non-ASCII words are
    /// RFC 2047-encoded (only meaningful for unstructured headers).
    public let headers: [(name: String, value: String)]
    public let textBody: String?
    public let htmlBody: String?

    /// Names (lowercased) that cannot be given as extra headers: the writer owns them.
    public static let reservedHeaderNames: Set<String> = [
        "from", "reply-to", "to", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding",
    ]

    /// Validates everything; `messageID` defaults to a fresh random one on the From domain.
    public init(
        from: Mailbox, replyTo: Mailbox? = nil, to: [Mailbox], subject: String,
        date: Date = Date(), messageID: String? = nil,
        headers: [(name: String, value: String)] = [],
        textBody: String? = nil, htmlBody: String? = nil
    ) throws(MailError) {
        guard textBody != nil || htmlBody != nil else { throw MailError(.missingBody) }
        if Self.containsLineBreakOrNUL(subject) { throw MailError(.lineBreakInHeader(field: "Subject")) }
        let id = messageID ?? Self.makeMessageID(domain: from.address.asciiDomain)
        guard Self.isValidMessageID(id) else { throw MailError(.invalidMessageID(id)) }
        for (name, value) in headers {
            guard Self.isValidHeaderName(name) else { throw MailError(.invalidHeaderName(name)) }
            if Self.reservedHeaderNames.contains(name.lowercased()) { throw MailError(.reservedHeader(name)) }
            if Self.containsLineBreakOrNUL(value) { throw MailError(.lineBreakInHeader(field: name)) }
        }
        self.from = from
        self.replyTo = replyTo
        self.to = to
        self.subject = subject
        self.date = date
        self.messageID = id
        self.headers = headers
        self.textBody = textBody
        self.htmlBody = htmlBody
    }

    /// `true` when an address has a non-ASCII local part: the message must then be sent
    /// with the SMTPUTF8 extension (RFC 6531), and those addresses are written in UTF-8.
    /// Non-ASCII domains alone do not need it: they are written in their `xn--` form.
    public var requiresSMTPUTF8: Bool {
        from.requiresSMTPUTF8 || (replyTo?.requiresSMTPUTF8 ?? false) || to.contains(where: \.requiresSMTPUTF8)
    }

    // MARK: - Validation

    static func containsLineBreakOrNUL(_ text: String) -> Bool {
        text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    /// RFC 5322 `field-name`: 1*ftext (printable ASCII except ':'), at most 76 octets so
    /// `name: ` always leaves room on a line.
    static func isValidHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 76 && name.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != 0x3A }
    }

    /// `id-left "@" id-right` where both sides are dot-atom text (RFC 5322 §3.6.4),
    /// the right side may also be a `[literal]`.
    static func isValidMessageID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count <= 250, let at = bytes.firstIndex(of: 0x40), at > 0, at < bytes.count - 1 else { return false }
        let left = bytes[..<at]
        let right = bytes[(at + 1)...]
        guard left.allSatisfy(isDotAtomByte) else { return false }
        if right.first == 0x5B {  // [literal]
            return right.last == 0x5D && right.count > 2
                && right.dropFirst().dropLast().allSatisfy { $0 >= 33 && $0 <= 126 && $0 != 0x5B && $0 != 0x5D && $0 != 0x5C }
        }
        return right.allSatisfy(isDotAtomByte)
    }

    private static func isDotAtomByte(_ b: UInt8) -> Bool {
        HeaderEncoding.isAtext(b) || b == 0x2E
    }
}
