/// The Content-Transfer-Encoding of a text part.
enum TransferEncoding: String, Sendable {
    case sevenBit = "7bit"
    case quotedPrintable = "quoted-printable"
    case base64 = "base64"
}

/// Chooses and applies the transfer encoding of one text body.
///
/// Line breaks are normalized to CRLF in every encoding (bare LF and bare CR count as
/// line breaks), so base64 carries the canonical form RFC 2045 asks for.
struct BodyEncoder {
    let input: UnsafeBufferPointer<UInt8>
    let encoding: TransferEncoding
    /// Upper bound of ``encode(into:endsWithSoftBreak:)``'s output.
    let maxEncodedSize: Int
    /// Lone CR or LF bytes that become CRLF.
    private let bareBreaks: Int

    /// Longest line (without CRLF) sent as 7bit; longer lines go quoted-printable.
    static let maxSevenBitLine = 78
    /// Base64 line length (RFC 2045 maximum) and the input bytes it holds.
    static let base64LineLength = 76, base64LineInput = 57

    init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        let n = input.count
        var scan = Scan(n: n)
        if let p = input.baseAddress {
            // 8 bytes at a time; the tail is padded with "A"s.
            let raw = UnsafeRawPointer(p)
            var i = 0
            while i + 16 <= n {
                scan.word(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)), at: i, p)
                scan.word(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)), at: i + 8, p)
                i += 16
            }
            while i < n {
                var w: UInt64 = 0x4141_4141_4141_4141
                withUnsafeMutableBytes(of: &w) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(start: p + i, count: min(8, n - i)))
                }
                scan.word(UInt64(littleEndian: w), at: i, p)
                i += 8
            }
            scan.flush()
        }
        let (unsafe7, equals, bare, lines) = (scan.unsafe7, scan.equals, scan.bare, scan.lines)
        let longest = max(scan.longest, n - scan.lineStart)
        bareBreaks = bare
        if unsafe7 == 0 && longest <= Self.maxSevenBitLine {
            encoding = .sevenBit
            maxEncodedSize = n + bare + 2
            return
        }
        let qp = QuotedPrintable.maxEncodedSize(count: n, escapes: unsafe7 + equals, bareBreaks: bare, lines: lines)
        let b64 = Self.base64Size(n + bare)
        // The QP bound counts a possible `=20` at every line end; compare typical sizes.
        let qpTypical = n + 2 * (unsafe7 + equals) + bare + 3 * (n / 72)
        if qpTypical <= b64 {
            encoding = .quotedPrintable
            maxEncodedSize = qp + 3
        } else {
            encoding = .base64
            maxEncodedSize = b64 + 2
        }
    }

    /// Encoded size of `count` bytes in base64 lines joined by CRLF (no final CRLF).
    static func base64Size(_ count: Int) -> Int {
        let chars = (count + 2) / 3 * 4
        return chars + 2 * max(0, (chars + base64LineLength - 1) / base64LineLength - 1)
    }

    /// Writes the encoded body, without a final CRLF of its own (a multipart delimiter
    /// or the caller supplies it), and returns the number of bytes written.
    func encode(into out: UnsafeMutablePointer<UInt8>, endsWithSoftBreak: Bool = false) -> Int {
        switch encoding {
        case .sevenBit:
            return Self.copyNormalizingLineBreaks(input, into: out)
        case .quotedPrintable:
            return QuotedPrintable.encode(input, into: out, endsWithSoftBreak: endsWithSoftBreak)
        case .base64:
            if bareBreaks == 0 { return Self.base64(input, into: out) }
            let normalized = [UInt8](unsafeUninitializedCapacity: input.count + bareBreaks) { buffer, count in
                count = Self.copyNormalizingLineBreaks(input, into: buffer.baseAddress!)
            }
            return normalized.withUnsafeBufferPointer { Self.base64($0, into: out) }
        }
    }

    /// Whether the body's last byte is a line break.
    var endsWithLineBreak: Bool { input.last == 0x0A || input.last == 0x0D }

    /// Copies `input`, turning bare CR and bare LF into CRLF.
    static func copyNormalizingLineBreaks(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int {
        guard let p = input.baseAddress else { return 0 }
        let n = input.count
        var i = 0
        var o = 0
        var runStart = 0
        while i < n {
            let b = p[i]
            if b != 0x0D && b != 0x0A {
                i += 1
                continue
            }
            if b == 0x0D, i + 1 < n, p[i + 1] == 0x0A {
                i += 2
                continue
            }
            // A bare CR or LF: flush the run before it, then write CRLF.
            (out + o).update(from: p + runStart, count: i - runStart)
            o += i - runStart
            out[o] = 0x0D
            out[o + 1] = 0x0A
            o += 2
            i += 1
            runStart = i
        }
        (out + o).update(from: p + runStart, count: n - runStart)
        return o + n - runStart
    }

    private static let base64Digits: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Base64 in lines of 76 characters joined by CRLF, no final CRLF.
    static func base64(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int {
        guard let p = input.baseAddress else { return 0 }
        return base64Digits.withUnsafeBufferPointer { table in
            let d = table.baseAddress!
            let n = input.count
            var i = 0
            var o = 0
            var lineBytes = 0
            while i + 3 <= n {
                if lineBytes == base64LineInput {
                    out[o] = 0x0D
                    out[o + 1] = 0x0A
                    o += 2
                    lineBytes = 0
                }
                let group = Int(p[i]) << 16 | Int(p[i + 1]) << 8 | Int(p[i + 2])
                out[o] = d[group >> 18]
                out[o + 1] = d[group >> 12 & 63]
                out[o + 2] = d[group >> 6 & 63]
                out[o + 3] = d[group & 63]
                o += 4
                i += 3
                lineBytes += 3
            }
            let rest = n - i
            if rest > 0 {
                if lineBytes == base64LineInput {
                    out[o] = 0x0D
                    out[o + 1] = 0x0A
                    o += 2
                }
                let group = Int(p[i]) << 16 | (rest == 2 ? Int(p[i + 1]) << 8 : 0)
                out[o] = d[group >> 18]
                out[o + 1] = d[group >> 12 & 63]
                out[o + 2] = rest == 2 ? d[group >> 6 & 63] : 0x3D
                out[o + 3] = 0x3D
                o += 4
            }
            return o
        }
    }
}

/// Counts what ``BodyEncoder`` needs to choose an encoding, one 8-byte word at a time:
/// bytes not allowed in 7bit, `=` signs, line breaks (bare CR or LF counted apart) and
/// the longest line. Counts gather in byte lanes, flushed before a lane can overflow.
private struct Scan {
    let n: Int
    var unsafe7 = 0, equals = 0, bare = 0, lines = 1, longest = 0, lineStart = 0
    private var unsafeLanes: UInt64 = 0, equalsLanes: UInt64 = 0, wordsInLanes = 0

    init(n: Int) { self.n = n }

    @inline(__always)
    mutating func word(_ w: UInt64, at i: Int, _ p: UnsafePointer<UInt8>) {
        // Not 7bit: non-ASCII, DEL, ASCII controls; the controls are refined below.
        let l = w & ByteLanes.low7
        let control = ~(l &+ 0x6060_6060_6060_6060) & ~w & ByteLanes.highs  // ASCII < 0x20
        var not7bit = (w | (l &+ 0x0101_0101_0101_0101) | control) & ByteLanes.highs
        equalsLanes &+= ByteLanes.zeroBytes(w ^ 0x3D3D_3D3D_3D3D_3D3D) >> 7
        if control != 0 {
            // CR, LF and TAB are fine in 7bit; CR and LF delimit lines.
            let cr = ByteLanes.zeroBytes(w ^ 0x0D0D_0D0D_0D0D_0D0D)
            let lf = ByteLanes.zeroBytes(w ^ 0x0A0A_0A0A_0A0A_0A0A)
            let tab = ByteLanes.zeroBytes(w ^ 0x0909_0909_0909_0909)
            not7bit &= ~(cr | lf | tab)
            var breaks = cr | lf
            while breaks != 0 {
                let at = i + breaks.trailingZeroBitCount >> 3
                breaks &= breaks &- 1
                if p[at] == 0x0A && at > 0 && p[at - 1] == 0x0D {
                    lineStart = at + 1  // second half of CRLF
                    continue
                }
                longest = max(longest, at - lineStart)
                lines += 1
                lineStart = at + 1
                if p[at] == 0x0A || at + 1 == n || p[at + 1] != 0x0A { bare += 1 }
            }
        }
        unsafeLanes &+= not7bit >> 7
        wordsInLanes += 1
        if wordsInLanes == 255 { flush() }
    }

    mutating func flush() {
        unsafe7 += ByteLanes.sum(unsafeLanes)
        equals += ByteLanes.sum(equalsLanes)
        unsafeLanes = 0
        equalsLanes = 0
        wordsInLanes = 0
    }
}

/// Helpers for classifying 8 bytes at once: bit 7 of each byte of a mask marks a byte
/// in the class. Exact per byte (no carry crosses a byte).
enum ByteLanes {
    static let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, highs: UInt64 = 0x8080_8080_8080_8080

    /// Bit 7 set in each byte of `t` that is zero.
    @inline(__always)
    static func zeroBytes(_ t: UInt64) -> UInt64 { ~(((t & low7) &+ low7) | t) & highs }

    /// The sum of the 8 byte lanes of `x`.
    @inline(__always)
    static func sum(_ x: UInt64) -> Int {
        let pairs = (x & 0x00FF_00FF_00FF_00FF) &+ ((x >> 8) & 0x00FF_00FF_00FF_00FF)
        return Int((pairs &* 0x0001_0001_0001_0001) >> 48)
    }
}
