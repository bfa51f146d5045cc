import Foundation

/// Why ``Punycode/toASCII(domain:)`` could not convert a domain.
public struct PunycodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Plain-English explanation, e.g. "domain 'a..b' has an empty label".
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Punycode (RFC 3492 Bootstring) and a small IDNA-style domain conversion.
///
/// `encode`/`decode` work on a single label *without* the `xn--` prefix
/// (`"bücher"` ⇄ `"bcher-kva"`). `toASCII(domain:)` converts a whole domain:
/// it maps the ideographic full stops (U+3002, U+FF0E, U+FF61) to `.`,
/// lowercases, NFC-normalizes (`precomposedStringWithCanonicalMapping`) and
/// replaces every non-ASCII label with `xn--` + its Punycode.
///
/// This is not a full UTS #46 / IDNA2008 implementation: it performs no
/// mapping tables, bidi or contextual rules. Hostname rules (LDH, lengths)
/// are enforced by ``EmailAddress``.
public enum Punycode {
    /// The ACE prefix that marks a Punycode label in DNS.
    public static let acePrefix = "xn--"

    // RFC 3492 section 5 parameter values.
    private static let base = 36
    private static let tMin = 1
    private static let tMax = 26
    private static let skew = 38
    private static let damp = 700
    private static let initialBias = 72
    private static let initialN = 0x80
    private static let delimiter: UInt8 = 0x2D  // "-"
    /// The RFC's `maxint`: arithmetic beyond 32 bits is treated as overflow.
    private static let maxInt = Int(UInt32.max)

    /// Encodes a label to Punycode (no `xn--` prefix). Basic code points keep
    /// their case. Returns `nil` on arithmetic overflow.
    public static func encode(_ label: String) -> String? {
        let input = label.unicodeScalars.map { Int($0.value) }
        var output: [UInt8] = input.filter { $0 < initialN }.map { UInt8($0) }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append(delimiter) }

        var n = initialN
        var delta = 0
        var bias = initialBias
        while handled < input.count {
            // Smallest code point not yet handled (exists because handled < count).
            guard let m = input.filter({ $0 >= n }).min() else { return nil }
            guard m - n <= (maxInt - delta) / (handled + 1) else { return nil }
            delta += (m - n) * (handled + 1)
            n = m
            for c in input {
                if c < n {
                    delta += 1
                    if delta > maxInt { return nil }
                }
                guard c == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = threshold(k, bias)
                    if q < t { break }
                    output.append(digitCharacter(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digitCharacter(q))
                bias = adapt(delta, handled + 1, firstTime: handled == basicCount)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes a Punycode label (no `xn--` prefix). Digits are accepted in
    /// either case. Returns `nil` for malformed input, overflow, or code
    /// points that are not Unicode scalars (e.g. surrogates).
    public static func decode(_ encoded: String) -> String? {
        let input = Array(encoded.utf8)
        guard input.allSatisfy({ $0 < 0x80 }) else { return nil }
        let basicEnd = input.lastIndex(of: delimiter) ?? 0
        var output: [Int] = input[..<basicEnd].map { Int($0) }

        var n = initialN
        var i = 0
        var bias = initialBias
        var position = basicEnd > 0 ? basicEnd + 1 : 0
        while position < input.count {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard position < input.count,
                    let digit = digitValue(input[position])
                else { return nil }
                position += 1
                guard digit <= (maxInt - i) / w else { return nil }
                i += digit * w
                let t = threshold(k, bias)
                if digit < t { break }
                guard w <= maxInt / (base - t) else { return nil }
                w *= base - t
                k += base
            }
            let length = output.count + 1
            bias = adapt(i - oldI, length, firstTime: oldI == 0)
            guard i / length <= maxInt - n else { return nil }
            n += i / length
            i %= length
            guard n <= 0x10FFFF, Unicode.Scalar(UInt32(n)) != nil else { return nil }
            output.insert(n, at: i)
            i += 1
        }
        var result = String.UnicodeScalarView()
        for value in output {
            guard let scalar = Unicode.Scalar(UInt32(value)) else { return nil }
            result.append(scalar)
        }
        return String(result)
    }

    /// Converts a domain to its ASCII (`xn--`) form. ASCII labels are only
    /// lowercased; non-ASCII labels are Punycode-encoded with the prefix.
    /// Throws if the domain is empty, has an empty label, or a label cannot
    /// be encoded. A trailing root dot (`example.com.`) counts as an empty label.
    public static func toASCII(domain: String) throws(PunycodeError) -> String {
        let normalized = normalize(domain: domain)
        guard !normalized.isEmpty else { throw PunycodeError("domain is empty") }
        var labels: [String] = []
        for label in normalized.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else {
                throw PunycodeError("domain '\(normalized)' has an empty label")
            }
            if label.allSatisfy(\.isASCII) {
                labels.append(String(label))
            } else if let encoded = encode(String(label)) {
                labels.append(acePrefix + encoded)
            } else {
                throw PunycodeError("domain label '\(String(label))' cannot be encoded as punycode")
            }
        }
        return labels.joined(separator: ".")
    }

    /// Converts `xn--` labels back to Unicode for display. Labels that are not
    /// valid Punycode are left unchanged; the result is lowercased.
    public static func toUnicode(domain: String) -> String {
        normalize(domain: domain).unicodeScalars
            .split(separator: ".", omittingEmptySubsequences: false)
            .map { scalars -> String in
                let label = String(scalars)
                guard label.hasPrefix(acePrefix),
                    let decoded = decode(String(label.dropFirst(acePrefix.count)))
                else { return String(label) }
                return decoded
            }
            .joined(separator: ".")
    }

    /// Maps ideographic full stops to ".", lowercases and NFC-normalizes.
    static func normalize(domain: String) -> String {
        var mapped = String.UnicodeScalarView()
        for scalar in domain.unicodeScalars {
            switch scalar.value {
            case 0x3002, 0xFF0E, 0xFF61: mapped.append(".")
            default: mapped.append(scalar)
            }
        }
        return String(mapped).lowercased().precomposedStringWithCanonicalMapping
    }

    /// Non-ASCII allowed in an IDN label: letters, combining marks and numbers.
    static func isLabelLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark,
            .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// Letter-digit-hyphen: the ASCII allowed in a lowercased hostname label.
    static func isLDH(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("0"..."9").contains(s) || s == "-"
    }

    /// Allowed in a lowercased Unicode label: LDH or a non-ASCII letter/mark/number.
    static func isLabelScalar(_ s: Unicode.Scalar) -> Bool {
        s.isASCII ? isLDH(s) : isLabelLetter(s)
    }

    // MARK: - RFC 3492 helpers

    private static func threshold(_ k: Int, _ bias: Int) -> Int {
        if k <= bias { return tMin }
        if k >= bias + tMax { return tMax }
        return k - bias
    }

    /// Bias adaptation function (RFC 3492 section 6.1).
    private static func adapt(_ delta: Int, _ numPoints: Int, firstTime: Bool) -> Int {
        var delta = firstTime ? delta / damp : delta / 2
        delta += delta / numPoints
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    /// 0–25 → "a"–"z", 26–35 → "0"–"9".
    private static func digitCharacter(_ digit: Int) -> UInt8 {
        digit < 26 ? UInt8(0x61 + digit) : UInt8(0x30 + digit - 26)
    }

    private static func digitValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte) - 0x30 + 26
        case 0x41...0x5A: return Int(byte) - 0x41
        case 0x61...0x7A: return Int(byte) - 0x61
        default: return nil
        }
    }
}
