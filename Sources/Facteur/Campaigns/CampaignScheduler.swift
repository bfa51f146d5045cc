import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// The clock of the campaign flow: starts scheduled campaigns when their time comes, judges A/B
/// subject tests when their wait is over and releases the rest of the audience with the winner,
/// and marks campaigns with nothing left to send as sent.
///
/// Every step is a single guarded statement (status checks in the `WHERE`), so any number of
/// processes may run it at once: one of them does each thing, the others find it done.
public struct CampaignScheduler: Service {
    let campaigns: Campaigns
    let logger: Logger
    let interval: Duration

    public init(campaigns: Campaigns, logger: Logger, interval: Duration = .seconds(5)) {
        self.campaigns = campaigns
        self.logger = logger
        self.interval = interval
    }

    /// What one pass did.
    public struct Report: Sendable, Equatable {
        public var started: [Int64] = []
        /// Campaign id → index of the winning subject.
        public var winners: [Int64: Int] = [:]
        public var finished: [Int64] = []
    }

    public func run() async throws {
        await runPeriodically(every: interval, logger: logger, failure: "campaign scheduler pass failed") {
            let report = try await tick()
            for id in report.started { logger.info("started scheduled campaign", metadata: ["campaign": "\(id)"]) }
            for (id, winner) in report.winners {
                logger.info("A/B test judged", metadata: ["campaign": "\(id)", "winner": "\(winner)"])
            }
            for id in report.finished { logger.info("campaign sent", metadata: ["campaign": "\(id)"]) }
        }
    }

    /// One pass: due starts, due A/B decisions, finished campaigns.
    public func tick() async throws -> Report {
        let database = campaigns.database
        var report = Report()
        // One campaign's failure is logged and does not hold up the others.
        for row in try await database.pool.query(database.sql("campaigns-due")) {
            let id = try row.decode(Int64.self, "id")
            do {
                _ = try await campaigns.start(id: id)
                report.started.append(id)
            } catch let error as FacteurError where error.kind == .conflict {
                continue  // another scheduler started it, or it was cancelled meanwhile
            } catch {
                logger.error("could not start a scheduled campaign", metadata: ["campaign": "\(id)", "error": "\(error)"])
            }
        }
        for row in try await database.pool.query(database.sql("campaigns-ab-due")) {
            let id = try row.decode(Int64.self, "id")
            do {
                if let winner = try await judge(campaign: id) { report.winners[id] = winner }
            } catch {
                logger.error("could not judge an A/B test", metadata: ["campaign": "\(id)", "error": "\(error)"])
            }
        }
        report.finished = try await database.pool.query(database.sql("campaigns-finish")).map { try $0.decode(Int64.self, "id") }
        return report
    }

    /// The results of an A/B test so far, one entry per subject.
    public struct VariantResult: Sendable, Equatable, Encodable {
        public var variant: Int
        public var sent: Int
        public var pending: Int
        /// People who opened (or clicked, by the test's metric), machines excluded.
        public var engaged: Int
        public var rate: Double { sent == 0 ? 0 : Double(engaged) / Double(sent) }

        public init(variant: Int, sent: Int, pending: Int, engaged: Int) {
            self.variant = variant
            self.sent = sent
            self.pending = pending
            self.engaged = engaged
        }
    }

    /// The winner: the highest rate; ties go to the earlier subject. Nil while test messages are
    /// still being sent (a winner picked from half the test share would be a guess).
    public static func winner(of results: [VariantResult]) -> Int? {
        guard !results.isEmpty, results.allSatisfy({ $0.pending == 0 }) else { return nil }
        var best = results[0]
        for result in results.dropFirst() where result.rate > best.rate { best = result }
        return best.variant
    }

    /// Chooses and records the winner, and makes the rest of the audience due, in one transaction.
    func judge(campaign id: Int64) async throws -> Int? {
        let database = campaigns.database
        let campaign = try await campaigns.get(id: id)
        guard let winner = Self.winner(of: try await campaigns.abResults(campaign: campaign)) else { return nil }
        return try await database.pool.withTransaction { tx in
            guard try await !tx.query(database.sql("campaign-ab-choose", id, winner)).isEmpty else { return nil }
            try await tx.execute(database.sql("campaign-ab-release", id))
            try await tx.execute("SELECT pg_notify(\(Campaigns.channel), \("winner:\(id)"))")
            return winner
        }
    }
}
