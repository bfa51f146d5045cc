import Facteur
import Foundation
import Hummingbird
import Postgres
import Testing

@Suite("Campaigns API")
struct CampaignAPITests {
    /// A template, a topic and a valid campaign body using them.
    static func prepare(_ api: API) async throws -> String {
        _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
        let template = try await api.send(
            .post, "/api/templates",
            json:
                #"{"name": "T", "subject": "Hello", "html": "<p>Hi {{first_name}}</p><a href=\"https://example.com/a\">A</a> <a href='https://example.com/b?x=1&amp;y=2'>B</a> <a href=\"{{unsubscribe_url}}\">u</a> <a href=\"https://example.com/a\">again</a>"}"#
        )
        #expect(template.status == .created, "\(template.text)")
        guard case .number(let id)? = try template.value("id") else { return "" }
        return
            #"{"name": "Offre d'été", "template_id": \#(Int(id)), "subject": "Bonjour {{first_name}}", "from_name": "Claire", "from_email": "claire@example.com", "topic": "news"}"#
    }

    @Test func bad_campaigns_are_refused_with_the_field_named() async throws {
        try await withAPI { api in
            let valid = try await Self.prepare(api)
            guard case .object(let base) = try JSONValue.json(valid) else { return }
            for (patch, field) in [
                (#"{"from_email": "nope"}"#, "from_email"), (#"{"template_id": 999}"#, "template_id"), (#"{"topic": "ghost"}"#, "topic"),
                (#"{"subject": "Hi {{frist_name}}"}"#, "subject"), (#"{"headers": {"Bcc": "x@y.com"}}"#, "headers.Bcc"),
                (#"{"headers": {"X-Tag": "a\r\nBcc: x@y.com"}}"#, "headers.X-Tag"), (#"{"segment_id": 1}"#, "segment_id"),
                (#"{"ab": {"subjects": ["only one"]}}"#, "ab.subjects"),
                (#"{"ab": {"subjects": ["a", "b"], "test_share": 0.9}}"#, "ab.test_share"),
                (#"{"rate_limit": 0}"#, "rate_limit"),
            ] {
                guard case .object(let changes) = try JSONValue.json(patch) else { continue }
                let body = JSONValue.object(base.merging(changes) { _, new in new }).jsonText
                let reply = try await api.send(.post, "/api/campaigns", json: body)
                #expect(reply.status == .unprocessableContent, "\(patch): \(reply.text)")
                #expect(try reply.error("field") == field, "\(patch): \(reply.text)")
            }
            #expect(try await api.count("campaigns") == 0)
        }
    }

    @Test func starting_queues_exactly_the_eligible_audience_once() async throws {
        try await withAPI { api in
            let body = try await Self.prepare(api)
            for (email, status, topic) in [
                ("in@example.com", "active", "subscribed"), ("out@example.com", "active", "unsubscribed"),
                ("pending@example.com", "pending", "subscribed"),
                ("suppressed@example.com", "active", "subscribed"), ("notopic@example.com", "active", nil),
                ("erased@example.com", "active", "subscribed"),
            ] as [(String, String, String?)] {
                _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "\#(email)", "status": "\#(status)"}"#)
                if let topic { _ = try await api.send(.put, "/api/subscribers/\(email)/topics", json: #"{"news": "\#(topic)"}"#) }
            }
            try await api.database.pool.execute("INSERT INTO suppressions (email, reason) VALUES ('SUPPRESSED@example.com', 'hard_bounce')")
            try await api.database.pool.execute(
                "INSERT INTO suppressions (email_hash, reason) VALUES (sha256(convert_to('erased@example.com', 'UTF8')), 'erased')")
            let created = try await api.send(.post, "/api/campaigns", json: body)
            #expect(created.status == .created, "\(created.text)")
            #expect(try created.value("status") == .string("draft"))
            guard case .number(let number)? = try created.value("id") else { return }
            let id = Int(number)

            let listener = PostgresListener(configuration: api.database.pool.configuration, channels: [Campaigns.channel])
            var notifications = listener.notifications().makeAsyncIterator()
            _ = await notifications.next()

            let started = try await api.send(.post, "/api/campaigns/\(id)/start")
            #expect(started.status == .ok, "\(started.text)")
            #expect(try started.value("queued") == .number(1))
            #expect(try started.value("links") == .number(2))
            let notified = await notifications.next()
            #expect(notified?.payload == "start:\(id)")
            let queued = try await api.database.pool.query(
                "SELECT s.email FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.campaign_id = \(Int64(id))")
            #expect(try queued.map { try $0.decode(String.self, "email") } == ["in@example.com"])
            let links = try await api.database.pool.query("SELECT url FROM campaign_links ORDER BY id")
            #expect(try links.map { try $0.decode(String.self, "url") } == ["https://example.com/a", "https://example.com/b?x=1&amp;y=2"])

            let again = try await api.send(.post, "/api/campaigns/\(id)/start")
            #expect(again.status == .conflict)
            #expect(try again.error("message") == "campaign \(id) is sending; it can become sending only from draft or scheduled")
            #expect(try await api.count("messages") == 1)
            #expect(try await api.send(.get, "/api/campaigns/\(id)/progress").value("counts.queued") == .number(1))
        }
    }

    @Test func the_status_flow_allows_only_its_transitions() async throws {
        try await withAPI { api in
            let body = try await Self.prepare(api)
            let created = try await api.send(.post, "/api/campaigns", json: body)
            guard case .number(let number)? = try created.value("id") else { return }
            let id = Int(number)
            #expect(try await api.send(.post, "/api/campaigns/\(id)/pause").status == .conflict)
            let past = try await api.send(.post, "/api/campaigns/\(id)/schedule", json: #"{"at": "2020-01-01T00:00:00Z"}"#)
            #expect(past.status == .unprocessableContent)
            let local = try await api.send(
                .post, "/api/campaigns/\(id)/schedule", json: #"{"at": "2099-06-01T09:00", "time_zone": "America/Montreal"}"#)
            #expect(local.status == .ok, "\(local.text)")
            #expect(try local.value("status") == .string("scheduled"))
            #expect(try local.value("scheduled_at") == .string("2099-06-01T13:00:00Z"))
            #expect(try await api.send(.patch, "/api/campaigns/\(id)", json: #"{"name": "Renamed"}"#).status == .ok)
            #expect(try await api.send(.post, "/api/campaigns/\(id)/start").status == .ok)
            #expect(try await api.send(.patch, "/api/campaigns/\(id)", json: #"{"name": "Too late"}"#).status == .conflict)
            #expect(try await api.send(.post, "/api/campaigns/\(id)/pause").value("status") == .string("paused"))
            #expect(try await api.send(.post, "/api/campaigns/\(id)/resume").value("status") == .string("sending"))
            #expect(try await api.send(.delete, "/api/campaigns/\(id)").status == .conflict)
            #expect(try await api.send(.post, "/api/campaigns/\(id)/cancel").value("status") == .string("cancelled"))
            #expect(try await api.send(.post, "/api/campaigns/\(id)/resume").status == .conflict)
            #expect(try await api.send(.delete, "/api/campaigns/\(id)").status == .noContent)
        }
    }
}

@Suite("Campaign preview")
struct CampaignPreviewTests {
    @Test func preview_renders_for_one_subscriber_with_signed_tracking_links() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#)
            _ = try await api.send(.post, "/api/companies", json: #"{"name": "Climatisation Québec", "domain": "climqc.ca"}"#)
            let body = try await CampaignAPITests.prepare(api)
            _ = try await api.send(
                .post, "/api/subscribers",
                json:
                    #"{"email": "elodie@climqc.ca", "name": "Élodie Lefèvre", "company_id": 1, "attributes": {"plan": "pro"}, "topics": ["news"]}"#
            )
            let created = try await api.send(.post, "/api/campaigns", json: body)
            guard case .number(let number)? = try created.value("id") else { return }
            let id = Int(number)
            _ = try await api.send(.post, "/api/campaigns/\(id)/start")

            let preview = try await api.send(.get, "/api/campaigns/\(id)/preview?subscriber=elodie@climqc.ca")
            #expect(preview.status == .ok, "\(preview.text)")
            #expect(try preview.value("subject") == .string("Bonjour Élodie"))
            guard case .string(let html)? = try preview.value("html"), case .string(let text)? = try preview.value("text") else { return }
            #expect(html.contains("<p>Hi Élodie</p>"))
            #expect(!html.contains(#"href="https://example.com/a""#), "tracked links must be rewritten")
            #expect(html.contains(#"href="https://mail.example.test/t/c/t1."#))
            #expect(html.contains(#"<img src="https://mail.example.test/t/o/t1."#))
            #expect(html.contains(#"href="https://mail.example.test/u/t1."#), "the unsubscribe link is the signed one")
            #expect(text.contains("Hi Élodie"))
            #expect(text.contains("A (https://example.com/a)"), "the text part keeps each link's real destination")
            // Every rewritten click URL names a link row of this campaign and a token for the queued message.
            let message = try await api.database.pool.query("SELECT id FROM messages")[0].decode(Int64.self, "id")
            let clicks = html.components(separatedBy: "/t/c/").dropFirst().map { $0.prefix { $0 != "\"" && $0 != "'" } }
            #expect(clicks.count == 3)
            for click in clicks {
                let parts = click.split(separator: "/")
                #expect(testLinks.signer.verify(String(parts[0]), as: .message)?.id == message)
                let linkID = try #require(Int64(parts[1]), "\(click)")
                let link = try await api.database.pool.query("SELECT campaign_id FROM campaign_links WHERE id = \(linkID)")
                #expect(try link[0].decode(Int.self, "campaign_id") == id)
            }
            guard case .array(let headers)? = try preview.value("headers") else { return }
            #expect(headers.contains(.object(["name": .string("List-Unsubscribe-Post"), "value": .string("List-Unsubscribe=One-Click")])))

            #expect(try await api.send(.get, "/api/campaigns/\(id)/preview").status == .unprocessableContent)
            #expect(try await api.send(.get, "/api/campaigns/\(id)/preview?subscriber=nobody@example.com").status == .notFound)
        }
    }
}

@Suite("A/B subject test")
struct ABSplitTests {
    @Test func a_test_share_gets_the_variants_in_turn_and_the_rest_waits_for_the_winner() async throws {
        try await SendWorkerTests.withCampaign(
            people: 200, extra: #""ab": {"subjects": ["Offre A", "Offre B"], "test_share": 0.2, "wait_seconds": 3600}"#
        ) { setup in
            let api = setup.api
            #expect(try await api.count("messages") == 200)
            let split = try await api.database.pool.query(
                """
                SELECT variant, count(*) AS n, bool_and(next_attempt_at = 'infinity') AS waiting
                  FROM messages GROUP BY variant ORDER BY variant NULLS LAST
                """)
            #expect(try split.map { try $0.decode(Int?.self, "variant") } == [0, 1, nil])
            #expect(try split.map { try $0.decode(Int.self, "n") } == [20, 20, 160])
            #expect(try split.map { try $0.decode(Bool.self, "waiting") } == [false, false, true])
        }
    }
}
