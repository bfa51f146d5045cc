import Foundation
import Postgres

/// One subscriber's engagement summary (human opens and clicks only), kept current by the events
/// trigger so segments need no scan of `events`.
public struct EngagementSummary: Sendable, Encodable, Equatable {
    public var lastSentAt: Date?
    public var lastOpenAt: Date?
    public var lastClickAt: Date?
    public var lastActivityAt: Date?
    public var opens: Int
    public var clicks: Int
    public var sends: Int
    public var devices: [String: Int]
    public var clients: [String: Int]
    public var topDevice: String?
    public var topClient: String?

    enum CodingKeys: String, CodingKey {
        case opens, clicks, sends, devices, clients
        case lastSentAt = "last_sent_at"
        case lastOpenAt = "last_open_at"
        case lastClickAt = "last_click_at"
        case lastActivityAt = "last_activity_at"
        case topDevice = "top_device"
        case topClient = "top_client"
    }

    /// No activity at all.
    public static let none = EngagementSummary(
        lastSentAt: nil, lastOpenAt: nil, lastClickAt: nil, lastActivityAt: nil, opens: 0, clicks: 0, sends: 0, devices: [:],
        clients: [:], topDevice: nil, topClient: nil)

    init(
        lastSentAt: Date?, lastOpenAt: Date?, lastClickAt: Date?, lastActivityAt: Date?, opens: Int, clicks: Int, sends: Int,
        devices: [String: Int], clients: [String: Int], topDevice: String?, topClient: String?
    ) {
        self.lastSentAt = lastSentAt
        self.lastOpenAt = lastOpenAt
        self.lastClickAt = lastClickAt
        self.lastActivityAt = lastActivityAt
        self.opens = opens
        self.clicks = clicks
        self.sends = sends
        self.devices = devices
        self.clients = clients
        self.topDevice = topDevice
        self.topClient = topClient
    }

    init(row: PostgresRow) throws {
        lastSentAt = try row.decode(Date?.self, "last_sent_at")
        lastOpenAt = try row.decode(Date?.self, "last_open_at")
        lastClickAt = try row.decode(Date?.self, "last_click_at")
        lastActivityAt = try row.decode(Date?.self, "last_activity_at")
        opens = try row.decode(Int.self, "opens")
        clicks = try row.decode(Int.self, "clicks")
        sends = try row.decode(Int.self, "sends")
        devices = try row.decode(PostgresJSON.self, "devices").decode(as: [String: Int].self)
        clients = try row.decode(PostgresJSON.self, "clients").decode(as: [String: Int].self)
        topDevice = try row.decode(String?.self, "top_device")
        topClient = try row.decode(String?.self, "top_client")
    }
}

/// Reads and rebuilds the engagement rollup.
public struct Engagement: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func summary(subscriber: Int64) async throws -> EngagementSummary {
        let rows = try await database.pool.query(database.sql("engagement-select", subscriber))
        return try rows.first.map(EngagementSummary.init(row:)) ?? .none
    }

    /// One person's activity, newest first: sends, opens, clicks, bounces, unsubscribes, custom events.
    public func events(subscriber: Int64, type: String?, before cursor: String?, limit: Int) async throws -> Page<SubscriberEvent> {
        let limit = max(1, min(limit, 1000))
        if let type, type.isEmpty || type.utf8.count > 100 { throw FacteurError.invalid("type", "must be an event type such as open") }
        // Past any real event: the first page starts at the newest.
        let after = try Cursor.decodeTime(cursor) ?? (Date(timeIntervalSince1970: 32_503_680_000), Int64.max)
        let rows = try await database.pool.query(database.sql("events-of-subscriber", subscriber, type, after.time, after.id, limit + 1))
        var items = try rows.map(SubscriberEvent.init(row:))
        var next: String?
        if items.count > limit {
            items.removeLast(items.count - limit)
            next = items.last.map { Cursor.encode(time: $0.occurredAt, id: $0.id) }
        }
        return Page(items: items, nextCursor: next)
    }

    /// Recomputes every subscriber's row from `events` in one transaction; returns the row count.
    /// Event writes wait for it (the trigger needs the table) and apply on top afterwards.
    public func rebuild() async throws -> Int {
        try await database.pool.withTransaction { connection in
            // Event inserts wait (their trigger writes engagement) until the rebuilt rows commit,
            // then apply on top of them. (LOCK cannot be a named query: those are PREPAREd.)
            _ = try await connection.execute("LOCK TABLE engagement IN EXCLUSIVE MODE")
            _ = try await connection.execute(database.sql("engagement-rebuild-delete"))
            return try await connection.query(database.sql("engagement-rebuild"))[0].decode(Int.self, "merged")
        }
    }
}

/// One event of a person, as `GET /api/subscribers/{ref}/events` lists it.
public struct SubscriberEvent: Sendable, Encodable {
    public var id: Int64
    public var type: String
    public var campaignID: Int64?
    public var messageID: Int64?
    public var linkID: Int64?
    public var machine: Bool
    public var device: String?
    public var client: String?
    public var properties: [String: JSONValue]
    public var occurredAt: Date

    enum CodingKeys: String, CodingKey {
        case id, type, machine, device, client, properties
        case campaignID = "campaign_id"
        case messageID = "message_id"
        case linkID = "link_id"
        case occurredAt = "occurred_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        type = try row.decode(String.self, "type")
        campaignID = try row.decode(Int64?.self, "campaign_id")
        messageID = try row.decode(Int64?.self, "message_id")
        linkID = try row.decode(Int64?.self, "link_id")
        machine = try row.decode(Bool.self, "machine")
        device = try row.decode(String?.self, "device")
        client = try row.decode(String?.self, "client")
        properties = try row.decode(PostgresJSON.self, "properties").decode(as: [String: JSONValue].self)
        occurredAt = try row.decode(Date.self, "occurred_at")
    }
}
