import Foundation
import Mail

/// Each sending campaign's parsed templates, links, sender and rate limiter, loaded once per
/// worker and shared by all of its lanes.
actor ComposerCache {
    struct Campaign: Sendable {
        var composer: MessageComposer
        var assembler: MessageAssembler
        var from: Mailbox
        var replyTo: Mailbox?
        /// The SMTP envelope sender (MAIL FROM): the campaign's From address.
        var envelopeFrom: String
        var rate: (perSecond: Int, limiter: RateLimiter)?
    }

    private let database: Database
    private let layouts: EmailLayouts
    private let links: LinkBuilder
    private let assembler: MessageAssembler
    private var entries: [Int64: Task<Campaign, any Error>] = [:]

    init(database: Database, layouts: EmailLayouts, links: LinkBuilder, assembler: MessageAssembler) {
        self.database = database
        self.layouts = layouts
        self.links = links
        self.assembler = assembler
    }

    /// The campaign, loaded on first use; concurrent first uses share one load.
    func prepared(_ id: Int64) async throws -> Campaign {
        if let entry = entries[id] { return try await entry.value }
        let (database, layouts, links, assembler) = (database, layouts, links, assembler)
        let task = Task {
            let campaign = try await Campaigns(database: database, templates: Templates(database: database, layouts: layouts)).get(id: id)
            let composer = try await MessageComposer.prepare(campaign: campaign, database: database, layouts: layouts, builder: links)
            let from = try Mailbox(campaign.fromEmail, name: campaign.fromName)
            return Campaign(
                composer: composer, assembler: assembler, from: from, replyTo: try campaign.replyTo.map { try Mailbox($0) },
                envelopeFrom: from.address.asciiValue, rate: campaign.rateLimit.map { ($0, RateLimiter(perSecond: $0)) })
        }
        entries[id] = task
        do {
            return try await task.value
        } catch {
            entries[id] = nil  // a failed load (database restarting) is tried again next time
            throw error
        }
    }

    func forget(_ id: Int64) {
        entries[id] = nil
    }
}
