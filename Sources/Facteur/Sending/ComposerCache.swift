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
        /// The SMTP envelope sender (MAIL FROM) when no bounce address is set: the From address.
        var envelopeFrom: String
        var links: LinkBuilder
        var rate: (perSecond: Int, limiter: RateLimiter)?

        /// MAIL FROM of one message: its VERP return path when a bounce address is set, so a
        /// bounce names the message even when it quotes nothing of it.
        func envelopeFrom(message: Int64) -> String {
            links.returnPath(message: message) ?? envelopeFrom
        }

        /// An A/B test whose winner is not chosen yet (as of when this was loaded).
        var awaitsWinner: Bool { composer.campaign.abTest.map { $0.winner == nil } ?? false }
    }

    private let database: Database
    private let layouts: EmailLayouts
    private let links: LinkBuilder
    private let assembler: MessageAssembler
    private var entries: [Int64: Task<Campaign, any Error>] = [:]
    /// Kept across reloads (an A/B winner reloads the campaign): a new limiter would forget the
    /// slots already taken and let a burst through.
    private var limiters: [Int64: RateLimiter] = [:]

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
        let existingLimiter = limiters[id]
        let task = Task {
            let campaign = try await Campaigns(database: database, templates: Templates(database: database, layouts: layouts)).get(id: id)
            let composer = try await MessageComposer.prepare(campaign: campaign, database: database, layouts: layouts, builder: links)
            let from = try Mailbox(campaign.fromEmail, name: campaign.fromName)
            return Campaign(
                composer: composer, assembler: assembler, from: from, replyTo: try campaign.replyTo.map { try Mailbox($0) },
                envelopeFrom: from.address.asciiValue, links: links,
                rate: campaign.rateLimit.map { ($0, existingLimiter ?? RateLimiter(perSecond: $0)) })
        }
        entries[id] = task
        do {
            let campaign = try await task.value
            if let limiter = campaign.rate?.limiter { limiters[id] = limiter }
            return campaign
        } catch {
            entries[id] = nil  // a failed load (database restarting) is tried again next time
            throw error
        }
    }

    func forget(_ id: Int64) {
        entries[id] = nil
    }

    /// Drops the campaigns that are no longer sending (finished, cancelled, paused): their templates
    /// are loaded again if they resume.
    func retain(only sending: Set<Int64>) {
        for id in entries.keys where !sending.contains(id) { entries[id] = nil }
        for id in limiters.keys where !sending.contains(id) { limiters[id] = nil }
    }
}
