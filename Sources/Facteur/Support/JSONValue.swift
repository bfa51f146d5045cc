import Foundation

/// Any JSON value, for custom attributes and bodies validated field by field.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if let exact = Int64(exactly: value) { try container.encode(exact) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON bytes; a syntax error becomes a 400 that says where.
    public static func parse(_ data: some DataProtocol) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(data))
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            throw FacteurError(.badRequest, "the body is not valid JSON" + (detail.map { ": \($0)" } ?? ""))
        } catch {
            throw FacteurError(.badRequest, "the body is not valid JSON")
        }
    }

    /// Compact JSON text with sorted keys.
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// The path of the first string (or key) holding a NUL character, which PostgreSQL cannot store.
    public func pathOfNUL(prefix: String) -> String? {
        switch self {
        case .string(let text): return text.utf8.contains(0) ? prefix : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let path = item.pathOfNUL(prefix: "\(prefix)[\(index)]") { return path }
            }
            return nil
        case .object(let members):
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                if key.utf8.contains(0) { return prefix }
                if let path = value.pathOfNUL(prefix: "\(prefix).\(key)") { return path }
            }
            return nil
        default: return nil
        }
    }

    /// A short name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
