import Foundation
import Postgres

extension Campaigns {
    /// Schedules a draft for `at` (an instant; `timeZone` only interprets a local date-time string).
    public func schedule(id: Int64, _ body: JSONValue) async throws -> Campaign {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["at", "time_zone"])
        let raw = try object.string("at", required: true, maxLength: 64)!
        var zone = TimeZone(identifier: "UTC")!
        if let name = try object.string("time_zone", maxLength: 64) {
            guard let named = TimeZone(identifier: name) else {
                throw FacteurError.invalid("time_zone", "'\(name)' is not an IANA time zone such as America/Montreal")
            }
            zone = named
        }
        guard let at = Self.instant(raw, zone: zone) else {
            throw FacteurError.invalid(
                "at", "must be an ISO 8601 time such as 2026-12-01T09:00:00Z, or a local 2026-12-01T09:00 with time_zone")
        }
        guard at > Date().addingTimeInterval(30) else { throw FacteurError.invalid("at", "must be in the future") }
        try await transition(id: id, to: .scheduled, from: [.draft, .scheduled], at: at)
        return try await get(id: id)
    }

    /// Back to draft.
    public func unschedule(id: Int64) async throws -> Campaign {
        try await transition(id: id, to: .draft, from: [.scheduled])
        return try await get(id: id)
    }

    /// What starting a campaign did.
    public struct StartReport: Sendable, Encodable {
        public var queued: Int
        public var links: Int
    }

    /// Starts sending: records the tracked links, queues one message per person in the audience
    /// (in the same transaction as the status change) and tells the workers.
    public func start(id: Int64) async throws -> StartReport {
        let campaign = try await get(id: id)
        let template = try await templates.get(id: campaign.templateID)
        let links = campaign.trackClicks ? LinkRewriter.trackableLinks(in: template.html) : []
        // A segment is evaluated now, once: its members as they are when the campaign starts.
        var segment: SQL?
        if let segmentID = campaign.segmentID {
            let segments = Segments(database: database)
            segment = try await segments.compiler(schema: try await segments.schema()).members(.segment(segmentID))
        }
        let queued: Int = try await database.pool.withTransaction { tx in
            try await transition(on: tx, id: id, to: .sending, from: [.draft, .scheduled])
            if !links.isEmpty { try await tx.execute(database.sql("campaign-links-record", id, links)) }
            var members: [Int64]?
            if let segment {
                try await Segments.prepareEvaluation(on: tx, database: database)
                members = try await tx.query(segment).map { try $0.decode(Int64.self, "id") }
            }
            let queued = try await tx.execute(database.sql("campaign-materialize", id, campaign.topicID, members))
            if let test = campaign.abTest {
                try await tx.execute(database.sql("campaign-ab-split", id, test.subjects.count, test.testShare))
            }
            try await tx.execute("SELECT pg_notify(\(Self.channel), \("start:\(id)"))")
            return queued
        }
        return StartReport(queued: queued, links: links.count)
    }

    public func pause(id: Int64) async throws -> Campaign {
        try await transition(id: id, to: .paused, from: [.sending], notify: "pause")
        return try await get(id: id)
    }

    public func resume(id: Int64) async throws -> Campaign {
        try await transition(id: id, to: .sending, from: [.paused], notify: "resume")
        return try await get(id: id)
    }

    public func cancel(id: Int64) async throws -> Campaign {
        try await transition(id: id, to: .cancelled, from: [.draft, .scheduled, .sending, .paused], notify: "cancel")
        return try await get(id: id)
    }

    /// Messages per status, for progress.
    public func counts(id: Int64) async throws -> [String: Int] {
        _ = try await get(id: id)
        var counts: [String: Int] = ["queued": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0]
        for row in try await database.pool.query(database.sql("campaign-message-counts", id)) {
            counts[try row.decode(String.self, "status")] = try row.decode(Int.self, "n")
        }
        return counts
    }

    /// Where a sending campaign stands: counts, the rate over the last minute, and when it should end.
    public struct Progress: Sendable, Encodable {
        public var status: Campaign.Status
        public var counts: [String: Int]
        public var total: Int
        /// Sent, failed or skipped.
        public var done: Int
        /// Messages sent per second over the last minute.
        public var rate: Double
        /// Seconds until the queue is empty at that rate; nil when nothing is being sent.
        public var etaSeconds: Int?
        /// The A/B test's results per subject, when the campaign has one.
        public var ab: [CampaignScheduler.VariantResult]?

        enum CodingKeys: String, CodingKey {
            case status, counts, total, done, rate, ab
            case etaSeconds = "eta_seconds"
        }
    }

    public func progress(id: Int64) async throws -> Progress {
        let campaign = try await get(id: id)
        let counts = try await self.counts(id: id)
        let recent = try await database.pool.query(database.sql("campaign-send-rate", id))[0].decode(Int.self, "n")
        let rate = Double(recent) / 60
        let remaining = (counts["queued"] ?? 0) + (counts["sending"] ?? 0)
        var ab: [CampaignScheduler.VariantResult]?
        if campaign.abTest != nil {
            ab = try await abResults(campaign: campaign)
        }
        return Progress(
            status: campaign.status, counts: counts, total: counts.values.reduce(0, +),
            done: (counts["sent"] ?? 0) + (counts["failed"] ?? 0) + (counts["skipped"] ?? 0), rate: (rate * 100).rounded() / 100,
            etaSeconds: rate > 0 && remaining > 0 ? Int((Double(remaining) / rate).rounded(.up)) : nil, ab: ab)
    }

    /// An A/B test's results so far, one entry per subject (empty without a test).
    public func abResults(campaign: Campaign) async throws -> [CampaignScheduler.VariantResult] {
        guard let test = campaign.abTest else { return [] }
        var results = (0..<test.subjects.count).map { CampaignScheduler.VariantResult(variant: $0, sent: 0, pending: 0, engaged: 0) }
        for row in try await database.pool.query(database.sql("campaign-ab-results", campaign.id, test.metric.rawValue)) {
            let variant = try row.decode(Int.self, "variant")
            guard results.indices.contains(variant) else { continue }
            results[variant] = CampaignScheduler.VariantResult(
                variant: variant, sent: try row.decode(Int.self, "sent"), pending: try row.decode(Int.self, "pending"),
                engaged: try row.decode(Int.self, "engaged"))
        }
        return results
    }

    private func transition(
        id: Int64, to status: Campaign.Status, from allowed: [Campaign.Status], at: Date? = nil, notify: String? = nil
    ) async throws {
        try await database.pool.withTransaction { tx in
            try await transition(on: tx, id: id, to: status, from: allowed, at: at)
            if let notify { try await tx.execute("SELECT pg_notify(\(Self.channel), \("\(notify):\(id)"))") }
        }
    }

    private func transition(
        on connection: PostgresConnection, id: Int64, to status: Campaign.Status, from allowed: [Campaign.Status], at: Date? = nil
    ) async throws {
        let rows = try await connection.query(database.sql("campaign-transition", id, status.rawValue, allowed.map(\.rawValue), at))
        guard rows.isEmpty else { return }
        guard let row = try await connection.query(database.sql("campaign-status", id)).first else {
            throw FacteurError.notFound("no campaign with id \(id)")
        }
        let current = try row.decode(String.self, "status")
        throw FacteurError(
            .conflict,
            "campaign \(id) is \(current); it can become \(status.rawValue) only from \(allowed.map(\.rawValue).joined(separator: " or "))")
    }

    /// An ISO 8601 instant, or a local date-time (`2026-12-01T09:00[:00]`) in `zone`.
    static func instant(_ text: String, zone: TimeZone) -> Date? {
        if let date = ISODates.parse(text), text.count > 10 { return date }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = text.split(whereSeparator: { "-T:".contains($0) }).compactMap { Int($0) }
        guard parts.count == 5 || parts.count == 6, text.count >= 16 else { return nil }
        let components = DateComponents(
            year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts.count == 6 ? parts[5] : 0)
        guard let date = calendar.date(from: components), calendar.dateComponents(in: zone, from: date).hour == parts[3] else { return nil }
        return date
    }
}
