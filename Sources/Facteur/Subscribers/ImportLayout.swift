import Foundation
import Mail

/// How a CSV header maps to subscriber columns, and the per-row validation into COPY text format.
struct ImportLayout {
    enum Column {
        case email, name, status, locale, timezone, topics, createdAt
        case attribute(Field)

        var name: String {
            switch self {
            case .email: "email"
            case .name: "name"
            case .status: "status"
            case .locale: "locale"
            case .timezone: "timezone"
            case .topics: "topics"
            case .createdAt: "created_at"
            case .attribute(let field): field.key
            }
        }
    }

    let columns: [Column]
    let hasTopics: Bool

    init(header: [String], fields: [String: Field]) throws {
        var seen: Set<String> = []
        var columns: [Column] = []
        for (index, raw) in header.enumerated() {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard seen.insert(name).inserted else {
                throw FacteurError.invalid("header", "column '\(name)' appears twice (column \(index + 1))")
            }
            switch name {
            case "email": columns.append(.email)
            case "name": columns.append(.name)
            case "status": columns.append(.status)
            case "locale": columns.append(.locale)
            case "timezone": columns.append(.timezone)
            case "topics": columns.append(.topics)
            case "created_at": columns.append(.createdAt)
            default:
                guard let field = fields[name] else {
                    throw FacteurError.invalid(
                        "header", "unknown column '\(raw)' (column \(index + 1)); register it with POST /api/fields or remove it")
                }
                columns.append(.attribute(field))
            }
        }
        guard seen.contains("email") else { throw FacteurError.invalid("header", "the header has no 'email' column") }
        self.columns = columns
        self.hasTopics = seen.contains("topics")
    }

    /// Validates one record and appends it as a COPY text-format line.
    func encode(_ record: CSVRecord, knownTopics: Set<String>, defaultTopics: [String], into out: inout [UInt8]) throws {
        guard record.count == columns.count else {
            throw FacteurError.invalid("row", "has \(record.count) fields, the header has \(columns.count)")
        }
        var email = ""
        var name: String?
        var status: String?
        var locale: String?
        var timezone: String?
        var createdAt: String?
        var topics: [String]? = defaultTopics.isEmpty ? nil : defaultTopics
        var attributes: [(String, JSONValue)] = []
        for (index, column) in columns.enumerated() {
            let cell = record[index]
            if cell.utf8.contains(0) { throw FacteurError.invalid(column.name, "contains a NUL byte") }
            switch column {
            case .email:
                do {
                    email = try EmailAddress(cell).value
                } catch {
                    throw FacteurError.invalid(
                        "email", cell.isEmpty ? "email is empty" : "'\(cell)' is not a valid address: \(error.message)")
                }
            case .name:
                guard cell.utf8.count <= 200 else { throw FacteurError.invalid("name", "is longer than 200 bytes") }
                name = cell.isEmpty ? nil : cell
            case .status:
                guard cell.isEmpty || Subscriber.Status(rawValue: cell) != nil else {
                    throw FacteurError.invalid("status", "'\(cell)' is not one of pending, active, unsubscribed, bounced, complained")
                }
                status = cell.isEmpty ? nil : cell
            case .locale:
                locale = cell.isEmpty ? nil : try SubscriberInput.validLocale(cell, field: "locale")
            case .timezone:
                guard cell.isEmpty || TimeZone(identifier: cell) != nil else {
                    throw FacteurError.invalid("timezone", "'\(cell)' is not an IANA time zone such as Europe/Paris")
                }
                timezone = cell.isEmpty ? nil : cell
            case .topics:
                let keys = cell.split(whereSeparator: { $0 == ";" || $0 == "|" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                }
                for key in keys where !knownTopics.contains(key) { throw FacteurError.invalid("topics", "no topic with key '\(key)'") }
                if !keys.isEmpty { topics = (topics ?? []) + keys }
            case .createdAt:
                if !cell.isEmpty {
                    guard let date = ISODates.parse(cell) else {
                        throw FacteurError.invalid("created_at", "'\(cell)' is not an ISO 8601 date")
                    }
                    createdAt = ISODates.format(date)
                }
            case .attribute(let field):
                if let value = try field.parseCell(cell, path: field.key) { attributes.append((field.key, value)) }
            }
        }
        Self.appendNumber(record.line, to: &out)
        out.append(9)
        Self.appendText(email, to: &out)
        for value in [name, status, locale, timezone] {
            out.append(9)
            if let value { Self.appendText(value, to: &out) } else { out.append(contentsOf: [92, 78]) }  // \N
        }
        out.append(9)
        Self.appendText(Self.json(attributes), to: &out)
        out.append(9)
        if let topics {
            Self.appendText(topics.map(\.postgresArrayText).joined(separator: ",").wrapped, to: &out)
        } else {
            out.append(contentsOf: [92, 78])
        }
        out.append(9)
        if let createdAt { Self.appendText(createdAt, to: &out) } else { out.append(contentsOf: [92, 78]) }
        out.append(10)
    }

    private static func appendNumber(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// COPY text format: backslash, tab, newline and carriage return are escaped.
    static func appendText(_ text: String, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case 92: out.append(contentsOf: [92, 92])
            case 9: out.append(contentsOf: [92, 116])
            case 10: out.append(contentsOf: [92, 110])
            case 13: out.append(contentsOf: [92, 114])
            default: out.append(byte)
            }
        }
    }

    /// A JSON object built directly (faster than an encoder for a few keys per row).
    static func json(_ pairs: [(String, JSONValue)]) -> String {
        guard !pairs.isEmpty else { return "{}" }
        var out = "{"
        for (index, (key, value)) in pairs.enumerated() {
            if index > 0 { out += "," }
            out += jsonString(key) + ":"
            switch value {
            case .string(let text): out += jsonString(text)
            case .bool(let flag): out += flag ? "true" : "false"
            case .number(let number):
                if let exact = Int64(exactly: number) { out += String(exact) } else { out += String(number) }
            default: out += value.jsonText
            }
        }
        return out + "}"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    /// This string as a quoted element of a PostgreSQL array literal.
    fileprivate var postgresArrayText: String {
        "\"" + replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    fileprivate var wrapped: String { "{" + self + "}" }
}
