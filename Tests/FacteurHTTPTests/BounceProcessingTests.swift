import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Postgres
import TestSupport
import Testing

/// Asynchronous bounces and complaints, from real Postfix DSNs and hand-written ARF reports,
/// matched to messages the worker sent.
@Suite("Bounces and complaints")
struct BounceProcessingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FacteurTests/Fixtures/bounces")

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// A sent campaign to p0…, plus `others`; message of `address` gets `messageID` as its Message-ID.
    static func withSent(
        others: [String], messageIDs: [String: String] = [:], _ body: @Sendable (SendWorkerTests.Setup) async throws -> Void
    ) async throws {
        try await SendWorkerTests.withCampaign(people: 1, others: others) { setup in
            #expect(try await setup.worker().sendDue() == others.count + 1)
            for (address, id) in messageIDs {
                try await setup.api.database.pool.execute(
                    "UPDATE messages m SET message_id = \(id) FROM subscribers s WHERE s.id = m.subscriber_id AND s.email = \(address)")
            }
            try await body(setup)
        }
    }

    static func post(_ api: API, _ report: String) async throws -> API.Reply {
        try await api.send(.post, "/api/bounces", json: report, headers: [.contentType: "message/rfc822"])
    }

    static func outcomes(_ reply: API.Reply) throws -> [String] {
        guard case .object(let root) = try reply.json, case .array(let results)? = root["results"] else { return [] }
        return results.compactMap { result in
            guard case .object(let fields) = result, case .string(let outcome)? = fields["outcome"] else { return nil }
            return outcome
        }
    }

    static func state(_ api: API, _ email: String) async throws -> (status: String, suppression: String?, consent: Int) {
        let row = try await api.database.pool.query(
            """
            SELECT s.status, (SELECT reason FROM suppressions WHERE lower(email) = lower(s.email)) AS reason,
                   (SELECT count(*) FROM consent_log c WHERE c.subscriber_id = s.id AND c.source IN ('bounce', 'complaint')) AS consent
              FROM subscribers s WHERE s.email = \(email)
            """)[0]
        return (try row.decode(String.self, "status"), try row.decode(String?.self, "reason"), try row.decode(Int.self, "consent"))
    }

    @Test func a_real_postfix_dsn_hard_bounces_the_right_address_once() async throws {
        try await Self.withSent(others: ["missing@fail.example"], messageIDs: ["missing@fail.example": "c17.s4242.1@facteur.test"]) {
            setup in
            let api = setup.api
            let report = try Self.fixture("postfix-failed-full.eml")
            let first = try await Self.post(api, report)
            #expect(first.status == .ok, "\(first.text)")
            #expect(try Self.outcomes(first) == ["hard_bounce"])
            let state = try await Self.state(api, "missing@fail.example")
            #expect(state.status == "bounced")
            #expect(state.suppression == "hard_bounce")
            #expect(state.consent == 1, "the status change is in the consent log")
            #expect(try await Self.state(api, "p0@example.com").status == "active", "only the bounced address")

            let again = try await Self.post(api, report)
            #expect(try Self.outcomes(again) == ["duplicate"])
            #expect(try await TrackingTests.eventCount(api, "bounce") == 1, "a report applied twice counts once")

            let stats = try await api.send(.get, "/api/campaigns/\(setup.campaign)/stats")
            #expect(try stats.value("hard_bounces") == .number(1))
            #expect(try stats.value("sent") == .number(2))
            #expect(try stats.value("delivered") == .number(1))
        }
    }

    @Test func a_dsn_quoting_nothing_of_ours_is_matched_by_its_verp_address_or_unsubscribe_url() async throws {
        try await Self.withSent(others: ["missing@fail.example", "nobody@fail.example"]) { setup in
            let api = setup.api
            let ids = try await api.database.pool.query(
                "SELECT s.email, m.id FROM messages m JOIN subscribers s ON s.id = m.subscriber_id"
            ).reduce(into: [String: Int64]()) { $0[try $1.decode(String.self, "email")] = try $1.decode(Int64.self, "id") }
            // VERP: the report was delivered to bounces+<token>@…; its quoted Message-ID is nobody's.
            let verp = try Self.fixture("postfix-failed-full.eml")
                .replacingOccurrences(of: "bounces+c17.s4242@", with: "bounces+\(testLinks.token(message: ids["missing@fail.example"]!))@")
                .replacingOccurrences(of: "c17.s4242.1@facteur.test", with: "unknown@elsewhere.test")
            #expect(try Self.outcomes(try await Self.post(api, verp)) == ["hard_bounce"])
            // The one-click URL in the returned headers.
            let listUnsubscribe = try Self.fixture("postfix-failed-headers-only.eml")
                .replacingOccurrences(of: "/u/c17.s4243", with: "/u/\(testLinks.unsubscribeToken(message: ids["nobody@fail.example"]!))")
                .replacingOccurrences(of: "c17.s4243.1@facteur.test", with: "unknown2@elsewhere.test")
            #expect(try Self.outcomes(try await Self.post(api, listUnsubscribe)) == ["hard_bounce"])
            let campaigns = try await api.database.pool.query(
                "SELECT count(*) AS n FROM events WHERE type = 'bounce' AND campaign_id = \(setup.campaign) AND message_id IS NOT NULL")
            #expect(try campaigns[0].decode(Int.self, "n") == 2, "both bounces name their campaign and message")
            #expect(try await Self.state(api, "nobody@fail.example").suppression == "hard_bounce")
        }
    }

    @Test func soft_bounces_suppress_at_the_third_within_seven_days() async throws {
        try await Self.withSent(others: ["missing@fail.example"], messageIDs: ["missing@fail.example": "c17.s4242.1@facteur.test"]) {
            setup in
            let soft = try Self.fixture("postfix-failed-full.eml").replacingOccurrences(of: "Status: 5.1.1", with: "Status: 4.2.2")
            var outcomes: [String] = []
            for attempt in 1...3 {
                // Three distinct reports (a retry of the same one would be a duplicate).
                let report = soft.replacingOccurrences(of: "Subject: ", with: "Subject: [\(attempt)] ")
                outcomes += try Self.outcomes(try await Self.post(setup.api, report))
            }
            #expect(outcomes == ["soft_bounce", "soft_bounce", "suppressed"])
            let state = try await Self.state(setup.api, "missing@fail.example")
            #expect(state.status == "bounced")
            #expect(state.suppression == "soft_bounce")
        }
    }

    @Test func an_arf_complaint_unsubscribes_from_everything_and_suppresses() async throws {
        try await Self.withSent(others: ["reader@isp.example"], messageIDs: ["reader@isp.example": "c34.s12.1776412719@facteur.test"]) {
            setup in
            let api = setup.api
            let reply = try await Self.post(api, try Self.fixture("arf-abuse.eml"))
            #expect(try Self.outcomes(reply) == ["complaint"], "\(reply.text)")
            let state = try await Self.state(api, "reader@isp.example")
            #expect(state.status == "complained")
            #expect(state.suppression == "complaint")
            #expect(state.consent == 2, "the status change and the topic's unsubscribe")
            let topics = try await api.send(.get, "/api/subscribers/reader@isp.example")
            #expect(topics.text.contains("\"unsubscribed\""), "\(topics.text)")
            let stats = try await api.send(.get, "/api/campaigns/\(setup.campaign)/stats")
            #expect(try stats.value("complaints") == .number(1))
        }
    }

    @Test func delays_are_ignored_and_unknown_addresses_unmatched() async throws {
        try await Self.withSent(others: []) { setup in
            let delayed = try await Self.post(setup.api, try Self.fixture("postfix-delayed.eml"))
            #expect(try Self.outcomes(delayed).allSatisfy { $0 == "ignored" }, "\(delayed.text)")
            let stranger = try await Self.post(setup.api, try Self.fixture("postfix-failed-two-recipients.eml"))
            #expect(try Self.outcomes(stranger) == ["unmatched", "unmatched"])
            #expect(try await setup.api.count("suppressions") == 0)
        }
    }

    @Test func what_is_not_a_report_is_refused_and_changes_nothing() async throws {
        try await Self.withSent(others: ["missing@fail.example"]) { setup in
            let api = setup.api
            for name in ["bad-not-mime.eml", "bad-mixed-without-report.eml", "bad-garbage-status.eml", "bad-report-without-recipients.eml"]
            {
                let reply = try await Self.post(api, try Self.fixture(name))
                #expect(reply.status == .unprocessableContent, "\(name): \(reply.text)")
                #expect(try reply.error("message")?.isEmpty == false)
            }
            #expect(try await api.send(.post, "/api/bounces", json: "", headers: [.contentType: "message/rfc822"]).status == .badRequest)
            let huge = String(repeating: "x", count: BounceReport.maxBytes + 1)
            #expect(try await Self.post(api, huge).status == .contentTooLarge)
            #expect(try await TrackingTests.eventCount(api, "bounce") == 0)
            #expect(try await api.count("suppressions") == 0)
        }
    }

    @Test func facteur_bounces_import_applies_a_maildir_and_files_what_it_read() async throws {
        let binary = try FacteurBinary.path()
        try await Self.withSent(others: ["missing@fail.example"], messageIDs: ["missing@fail.example": "c17.s4242.1@facteur.test"]) {
            setup in
            let maildir = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-maildir-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: maildir) }
            for folder in ["new", "cur", "tmp"] {
                try FileManager.default.createDirectory(at: maildir.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try Self.fixture("postfix-failed-full.eml").write(
                to: maildir.appendingPathComponent("new/1.host"), atomically: true, encoding: .utf8)
            try Self.fixture("bad-not-mime.eml").write(to: maildir.appendingPathComponent("new/2.host"), atomically: true, encoding: .utf8)
            let log = maildir.appendingPathComponent("import.log").path
            let environment = WorkerFaultTests.workerEnvironment(setup.api.database.pool, smtpPort: 25)
            let process = try ChildProcess(binary, ["bounces", "import", maildir.path], environment: environment, log: log)
            #expect(await process.exited() == 0)
            let output = try String(contentsOfFile: log, encoding: .utf8)
            #expect(output.contains("2 files: 1 hard_bounce"), "\(output)")
            #expect(output.contains("not a report: 2.host"), "\(output)")
            let cur = try FileManager.default.contentsOfDirectory(atPath: maildir.appendingPathComponent("cur").path)
            #expect(cur == ["1.host:2,S"], "the applied report is marked seen; the other stays in new/")
            #expect(try await Self.state(setup.api, "missing@fail.example").suppression == "hard_bounce")
        }
    }

    @Test func the_rebuild_commands_recompute_engagement_and_scores_from_the_events() async throws {
        let binary = try FacteurBinary.path()
        try await Self.withSent(others: []) { setup in
            let api = setup.api
            let rule = #"{"name": "Sent", "event_type": "sent", "points": 2}"#
            #expect(try await api.send(.post, "/api/scoring-rules", json: rule).status == .created)
            // Wiped by hand, as after a restore: the commands put them back from the events.
            try await api.database.pool.execute("DELETE FROM engagement")
            let environment = WorkerFaultTests.workerEnvironment(api.database.pool, smtpPort: 25)
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-rebuild-\(UUID().uuidString).log").path
            defer { try? FileManager.default.removeItem(atPath: log) }
            for command in [["engagement", "rebuild"], ["scores", "rebuild"]] {
                #expect(try await ChildProcess(binary, command, environment: environment, log: log).exited() == 0)
            }
            let output = try String(contentsOfFile: log, encoding: .utf8)
            #expect(output.contains("rebuilt engagement of 1 subscribers"), "\(output)")
            #expect(output.contains("rebuilt lead scores"), "\(output)")
            let engagement = try await api.send(.get, "/api/subscribers/p0@example.com/engagement")
            #expect(try engagement.value("sends") == .number(1))
            #expect(try await ScoringTests.score(api, "p0@example.com") == 2, "the rule counts the sent event it came after")
        }
    }
}
