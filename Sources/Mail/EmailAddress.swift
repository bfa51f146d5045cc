import Foundation

/// A validated mailbox address (`local@domain`) following a practical subset
/// of RFC 5321/5322 with RFC 6531 (SMTPUTF8) local parts and IDN domains.
///
/// Rules applied by ``init(_:)``:
/// - Surrounding spaces are trimmed. CR, LF and TAB are *not* trimmed: any
///   control character (U+0000–U+001F, U+007F–U+009F, U+2028, U+2029)
///   anywhere is rejected, which blocks header injection.
/// - Exactly one `@`. Quoted local parts (`"john doe"@example.com`) and
///   address literals (`user@[1.2.3.4]`) are rejected.
/// - Local part: dot-atom of RFC 5322 `atext` plus printable non-ASCII (no
///   spaces, bidi/format characters or private use), no leading, trailing or
///   doubled dot, 1–64 UTF-8 octets. It is NFC-normalized but its case is kept
///   (local parts are case-sensitive per RFC 5321).
/// - Domain: lowercased and NFC-normalized (。．｡ count as dots); at least two
///   labels; non-ASCII labels may hold letters, marks and digits only (no emoji);
///   each label is 1–63 octets of `[a-z0-9-]` in its ASCII (Punycode) form and
///   does not start or end with `-`; the top-level label is not all digits;
///   the ASCII domain is ≤ 253 octets.
///   `xn--` labels must be valid Punycode and are shown decoded in ``domain``.
/// - The whole address (Unicode and ASCII forms) is at most 254 octets.
///
/// Equality and hashing compare the normalized parts, so
/// `"Ann@Bücher.DE"` equals `"Ann@xn--bcher-kva.de"` but not `"ann@bücher.de"`.
/// Encodes/decodes as a single JSON string; decoding validates.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible, Codable {
    /// Limits in UTF-8 octets: local part, ASCII domain, one label, whole address.
    public static let maxLocalPartLength = 64, maxDomainLength = 253, maxLabelLength = 63, maxLength = 254

    /// The part before `@`, NFC-normalized, case preserved.
    public let localPart: String
    /// The domain in lowercased Unicode (NFC) form, e.g. `bücher.de`.
    public let domain: String
    /// The domain in ASCII form with `xn--` labels, e.g. `xn--bcher-kva.de`.
    public let asciiDomain: String

    /// Parses and validates `raw`, throwing an error that says what is wrong.
    public init(_ raw: String) throws(EmailAddressError) {
        // Most addresses are plain ASCII: check those byte by byte (an import validates millions).
        // Anything unusual — non-ASCII, xn-- labels, any mistake — takes the full path below,
        // which gives the same result for valid input and the precise message for invalid input.
        if let fast = Self.plainASCII(raw) {
            self = fast
            return
        }
        let text = Self.trimmingSpaces(raw)
        guard !text.isEmpty else { throw .init(.empty) }
        // Cheap guard before any heavier work on absurdly long input.
        guard text.utf8.count <= 4 * Self.maxLength else { throw .init(.tooLong(octets: text.utf8.count)) }
        if let control = text.unicodeScalars.first(where: Self.isControl) {
            throw .init(.controlCharacter(control))
        }
        if text.unicodeScalars.first == "\"" { throw .init(.quotedLocalPart) }

        let parts = text.unicodeScalars.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count > 1 else { throw .init(.missingAt) }
        guard parts.count == 2 else { throw .init(.multipleAt) }
        let rawLocal = String(parts[0])
        let rawDomain = String(parts[1])
        guard !rawLocal.isEmpty else { throw .init(.emptyLocalPart) }
        guard !rawDomain.isEmpty else { throw .init(.emptyDomain) }
        if rawDomain.unicodeScalars.first == "[" { throw .init(.addressLiteral(rawDomain)) }

        let local = try Self.validateLocalPart(rawLocal)
        let (domain, asciiDomain) = try Self.validateDomain(rawDomain)
        let octets = local.utf8.count + 1 + max(domain.utf8.count, asciiDomain.utf8.count)
        guard octets <= Self.maxLength else { throw .init(.tooLong(octets: octets)) }

        self.localPart = local
        self.domain = domain
        self.asciiDomain = asciiDomain
    }

    /// `localPart@domain` with the Unicode domain.
    public var value: String { localPart + "@" + domain }
    /// `localPart@asciiDomain`; still UTF-8 if the local part is not ASCII.
    public var asciiValue: String { localPart + "@" + asciiDomain }
    /// `true` when the local part is ASCII. When `false`, sending requires
    /// the SMTPUTF8 extension (RFC 6531).
    public var isASCII: Bool { localPart.unicodeScalars.allSatisfy(\.isASCII) }
    public var description: String { value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            try self.init(raw)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "invalid email address: \(error.message)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    private init(localPart: String, domain: String, asciiDomain: String) {
        self.localPart = localPart
        self.domain = domain
        self.asciiDomain = asciiDomain
    }

    /// A valid all-ASCII address without `xn--` labels, or nil to take the full path.
    private static func plainASCII(_ raw: String) -> EmailAddress? {
        let utf8 = raw.utf8
        guard utf8.count <= maxLength else { return nil }
        var at: String.UTF8View.Index?
        for index in utf8.indices where utf8[index] == UInt8(ascii: "@") {
            guard at == nil else { return nil }
            at = index
        }
        guard let at else { return nil }
        let localBytes = utf8[..<at]
        let domainBytes = utf8[utf8.index(after: at)...]
        guard (1...maxLocalPartLength).contains(localBytes.count), (1...maxDomainLength).contains(domainBytes.count) else { return nil }
        var previous: UInt8 = UInt8(ascii: ".")
        for byte in localBytes {
            if byte == UInt8(ascii: ".") {
                guard previous != UInt8(ascii: ".") else { return nil }
            } else {
                guard asciiAtext[Int(byte & 0x7F)], byte < 0x80 else { return nil }
            }
            previous = byte
        }
        guard previous != UInt8(ascii: ".") else { return nil }
        var domain: [UInt8] = []
        domain.reserveCapacity(domainBytes.count)
        var labelStart = 0
        var labels = 0
        var labelAllDigits = true
        for byte in domainBytes {
            if byte == UInt8(ascii: ".") {
                guard domain.count > labelStart, domain.last != UInt8(ascii: "-"), domain.count - labelStart <= maxLabelLength else {
                    return nil
                }
                if domain.count - labelStart >= 4, domain[labelStart + 2] == UInt8(ascii: "-"), domain[labelStart + 3] == UInt8(ascii: "-")
                {
                    return nil
                }
                labels += 1
                domain.append(byte)
                labelStart = domain.count
                labelAllDigits = true
                continue
            }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
            let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(lower)
            guard
                isDigit || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lower)
                    || (lower == UInt8(ascii: "-") && domain.count > labelStart)
            else {
                return nil
            }
            labelAllDigits = labelAllDigits && isDigit
            domain.append(lower)
        }
        let last = domain.count - labelStart
        guard last > 0, last <= maxLabelLength, domain.last != UInt8(ascii: "-"), labels >= 1, !labelAllDigits else { return nil }
        if last >= 4, domain[labelStart + 2] == UInt8(ascii: "-"), domain[labelStart + 3] == UInt8(ascii: "-") { return nil }
        let domainText = String(decoding: domain, as: UTF8.self)
        return EmailAddress(localPart: String(Substring(localBytes)), domain: domainText, asciiDomain: domainText)
    }

    /// RFC 5322 `atext` for ASCII: letters, digits and the punctuation of `atextPunctuation`.
    private static let asciiAtext: [Bool] = (0..<128).map { code in
        let scalar = Unicode.Scalar(UInt8(code))
        return ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            || "!#$%&'*+-/=?^_`{|}~".unicodeScalars.contains(scalar)
    }

    // MARK: - Validation

    private static func trimmingSpaces(_ raw: String) -> String {
        let isSpace = { (s: Unicode.Scalar) in s.properties.generalCategory == .spaceSeparator }
        var scalars = Substring(raw).unicodeScalars[...]
        while let first = scalars.first, isSpace(first) { scalars.removeFirst() }
        while let last = scalars.last, isSpace(last) { scalars.removeLast() }
        return String(scalars)
    }

    private static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
    }

    /// RFC 5322 `atext` punctuation (letters and digits are checked separately).
    private static let atextPunctuation = Set("!#$%&'*+-/=?^_`{|}~".unicodeScalars)

    private static func validateLocalPart(_ raw: String) throws(EmailAddressError) -> String {
        let local = raw.precomposedStringWithCanonicalMapping
        for s in local.unicodeScalars where s != "." {
            let ok =
                s.isASCII
                ? (s.properties.isAlphabetic || ("0"..."9").contains(s) || atextPunctuation.contains(s))
                : isAllowedNonASCIILocal(s)
            guard ok else { throw .init(.invalidLocalCharacter(s)) }
        }
        let scalars = Array(local.unicodeScalars)
        if scalars.first == "." { throw .init(.localPartLeadingDot) }
        if scalars.last == "." { throw .init(.localPartTrailingDot) }
        if zip(scalars, scalars.dropFirst()).contains(where: { $0 == "." && $1 == "." }) {
            throw .init(.localPartConsecutiveDots)
        }
        let octets = local.utf8.count
        guard octets <= maxLocalPartLength else { throw .init(.localPartTooLong(octets: octets)) }
        return local
    }

    /// Non-ASCII in a local part: anything printable, but no spaces, format
    /// characters (bidi overrides, except ZWNJ/ZWJ), private-use or unassigned.
    private static func isAllowedNonASCIILocal(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .control,
            .privateUse, .surrogate, .unassigned:
            return false
        case .format:
            return s.value == 0x200C || s.value == 0x200D
        default:
            return true
        }
    }

    private static func validateDomain(_ raw: String) throws(EmailAddressError) -> (String, String) {
        let normalized = Punycode.normalize(domain: raw)
        let labels = normalized.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false)
        if labels.contains(where: \.isEmpty) { throw .init(.domainEmptyLabel(domain: normalized)) }
        var unicodeLabels: [String] = []
        var asciiLabels: [String] = []
        for label in labels {
            let (unicode, ascii) = try validateLabel(String(label))
            unicodeLabels.append(unicode)
            asciiLabels.append(ascii)
        }
        let domain = unicodeLabels.joined(separator: ".")
        guard labels.count >= 2 else { throw .init(.domainNeedsDot(domain)) }
        let tld = asciiLabels[asciiLabels.count - 1]
        if tld.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) {
            throw .init(.numericTopLevelDomain(tld))
        }
        let asciiDomain = asciiLabels.joined(separator: ".")
        let octets = asciiDomain.utf8.count
        guard octets <= maxDomainLength else { throw .init(.domainTooLong(octets: octets)) }
        return (domain, asciiDomain)
    }

    /// Returns the (Unicode, ASCII) forms of one already-normalized label.
    private static func validateLabel(_ label: String) throws(EmailAddressError) -> (String, String) {
        var unicode = label
        let ascii: String
        if label.unicodeScalars.allSatisfy(\.isASCII) {
            if let bad = label.unicodeScalars.first(where: { !Punycode.isLDH($0) }) {
                throw .init(.labelInvalidCharacter(label: label, character: bad))
            }
            if label.hasPrefix(Punycode.acePrefix) {
                let body = String(label.dropFirst(Punycode.acePrefix.count))
                guard let decoded = Punycode.decode(body),
                    !decoded.unicodeScalars.allSatisfy(\.isASCII),
                    Punycode.encode(decoded) == body,
                    Punycode.normalize(domain: decoded).unicodeScalars.elementsEqual(decoded.unicodeScalars),
                    decoded.unicodeScalars.allSatisfy(Punycode.isLabelScalar)
                else { throw .init(.invalidPunycode(label: label)) }
                unicode = decoded
            }
            ascii = label
        } else {
            if let bad = label.unicodeScalars.first(where: { !Punycode.isLabelScalar($0) }) {
                throw .init(.labelInvalidCharacter(label: label, character: bad))
            }
            guard let encoded = Punycode.encode(label) else { throw .init(.invalidPunycode(label: label)) }
            ascii = Punycode.acePrefix + encoded
        }
        if unicode.unicodeScalars.first == "-" || unicode.unicodeScalars.last == "-" {
            throw .init(.labelHyphenEdge(label: unicode))
        }
        let octets = ascii.utf8.count
        guard octets <= maxLabelLength else { throw .init(.labelTooLong(label: label, octets: octets)) }
        return (unicode, ascii)
    }
}

