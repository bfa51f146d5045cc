/// Quoted-printable body encoding (RFC 2045 §6.7) for text parts, over raw bytes.
///
/// - Line breaks (CRLF, bare LF or bare CR) become CRLF hard breaks.
/// - Printable ASCII except `=` is literal; `=`, controls, DEL and non-ASCII become `=XX`.
/// - Space and tab are literal except right before a line break or the end of the
///   input, where they are encoded (`=20`, `=09`) so no encoded line ends in whitespace.
/// - Encoded lines are at most 76 characters: a soft break (`=` CRLF) is inserted before
///   a token that would not fit, so an `=XX` escape is never split.
///
/// Runs of plain bytes (space and printable ASCII other than `=`) are found 8 bytes at
/// a time and copied in bulk; only the other bytes are looked at one by one.
enum QuotedPrintable {
    /// Longest encoded line, excluding CRLF.
    static let maxLineLength = 76
    /// Extra bytes the output buffer needs past the encoded size: runs are copied in
    /// 8-byte words and escapes stored as 4-byte words, which may write up to 7 bytes
    /// beyond what they keep (later writes overwrite them).
    static let slack = 8

    /// `=XX` for every byte as a little-endian `UInt32` (4th byte zero), stored at once.
    static let escapeWords: [UInt32] = {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<256).map { b in
            UInt32(littleEndian: 0x3D | UInt32(digits[b >> 4]) << 8 | UInt32(digits[b & 15]) << 16)
        }
    }()

    /// An upper bound of the encoded size of `count` input bytes of which `escapes` need
    /// `=XX`, `bareBreaks` are lone CR or LF, and `lines` is the number of lines.
    static func maxEncodedSize(count: Int, escapes: Int, bareBreaks: Int, lines: Int) -> Int {
        let content = count + 2 * escapes + bareBreaks + 2 * lines + 3
        return content + 3 * (content / (maxLineLength - 3) + 1) + slack
    }

    /// Bit 7 of each byte of the result is set where the byte of `w` is not plain:
    /// not in 0x20...0x7E, or `=`. Exact per byte (no carries cross bytes).
    @inline(__always)
    static func specialMask(_ w: UInt64) -> UInt64 {
        let l = w & ByteLanes.low7
        let belowSpace = ~(l &+ 0x6060_6060_6060_6060)  // bit 7 set when low 7 bits < 0x20
        let isDEL = l &+ 0x0101_0101_0101_0101  // bit 7 set when low 7 bits == 0x7F
        let isEquals = ByteLanes.zeroBytes(w ^ 0x3D3D_3D3D_3D3D_3D3D)
        return (w | belowSpace | isDEL | isEquals) & ByteLanes.highs
    }

    @inline(__always)
    static func isSpecial(_ b: UInt8) -> Bool { b < 0x20 || b >= 0x7F || b == 0x3D }

    /// Encodes `input` into `output`, which must hold ``maxEncodedSize(count:escapes:bareBreaks:lines:)``
    /// bytes, and returns the number written. The output has no final CRLF of its own.
    ///
    /// - Parameter endsWithSoftBreak: the caller will append `=` CRLF after the output
    ///   (a body that must end in CRLF without gaining a line break), so the last line
    ///   keeps room for the `=`.
    static func encode(
        _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>, endsWithSoftBreak: Bool = false
    ) -> Int {
        guard let p = input.baseAddress, input.count > 0 else { return 0 }
        return escapeWords.withUnsafeBufferPointer { escapes in
            var encoder = Encoder(p: p, n: input.count, out: output, escapes: escapes.baseAddress!, endsWithSoftBreak: endsWithSoftBreak)
            encoder.run()
            return encoder.o
        }
    }

    private struct Encoder {
        let p: UnsafePointer<UInt8>
        let n: Int
        let out: UnsafeMutablePointer<UInt8>
        let escapes: UnsafePointer<UInt32>
        let endsWithSoftBreak: Bool
        var o = 0, column = 0

        /// Last column a token may reach when more follows on the line (room for `=`).
        private let lastColumn = maxLineLength - 1

        init(
            p: UnsafePointer<UInt8>, n: Int, out: UnsafeMutablePointer<UInt8>, escapes: UnsafePointer<UInt32>,
            endsWithSoftBreak: Bool
        ) {
            (self.p, self.n, self.out, self.escapes, self.endsWithSoftBreak) = (p, n, out, escapes, endsWithSoftBreak)
        }

        /// Whether the line ends right after position `i` (a line break or the end).
        @inline(__always)
        func lineEnds(after i: Int) -> Bool {
            i + 1 < n ? (p[i + 1] == 0x0D || p[i + 1] == 0x0A) : !endsWithSoftBreak
        }

        @inline(__always)
        mutating func softBreak() {
            out[o] = 0x3D
            out[o + 1] = 0x0D
            out[o + 2] = 0x0A
            o += 3
            column = 0
        }

        mutating func run() {
            let raw = UnsafeRawPointer(p)
            var i = 0
            while i < n {
                // Find the next special byte.
                var j = i
                var found = false
                while j + 8 <= n {
                    let mask = specialMask(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: j, as: UInt64.self)))
                    if mask != 0 {
                        j += mask.trailingZeroBitCount >> 3
                        found = true
                        break
                    }
                    j += 8
                }
                if !found { while j < n && !isSpecial(p[j]) { j += 1 } }
                if j > i {
                    // A space right before a line break (or the end) is encoded, not copied.
                    let endsLine = j < n ? (p[j] == 0x0D || p[j] == 0x0A) : !endsWithSoftBreak
                    let trailingSpace = endsLine && p[j - 1] == 0x20
                    copyRun(from: i, to: trailingSpace ? j - 1 : j, endsLine: endsLine && !trailingSpace)
                    if trailingSpace { token(0x20, width: 3, endsLine: true) }
                    i = j
                    if i == n { break }
                }
                // Special bytes, one by one, until the next plain byte.
                while i < n {
                    let b = p[i]
                    if b &- 0x20 < 0x5F && b != 0x3D { break }
                    if b == 0x0D || b == 0x0A {
                        if b == 0x0D, i + 1 < n, p[i + 1] == 0x0A { i += 1 }
                        out[o] = 0x0D
                        out[o + 1] = 0x0A
                        o += 2
                        column = 0
                    } else if b == 0x09 {
                        let endsLine = lineEnds(after: i)
                        token(b, width: endsLine ? 3 : 1, endsLine: endsLine)
                    } else {
                        if column + 3 > lastColumn && !(column + 3 <= maxLineLength && lineEnds(after: i)) { softBreak() }
                        escape(b)
                    }
                    i += 1
                }
            }
        }

        /// Writes `=XX` with one 4-byte store (the 4th byte is overwritten later).
        @inline(__always)
        mutating func escape(_ b: UInt8) {
            UnsafeMutableRawPointer(out + o).storeBytes(of: escapes[Int(b)], as: UInt32.self)
            o += 3
            column += 3
        }

        /// Writes one byte literally (`width` 1) or as `=XX` (`width` 3), breaking the line first if needed.
        @inline(__always)
        mutating func token(_ b: UInt8, width: Int, endsLine: Bool) {
            if column + width > lastColumn && !(endsLine && column + width <= maxLineLength) { softBreak() }
            if width == 1 {
                out[o] = b
                o += 1
                column += 1
            } else {
                escape(b)
            }
        }

        /// Copies the plain bytes `p[start..<end]`, with soft breaks where lines fill up.
        /// The run may take the 76th column when `endsLine`.
        @inline(__always)
        mutating func copyRun(from start: Int, to end: Int, endsLine: Bool) {
            var s = start
            while s < end {
                let room = lastColumn - column
                let length = end - s
                if length <= room || (endsLine && length == room + 1) {
                    copy(from: s, count: length)
                    column += length
                    return
                }
                if room > 0 {
                    copy(from: s, count: room)
                    s += room
                    column += room
                }
                softBreak()
            }
        }

        /// Copies in 8-byte words; the last word may write up to 7 bytes past the run
        /// (overwritten later; the output has ``QuotedPrintable/slack`` bytes to spare).
        @inline(__always)
        mutating func copy(from s: Int, count: Int) {
            let src = UnsafeRawPointer(p + s)
            let dst = UnsafeMutableRawPointer(out + o)
            let wordsEnd = min(count, n - s - 7)  // words may start below this offset
            var k = 0
            while k < wordsEnd {
                dst.storeBytes(of: src.loadUnaligned(fromByteOffset: k, as: UInt64.self), toByteOffset: k, as: UInt64.self)
                k += 8
            }
            while k < count {
                dst.storeBytes(of: src.load(fromByteOffset: k, as: UInt8.self), toByteOffset: k, as: UInt8.self)
                k += 1
            }
            o += count
        }
    }

    /// Convenience for tests and small inputs.
    static func encode(_ bytes: [UInt8], endsWithSoftBreak: Bool = false) -> [UInt8] {
        let bound = maxEncodedSize(count: bytes.count, escapes: bytes.count, bareBreaks: bytes.count, lines: bytes.count + 1)
        return bytes.withUnsafeBufferPointer { input in
            [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
                count = encode(input, into: buffer.baseAddress!, endsWithSoftBreak: endsWithSoftBreak)
            }
        }
    }
}
