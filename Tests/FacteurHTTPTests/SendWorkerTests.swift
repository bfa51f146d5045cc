import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Mail
import TestSupport
import Testing

/// The send worker against a real database, writing real `.eml` files (the SMTP transport has
/// its own tests against real servers).
@Suite("Send worker")
struct SendWorkerTests {
    struct Setup {
        let api: API
        let outbox: URL
        let campaign: Int64

        func worker(
            _ id: String = "w1", transport: (any MailTransport)? = nil, configure: (inout SendWorkerSettings) -> Void = { _ in }
        ) throws -> SendWorker {
            var settings = SendWorkerSettings(id: id)
            settings.retryBase = 0.01
            configure(&settings)
            return SendWorker(
                database: api.database, transport: try transport ?? OutboxTransport(directory: outbox), links: testLinks,
                assembler: MessageAssembler(signers: []), layouts: .none, settings: settings, logger: Logger(label: "test"))
        }

        /// The recipients of the `.eml` files, one entry per file.
        func delivered() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }.map { name in
                let text = try String(contentsOf: outbox.appendingPathComponent(name), encoding: .utf8)
                return String(text.split(separator: "\r\n")[1].dropFirst("X-Envelope-To: ".count))
            }
        }

        func statuses() async throws -> [String: Int] {
            try await WorkerFaultTests.statuses(api.database.pool)
        }
    }

    /// A started campaign to `people` subscribers of topic `news` (p0@example.com …) and to
    /// `others`; the campaign's extra JSON in `extra`.
    static func withCampaign(
        people: Int, others: [String] = [], extra: String = "", start: Bool = true, _ body: @Sendable (Setup) async throws -> Void
    ) async throws {
        let outbox = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-worker-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outbox) }
        try await withAPI { api in
            let campaignJSON = try await CampaignAPITests.prepare(api)
            let emails = (0..<people).map { "p\($0)@example.com" } + others
            let rows = emails.map { #"{"email": "\#($0)", "name": "Person"}"# }.joined(separator: ",")
            _ = try await api.send(.post, "/api/subscribers/batch", json: "[\(rows)]")
            try await api.database.pool.execute(
                "INSERT INTO subscriptions (subscriber_id, topic_id, status, source) SELECT id, 1, 'subscribed', 'api' FROM subscribers")
            let json = extra.isEmpty ? campaignJSON : String(campaignJSON.dropLast()) + ", " + extra + "}"
            let created = try await api.send(.post, "/api/campaigns", json: json)
            #expect(created.status == .created, "\(created.text)")
            guard case .number(let id)? = try created.value("id") else { return }
            if start { #expect(try await api.send(.post, "/api/campaigns/\(Int(id))/start").status == .ok) }
            try await body(Setup(api: api, outbox: outbox, campaign: Int64(id)))
        }
    }

    @Test func every_queued_message_is_sent_once_with_its_message_id_and_a_sent_event() async throws {
        try await Self.withCampaign(people: 120) { setup in
            let worker = try setup.worker()
            #expect(try await worker.sendDue() == 120)
            #expect(try await setup.statuses() == ["sent": 120])
            let delivered = try setup.delivered()
            #expect(delivered.count == 120)
            #expect(Set(delivered) == Set((0..<120).map { "p\($0)@example.com" }))
            let stored = try await setup.api.database.pool.query(
                """
                SELECT count(DISTINCT message_id) AS ids, count(*) FILTER (WHERE smtp_reply LIKE '%.eml') AS replies,
                       (SELECT count(*) FROM events WHERE type = 'sent') AS events
                  FROM messages
                """)[0]
            #expect(try stored.decode(Int.self, "ids") == 120)
            #expect(try stored.decode(Int.self, "replies") == 120, "the transport's reply (here the file name) is kept")
            #expect(try stored.decode(Int.self, "events") == 120)
            #expect(try await worker.sendDue() == 0, "nothing is sent twice")
            #expect(try setup.delivered().count == 120)
        }
    }

    @Test func people_who_unsubscribe_bounce_or_get_suppressed_after_the_start_are_skipped_with_the_reason() async throws {
        try await Self.withCampaign(people: 5) { setup in
            let pool = setup.api.database.pool
            _ = try await setup.api.send(.put, "/api/subscribers/p0@example.com/topics", json: #"{"news": "unsubscribed"}"#)
            try await pool.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'p1@example.com'")
            try await pool.execute("INSERT INTO suppressions (email, reason) VALUES ('P2@example.com', 'manual')")
            try await pool.execute("UPDATE subscribers SET paused_until = now() + interval '30 days' WHERE email = 'p3@example.com'")
            try await setup.worker().sendDue()
            #expect(try setup.delivered() == ["p4@example.com"])
            let reasons = try await pool.query(
                "SELECT s.email, m.skip_reason FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.status = 'skipped' ORDER BY s.email"
            ).map { try $0.decode(String.self, "email") + ": " + $0.decode(String.self, "skip_reason") }
            #expect(
                reasons == [
                    "p0@example.com: not subscribed to the topic", "p1@example.com: subscriber is bounced",
                    "p2@example.com: address suppressed", "p3@example.com: subscriber paused their emails",
                ])
        }
    }

    @Test func a_paused_campaign_sends_nothing_until_resumed() async throws {
        try await Self.withCampaign(people: 10) { setup in
            _ = try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/pause")
            let worker = try setup.worker()
            #expect(try await worker.sendDue() == 0)
            #expect(try setup.delivered().isEmpty)
            _ = try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/resume")
            #expect(try await worker.sendDue() == 10)
        }
    }

    @Test func three_workers_at_once_share_the_work_without_sending_anything_twice() async throws {
        try await Self.withCampaign(people: 600) { setup in
            let first = try setup.worker("w1")
            let second = try setup.worker("w2")
            let third = try setup.worker("w3")
            async let a = first.sendDue()
            async let b = second.sendDue()
            async let c = third.sendDue()
            let counts = try await [a, b, c]
            #expect(counts.reduce(0, +) == 600)
            #expect(counts.filter { $0 > 0 }.count >= 2, "the work was shared: \(counts)")
            let delivered = try setup.delivered()
            #expect(delivered.count == 600)
            #expect(Set(delivered).count == 600, "no address got the campaign twice")
        }
    }

    @Test func an_expired_lease_is_reclaimed_and_a_live_one_is_left_alone() async throws {
        try await Self.withCampaign(people: 3) { setup in
            let pool = setup.api.database.pool
            try await pool.execute(
                """
                UPDATE messages SET status = 'sending', locked_by = 'dead-worker', attempts = 1,
                       locked_until = CASE WHEN subscriber_id = (SELECT min(id) FROM subscribers) THEN now() - interval '1 second'
                                           ELSE now() + interval '1 hour' END
                """)
            let worker = try setup.worker()
            #expect(try await worker.reclaimExpiredLeases() == 1)
            #expect(try await worker.sendDue() == 1)
            #expect(try setup.delivered() == ["p0@example.com"])
            // A late result from the dead worker changes nothing: it no longer holds the message.
            #expect(try await setup.statuses() == ["sent": 1, "sending": 2])
        }
    }

    @Test func the_rest_of_an_ab_audience_gets_the_winning_subject() async throws {
        try await Self.withCampaign(
            people: 20, extra: #""ab": {"subjects": ["Subject A", "Subject B"], "test_share": 0.5, "wait_seconds": 600}"#
        ) { setup in
            let worker = try setup.worker()
            #expect(try await worker.sendDue() == 10, "only the test share is due")
            try await setup.api.database.pool.execute("UPDATE campaigns SET started_at = now() - interval '1 hour'")
            // Variant B gets the only open.
            try await setup.api.database.pool.execute(
                "INSERT INTO events (type, subscriber_id, campaign_id, message_id, occurred_at) SELECT 'open', subscriber_id, campaign_id, id, now() FROM messages WHERE variant = 1 LIMIT 1"
            )
            let scheduler = CampaignSchedulerTests.scheduler(setup.api)
            #expect(try await scheduler.tick().winners == [setup.campaign: 1])
            #expect(try await worker.sendDue() == 10)
            let subjects = try FileManager.default.contentsOfDirectory(atPath: setup.outbox.path).map { name in
                let text = try String(contentsOf: setup.outbox.appendingPathComponent(name), encoding: .utf8)
                return text.split(separator: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) } ?? ""
            }
            #expect(subjects.filter { $0 == "Subject A" }.count == 5)
            #expect(subjects.filter { $0 == "Subject B" }.count == 15)
            #expect(try await scheduler.tick().finished == [setup.campaign])
        }
    }

    @Test func a_sending_campaigns_template_cannot_change_but_can_be_renamed() async throws {
        try await Self.withCampaign(people: 2) { setup in
            let changed = try await setup.api.send(.patch, "/api/templates/1", json: #"{"html": "<p>Other</p>"}"#)
            #expect(changed.status == .conflict)
            #expect(try changed.error("message")?.contains("campaign \(setup.campaign), which is sending") == true)
            #expect(try await setup.api.send(.patch, "/api/templates/1", json: #"{"name": "Renamed"}"#).status == .ok)
            _ = try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/cancel")
            #expect(try await setup.api.send(.patch, "/api/templates/1", json: #"{"html": "<p>Other</p>"}"#).status == .ok)
        }
    }

    @Test func a_stored_address_that_no_longer_parses_fails_its_message_without_a_bounce() async throws {
        try await Self.withCampaign(people: 1, start: false) { setup in
            let pool = setup.api.database.pool
            // Written around the API's checks, as an old import or a manual fix might have.
            try await pool.execute("INSERT INTO subscribers (email, name, status) VALUES ('two words@example.com', 'X', 'active')")
            try await pool.execute(
                "INSERT INTO subscriptions (subscriber_id, topic_id, status, source) SELECT id, 1, 'subscribed', 'api' FROM subscribers WHERE email LIKE 'two%'"
            )
            #expect(try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/start").status == .ok)
            try await setup.worker().sendDue()
            #expect(try setup.delivered() == ["p0@example.com"])
            let row = try await pool.query(
                """
                SELECT m.status, m.smtp_reply, s.status AS person, (SELECT count(*) FROM events WHERE type = 'bounce') AS bounces
                  FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email LIKE 'two%'
                """)[0]
            #expect(try row.decode(String.self, "status") == "failed")
            #expect(try row.decode(String.self, "smtp_reply").contains("cannot be used"))
            #expect(try row.decode(String.self, "person") == "active")
            #expect(try row.decode(Int.self, "bounces") == 0)
        }
    }
}
