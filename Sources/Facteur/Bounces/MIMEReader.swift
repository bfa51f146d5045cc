import Foundation

/// One header field of a message or MIME part.
struct MIMEHeaderField: Sendable {
    /// The name as written.
    var name: String
    /// The name lowercased: header names are case-insensitive.
    var key: String
    /// The value unfolded (a line break and the indentation after it become one space) and trimmed.
    var value: String
    /// The value's bytes as received, folds included, for 8-bit values that are not UTF-8.
    var rawValue: ArraySlice<UInt8>
}

/// The header fields of one entity, in the order received.
struct MIMEHeaders: Sendable {
    var fields: [MIMEHeaderField] = []

    /// The first value of the field `key` (lowercase), if any.
    func first(_ key: String) -> String? {
        fields.first { $0.key == key }?.value
    }

    /// Every value of the field `key` (lowercase), in order.
    func all(_ key: String) -> [String] {
        fields.filter { $0.key == key }.map(\.value)
    }
}

/// A parsed Content-Type: lowercased type and subtype, parameters keyed by lowercased name.
struct MIMEContentType: Sendable, Equatable {
    var type: String
    var subtype: String
    var parameters: [String: String] = [:]

    static let textPlain = MIMEContentType(type: "text", subtype: "plain")
    static let messageRFC822 = MIMEContentType(type: "message", subtype: "rfc822")

    var mimeType: String { "\(type)/\(subtype)" }
    var isMultipart: Bool { type == "multipart" }
}

/// One entity of a message: its headers, its body as transferred, and its parts when multipart.
struct MIMEEntity: Sendable {
    var headers: MIMEHeaders
    var contentType: MIMEContentType
    var body: ArraySlice<UInt8>
    var parts: [MIMEEntity] = []

    /// The body with its Content-Transfer-Encoding undone.
    var decodedBody: [UInt8] {
        MIMEReader.decode(body, transferEncoding: headers.first("content-transfer-encoding"))
    }
}

/// A small, defensive reader for incoming messages (RFC 5322 headers, RFC 2045/2046 MIME).
///
/// It reads what real MTAs send (LF or CRLF, 8-bit bytes, missing close delimiters) and bounds
/// nesting, part count and header line length so that hostile input cannot blow up.
enum MIMEReader {
    static let maxDepth = 10
    static let maxParts = 500
    static let maxHeaderLineBytes = 64 * 1024
    static let maxHeaderFields = 5_000

    /// Parses a whole message into its entity tree.
    static func parseMessage(_ bytes: [UInt8]) throws -> MIMEEntity {
        var partCount = 0
        return try parseEntity(bytes[...], depth: 0, defaultType: .textPlain, partCount: &partCount)
    }

    private static func parseEntity(
        _ bytes: ArraySlice<UInt8>,
        depth: Int,
        defaultType: MIMEContentType,
        partCount: inout Int
    ) throws -> MIMEEntity {
        let (headers, body) = try readHeaders(bytes)
        let contentType = headers.first("content-type").flatMap(parseContentType) ?? defaultType
        var entity = MIMEEntity(headers: headers, contentType: contentType, body: body)
        guard contentType.isMultipart, let boundary = contentType.parameters["boundary"], !boundary.isEmpty else {
            return entity
        }
        guard depth < maxDepth else {
            throw FacteurError(.invalid, "MIME parts are nested more than \(maxDepth) levels deep")
        }
        // RFC 2046 5.1.5: the parts of a digest default to message/rfc822.
        let childType: MIMEContentType = contentType.subtype == "digest" ? .messageRFC822 : .textPlain
        for part in splitMultipart(body, boundary: boundary, limit: maxParts - partCount + 1) {
            partCount += 1
            guard partCount <= maxParts else {
                throw FacteurError(.invalid, "the message has more than \(maxParts) MIME parts")
            }
            entity.parts.append(try parseEntity(part, depth: depth + 1, defaultType: childType, partCount: &partCount))
        }
        return entity
    }

    // MARK: - Lines

    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D

    /// The line starting at `start`: its content without the line break, and where the next one starts.
    static func line(in bytes: ArraySlice<UInt8>, at start: Int) -> (content: Range<Int>, next: Int) {
        let end = bytes[start...].firstIndex(of: lf) ?? bytes.endIndex
        var contentEnd = end
        if contentEnd > start, bytes[contentEnd - 1] == cr {
            contentEnd -= 1
        }
        return (start..<contentEnd, end < bytes.endIndex ? end + 1 : end)
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == cr || byte == lf
    }

    // MARK: - Header fields

    /// Splits an entity into its header block and body.
    ///
    /// The block ends at the first empty (or whitespace-only) line; a line that is neither a field nor a
    /// continuation also ends it and starts the body, as Postfix does. A leading mbox `From ` line is skipped.
    static func readHeaders(_ bytes: ArraySlice<UInt8>) throws -> (headers: MIMEHeaders, body: ArraySlice<UInt8>) {
        var collector = FieldCollector()
        var position = bytes.startIndex
        if bytes.starts(with: Array("From ".utf8)) {
            position = line(in: bytes, at: position).next
        }
        while position < bytes.endIndex {
            let (content, next) = line(in: bytes, at: position)
            switch try headerLine(bytes, content) {
            case .blank: return (try collector.finish(bytes), bytes[next...])
            case .continuation: collector.extend(to: content.upperBound)
            case .field(let colon): try collector.start(bytes, name: content.lowerBound..<colon, valueEnd: content.upperBound)
            case .other: return (try collector.finish(bytes), bytes[position...])
            }
            position = next
        }
        return (try collector.finish(bytes), bytes[bytes.endIndex...])
    }

