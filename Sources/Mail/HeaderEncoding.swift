/// RFC 2047 encoded-words and RFC 5322 phrase quoting for header values.
enum HeaderEncoding {
    /// `=?utf-8?q?` + `?=`.
    static let encodedWordOverhead = 12
    /// Longest encoded text in one encoded-word: 75 octets minus the overhead.
    static let maxEncodedPayload = 75 - encodedWordOverhead

    private static let atextFlag: UInt8 = 1, qLiteralFlag: UInt8 = 2, encodeFlag: UInt8 = 4

    /// Per-byte flags: RFC 5322 `atext`; written literally in a Q encoded-word (the
    /// RFC 2047 §5(3) set, safe in phrases too); forces encoding (control or non-ASCII).
    private static let flags: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for b in 0..<256 {
            let c = UInt8(b)
            let alnum = (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
            var f: UInt8 = 0
            if alnum || Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(c) { f |= atextFlag }
            if alnum || Array("!*+-/".utf8).contains(c) { f |= qLiteralFlag }
            if c >= 0x80 || c == 0x7F || (c < 0x20 && c != 0x09) { f |= encodeFlag }
            table[b] = f
        }
        return table
    }()

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    private static let base64Digits: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func isAtext(_ b: UInt8) -> Bool { flags[Int(b)] & atextFlag != 0 }

    /// A word must be encoded when it holds non-ASCII or control characters, or `=?`
    /// (which a decoder could take for the start of an encoded-word).
    static func needsEncoding(_ word: ArraySlice<UInt8>) -> Bool {
        var previous: UInt8 = 0
        for b in word {
            if flags[Int(b)] & encodeFlag != 0 || (previous == 0x3D && b == 0x3F) { return true }
            previous = b
        }
        return false
    }

    private static func qCost(_ b: UInt8) -> Int {
        flags[Int(b)] & qLiteralFlag != 0 || b == 0x20 ? 1 : 3
    }

    private static func base64Length(_ n: Int) -> Int { (n + 2) / 3 * 4 }

    /// The longest prefix of `bytes[from..<end]` whose encoded form fits `capacity`
    /// octets, with the shorter of Q and B (`length` is that encoded text's length).
    /// It ends between Unicode scalars, and avoids ending inside a grapheme cluster
    /// (combining marks, variation selectors, ZWJ sequences, skin tones) unless the
    /// cluster alone is too long. With `preferAfterSpace`, a cut falls right after a
    /// space when one is in the second half of the chunk.
    static func nextChunk(
        _ bytes: ArraySlice<UInt8>, from: Int, end: Int, capacity: Int, preferAfterSpace: Bool = false
    ) -> (range: Range<Int>, useB: Bool, length: Int) {
        func result(_ cut: Int, _ q: Int) -> (range: Range<Int>, useB: Bool, length: Int) {
            let b = base64Length(cut - from)
            return (from..<cut, b < q, min(b, q))
        }
        var i = from
        var q = 0
        var clusterStart = from
        var qAtClusterStart = 0
        var afterSpace = from
        var qAfterSpace = 0
        var afterZWJ = false
        while i < end {
            let (scalar, length) = decodeScalar(bytes, at: i, end: end)
            let joins = i > from && (afterZWJ || isGraphemeExtender(scalar))
            if !joins {
                clusterStart = i
                qAtClusterStart = q
            }
            var scalarQ = 0
            for j in i..<(i + length) { scalarQ += qCost(bytes[j]) }
            if min(q + scalarQ, base64Length(i + length - from)) > capacity && i > from {
                if preferAfterSpace && afterSpace > from + (i - from) / 2 { return result(afterSpace, qAfterSpace) }
                if joins && clusterStart > from { return result(clusterStart, qAtClusterStart) }
                return result(i, q)
            }
            q += scalarQ
            afterZWJ = scalar == 0x200D
            i += length
            if scalar == 0x20 {
                afterSpace = i
                qAfterSpace = q
            }
        }
        return result(end, q)
    }

