import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Testing

@Suite("Campaign scheduler")
struct CampaignSchedulerTests {
    static func scheduler(_ api: API) -> CampaignScheduler {
        CampaignScheduler(
            campaigns: Campaigns(database: api.database, templates: Templates(database: api.database, layouts: .none)),
            logger: Logger(label: "test"))
    }

    @Test func a_scheduled_campaign_starts_when_its_time_comes_and_only_once() async throws {
        try await withAPI { api in
            let body = try await CampaignAPITests.prepare(api)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "a@example.com", "topics": ["news"]}"#)
            guard case .number(let id)? = try await api.send(.post, "/api/campaigns", json: body).value("id") else { return }
            let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            let scheduled = try await api.send(.post, "/api/campaigns/\(Int(id))/schedule", json: #"{"at": "\#(later)"}"#)
            #expect(scheduled.status == .ok, "\(scheduled.text)")
            let scheduler = Self.scheduler(api)
            #expect(try await scheduler.tick().started == [], "not yet due")
            #expect(try await api.count("messages") == 0)

            try await api.database.pool.execute("UPDATE campaigns SET scheduled_at = now() - interval '1 second'")
            #expect(try await scheduler.tick().started == [Int64(id)])
            #expect(try await api.send(.get, "/api/campaigns/\(Int(id))").value("status") == .string("sending"))
            #expect(try await api.count("messages") == 1)
            #expect(try await scheduler.tick().started == [], "a second pass finds it started")
        }
    }

    @Test func an_ab_test_is_judged_on_human_opens_after_its_wait_and_the_rest_gets_the_winner() async throws {
        try await SendWorkerTests.withCampaign(
            people: 100, extra: #""ab": {"subjects": ["A", "B", "C"], "test_share": 0.3, "wait_seconds": 3600}"#
        ) { setup in
            let (api, id) = (setup.api, setup.campaign)
            let scheduler = Self.scheduler(api)
            #expect(try await scheduler.tick().winners.isEmpty, "the wait is not over")

            try await api.database.pool.execute("UPDATE campaigns SET started_at = now() - interval '2 hours'")
            #expect(try await scheduler.tick().winners.isEmpty, "test messages are still queued: no winner from half a test")

            try await api.database.pool.execute(
                "UPDATE messages SET status = 'sent', sent_at = now() WHERE variant IS NOT NULL")
            // Variant 0: many opens, all from machines (privacy proxies); variant 2: two people; variant 1: one.
            try await api.database.pool.execute(
                """
                INSERT INTO events (type, subscriber_id, campaign_id, message_id, machine, occurred_at)
                SELECT 'open', m.subscriber_id, m.campaign_id, m.id, m.variant = 0, now()
                  FROM (SELECT *, row_number() OVER (PARTITION BY variant ORDER BY id) AS k FROM messages WHERE variant IS NOT NULL) m
                 WHERE (m.variant = 0) OR (m.variant = 1 AND m.k = 1) OR (m.variant = 2 AND m.k <= 2)
                """)
            // A second open by the same person counts once.
            try await api.database.pool.execute(
                "INSERT INTO events (type, subscriber_id, campaign_id, message_id, occurred_at) SELECT type, subscriber_id, campaign_id, message_id, now() FROM events WHERE NOT machine"
            )
            let campaigns = Campaigns(database: api.database, templates: Templates(database: api.database, layouts: .none))
            let results = try await campaigns.abResults(campaign: try await campaigns.get(id: id))
            #expect(results.map(\.sent) == [10, 10, 10])
            #expect(results.map(\.engaged) == [0, 1, 2])

            #expect(try await scheduler.tick().winners == [id: 2])
            #expect(try await api.send(.get, "/api/campaigns/\(id)").value("ab.winner") == .number(2))
            let held = try await api.database.pool.query(
                "SELECT count(*) AS n FROM messages WHERE variant IS NULL AND next_attempt_at > now()")[0].decode(Int.self, "n")
            #expect(held == 0, "the rest of the audience is due now")
            #expect(try await scheduler.tick().winners.isEmpty, "judged once")
            #expect(try await scheduler.tick().finished.isEmpty, "70 messages still queued")

            try await api.database.pool.execute("UPDATE messages SET status = 'sent', sent_at = now()")
            #expect(try await scheduler.tick().finished == [id])
            #expect(try await api.send(.get, "/api/campaigns/\(id)").value("status") == .string("sent"))
        }
    }

    @Test func the_winner_is_the_best_rate_with_ties_to_the_earlier_subject() {
        typealias R = CampaignScheduler.VariantResult
        #expect(
            CampaignScheduler.winner(of: [R(variant: 0, sent: 10, pending: 0, engaged: 3), R(variant: 1, sent: 20, pending: 0, engaged: 6)])
                == 0)
        #expect(
            CampaignScheduler.winner(of: [R(variant: 0, sent: 10, pending: 0, engaged: 1), R(variant: 1, sent: 5, pending: 0, engaged: 1)])
                == 1)
        #expect(
            CampaignScheduler.winner(of: [R(variant: 0, sent: 0, pending: 0, engaged: 0), R(variant: 1, sent: 0, pending: 0, engaged: 0)])
                == 0)
        #expect(
            CampaignScheduler.winner(of: [R(variant: 0, sent: 9, pending: 1, engaged: 9), R(variant: 1, sent: 10, pending: 0, engaged: 0)])
                == nil)
    }
}
