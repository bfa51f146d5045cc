import Foundation

// Content-Type parameters and transfer decodings: the part of reading MIME that turns a header
// value or an encoded body into what it stands for.

extension MIMEReader {
    // MARK: - Content-Type

    /// Parses `type/subtype; name=value; name="quoted value"`; `nil` when there is no type/subtype.
    ///
    /// Lenient with unquoted values that contain specials (`boundary=----=_Part_1`), which real MTAs send.
    static func parseContentType(_ value: String) -> MIMEContentType? {
        var scanner = ParameterScanner(bytes: Array(value.utf8))
        guard let type = scanner.token(), scanner.skip(UInt8(ascii: "/")), let subtype = scanner.token() else {
            return nil
        }
        var result = MIMEContentType(type: type.lowercased(), subtype: subtype.lowercased())
        while scanner.skipPast(UInt8(ascii: ";")) {
            guard let name = scanner.token() else { continue }
            guard scanner.skip(UInt8(ascii: "=")) else { continue }
            result.parameters[name.lowercased()] = scanner.parameterValue()
        }
        return result
    }

    /// Reads tokens, quoted strings and (comments) from a structured header value.
    private struct ParameterScanner {
        var bytes: [UInt8]
        var index = 0

        private static let specials = Set("()<>@,;:\\\"/[]?=".utf8)

        mutating func skipSpaceAndComments() {
            var depth = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "(") {
                    depth += 1
                } else if byte == UInt8(ascii: ")"), depth > 0 {
                    depth -= 1
                } else if depth == 0, !MIMEReader.isBlank(byte) {
                    return
                } else if depth > 0, byte == UInt8(ascii: "\\") {
                    index += 1
                }
                index += 1
            }
        }

        mutating func token() -> String? {
            skipSpaceAndComments()
            let start = index
            while index < bytes.count, bytes[index] > 0x20, bytes[index] != 0x7F, !Self.specials.contains(bytes[index]) {
                index += 1
            }
            return index > start ? MIMEReader.text(bytes[start..<index]) : nil
        }

        /// Skips `byte` (after space and comments) when it is next.
        mutating func skip(_ byte: UInt8) -> Bool {
            skipSpaceAndComments()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Moves past the next `byte` outside quotes; false at the end.
        mutating func skipPast(_ byte: UInt8) -> Bool {
            var quoted = false
            while index < bytes.count {
                let current = bytes[index]
                index += 1
                if current == UInt8(ascii: "\"") {
                    quoted.toggle()
                } else if quoted, current == UInt8(ascii: "\\") {
                    index += 1
                } else if !quoted, current == byte {
                    return true
                }
            }
            return false
        }

        mutating func parameterValue() -> String {
            skipSpaceAndComments()
            guard index < bytes.count else { return "" }
            if bytes[index] == UInt8(ascii: "\"") {
                index += 1
                var out: [UInt8] = []
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                    }
                    out.append(bytes[index])
                    index += 1
                }
                index += 1
                return MIMEReader.text(out)
            }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ";"), !MIMEReader.isBlank(bytes[index]) {
                index += 1
            }
            return MIMEReader.text(bytes[start..<index])
        }
    }

    // MARK: - Content-Transfer-Encoding

    /// Undoes base64 or quoted-printable; 7bit, 8bit, binary and unknown encodings pass through.
    static func decode(_ body: ArraySlice<UInt8>, transferEncoding: String?) -> [UInt8] {
        let encoding = transferEncoding.flatMap { encodingName($0) }
        switch encoding {
        case "base64": return decodeBase64(body)
        case "quoted-printable": return decodeQuotedPrintable(body)
        default: return Array(body)
        }
    }

    private static func encodingName(_ value: String) -> String? {
        var scanner = ParameterScanner(bytes: Array(value.utf8))
        return scanner.token()?.lowercased()
    }

    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(value)
        }
        return table
    }()

    /// Decodes base64 line by line; a line with characters outside the alphabet is skipped as garbage.
    ///
    /// Padding ends a quantum, so concatenated encodings decode too.
    static func decodeBase64(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count / 4 * 3)
        var accumulator: UInt32 = 0
        var count = 0
        func flush() {
            if count >= 2 { out.append(UInt8(truncatingIfNeeded: accumulator >> (UInt32(count) * 6 - 8))) }
            if count == 3 { out.append(UInt8(truncatingIfNeeded: accumulator >> 2)) }
            accumulator = 0
            count = 0
        }
        var position = body.startIndex
        while position < body.endIndex {
            let (content, next) = line(in: body, at: position)
            position = next
            let text = body[content]
            let isBase64 = text.allSatisfy { base64Values[Int($0)] != 0xFF || $0 == UInt8(ascii: "=") || isBlank($0) }
            guard isBase64 else { continue }
            for byte in text where !isBlank(byte) {
                if byte == UInt8(ascii: "=") {
                    flush()
                    continue
                }
                accumulator = accumulator << 6 | UInt32(base64Values[Int(byte)])
                count += 1
                if count == 4 {
                    out.append(UInt8(truncatingIfNeeded: accumulator >> 16))
                    out.append(UInt8(truncatingIfNeeded: accumulator >> 8))
                    out.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator = 0
                    count = 0
                }
            }
        }
        flush()
        return out
    }

    /// Decodes quoted-printable: `=XX` escapes (either case), `=` at a line end as a soft break,
    /// trailing whitespace dropped (RFC 2045 6.7); a stray `=` stays as it is.
    static func decodeQuotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var position = body.startIndex
        while position < body.endIndex {
            let (content, next) = line(in: body, at: position)
            var text = body[content]
            while let last = text.last, last == 0x20 || last == 0x09 {
                text = text.dropLast()
            }
            let isSoftBreak = text.last == UInt8(ascii: "=")
            if isSoftBreak {
                text = text.dropLast()
            }
            var index = text.startIndex
            while index < text.endIndex {
                if text[index] == UInt8(ascii: "="), index + 2 < text.endIndex,
                    let high = hexValue(text[index + 1]), let low = hexValue(text[index + 2])
                {
                    out.append(high << 4 | low)
                    index += 3
                } else {
                    out.append(text[index])
                    index += 1
                }
            }
            if !isSoftBreak, next > content.upperBound {
                out.append(contentsOf: body[content.upperBound..<next])
            }
            position = next
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
