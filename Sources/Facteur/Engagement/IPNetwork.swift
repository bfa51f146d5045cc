/// An IPv4 or IPv6 address as a 128-bit number, parsed by hand so that it behaves the same on every platform.
///
/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is stored as the IPv4 address it carries, so the peers of a
/// dual-stack listener match IPv4 networks.
struct IPAddress: Hashable, Sendable {
    enum Family: Sendable { case v4, v6 }

    var family: Family
    /// The upper 64 bits; always 0 for IPv4.
    var high: UInt64
    /// The lower 64 bits; an IPv4 address is its 32 bits here.
    var low: UInt64

    init(family: Family, high: UInt64, low: UInt64) {
        self.family = family
        self.high = high
        self.low = low
    }

    /// A plain address: `192.0.2.1`, `2001:db8::1`, `::ffff:192.0.2.1`; no port, brackets or zone.
    init?(_ text: some StringProtocol) {
        guard let address = ASCIIBytes.withBytes(text, Self.parse) else { return nil }
        self = address
    }

    /// The peer address out of what an HTTP server hands over: a plain address, `192.0.2.1:port`, `[v6]`, `[v6]:port`,
    /// a zone (`fe80::1%eth0`), or SwiftNIO's `SocketAddress` description (`[IPv4]192.0.2.1:80`, `[IPv6]host/::1:80`).
    init?(peer text: String) {
        guard let address = ASCIIBytes.withBytes(text, Self.parsePeer) else { return nil }
        self = address
    }

    static func parsePeer(_ whole: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        var text = whole.trimmingSpaces()
        var hasPort = false
        if text.hasPrefix("[IPv4]") || text.hasPrefix("[IPv6]") {
            text = text.slice(6)
            if let slash = text.lastIndex(of: UInt8(ascii: "/")) { text = text.slice(slash + 1) }
            hasPort = true
        } else if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let after = text.slice(close + 1)
            guard after.isEmpty || (after.first == UInt8(ascii: ":") && after.slice(1).isAllDigits) else { return nil }
            text = text.slice(1, close)
        } else if let colon = text.firstIndex(of: UInt8(ascii: ":")), colon == text.lastIndex(of: UInt8(ascii: ":")) {
            hasPort = true
        }
        if hasPort, let colon = text.lastIndex(of: UInt8(ascii: ":")), text.slice(colon + 1).isAllDigits {
            text = text.slice(0, colon)
        }
        if let percent = text.firstIndex(of: UInt8(ascii: "%")) { text = text.slice(0, percent) }
        return parse(text)
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if let v4 = parseIPv4(bytes) { return IPAddress(family: .v4, high: 0, low: UInt64(v4)) }
        guard let (high, low) = parseIPv6(bytes) else { return nil }
        if high == 0, low >> 32 == 0xFFFF { return IPAddress(family: .v4, high: 0, low: low & 0xFFFF_FFFF) }
        return IPAddress(family: .v6, high: high, low: low)
    }

    /// Four decimal parts of 0–255 without leading zeros (which some parsers read as octal).
    static func parseIPv4(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | part
                dots += 1
                part = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                guard !(digits == 1 && part == 0) else { return nil }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | part
    }

    /// Eight groups of one to four hex digits, or fewer around a single `::`; the last two may be a dotted IPv4.
    static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        // Groups before `::` go into `head`, groups after it into `tail`; each shifts in 16 bits from the right.
        var head = UInt128Parts()
        var tail = UInt128Parts()
        var compressed = false
        var index = 0
        let count = bytes.count
        guard count >= 2 else { return nil }
        if bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            compressed = true
            index = 2
        }
        while index < count {
            let start = index
            var group: UInt16 = 0
            while index < count, let digit = hexValue(bytes[index]) {
                guard index - start < 4 else { return nil }
                group = group << 4 | UInt16(digit)
                index += 1
            }
            if index < count, bytes[index] == UInt8(ascii: ".") {
                guard let v4 = parseIPv4(bytes.slice(start)) else { return nil }
                for word in [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)] {
                    if compressed { tail.shiftIn(word) } else { head.shiftIn(word) }
                }
                break
            }
            guard index > start else { return nil }
            if compressed { tail.shiftIn(group) } else { head.shiftIn(group) }
            guard index < count else { break }
            guard bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if index < count, bytes[index] == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                index += 1
            } else if index == count {
                return nil
            }
        }
        let groups = head.groups + tail.groups
        guard compressed ? groups <= 7 : groups == 8 else { return nil }
        while head.groups < 8 { head.shiftIn(0) }
        return (head.high | tail.high, head.low | tail.low)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? { ASCIIBytes.hexValue(byte) }
}

/// 128 bits that 16-bit groups are shifted into from the right.
private struct UInt128Parts {
    var high: UInt64 = 0
    var low: UInt64 = 0
    var groups = 0

    mutating func shiftIn(_ word: UInt16) {
        high = high << 16 | low >> 48
        low = low << 16 | UInt64(word)
        groups += 1
    }
}

/// A block of addresses in CIDR notation (`17.0.0.0/8`, `2001:db8::/32`); a bare address is a /32 or /128.
struct IPNetwork: Hashable, Sendable {
    var base: IPAddress
    var prefixLength: Int

    /// Parses `address/length` or a bare address; nil for anything else. Host bits past the prefix are masked off.
    ///
    /// An IPv4-mapped network (`::ffff:10.0.0.0/104`) is the IPv4 network it describes (`10.0.0.0/8`).
    init?(cidr text: String) {
        guard let network = ASCIIBytes.withBytes(text, Self.parse) else { return nil }
        self = network
    }

    init(base: IPAddress, prefixLength: Int) {
        let (highMask, lowMask) = Self.masks(family: base.family, prefixLength: prefixLength)
        self.base = IPAddress(family: base.family, high: base.high & highMask, low: base.low & lowMask)
        self.prefixLength = prefixLength
    }

    private static func parse(_ whole: UnsafeBufferPointer<UInt8>) -> IPNetwork? {
        let text = whole.trimmingSpaces()
        let slash = text.firstIndex(of: UInt8(ascii: "/"))
        let addressPart = text.slice(0, slash ?? text.count)
        guard let address = IPAddress.parse(addressPart) else { return nil }
        let written128 = addressPart.firstIndex(of: UInt8(ascii: ":")) != nil
        var length = written128 ? 128 : 32
        if let slash {
            let digits = text.slice(slash + 1)
            guard (1...3).contains(digits.count), digits.isAllDigits else { return nil }
            let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= length else { return nil }
            length = value
        }
        if address.family == .v4, written128 {
            guard length >= 96 else { return nil }
            length -= 96
        }
        return IPNetwork(base: address, prefixLength: length)
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.family == base.family else { return false }
        let (highMask, lowMask) = Self.masks(family: base.family, prefixLength: prefixLength)
        return address.high & highMask == base.high && address.low & lowMask == base.low
    }

    private static func masks(family: IPAddress.Family, prefixLength: Int) -> (UInt64, UInt64) {
        // In 128 bits an IPv4 prefix starts at bit 96.
        let bits = family == .v4 ? prefixLength + 96 : prefixLength
        let high: UInt64 = bits >= 64 ? .max : (bits == 0 ? 0 : .max << UInt64(64 - bits))
        let low: UInt64 = bits <= 64 ? 0 : (bits == 128 ? .max : .max << UInt64(128 - bits))
        return (high, low)
    }
}
