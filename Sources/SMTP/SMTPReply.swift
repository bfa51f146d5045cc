import NIOCore

/// An RFC 3463 enhanced status code such as `5.1.1`, taken from the start of a reply's text.
///
/// Kept separately from the basic reply code because it is the more precise signal for a caller deciding
/// whether to retry (for example `4.2.2` mailbox full versus `5.1.1` no such user).
public struct SMTPEnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    public var statusClass: Int
    public var subject: Int
    public var detail: Int

    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }

    /// Parses a leading `class.subject.detail` token; returns the code and the text after it.
    static func parse(prefixOf text: Substring) -> (SMTPEnhancedStatusCode, Substring)? {
        let token = text.prefix { $0 != " " }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let first = parts[0].first, parts[0].count == 1, "245".contains(first),
            parts[1].count <= 3, parts[2].count <= 3,
            let statusClass = Int(parts[0]), let subject = Int(parts[1]), let detail = Int(parts[2]),
            subject >= 0, detail >= 0
        else { return nil }
        let rest = text.dropFirst(token.count).drop { $0 == " " }
        return (SMTPEnhancedStatusCode(statusClass: statusClass, subject: subject, detail: detail), rest)
    }
}

/// One complete (possibly multi-line) server reply.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code, e.g. 250.
    public var code: Int
    /// The enhanced status code of the first line, when the server sent one.
    public var enhancedCode: SMTPEnhancedStatusCode?
    /// The text of each line, without the reply code and without a leading enhanced status code.
    public var lines: [String]

    public init(code: Int, enhancedCode: SMTPEnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines
    }

    /// All lines joined with a space, for messages and logs.
    public var text: String { lines.joined(separator: " ") }

    public var description: String {
        if let enhancedCode { return "\(code) \(enhancedCode) \(text)" }
        return "\(code) \(text)"
    }

    var isPositiveCompletion: Bool { (200..<300).contains(code) }
    var isPositiveIntermediate: Bool { (300..<400).contains(code) }
    var isTransientFailure: Bool { (400..<500).contains(code) }
    var isPermanentFailure: Bool { code >= 500 }
}

/// Incremental parser turning bytes from the server into ``SMTPReply`` values.
///
/// It is a plain value type rather than a `ByteToMessageDecoder` so the channel handler can see exactly
/// which bytes are still buffered when STARTTLS succeeds: anything left over at that point was sent in
/// plaintext before the handshake and must be rejected (response injection, CVE-2011-0411 style).
struct SMTPReplyDecoder {
    /// A single reply line longer than this is refused; RFC 5321 allows 512 octets, servers exceed it a little.
    var maximumLineLength: Int
    /// A whole multi-line reply larger than this is refused, so a hostile server cannot grow our memory.
    var maximumReplyLength: Int

    private var buffer = ByteBuffer()
    private var pendingCode: Int?
    private var pendingEnhanced: SMTPEnhancedStatusCode?
    private var pendingLines: [String] = []
    private var pendingLength = 0

    init(maximumLineLength: Int = 8192, maximumReplyLength: Int = 65536) {
        self.maximumLineLength = maximumLineLength
        self.maximumReplyLength = maximumReplyLength
    }

    /// True when bytes were received that do not yet form a complete reply.
    var hasBufferedBytes: Bool { buffer.readableBytes > 0 || pendingCode != nil }

    mutating func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        // Everything before was consumed: start over at the buffer's beginning, so a connection
        // that lives for a thousand messages does not grow its buffer with their replies.
        if buffer.readableBytes == 0 { buffer.clear() }
        buffer.writeBuffer(&bytes)
    }

    /// Returns the next complete reply, or nil when more bytes are needed.
    mutating func next() throws(SMTPError) -> SMTPReply? {
        while true {
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                if buffer.readableBytes > maximumLineLength {
                    throw SMTPError.protocolViolation("reply line longer than \(maximumLineLength) bytes")
                }
                return nil
            }
            let lineLength = newline - buffer.readerIndex
            var line = buffer.readSlice(length: lineLength + 1)!.readableBytesView.dropLast()
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.count > maximumLineLength {
                throw SMTPError.protocolViolation("reply line longer than \(maximumLineLength) bytes")
            }
            pendingLength += line.count
            if pendingLength > maximumReplyLength {
                throw SMTPError.protocolViolation("reply longer than \(maximumReplyLength) bytes")
            }
            if let reply = try consume(line: Array(line)) { return reply }
        }
    }

    private mutating func consume(line: [UInt8]) throws(SMTPError) -> SMTPReply? {
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        guard line.count >= 3, isDigit(line[0]), isDigit(line[1]), isDigit(line[2]),
            (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(line[0])
        else {
            throw SMTPError.protocolViolation("malformed reply line: \(Self.printable(line))")
        }
        let code = Int(line[0] - 48) * 100 + Int(line[1] - 48) * 10 + Int(line[2] - 48)
        let isLast: Bool
        if line.count == 3 {
            isLast = true
        } else if line[3] == UInt8(ascii: " ") {
            isLast = true
        } else if line[3] == UInt8(ascii: "-") {
            isLast = false
        } else {
            throw SMTPError.protocolViolation("malformed reply line: \(Self.printable(line))")
        }
        if let pendingCode, pendingCode != code {
            throw SMTPError.protocolViolation("reply code changed from \(pendingCode) to \(code) within a multi-line reply")
        }
        var text = Substring(String(decoding: line.dropFirst(4), as: UTF8.self))
        if let (enhanced, rest) = SMTPEnhancedStatusCode.parse(prefixOf: text), enhanced.statusClass == code / 100 {
            if pendingCode == nil { pendingEnhanced = enhanced }
            text = rest
        }
        pendingCode = code
        pendingLines.append(String(text))
        guard isLast else { return nil }
        let reply = SMTPReply(code: code, enhancedCode: pendingEnhanced, lines: pendingLines)
        pendingCode = nil
        pendingEnhanced = nil
        pendingLines = []
        pendingLength = 0
        return reply
    }

    private static func printable(_ line: [UInt8]) -> String {
        let shown = line.prefix(80).map { (32..<127).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }
        return "\"" + shown.joined() + (line.count > 80 ? "…" : "") + "\""
    }
}
