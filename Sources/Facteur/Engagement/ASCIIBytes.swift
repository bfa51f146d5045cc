/// Byte-level helpers for header values, which are ASCII in practice: comparing them as bytes avoids the cost of
/// Unicode-aware `String` operations on every tracked request.
extension UnsafeBufferPointer<UInt8> {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = count
        while start < end, self[start] == 0x20 || self[start] == 0x09 { start += 1 }
        while end > start, self[end - 1] == 0x20 || self[end - 1] == 0x09 { end -= 1 }
        return UnsafeBufferPointer(rebasing: self[start..<end])
    }

    func equals(_ other: StaticString, ignoringCase: Bool) -> Bool {
        equals(other.bytes, ignoringCase: ignoringCase)
    }

    func equals(_ other: UnsafeBufferPointer<UInt8>, ignoringCase: Bool) -> Bool {
        count == other.count && matches(other, at: 0, ignoringCase: ignoringCase)
    }

    func hasPrefix(_ other: StaticString) -> Bool {
        count >= other.utf8CodeUnitCount && matches(other.bytes, at: 0, ignoringCase: false)
    }

    func hasSuffix(_ other: StaticString, ignoringCase: Bool = false) -> Bool {
        hasSuffix(other.bytes, ignoringCase: ignoringCase)
    }

    func hasSuffix(_ other: UnsafeBufferPointer<UInt8>, ignoringCase: Bool) -> Bool {
        count >= other.count && matches(other, at: count - other.count, ignoringCase: ignoringCase)
    }

    func contains(_ other: StaticString, ignoringCase: Bool) -> Bool {
        let pattern = other.bytes
        guard count >= pattern.count else { return false }
        for start in 0...(count - pattern.count) where matches(pattern, at: start, ignoringCase: ignoringCase) { return true }
        return false
    }

    /// The index of the first byte of `other` in these bytes.
    func firstIndex(of other: StaticString) -> Int? {
        let pattern = other.bytes
        guard count >= pattern.count else { return nil }
        for start in 0...(count - pattern.count) where matches(pattern, at: start, ignoringCase: false) { return start }
        return nil
    }

    /// The bytes from `start` up to `end` (exclusive), as a buffer of their own.
    func slice(_ start: Int, _ end: Int? = nil) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: self[start..<(end ?? count)])
    }

    var isAllDigits: Bool { allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    private func matches(_ pattern: UnsafeBufferPointer<UInt8>, at offset: Int, ignoringCase: Bool) -> Bool {
        for index in 0..<pattern.count {
            let byte = self[offset + index]
            let expected = pattern[index]
            if byte == expected { continue }
            guard ignoringCase, ASCIIBytes.lowercased(byte) == ASCIIBytes.lowercased(expected) else { return false }
        }
        return true
    }
}

extension StaticString {
    fileprivate var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}

public enum ASCIIBytes {
    /// The value of a hexadecimal digit (either case), nil for anything else.
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// Runs `body` on the UTF-8 bytes of `text` without copying a native string.
    static func withBytes<Result>(_ text: some StringProtocol, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }
}
