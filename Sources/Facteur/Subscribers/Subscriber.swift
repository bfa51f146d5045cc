import Foundation
import Postgres

/// A person Facteur writes to, as the API shows them.
public struct Subscriber: Sendable, Encodable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case pending, active, unsubscribed, bounced, complained
    }

    public var id: Int64
    public var email: String
    public var name: String
    public var status: Status
    public var locale: String
    public var timezone: String?
    public var attributes: [String: JSONValue]
    public var score: Double
    public var companyID: Int64?
    public var frequency: String
    public var pausedUntil: Date?
    public var confirmedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// Topic key → `subscribed` / `unsubscribed`; topics never set are absent.
    public var topics: [String: String]

    enum CodingKeys: String, CodingKey {
        case id, email, name, status, locale, timezone, attributes, score, frequency, topics
        case companyID = "company_id"
        case pausedUntil = "paused_until"
        case confirmedAt = "confirmed_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        email = try row.decode(String.self, "email")
        name = try row.decode(String.self, "name")
        status = Status(rawValue: try row.decode(String.self, "status")) ?? .active
        locale = try row.decode(String.self, "locale")
        timezone = try row.decode(String?.self, "timezone")
        attributes = try row.decode(PostgresJSON.self, "attributes").decode(as: [String: JSONValue].self)
        score = try row.decode(Double.self, "score")
        companyID = try row.decode(Int64?.self, "company_id")
        frequency = try row.decode(String.self, "frequency")
        pausedUntil = try row.decode(Date?.self, "paused_until")
        confirmedAt = try row.decode(Date?.self, "confirmed_at")
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
        topics = try row.decode(PostgresJSON.self, "topics").decode(as: [String: String].self)
    }
}

/// One page of a keyset-paginated list.
public struct Page<Item: Sendable & Encodable>: Sendable, Encodable {
    public var items: [Item]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

extension Page {
    /// A page from rows fetched with `LIMIT limit + 1`: the extra row, if any, only says there is more.
    init(fetched: [Item], limit: Int, id: (Item) -> Int64) {
        var items = fetched
        var next: String?
        if items.count > limit {
            items.removeLast(items.count - limit)
            next = items.last.map { Cursor.encode(id($0)) }
        }
        self.init(items: items, nextCursor: next)
    }
}

/// Opaque page cursors: the last id seen, base64url-encoded so clients don't do arithmetic on it.
public enum Cursor {
    public static func encode(_ id: Int64) -> String {
        Data("id:\(id)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String?) throws -> Int64 {
        guard let text, !text.isEmpty else { return 0 }
        let string = try payload(text, field: "after")
        guard string.hasPrefix("id:"), let id = Int64(string.dropFirst(3)), id >= 0 else {
            throw FacteurError.invalid("after", "is not a cursor returned by this API")
        }
        return id
    }

    /// A cursor for pages ordered by time, newest first: the last (time, id) seen.
    public static func encode(time: Date, id: Int64) -> String {
        let micros = Int64((time.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("at:\(micros):\(id)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// Nil for no cursor (the first page).
    public static func decodeTime(_ text: String?, field: String = "before") throws -> (time: Date, id: Int64)? {
        guard let text, !text.isEmpty else { return nil }
        let string = try payload(text, field: field)
        let parts = string.dropFirst(3).split(separator: ":")
        guard string.hasPrefix("at:"), parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]) else {
            throw FacteurError.invalid(field, "is not a cursor returned by this API")
        }
        return (Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
    }

    /// The text inside a cursor (base64 without padding).
    private static func payload(_ text: String, field: String) throws -> String {
        var padded = text
        while padded.count % 4 != 0 { padded += "=" }
        guard let data = Data(base64Encoded: padded), let string = String(data: data, encoding: .utf8) else {
            throw FacteurError.invalid(field, "is not a cursor returned by this API")
        }
        return string
    }
}
