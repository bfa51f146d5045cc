import Synchronization

/// The destination of tracked links by id, remembered after the first click: rows of
/// `campaign_links` never change once a campaign has started, so a click costs no query after
/// the first of its link.
public final class CampaignLinkCache: Sendable {
    public struct Link: Sendable, Equatable {
        public var campaignID: Int64
        public var url: String
    }

    private let database: Database
    private let capacity: Int
    private let links = Mutex([Int64: Link]())

    public init(database: Database, capacity: Int = 100_000) {
        self.database = database
        self.capacity = capacity
    }

    /// The link, or nil when no campaign has that link id.
    public func link(_ id: Int64) async throws -> Link? {
        if let known = links.withLock({ $0[id] }) { return known }
        let rows = try await database.pool.query(database.sql("campaign-link-select", id))
        guard let row = rows.first else { return nil }
        let link = Link(campaignID: try row.decode(Int64.self, "campaign_id"), url: try row.decode(String.self, "url"))
        links.withLock { links in
            // Crude but bounded: start over when full (a refill costs one query per link).
            if links.count >= capacity { links.removeAll(keepingCapacity: true) }
            links[id] = link
        }
        return link
    }
}
