/// What the server announced in its EHLO reply (RFC 5321 §4.1.1.1); empty after a HELO fallback.
public struct SMTPServerCapabilities: Sendable, Hashable {
    public var pipelining = false
    public var startTLS = false
    public var eightBitMIME = false
    public var smtpUTF8 = false
    public var enhancedStatusCodes = false
    /// The SIZE limit in bytes; nil when SIZE is absent, 0 when the server announced no fixed limit.
    public var maximumMessageSize: Int?
    /// Upper-cased SASL mechanism names from the AUTH keyword.
    public var authMechanisms: Set<String> = []
    /// Every keyword line, upper-cased, for anything not modelled above.
    public var keywords: [String] = []

    public init() {}

    /// Parses the lines after the first one, which only names the server.
    init(ehloReply reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            keywords.append(line.uppercased())
            let arguments = words.dropFirst()
            switch keyword {
            case "PIPELINING": pipelining = true
            case "STARTTLS": startTLS = true
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "SIZE": maximumMessageSize = arguments.first.flatMap { Int($0) } ?? 0
            case "AUTH": authMechanisms.formUnion(arguments)
            default: break
            }
        }
    }
}
