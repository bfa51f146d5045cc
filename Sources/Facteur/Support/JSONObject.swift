import Foundation

/// Reads a JSON object field by field, with errors that name the field and refuse unknown keys.
///
/// Decoding bodies this way (rather than with `Decodable`) gives every mistake its own message:
/// "email: is required", "locale: must be a string, got a number", "unknown field 'emial'".
public struct JSONObject: Sendable {
    public let values: [String: JSONValue]
    /// Prefix for field paths in errors, e.g. `[3].` for the fourth item of a batch.
    public let path: String

    public init(_ value: JSONValue, path: String = "") throws {
        guard case .object(let values) = value else {
            throw FacteurError(
                .badRequest, "expected a JSON object, got \(value.typeName)", field: path.isEmpty ? nil : String(path.dropLast()))
        }
        self.values = values
        self.path = path
    }

    /// Throws for keys outside `allowed`.
    public func rejectUnknownKeys(_ allowed: Set<String>) throws {
        for key in values.keys.sorted() where !allowed.contains(key) {
            throw FacteurError.invalid(path + key, "unknown field '\(key)'; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    public func has(_ key: String) -> Bool { values[key] != nil }

    /// Present and explicitly null.
    public func isNull(_ key: String) -> Bool { values[key] == .null }

    /// A string; control characters are refused except tab, and CR/LF too when `multiline` (bodies).
    public func string(_ key: String, required: Bool = false, maxLength: Int = 1000, multiline: Bool = false) throws -> String? {
        switch values[key] {
        case nil, .null?:
            if required { throw FacteurError.invalid(path + key, "is required") }
            return nil
        case .string(let text)?:
            guard text.utf8.count <= maxLength else {
                throw FacteurError.invalid(path + key, "is longer than \(maxLength) bytes")
            }
            let allowed: Set<Unicode.Scalar> = multiline ? ["\t", "\n", "\r"] : ["\t"]
            guard !text.unicodeScalars.contains(where: { ($0.value < 0x20 && !allowed.contains($0)) || $0.value == 0x7F }) else {
                throw FacteurError.invalid(path + key, "contains a control character")
            }
            return text
        case let other?:
            throw FacteurError.invalid(path + key, "must be a string, got \(other.typeName)")
        }
    }

    public func int(_ key: String, required: Bool = false, range: ClosedRange<Int64> = Int64.min...Int64.max) throws -> Int64? {
        switch values[key] {
        case nil, .null?:
            if required { throw FacteurError.invalid(path + key, "is required") }
            return nil
        case .number(let number)?:
            guard let value = Int64(exactly: number) else {
                throw FacteurError.invalid(path + key, "must be a whole number")
            }
            guard range.contains(value) else {
                throw FacteurError.invalid(path + key, "must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        case let other?:
            throw FacteurError.invalid(path + key, "must be a number, got \(other.typeName)")
        }
    }

    public func double(_ key: String) throws -> Double? {
        switch values[key] {
        case nil, .null?: return nil
        case .number(let number)?: return number
        case let other?: throw FacteurError.invalid(path + key, "must be a number, got \(other.typeName)")
        }
    }

    public func bool(_ key: String) throws -> Bool? {
        switch values[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        case let other?: throw FacteurError.invalid(path + key, "must be true or false, got \(other.typeName)")
        }
    }

    public func object(_ key: String) throws -> [String: JSONValue]? {
        switch values[key] {
        case nil, .null?: return nil
        case .object(let value)?: return value
        case let other?: throw FacteurError.invalid(path + key, "must be an object, got \(other.typeName)")
        }
    }

    public func stringArray(_ key: String, maxCount: Int = 1000) throws -> [String]? {
        switch values[key] {
        case nil, .null?: return nil
        case .array(let items)?:
            guard items.count <= maxCount else { throw FacteurError.invalid(path + key, "has more than \(maxCount) items") }
            return try items.enumerated().map { index, item in
                guard case .string(let text) = item else {
                    throw FacteurError.invalid("\(path)\(key)[\(index)]", "must be a string, got \(item.typeName)")
                }
                return text
            }
        case let other?:
            throw FacteurError.invalid(path + key, "must be an array of strings, got \(other.typeName)")
        }
    }

    /// A timestamp in ISO 8601 (`2026-05-01T12:00:00Z`, fractional seconds allowed) or a date.
    public func date(_ key: String) throws -> Date? {
        guard let text = try string(key, maxLength: 64) else { return nil }
        guard let date = ISODates.parse(text) else {
            throw FacteurError.invalid(path + key, "must be an ISO 8601 date or timestamp such as 2026-05-01T12:00:00Z")
        }
        return date
    }
}

/// ISO 8601 parsing and formatting shared by the API and CSV import.
public enum ISODates {
    /// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
    public static func parse(_ text: String) -> Date? {
        if text.count == 10 {
            return try? Date(text + "T00:00:00Z", strategy: .iso8601)
        }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// `YYYY-MM-DD` → `YYYY-MM-DDT00:00:00Z` when it is a real calendar day, without building a
    /// `Date` (CSV imports normalize millions of these); nil for anything else.
    public static func normalizeDay(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let digit = Int(bytes[index]) - 48
                guard (0...9).contains(digit) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month), year >= 1 else {
            return nil
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return nil }
        return text + "T00:00:00Z"
    }

    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}
