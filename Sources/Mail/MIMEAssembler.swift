/// Lays out the MIME structure around one or two encoded text bodies in a single
/// buffer allocated once at its final capacity.
enum MIMEAssembler {
    struct Output {
        /// MIME-Version, Content-Type and, for a single part, Content-Transfer-Encoding.
        var mimeHeaders: [(name: String, value: [UInt8])]
        /// `prefix`, the MIME headers and the empty line, then the body; just the body
        /// when there was no prefix.
        var bytes: [UInt8]
    }

    /// - Parameters:
    ///   - prefix: header lines (each ending in CRLF) to write first, followed by the MIME
    ///     headers and the empty line; `nil` to produce the body alone.
    ///   - text, html: the UTF-8 bodies; at least one is present.
    ///   - seed: where the multipart boundary is drawn from (the Message-ID).
    static func assemble(
        prefix: [UInt8]?, text: UnsafeBufferPointer<UInt8>?, html: UnsafeBufferPointer<UInt8>?, seed: String
    ) -> Output {
        let parts = [
            text.map { (type: "text/plain", body: BodyEncoder($0)) },
            html.map { (type: "text/html", body: BodyEncoder($0)) },
        ].compactMap { $0 }
        precondition(!parts.isEmpty, "Message.init guarantees a body")
        var mimeHeaders: [(name: String, value: [UInt8])] = [("MIME-Version", Array("1.0".utf8))]
        var boundary: [UInt8] = []
        if parts.count == 1 {
            mimeHeaders.append(("Content-Type", Array("\(parts[0].type); charset=utf-8".utf8)))
            mimeHeaders.append(("Content-Transfer-Encoding", Array(parts[0].body.encoding.rawValue.utf8)))
        } else {
            boundary = makeBoundary(seed: seed, avoiding: parts.map(\.body))
            var value = Array("multipart/alternative;\r\n boundary=\"".utf8)
            value.append(contentsOf: boundary)
            value.append(0x22)
            mimeHeaders.append(("Content-Type", value))
        }

        var capacity = (prefix?.count ?? 0) + 2
        if prefix != nil { capacity += mimeHeaders.reduce(0) { $0 + $1.name.utf8.count + $1.value.count + 4 } }
        for part in parts { capacity += part.body.maxEncodedSize + 2 * boundary.count + 192 }

        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var out = Cursor(base: buffer.baseAddress!)
            if let prefix {
                out.write(prefix)
                for field in mimeHeaders {
                    out.write(Array(field.name.utf8))
                    out.write(": ")
                    out.write(field.value)
                    out.write("\r\n")
                }
                out.write("\r\n")
            }
            if parts.count == 1 {
                let body = parts[0].body
                // The message must end in CRLF; add it without changing the decoded body
                // where the encoding allows (QP soft break, base64 ignores line breaks).
                let soft = body.encoding == .quotedPrintable && !body.endsWithLineBreak
                let written = body.encode(into: out.base + out.offset, endsWithSoftBreak: soft)
                out.offset += written
                if written > 0 && !(written >= 2 && out.base[out.offset - 2] == 0x0D && out.base[out.offset - 1] == 0x0A) {
                    if soft { out.write("=") }
                    out.write("\r\n")
                }
            } else {
                for part in parts {
                    out.write("--")
                    out.write(boundary)
                    out.write("\r\nContent-Type: ")
                    out.write(Array(part.type.utf8))
                    out.write("; charset=utf-8\r\nContent-Transfer-Encoding: ")
                    out.write(Array(part.body.encoding.rawValue.utf8))
                    out.write("\r\n\r\n")
                    out.offset += part.body.encode(into: out.base + out.offset)
                    out.write("\r\n")  // belongs to the delimiter line that follows
                }
                out.write("--")
                out.write(boundary)
                out.write("--\r\n")
            }
            precondition(out.offset <= capacity, "MIME size bound exceeded")
            count = out.offset
        }
        return Output(mimeHeaders: mimeHeaders, bytes: bytes)
    }

    /// `=_` and 24 base-32 characters drawn from `seed` (the random Message-ID), so a
    /// message renders to the same bytes every time. `=_` never occurs in
    /// quoted-printable or base64 output, so only 7bit parts are searched; a collision
    /// draws again.
    static func makeBoundary(seed: String, avoiding bodies: [BodyEncoder]) -> [UInt8] {
        let digits = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        var state: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the seed
        for b in seed.utf8 { state = (state ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        while true {
            var boundary: [UInt8] = [0x3D, 0x5F]
            for _ in 0..<2 {
                var bits = splitMix(&state)
                for _ in 0..<12 {
                    boundary.append(digits[Int(bits & 31)])
                    bits >>= 5
                }
            }
            let clash = bodies.contains { $0.encoding == .sevenBit && contains($0.input, boundary) }
            if !clash { return boundary }
        }
    }

    private static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Whether `needle` (starting with `=_`) occurs in `haystack`.
    static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        let n = haystack.count
        let m = needle.count
        guard n >= m else { return false }
        for i in 0...(n - m) where haystack[i] == needle[0] && haystack[i + 1] == needle[1] {
            if (0..<m).allSatisfy({ haystack[i + $0] == needle[$0] }) { return true }
        }
        return false
    }

    /// A write position in the output buffer.
    struct Cursor {
        let base: UnsafeMutablePointer<UInt8>
        var offset = 0

        mutating func write(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { source in
                if let start = source.baseAddress { (base + offset).update(from: start, count: source.count) }
            }
            offset += bytes.count
        }

        mutating func write(_ text: StaticString) {
            (base + offset).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
            offset += text.utf8CodeUnitCount
        }
    }
}