    /// Appends `=?utf-8?q?…?=` or `=?utf-8?b?…?=` for `bytes[range]`.
    static func appendEncodedWord(_ bytes: ArraySlice<UInt8>, _ range: Range<Int>, useB: Bool, to out: inout [UInt8]) {
        out.append(contentsOf: useB ? "=?utf-8?b?".utf8 : "=?utf-8?q?".utf8)
        if useB {
            var i = range.lowerBound
            while i < range.upperBound {
                let b0 = UInt32(bytes[i])
                let b1 = i + 1 < range.upperBound ? UInt32(bytes[i + 1]) : 0
                let b2 = i + 2 < range.upperBound ? UInt32(bytes[i + 2]) : 0
                let group = b0 << 16 | b1 << 8 | b2
                let available = range.upperBound - i
                out.append(base64Digits[Int(group >> 18 & 63)])
                out.append(base64Digits[Int(group >> 12 & 63)])
                out.append(available > 1 ? base64Digits[Int(group >> 6 & 63)] : 0x3D)
                out.append(available > 2 ? base64Digits[Int(group & 63)] : 0x3D)
                i += 3
            }
        } else {
            for b in bytes[range] {
                if b == 0x20 {
                    out.append(0x5F)  // "_"
                } else if flags[Int(b)] & qLiteralFlag != 0 {
                    out.append(b)
                } else {
                    out.append(0x3D)
                    out.append(hexDigits[Int(b >> 4)])
                    out.append(hexDigits[Int(b & 15)])
                }
            }
        }
        out.append(0x3F)
        out.append(0x3D)
    }

    /// Decodes the scalar starting at `i` (the input is valid UTF-8 from a `String`).
    private static func decodeScalar(_ bytes: ArraySlice<UInt8>, at i: Int, end: Int) -> (UInt32, Int) {
        let lead = bytes[i]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        guard i + length <= end else { return (UInt32(lead), 1) }
        if length == 1 { return (UInt32(lead), 1) }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for j in (i + 1)..<(i + length) { value = value << 6 | UInt32(bytes[j] & 0x3F) }
        return (value, length)
    }

    /// Scalars that continue the previous character rather than start a new one.
    private static func isGraphemeExtender(_ s: UInt32) -> Bool {
        switch s {
        case 0x0300...0x036F, 0x1AB0...0x1AFF, 0x1DC0...0x1DFF, 0x20D0...0x20FF, 0xFE20...0xFE2F,  // combining marks
            0xFE00...0xFE0F, 0xE0100...0xE01EF,  // variation selectors
            0x200C, 0x200D,  // ZWNJ, ZWJ
            0x1F3FB...0x1F3FF,  // emoji skin tones
            0xE0020...0xE007F:  // emoji tag sequences
            true
        default: false
        }
    }
}

extension HeaderFieldWriter {
    /// Appends a comma-separated list of mailboxes (From, To, Reply-To).
    mutating func appendMailboxes(_ mailboxes: [Mailbox]) throws(MailError) {
        for (index, mailbox) in mailboxes.enumerated() {
            if index > 0 { try glue(0x2C) }
            try appendMailbox(mailbox)
        }
    }

    /// `display-name <address>` or a bare address. The name is written as atoms when
    /// it is plain words, as a quoted-string when it holds specials (`,` `"` `.` …) or
    /// unusual spacing, and as encoded-words when it holds non-ASCII or control
    /// characters or is too long for one line. The address uses the `xn--` form of the
    /// domain unless the local part is non-ASCII (SMTPUTF8, RFC 6532).
    mutating func appendMailbox(_ mailbox: Mailbox) throws(MailError) {
        let address = mailbox.address.isASCII ? mailbox.address.asciiValue : mailbox.address.value
        let space: [UInt8] = isEmpty ? [] : [0x20]
        guard let name = mailbox.name else {
            try append(address.utf8, after: space)
            return
        }
        let bytes = Array(name.utf8)
        if HeaderEncoding.needsEncoding(bytes[...]) {
            try appendEncoded(bytes[...], after: space[...], phrase: true)
        } else if Self.isAtomPhrase(bytes) {
            var first = true
            for word in bytes.split(separator: 0x20) {
                try append(word, after: first ? space : [0x20])
                first = false
            }
        } else {
            var quoted: [UInt8] = [0x22]
            quoted.reserveCapacity(bytes.count + 8)
            for b in bytes {
                if b == 0x22 || b == 0x5C { quoted.append(0x5C) }
                quoted.append(b)
            }
            quoted.append(0x22)
            if quoted.count <= Self.softLimit - 2 {
                try append(quoted, after: space)
            } else {  // a quoted-string cannot be folded safely; encoded-words can
                try appendEncoded(bytes[...], after: space[...], phrase: true)
            }
        }
        var angle: [UInt8] = [0x3C]
        angle.append(contentsOf: address.utf8)
        angle.append(0x3E)
        try append(angle, after: CollectionOfOne(0x20))
    }

    /// Words of `atext` separated by single spaces, each short enough for a line.
    private static func isAtomPhrase(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, let last = bytes.last, first != 0x20, last != 0x20 else { return false }
        var previous: UInt8 = 0
        var wordLength = 0
        for b in bytes {
            if b == 0x20 {
                if previous == 0x20 { return false }
                wordLength = 0
            } else {
                guard HeaderEncoding.isAtext(b) else { return false }
                wordLength += 1
                if wordLength > softLimit - 2 { return false }
            }
            previous = b
        }
        return true
    }
}
