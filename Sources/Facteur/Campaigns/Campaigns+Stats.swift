import Foundation
import Postgres

/// How a campaign did: deliveries, human engagement, the links clicked, hour by hour.
public struct CampaignStats: Sendable, Encodable {
    public struct Link: Sendable, Encodable, Equatable {
        public var id: Int64
        public var url: String
        public var clicks: Int
        public var uniqueClicks: Int

        enum CodingKeys: String, CodingKey {
            case id, url, clicks
            case uniqueClicks = "unique_clicks"
        }
    }

    public struct Hour: Sendable, Encodable, Equatable {
        public var hour: Date
        public var opens: Int
        public var clicks: Int
    }

    public var sent: Int
    /// Sent and not bounced afterwards (by a DSN).
    public var delivered: Int
    public var hardBounces: Int
    public var softBounces: Int
    /// People with a human open or click (a click proves the message was seen).
    public var uniqueOpens: Int
    /// Human open events, repeats included.
    public var opens: Int
    /// Opens by privacy proxies and scanners, not counted above.
    public var machineOpens: Int
    public var uniqueClicks: Int
    public var clicks: Int
    public var machineClicks: Int
    public var openRate: Double
    public var clickRate: Double
    /// Unique clicks over unique opens.
    public var clickToOpenRate: Double
    public var unsubscribes: Int
    public var complaints: Int
    public var links: [Link]
    public var hourly: [Hour]

    enum CodingKeys: String, CodingKey {
        case sent, delivered, opens, clicks, unsubscribes, complaints, links, hourly
        case hardBounces = "hard_bounces"
        case softBounces = "soft_bounces"
        case uniqueOpens = "unique_opens"
        case machineOpens = "machine_opens"
        case uniqueClicks = "unique_clicks"
        case machineClicks = "machine_clicks"
        case openRate = "open_rate"
        case clickRate = "click_rate"
        case clickToOpenRate = "click_to_open_rate"
    }
}

extension Campaigns {
    /// The statistics of a campaign; `hours` bounds the hourly series (from the first event).
    public func stats(id: Int64, hours: Int = 24 * 14) async throws -> CampaignStats {
        _ = try await get(id: id)
        let row = try await database.pool.query(database.sql("campaign-stats", id))[0]
        func count(_ name: String) throws -> Int { try row.decode(Int.self, name) }
        let sent = try count("sent")
        let delivered = max(0, sent - (try count("late_bounces")))
        let uniqueOpens = try count("unique_opens")
        let uniqueClicks = try count("unique_clicks")
        func rate(_ part: Int, _ whole: Int) -> Double { whole == 0 ? 0 : (Double(part) / Double(whole) * 10_000).rounded() / 10_000 }
        let links = try await database.pool.query(database.sql("campaign-stats-links", id)).map { row in
            CampaignStats.Link(
                id: try row.decode(Int64.self, "id"), url: try row.decode(String.self, "url"), clicks: try row.decode(Int.self, "clicks"),
                uniqueClicks: try row.decode(Int.self, "unique_clicks"))
        }
        let hourly = try await database.pool.query(database.sql("campaign-stats-hourly", id, hours)).map { row in
            CampaignStats.Hour(
                hour: try row.decode(Date.self, "hour"), opens: try row.decode(Int.self, "opens"),
                clicks: try row.decode(Int.self, "clicks"))
        }
        return CampaignStats(
            sent: sent, delivered: delivered, hardBounces: try count("hard_bounces"), softBounces: try count("soft_bounces"),
            uniqueOpens: uniqueOpens, opens: try count("opens"), machineOpens: try count("machine_opens"), uniqueClicks: uniqueClicks,
            clicks: try count("clicks"), machineClicks: try count("machine_clicks"), openRate: rate(uniqueOpens, delivered),
            clickRate: rate(uniqueClicks, delivered), clickToOpenRate: rate(uniqueClicks, uniqueOpens),
            unsubscribes: try count("unsubscribes"), complaints: try count("complaints"), links: links, hourly: hourly)
    }
}
