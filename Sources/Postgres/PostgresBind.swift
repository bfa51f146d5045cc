import Foundation

/// A PostgreSQL type OID, as libpq reports it.
public typealias PostgresOID = UInt32

/// The OIDs of the built-in types this library encodes and decodes.
public enum PostgresType {
    public static let unknown: PostgresOID = 0
    public static let bool: PostgresOID = 16
    public static let bytea: PostgresOID = 17
    public static let name: PostgresOID = 19
    public static let int8: PostgresOID = 20
    public static let int2: PostgresOID = 21
    public static let int4: PostgresOID = 23
    public static let text: PostgresOID = 25
    public static let oid: PostgresOID = 26
    public static let json: PostgresOID = 114
    public static let float4: PostgresOID = 700
    public static let float8: PostgresOID = 701
    public static let unknownLiteral: PostgresOID = 705
    public static let inet: PostgresOID = 869
    public static let int4Array: PostgresOID = 1007
    public static let textArray: PostgresOID = 1009
    public static let varcharArray: PostgresOID = 1015
    public static let int8Array: PostgresOID = 1016
    public static let bpchar: PostgresOID = 1042
    public static let varchar: PostgresOID = 1043
    public static let date: PostgresOID = 1082
    public static let timestamp: PostgresOID = 1114
    public static let timestamptz: PostgresOID = 1184
    public static let numeric: PostgresOID = 1700
    public static let uuid: PostgresOID = 2950
    public static let jsonb: PostgresOID = 3802
    public static let int2Array: PostgresOID = 1005
    public static let float8Array: PostgresOID = 1022
    public static let boolArray: PostgresOID = 1000
    public static let timestamptzArray: PostgresOID = 1185

    /// A readable name for error messages.
    public static func name(of oid: PostgresOID) -> String {
        switch oid {
        case bool: "boolean"
        case bytea: "bytea"
        case name: "name"
        case int8: "bigint"
        case int2: "smallint"
        case int4: "integer"
        case text: "text"
        case oid: "oid"
        case json: "json"
        case float4: "real"
        case float8: "double precision"
        case inet: "inet"
        case int4Array: "integer[]"
        case textArray: "text[]"
        case varcharArray: "varchar[]"
        case int8Array: "bigint[]"
        case bpchar: "character"
        case varchar: "varchar"
        case date: "date"
        case timestamp: "timestamp"
        case timestamptz: "timestamptz"
        case numeric: "numeric"
        case uuid: "uuid"
        case jsonb: "jsonb"
        case unknown, unknownLiteral: "unknown"
        default: "type \(oid)"
        }
    }
}

/// One parameter of a statement: its type and its text-format value (`nil` is SQL NULL).
public struct PostgresBind: Sendable, Hashable {
    public var type: PostgresOID
    public var value: String?

    public init(type: PostgresOID, value: String?) {
        self.type = type
        self.value = value
    }

    public init<Value: PostgresEncodable>(_ value: Value) {
        self.type = Value.postgresType
        self.value = value.postgresText
    }
}

/// A Swift value that can be sent as a statement parameter.
public protocol PostgresEncodable: Sendable {
    /// The type the server should read the parameter as (`PostgresType.unknown` lets it infer).
    static var postgresType: PostgresOID { get }
    /// The value in PostgreSQL's text format, or `nil` for NULL.
    var postgresText: String? { get }
}

extension String: PostgresEncodable {
    // Unknown, not text: the server infers the type from context, so a string binds to text,
    // citext, inet, an enum or a date column alike.
    public static var postgresType: PostgresOID { PostgresType.unknown }
    public var postgresText: String? { self }
}

extension Substring: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.unknown }
    public var postgresText: String? { String(self) }
}

extension Int: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.int8 }
    public var postgresText: String? { String(self) }
}

extension Int64: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.int8 }
    public var postgresText: String? { String(self) }
}

extension Int32: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.int4 }
    public var postgresText: String? { String(self) }
}

extension Double: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.float8 }
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }
}

extension Bool: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.bool }
    public var postgresText: String? { self ? "t" : "f" }
}

extension UUID: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.uuid }
    public var postgresText: String? { uuidString }
}

extension Date: PostgresEncodable {
    public static var postgresType: PostgresOID { PostgresType.timestamptz }
    public var postgresText: String? { PostgresTimestamp.format(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresType: PostgresOID { Wrapped.postgresType }
    public var postgresText: String? { self?.postgresText }
}

/// Raw bytes, sent and read as `bytea`.
public struct PostgresBytes: PostgresEncodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public static var postgresType: PostgresOID { PostgresType.bytea }
    public var postgresText: String? {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(2 + bytes.count * 2)
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "x"))
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A JSON document, sent and read as `jsonb`; the text is kept as the server sent it.
public struct PostgresJSON: PostgresEncodable, Hashable {
    public var text: String
    /// Wraps JSON text that is already serialized.
    public init(rawJSON text: String) { self.text = text }
    /// Serializes a value with `JSONEncoder`.
    public init<Value: Encodable>(encoding value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    /// Decodes the document into a `Decodable` type.
    public func decode<Value: Decodable>(as type: Value.Type = Value.self) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }
    public static var postgresType: PostgresOID { PostgresType.jsonb }
    public var postgresText: String? { text }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresOID { Element.postgresArrayType }
    /// Inlinable so callers get it specialized for their element type (batches bind thousands).
    @inlinable public var postgresText: String? {
        var out = "{"
        for (index, element) in enumerated() {
            if index > 0 { out += "," }
            out += element.postgresArrayLiteral
        }
        return out + "}"
    }
}

/// A type whose arrays can be sent as parameters (`bigint[]`, `text[]`).
public protocol PostgresArrayElement: Sendable {
    static var postgresArrayType: PostgresOID { get }
    /// The element as it appears inside an array literal, quoted as needed.
    var postgresArrayLiteral: String { get }
}

extension Int64: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.int8Array }
    @inlinable public var postgresArrayLiteral: String { String(self) }
}

extension Int: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.int8Array }
    @inlinable public var postgresArrayLiteral: String { String(self) }
}

extension String: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.textArray }
    @inlinable public var postgresArrayLiteral: String {
        // Most values hold no quote or backslash: one copy between quotes (batches bind thousands).
        if !utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return "\"" + self + "\"" }
        var out = "\""
        for scalar in unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}

extension Double: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.float8Array }
    /// Round-trip precision; infinities and NaN in PostgreSQL's spelling.
    public var postgresArrayLiteral: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return "\(self)"
    }
}

extension Bool: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.boolArray }
    @inlinable public var postgresArrayLiteral: String { self ? "t" : "f" }
}

extension Date: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { PostgresType.timestamptzArray }
    public var postgresArrayLiteral: String { "\"\(PostgresTimestamp.format(self))\"" }
}

/// `nil` elements are SQL NULLs inside the array (`{1,NULL,3}`), so one array parameter can carry
/// an optional column of a batch.
extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresArrayType: PostgresOID { Wrapped.postgresArrayType }
    @inlinable public var postgresArrayLiteral: String { self?.postgresArrayLiteral ?? "NULL" }
}