    /// Reads blocks of fields separated by blank lines, as in a delivery-status or feedback-report body.
    ///
    /// Lines that are not fields are skipped rather than ending the block.
    static func readFieldGroups(_ bytes: ArraySlice<UInt8>) throws -> [MIMEHeaders] {
        var groups: [MIMEHeaders] = []
        var collector = FieldCollector()
        var position = bytes.startIndex
        while position < bytes.endIndex {
            let (content, next) = line(in: bytes, at: position)
            switch try headerLine(bytes, content) {
            case .blank:
                groups.append(try collector.finish(bytes))
                collector = FieldCollector()
            case .continuation: collector.extend(to: content.upperBound)
            case .field(let colon): try collector.start(bytes, name: content.lowerBound..<colon, valueEnd: content.upperBound)
            case .other: try collector.endField(bytes)
            }
            position = next
        }
        groups.append(try collector.finish(bytes))
        return groups.filter { !$0.fields.isEmpty }
    }

    private enum HeaderLine {
        case blank
        case continuation
        case field(colon: Int)
        case other
    }

    /// What a line in a block of fields is; a field or continuation line over the limit throws.
    private static func headerLine(_ bytes: ArraySlice<UInt8>, _ content: Range<Int>) throws -> HeaderLine {
        let kind: HeaderLine
        if bytes[content].allSatisfy(isBlank) {
            return .blank
        } else if bytes[content.lowerBound] == 0x20 || bytes[content.lowerBound] == 0x09 {
            kind = .continuation
        } else if let colon = fieldColon(bytes, content) {
            kind = .field(colon: colon)
        } else {
            return .other
        }
        guard content.count <= maxHeaderLineBytes else {
            throw FacteurError(.invalid, "a header line is longer than \(maxHeaderLineBytes) bytes")
        }
        return kind
    }

    /// The index of the colon when the line is `name: value` (printable ASCII name, obsolete space before the colon allowed).
    private static func fieldColon(_ bytes: ArraySlice<UInt8>, _ content: Range<Int>) -> Int? {
        var index = content.lowerBound
        while index < content.upperBound, bytes[index] > 0x20, bytes[index] < 0x7F, bytes[index] != UInt8(ascii: ":") {
            index += 1
        }
        guard index > content.lowerBound else { return nil }
        while index < content.upperBound, bytes[index] == 0x20 || bytes[index] == 0x09 {
            index += 1
        }
        return index < content.upperBound && bytes[index] == UInt8(ascii: ":") ? index : nil
    }

    /// Accumulates fields line by line; the field in progress grows with each continuation line.
    private struct FieldCollector {
        var headers = MIMEHeaders()
        var name: Range<Int>?
        var value: Range<Int> = 0..<0

        /// Starts a field whose name runs up to the colon at `name.upperBound`.
        mutating func start(_ bytes: ArraySlice<UInt8>, name: Range<Int>, valueEnd: Int) throws {
            try endField(bytes)
            self.name = name
            value = (name.upperBound + 1)..<valueEnd
        }

        /// Adds a continuation line to the field in progress; one with no field before it is dropped.
        mutating func extend(to end: Int) {
            if name != nil {
                value = value.lowerBound..<end
            }
        }

        mutating func endField(_ bytes: ArraySlice<UInt8>) throws {
            guard let name else { return }
            self.name = nil
            guard headers.fields.count < MIMEReader.maxHeaderFields else {
                throw FacteurError(.invalid, "a header block has more than \(MIMEReader.maxHeaderFields) fields")
            }
            let nameText = MIMEReader.text(bytes[name].prefix { $0 != 0x20 && $0 != 0x09 })
            let raw = bytes[value]
            headers.fields.append(
                MIMEHeaderField(name: nameText, key: nameText.lowercased(), value: MIMEReader.unfold(raw), rawValue: raw))
        }

        mutating func finish(_ bytes: ArraySlice<UInt8>) throws -> MIMEHeaders {
            try endField(bytes)
            return headers
        }
    }

    /// Unfolds a raw value: each line break with the indentation after it becomes one space; the ends are trimmed.
    static func unfold(_ raw: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == cr || byte == lf {
                while index < raw.endIndex, isBlank(raw[index]) {
                    index += 1
                }
                out.append(0x20)
                continue
            }
            out.append(byte)
            index += 1
        }
        return text(out).trimmingCharacters(in: .whitespaces)
    }

    /// Bytes as text: UTF-8 when valid, else Latin-1 so that no 8-bit byte is lost.
    static func text(_ bytes: some Collection<UInt8>) -> String {
        if let utf8 = String(validating: bytes, as: UTF8.self) {
            return utf8
        }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    // MARK: - Multipart

    /// The parts between `--boundary` delimiter lines; preamble and epilogue are dropped.
    ///
    /// A missing close delimiter is tolerated: the last part runs to the end. Stops after `limit` parts.
    static func splitMultipart(_ body: ArraySlice<UInt8>, boundary: String, limit: Int) -> [ArraySlice<UInt8>] {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [ArraySlice<UInt8>] = []
        var partStart: Int?
        var position = body.startIndex
        while position < body.endIndex {
            let (content, next) = line(in: body, at: position)
            if body[content].starts(with: delimiter) {
                let rest = body[(content.lowerBound + delimiter.count)..<content.upperBound]
                let isClose = rest.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
                if isClose || rest.allSatisfy(isBlank) {
                    if let start = partStart {
                        // The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
                        var end = position
                        if end > start, body[end - 1] == lf { end -= 1 }
                        if end > start, body[end - 1] == cr { end -= 1 }
                        parts.append(body[start..<end])
                        if parts.count >= limit { return parts }
                    }
                    if isClose { return parts }
                    partStart = next
                }
            }
            position = next
        }
        if let start = partStart {
            parts.append(body[start..<body.endIndex])
        }
        return parts
    }
}
