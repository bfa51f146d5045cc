import Foundation

/// Why one cell could not become the requested type; `PostgresRow` adds the column name.
struct PostgresDecodingFailure: Error {
    let reason: String
}

/// A Swift type that can be read from a column in text format.
public protocol PostgresDecodable: Sendable {
    /// Builds the value from the cell's text; `type` is the column's OID.
    static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Self
    /// The value for SQL NULL; non-optional types throw.
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self {
        throw PostgresDecodingFailure(reason: "the value is NULL")
    }

    static func mismatch(_ type: PostgresOID) -> PostgresDecodingFailure {
        PostgresDecodingFailure(reason: "type mismatch")
    }

    static func require(_ type: PostgresOID, in accepted: Set<PostgresOID>) throws {
        guard accepted.contains(type) else { throw mismatch(type) }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Self {
        try Wrapped.decode(text: text, type: type)
    }
    public static func decodeNull() throws -> Self { nil }
}

private let numericTypes: Set<PostgresOID> = [
    PostgresType.int2, PostgresType.int4, PostgresType.int8, PostgresType.oid,
]
private let textTypes: Set<PostgresOID> = [
    PostgresType.text, PostgresType.varchar, PostgresType.bpchar, PostgresType.name,
    PostgresType.unknownLiteral, PostgresType.json, PostgresType.jsonb, PostgresType.inet,
]

extension String: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> String {
        // Extension types (citext, enums) have OIDs above the built-in range and read as text.
        guard textTypes.contains(type) || type >= 16384 else { throw mismatch(type) }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Int64: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Int64 {
        try require(type, in: numericTypes)
        guard let value = parseInteger(text) else {
            throw PostgresDecodingFailure(reason: "'\(String(decoding: text, as: UTF8.self))' is not an integer")
        }
        return value
    }

    static func parseInteger(_ text: UnsafeRawBufferPointer) -> Int64? {
        guard !text.isEmpty else { return nil }
        var index = 0
        let negative = text[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < text.count else { return nil }
        var value: Int64 = 0
        while index < text.count {
            let digit = text[index] &- 48
            guard digit < 10 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = sum
            index += 1
        }
        return value
    }
}

extension Int: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Int {
        Int(try Int64.decode(text: text, type: type))
    }
}

extension Int32: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Int32 {
        let wide = try Int64.decode(text: text, type: type)
        guard let value = Int32(exactly: wide) else { throw PostgresDecodingFailure(reason: "\(wide) does not fit in Int32") }
        return value
    }
}

extension Double: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Double {
        try require(type, in: numericTypes.union([PostgresType.float4, PostgresType.float8, PostgresType.numeric]))
        let string = String(decoding: text, as: UTF8.self)
        switch string {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(string) else { throw PostgresDecodingFailure(reason: "'\(string)' is not a number") }
            return value
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Bool {
        try require(type, in: [PostgresType.bool])
        return text.first == UInt8(ascii: "t")
    }
}

extension UUID: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> UUID {
        try require(type, in: [PostgresType.uuid])
        guard let value = UUID(uuidString: String(decoding: text, as: UTF8.self)) else {
            throw PostgresDecodingFailure(reason: "not a UUID")
        }
        return value
    }
}

extension Date: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> Date {
        try require(type, in: [PostgresType.timestamptz, PostgresType.timestamp, PostgresType.date])
        guard let value = PostgresTimestamp.parse(text) else {
            throw PostgresDecodingFailure(reason: "'\(String(decoding: text, as: UTF8.self))' is not a timestamp this library reads")
        }
        return value
    }
}

extension PostgresBytes: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> PostgresBytes {
        try require(type, in: [PostgresType.bytea])
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            throw PostgresDecodingFailure(reason: "bytea is not in hex format")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else {
                throw PostgresDecodingFailure(reason: "bad hex digit in bytea")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return PostgresBytes(bytes)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

extension PostgresJSON: PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> PostgresJSON {
        try require(type, in: [PostgresType.json, PostgresType.jsonb])
        return PostgresJSON(rawJSON: String(decoding: text, as: UTF8.self))
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement & PostgresDecodable {
    public static func decode(text: UnsafeRawBufferPointer, type: PostgresOID) throws -> [Element] {
        let elementType: PostgresOID
        switch type {
        case PostgresType.int8Array: elementType = PostgresType.int8
        case PostgresType.int4Array: elementType = PostgresType.int4
        case PostgresType.int2Array: elementType = PostgresType.int2
        case PostgresType.textArray, PostgresType.varcharArray: elementType = PostgresType.text
        default: throw mismatch(type)
        }
        guard let items = PostgresArrayLiteral.parse(text) else {
            throw PostgresDecodingFailure(reason: "malformed array literal")
        }
        return try items.map { item in
            guard let item else { throw PostgresDecodingFailure(reason: "the array holds a NULL") }
            var bytes = Swift.Array<UInt8>(item.utf8)
            return try bytes.withUnsafeMutableBytes { try Element.decode(text: UnsafeRawBufferPointer($0), type: elementType) }
        }
    }
}

/// Parses one-dimensional array literals such as `{1,2}` or `{"a b",NULL,c}`.
enum PostgresArrayLiteral {
    static func parse(_ text: UnsafeRawBufferPointer) -> [String?]? {
        guard text.count >= 2, text.first == UInt8(ascii: "{"), text.last == UInt8(ascii: "}") else { return nil }
        var items: [String?] = []
        var index = 1
        let end = text.count - 1
        if index == end { return [] }
        while index <= end {
            var bytes: [UInt8] = []
            var quoted = false
            if text[index] == UInt8(ascii: "\"") {
                quoted = true
                index += 1
                while index < end, text[index] != UInt8(ascii: "\"") {
                    if text[index] == UInt8(ascii: "\\") { index += 1 }
                    guard index < end else { return nil }
                    bytes.append(text[index])
                    index += 1
                }
                index += 1
            } else {
                while index < end, text[index] != UInt8(ascii: ",") {
                    bytes.append(text[index])
                    index += 1
                }
            }
            let value = String(decoding: bytes, as: UTF8.self)
            items.append(!quoted && value == "NULL" ? nil : value)
            guard index == end || text[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
        return items
    }
}
