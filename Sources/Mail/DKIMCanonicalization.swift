import Crypto
import Foundation

/// DKIM "relaxed" canonicalization (RFC 6376 §3.4.2 and §3.4.4), on bytes.
///
/// Only the relaxed algorithms are implemented: they survive the whitespace
/// rewriting and refolding that relays commonly do, and Facteur always signs with
/// `c=relaxed/relaxed`.
public enum DKIMCanonicalization {
    private static let sp: UInt8 = 0x20, tab: UInt8 = 0x09, cr: UInt8 = 0x0D, lf: UInt8 = 0x0A

    // MARK: Header (§3.4.2)

    /// The relaxed form of one header field, `name:value`, **without** a trailing CRLF:
    /// the name lowercased with surrounding whitespace removed; the value unfolded
    /// (every CR and LF deleted), each run of SP/HTAB reduced to one SP, and
    /// whitespace at its start and end deleted. `value` is everything after the colon as it
    /// appears on the wire, folding included.
    public static func relaxedHeader(name: String, value: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count + value.utf8.count + 1)
        appendRelaxedHeader(name: name, value: value, to: &out)
        return out
    }

    /// Appends ``relaxedHeader(name:value:)`` to `out` (no CRLF).
    public static func appendRelaxedHeader(name: String, value: String, to out: inout [UInt8]) {
        _ = appendCheckedRelaxedHeader(name: name, value: value, to: &out)
    }

    /// ``appendRelaxedHeader(name:value:to:)``, returning whether `value` is well-formed
    /// (see the overload on buffers).
    static func appendCheckedRelaxedHeader(name: String, value: String, to out: inout [UInt8]) -> Bool {
        var name = name
        var value = value  // withUTF8 needs them mutable (it may make them native)
        return name.withUTF8 { name in value.withUTF8 { appendRelaxedHeader(name: name, value: $0, to: &out) } }
    }

    /// Appends the relaxed form of a field and returns whether `value` is well-formed: every
    /// CR or LF in it part of folding (CRLF followed by SP or HTAB) and no NUL. A field that
    /// is not would be read differently by a verifier than it was signed.
    static func appendRelaxedHeader(
        name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]
    ) -> Bool {
        let needed = out.count + name.count + value.count + 1
        if out.capacity < needed { out.reserveCapacity(max(needed, 2 * out.capacity)) }
        var start = 0
        var end = name.count
        while start < end && (name[start] == sp || name[start] == tab) { start += 1 }
        while end > start && (name[end - 1] == sp || name[end - 1] == tab) { end -= 1 }
        for i in start..<end {
            let byte = name[i]
            out.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte)
        }
        out.append(0x3A)  // ":"
        var wellFormed = true
        var pendingSpace = false
        var started = false
        for i in 0..<value.count {
            let byte = value[i]
            switch byte {
            case cr:  // unfold
                wellFormed = wellFormed && i + 2 < value.count && value[i + 1] == lf && (value[i + 2] == sp || value[i + 2] == tab)
            case lf:
                wellFormed = wellFormed && i > 0 && value[i - 1] == cr
            case sp, tab:
                pendingSpace = started
            default:
                if pendingSpace {
                    out.append(sp)
                    pendingSpace = false
                }
                out.append(byte)
                started = true
                if byte == 0 { wellFormed = false }
            }
        }
        return wellFormed
    }

    // MARK: Body (§3.4.4)

    /// The relaxed form of a message body: in every line each run of SP/HTAB is reduced
    /// to one SP and whitespace at the end of the line is deleted; all empty lines at the
    /// end of the body are deleted; a non-empty body that lacks a final CRLF gets one.
    ///
    /// An empty body (or one made only of empty/blank lines) canonicalizes to **zero
    /// bytes**, not to a CRLF: the CRLF rule of §3.4.4 applies to non-empty bodies only
    /// (the CRLF for an empty body is the *simple* algorithm's, §3.4.3). dkimpy, OpenDKIM
    /// and the big receivers agree: `bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.
    ///
    /// Lines end at CRLF only; a bare CR or LF is ordinary line content.
    public static func relaxedBody(_ body: some Sequence<UInt8>) -> [UInt8] {
        if let result = body.withContiguousStorageIfAvailable({ relaxedBody(buffer: $0) }) {
            return result
        }
        return Array(body).withUnsafeBufferPointer { relaxedBody(buffer: $0) }
    }

    /// SHA-256 of the relaxed body: the raw bytes behind DKIM's `bh=` tag.
    public static func relaxedBodyHash(_ body: some Sequence<UInt8>) -> [UInt8] {
        Array(SHA256.hash(data: relaxedBody(body)))
    }

    private static let allSP: UInt64 = 0x2020_2020_2020_2020, allTab: UInt64 = 0x0909_0909_0909_0909

    /// 0x80 in every byte of `x` that is zero, 0 elsewhere (exact, no carries between bytes).
    @inline(__always)
    private static func zeroBytes(_ x: UInt64) -> UInt64 {
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        return ~(((x & low7) &+ low7) | x | low7)
    }

    // Line by line: find the CRLF (memchr), drop the line's trailing whitespace, count empty
    // lines instead of writing them until a non-empty line follows, and copy the rest into
    // a buffer that is never reallocated (the output is at most the input plus one CRLF),
    // eight bytes at a time where nothing changes, byte by byte around whitespace runs.
    private static func relaxedBody(buffer input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let count = input.count
        guard count > 0, let base = input.baseAddress else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count + 2) { buffer, written in
            let out = buffer.baseAddress!
            var w = 0
            var pendingEmptyLines = 0
            var lineStart = 0
            while lineStart < count {
                // The end of this line: the next CRLF, or the end of the body.
                var lineEnd = count
                var next = count
                var search = lineStart
                while search < count, let found = memchr(base + search, Int32(lf), count - search) {
                    let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    if at > lineStart && base[at - 1] == cr {
                        lineEnd = at - 1
                        next = at + 1
                        break
                    }
                    search = at + 1
                }
                var end = lineEnd
                while end > lineStart && (base[end - 1] == sp || base[end - 1] == tab) { end -= 1 }
                if end == lineStart {
                    pendingEmptyLines += 1
                    lineStart = next
                    continue
                }
                while pendingEmptyLines > 0 {
                    out[w] = cr
                    out[w + 1] = lf
                    w += 2
                    pendingEmptyLines -= 1
                }
                var i = lineStart
                while i < end {
                    // Eight bytes at a time while they hold no TAB and no two WSP in a row
                    // (looking one byte past them): such bytes are copied unchanged.
                    if i + 9 <= end {
                        let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                        let shifted = UnsafeRawPointer(base + i + 1).loadUnaligned(as: UInt64.self)
                        let tabs = zeroBytes(word ^ allTab)
                        if tabs | ((zeroBytes(word ^ allSP) | tabs) & (zeroBytes(shifted ^ allSP) | zeroBytes(shifted ^ allTab))) == 0 {
                            UnsafeMutableRawPointer(out + w).storeBytes(of: word, as: UInt64.self)
                            w += 8
                            i += 8
                            continue
                        }
                    }
                    let byte = base[i]
                    i += 1
                    if byte == sp || byte == tab {
                        // The line ends in a non-WSP byte, so every run here is followed by one.
                        while base[i] == sp || base[i] == tab { i += 1 }
                        out[w] = sp
                    } else {
                        out[w] = byte
                    }
                    w += 1
                }
                out[w] = cr
                out[w + 1] = lf
                w += 2
                lineStart = next
            }
            written = w
        }
    }
}
