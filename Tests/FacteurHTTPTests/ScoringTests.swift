import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

/// Lead scoring rules through the API, and the incremental figures (engagement, scores) against
/// full rebuilds on random data.
@Suite("Lead scoring")
struct ScoringTests {
    static func score(_ api: API, _ email: String) async throws -> Double {
        try await api.database.pool.query("SELECT score FROM subscribers WHERE email = \(email)")[0].decode(Double.self, "score")
    }

    static func event(_ api: API, _ email: String, _ name: String, _ properties: String = "{}", at: String? = nil) async throws {
        let when = at.map { #", "occurred_at": "\#($0)""# } ?? ""
        let reply = try await api.send(
            .post, "/api/events", json: #"{"email": "\#(email)", "name": "\#(name)", "properties": \#(properties)\#(when)}"#)
        #expect(reply.status == .created, "\(reply.text)")
    }

    @Test func scores_follow_points_filters_caps_negative_rules_and_attributes() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text", "label": "Plan"}"#)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "a@example.com", "attributes": {"plan": "Pro"}}"#)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "b@example.com", "attributes": {"plan": "free"}}"#)
            for rule in [
                #"{"name": "Pricing", "kind": "event", "event_type": "page_view", "condition": {"where": [{"property": "path", "op": "eq", "value": "/pricing"}]}, "points": 10, "daily_cap": 25}"#,
                #"{"name": "Big purchase", "event_type": "purchase", "condition": {"where": [{"property": "amount", "op": "gte", "value": 100}]}, "points": 50}"#,
                #"{"name": "Unsubscribed from a form", "event_type": "form_opt_out", "points": -30}"#,
                #"{"name": "Pro plan", "kind": "attribute", "condition": {"where": [{"property": "plan", "op": "eq", "value": "pro"}]}, "points": 20}"#,
            ] {
                let created = try await api.send(.post, "/api/scoring-rules", json: rule)
                #expect(created.status == .created, "\(created.text)")
            }
            #expect(try await Self.score(api, "a@example.com") == 20, "the attribute rule applies at once")
            // An attribute change through the API moves the score in the same request.
            _ = try await api.send(.patch, "/api/subscribers/b@example.com", json: #"{"attributes": {"plan": "PRO"}}"#)
            #expect(try await Self.score(api, "b@example.com") == 20)
            _ = try await api.send(.patch, "/api/subscribers/b@example.com", json: #"{"attributes": {"plan": null}}"#)
            #expect(try await Self.score(api, "b@example.com") == 0)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "c@example.com", "attributes": {"plan": "pro"}}"#)
            #expect(try await Self.score(api, "c@example.com") == 20, "and a new person's")
            for _ in 0..<4 { try await Self.event(api, "a@example.com", "page_view", #"{"path": "/PRICING"}"#) }
            try await Self.event(api, "a@example.com", "page_view", #"{"path": "/blog"}"#)
            try await Self.event(api, "a@example.com", "purchase", #"{"amount": 99}"#)
            try await Self.event(api, "b@example.com", "purchase", #"{"amount": 120}"#)
            try await Self.event(api, "b@example.com", "form_opt_out")
            #expect(try await Self.score(api, "a@example.com") == 20 + 25, "four pricing views capped at 25 a day")
            #expect(try await Self.score(api, "b@example.com") == 50 - 30)

            // Yesterday's pricing views have their own day's cap.
            try await Self.event(api, "b@example.com", "page_view", #"{"path": "/pricing"}"#, at: "2026-01-01T12:00:00Z")
            #expect(try await Self.score(api, "b@example.com") == 30)

            // Disabling a rule takes its points away; enabling gives them back.
            let rules = try await api.send(.get, "/api/scoring-rules")
            guard case .array(let list) = try rules.json, case .object(let first) = list[0], case .number(let id)? = first["id"] else {
                Issue.record("rules list: \(rules.text)")
                return
            }
            #expect(try await api.send(.patch, "/api/scoring-rules/\(Int(id))", json: #"{"enabled": false}"#).status == .ok)
            #expect(try await Self.score(api, "a@example.com") == 20)
            #expect(try await api.send(.patch, "/api/scoring-rules/\(Int(id))", json: #"{"enabled": true}"#).status == .ok)
            #expect(try await Self.score(api, "a@example.com") == 45)
            #expect(try await api.send(.delete, "/api/scoring-rules/\(Int(id))").status == .noContent)
            #expect(try await Self.score(api, "a@example.com") == 20)
            #expect(try await api.send(.get, "/api/scoring-rules/\(Int(id))").status == .notFound)
        }
    }

    @Test func points_halve_every_half_life_after_the_daily_pass() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "d@example.com"}"#)
            let rule = #"{"name": "Demo", "event_type": "demo_request", "points": 40, "half_life_days": 10}"#
            #expect(try await api.send(.post, "/api/scoring-rules", json: rule).status == .created)
            try await Self.event(api, "d@example.com", "demo_request")
            #expect(try await Self.score(api, "d@example.com") == 40)
            // Twenty days later: the daily pass finds as_of behind and decays.
            try await api.database.pool.execute("UPDATE score_ledger SET day = day - 20")
            try await api.database.pool.execute("UPDATE score_state SET as_of = as_of - 1")
            let rules = ScoringRules(database: api.database)
            #expect(try await rules.decay() == 1)
            #expect(abs(try await Self.score(api, "d@example.com") - 10) < 1e-9, "two half-lives: a quarter left")
            #expect(try await rules.decay() == 0, "once a day")
        }
    }

    @Test func bad_rules_are_refused_with_the_field_named() async throws {
        try await withAPI { api in
            for (body, field) in [
                (#"{"kind": "event", "points": 5}"#, "name"), (#"{"name": "x", "points": 5}"#, "kind"),
                (#"{"name": "x", "kind": "event", "points": 5}"#, "event_type"),
                (#"{"name": "x", "event_type": "a", "points": 0}"#, "points"), (#"{"name": "x", "event_type": "a"}"#, "points"),
                (#"{"name": "x", "event_type": "a", "points": 5, "daily_cap": -1}"#, "daily_cap"),
                (#"{"name": "x", "event_type": "a", "points": 5, "half_life_days": 0}"#, "half_life_days"),
                (
                    #"{"name": "x", "event_type": "a", "points": 5, "condition": {"where": [{"property": "p", "op": "like", "value": 1}]}}"#,
                    "condition.where[0].op"
                ),
                (
                    #"{"name": "x", "event_type": "a", "points": 5, "condition": {"where": [{"property": "p", "op": "gt", "value": "1"}]}}"#,
                    "condition.where[0].value"
                ),
                (
                    #"{"name": "x", "event_type": "a", "points": 5, "condition": {"where": [{"property": "", "op": "exists"}]}}"#,
                    "condition.where[0].property"
                ),
                (#"{"name": "x", "event_type": "a", "points": 5, "condition": {"when": []}}"#, "condition.when"),
                (#"{"name": "x", "kind": "attribute", "points": 5}"#, "condition.where"),
                (
                    #"{"name": "x", "kind": "attribute", "points": 5, "half_life_days": 3, "condition": {"where": [{"property": "p", "op": "exists"}]}}"#,
                    "half_life_days"
                ),
                (#"{"name": "x", "event_type": "a", "points": 5, "extra": 1}"#, "extra"),
            ] {
                let reply = try await api.send(.post, "/api/scoring-rules", json: body)
                #expect(reply.status == .unprocessableContent, "\(body): \(reply.text)")
                #expect(try reply.error("field") == field, "\(body): \(reply.text)")
            }
            #expect(try await api.count("scoring_rules") == 0)
            let created = try await api.send(.post, "/api/scoring-rules", json: #"{"name": "x", "event_type": "a", "points": 5}"#)
            guard case .number(let id)? = try created.value("id") else { return }
            let change = try await api.send(.patch, "/api/scoring-rules/\(Int(id))", json: #"{"kind": "attribute"}"#)
            #expect(change.status == .unprocessableContent)
            #expect(try await api.send(.patch, "/api/scoring-rules/999", json: #"{"points": 1}"#).status == .notFound)
        }
    }

    /// Random events written through the batcher (as tracking and the API write them) give the same
    /// engagement rows and scores as the rebuilds computing from scratch.
    @Test(arguments: [11, 23])
    func incremental_engagement_and_scores_equal_the_rebuilds_on_random_data(seed: UInt64) async throws {
        try await withFacteurDatabase { database in
            var random = SeededRandom(seed: seed)
            try await database.pool.execute(
                "INSERT INTO subscribers (email) SELECT 'r' || g || '@example.com' FROM generate_series(1, 40) g")
            let rules = ScoringRules(database: database)
            for body in [
                #"{"name": "views", "event_type": "page_view", "condition": {"where": [{"property": "path", "op": "starts_with", "value": "/p"}]}, "points": 3, "daily_cap": 7}"#,
                #"{"name": "buys", "event_type": "purchase", "condition": {"where": [{"property": "amount", "op": "between", "value": [10, 500]}]}, "points": 25, "half_life_days": 30}"#,
                #"{"name": "opens", "event_type": "open", "points": 1}"#, #"{"name": "churn", "event_type": "cancel", "points": -12.5}"#,
            ] { _ = try await rules.create(try JSONValue.parse(Data(body.utf8))) }
            let ids = try await database.pool.query("SELECT id FROM subscribers").map { try $0.decode(Int64.self, "id") }
            let batcher = EventBatcher(database: database, logger: Logger(label: "test"))
            let writers = Task { try await batcher.run() }
            let types = ["page_view", "purchase", "open", "click", "cancel", "sent", "signup"]
            let devices: [DeviceClass?] = [.mobile, .desktop, .tablet, nil]
            let clients: [String?] = ["Apple Mail", "Gmail", "Outlook", nil]
            for _ in 0..<8 {
                var batch: [EventInput] = []
                for _ in 0..<Int.random(in: 20...120, using: &random) {
                    let properties: String =
                        switch Int.random(in: 0...3, using: &random) {
                        case 0: #"{"path": "/p\#(Int.random(in: 0...9, using: &random))"}"#
                        case 1: #"{"path": "/blog"}"#
                        case 2: #"{"amount": \#(Int.random(in: 0...800, using: &random))}"#
                        default: "{}"
                        }
                    let daysAgo = Double(Int.random(in: 0...60, using: &random))
                    batch.append(
                        EventInput(
                            type: types.randomElement(using: &random)!, subscriberID: ids.randomElement(using: &random)!,
                            machine: Int.random(in: 0...4, using: &random) == 0, device: devices.randomElement(using: &random)!,
                            client: clients.randomElement(using: &random)!, properties: properties,
                            occurredAt: Date().addingTimeInterval(-daysAgo * 86_400)))
                }
                // Concurrent callers, as requests arrive.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for chunk in stride(from: 0, to: batch.count, by: 15) {
                        let part = Array(batch[chunk..<min(chunk + 15, batch.count)])
                        group.addTask { _ = try await batcher.record(part) }
                    }
                    try await group.waitForAll()
                }
            }
            batcher.stop()
            _ = await writers.result

            let engagementQuery: SQL = """
                SELECT subscriber_id, last_sent_at, last_open_at, last_click_at, last_activity_at, opens, clicks, sends,
                       devices, clients, top_device, top_client FROM engagement ORDER BY subscriber_id
                """
            /// Each row as its text form (`(1,2026-…,…)`), in order.
            func rows(_ sql: SQL) async throws -> [String] {
                try await database.pool.query(.init(unsafeSQL: "SELECT r::text AS r FROM (\(sql.description)) r")).map {
                    try $0.decode(String.self, "r")
                }
            }
            let incremental = try await rows(engagementQuery)
            #expect(incremental.count > 30)
            #expect(try await Engagement(database: database).rebuild() == incremental.count)
            #expect(try await rows(engagementQuery) == incremental)

            let scoreQuery: SQL = "SELECT id, round(score::numeric, 6) AS score FROM subscribers ORDER BY id"
            let ledgerQuery: SQL =
                "SELECT subscriber_id, rule_id, day, round(points::numeric, 6) AS points FROM score_ledger ORDER BY 1, 2, 3"
            let (scores, ledger) = (try await rows(scoreQuery), try await rows(ledgerQuery))
            #expect(scores.contains { !$0.hasSuffix(",0.000000)") }, "some scores moved")
            _ = try await rules.rebuild()
            #expect(try await rows(scoreQuery) == scores)
            #expect(try await rows(ledgerQuery) == ledger)
        }
    }
}