/// Why a string is not an acceptable ``EmailAddress``.
/// ``message`` (also ``description``) says what is wrong in plain English.
public struct EmailAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The specific rule that failed.
    public enum Reason: Sendable, Equatable {
        case empty, missingAt, multipleAt, quotedLocalPart, emptyLocalPart, emptyDomain
        case tooLong(octets: Int)
        case controlCharacter(Unicode.Scalar)
        case localPartTooLong(octets: Int)
        case localPartLeadingDot, localPartTrailingDot, localPartConsecutiveDots
        case invalidLocalCharacter(Unicode.Scalar)
        case addressLiteral(String)
        case domainEmptyLabel(domain: String)
        case domainNeedsDot(String)
        case domainTooLong(octets: Int)
        case labelInvalidCharacter(label: String, character: Unicode.Scalar)
        case labelHyphenEdge(label: String)
        case labelTooLong(label: String, octets: Int)
        case invalidPunycode(label: String)
        case numericTopLevelDomain(String)
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { message }

    public var message: String {
        switch reason {
        case .empty: "address is empty"
        case .missingAt: "missing '@'"
        case .multipleAt: "contains more than one '@'"
        case .quotedLocalPart: "quoted local parts (\"...\"@domain) are not supported"
        case .emptyLocalPart: "local part before '@' is empty"
        case .emptyDomain: "domain after '@' is empty"
        case .tooLong(let n): "address is longer than \(EmailAddress.maxLength) octets (\(n))"
        case .controlCharacter(let s): "contains a control character (\(Self.controlName(s)))"
        case .localPartTooLong(let n):
            "local part is longer than \(EmailAddress.maxLocalPartLength) octets (\(n))"
        case .localPartLeadingDot: "local part starts with a dot"
        case .localPartTrailingDot: "local part ends with a dot"
        case .localPartConsecutiveDots: "local part contains consecutive dots ('..')"
        case .invalidLocalCharacter(let s): "local part contains \(Self.quote(s))"
        case .addressLiteral(let d):
            "address literal '\(Self.escaped(d))' is not supported; use a domain name"
        case .domainEmptyLabel(let d):
            "domain '\(Self.escaped(d))' "
                + (d.unicodeScalars.first == "."
                    ? "starts with a dot"
                    : d.unicodeScalars.last == "." ? "ends with a dot" : "contains consecutive dots")
        case .domainNeedsDot(let d): "domain '\(Self.escaped(d))' needs a dot"
        case .domainTooLong(let n): "domain is longer than \(EmailAddress.maxDomainLength) octets (\(n))"
        case .labelInvalidCharacter(let label, let s):
            "domain label '\(Self.escaped(label))' contains \(Self.quote(s))"
        case .labelHyphenEdge(let label):
            "domain label '\(Self.escaped(label))' \(label.hasPrefix("-") ? "starts" : "ends") with a hyphen"
        case .labelTooLong(let label, let n):
            "domain label '\(Self.escaped(String(label.prefix(16))))…' is longer than "
                + "\(EmailAddress.maxLabelLength) octets (\(n))"
        case .invalidPunycode(let label): "domain label '\(Self.escaped(label))' is not valid punycode"
        case .numericTopLevelDomain(let tld): "top-level domain '\(tld)' is all digits"
        }
    }

    private static func controlName(_ s: Unicode.Scalar) -> String {
        switch s.value {
        case 0x0D, 0x0A: "CR/LF"
        case 0x00: "NUL"
        case 0x09: "TAB"
        case 0x7F: "DEL"
        default: hex(s)
        }
    }

    /// Names a rejected character; invisible ones are shown only as `U+XXXX`.
    private static func quote(_ s: Unicode.Scalar) -> String {
        if s == " " { return "a space" }
        if s.isASCII { return "'\(s)'" }
        return isVisible(s) ? "'\(s)' (\(hex(s)))" : hex(s)
    }

    /// Replaces invisible characters (e.g. bidi overrides) so messages are safe to log.
    private static func escaped(_ text: String) -> String {
        text.unicodeScalars.map { isVisible($0) ? String($0) : "<\(hex($0))>" }.joined()
    }

    private static func isVisible(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            false
        case .spaceSeparator: s == " "
        default: true
        }
    }

    private static func hex(_ s: Unicode.Scalar) -> String {
        let digits = String(s.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
