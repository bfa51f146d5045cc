import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Testing

/// One-click unsubscribe (RFC 8058), the unsubscribe page, and double opt-in sign-up, through the
/// real router, with the links of messages the worker really built.
@Suite("Unsubscribe and sign-up")
struct UnsubscribeAndSignupTests {
    /// The `/u/…` path of each delivered message, by recipient.
    static func unsubscribePaths(_ setup: SendWorkerTests.Setup) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: setup.outbox.path) where name.hasSuffix(".eml") {
            let raw = try String(contentsOf: setup.outbox.appendingPathComponent(name), encoding: .utf8)
            let recipient = String(raw.split(separator: "\r\n")[1].dropFirst("X-Envelope-To: ".count))
            let header = try #require(raw.split(separator: "\r\n").first { $0.hasPrefix("List-Unsubscribe: ") })
            let start = try #require(header.range(of: "https://mail.example.test"))
            result[recipient] = String(header[start.upperBound...].prefix { $0 != ">" })
        }
        return result
    }

    static func status(_ api: API, _ email: String) async throws -> (status: String, news: String?) {
        let row = try await api.database.pool.query(
            """
            SELECT s.status, x.status AS news FROM subscribers s
              LEFT JOIN subscriptions x ON x.subscriber_id = s.id AND x.topic_id = 1
             WHERE s.email = \(email)
            """)[0]
        return (try row.decode(String.self, "status"), try row.decode(String?.self, "news"))
    }

    @Test func one_click_unsubscribes_from_the_campaigns_topic_before_answering_without_cookie_or_redirect() async throws {
        try await SendWorkerTests.withCampaign(people: 3) { setup in
            let api = setup.api
            #expect(try await setup.worker().sendDue() == 3)
            let paths = try Self.unsubscribePaths(setup)
            let p0 = try #require(paths["p0@example.com"])

            let reply = try await api.form(p0, [("List-Unsubscribe", "One-Click")], headers: [.userAgent: "Google-One-Click"])
            #expect(reply.status == .ok)
            #expect(reply.headers[.setCookie] == nil && reply.headers[.location] == nil)
            #expect(try await Self.status(api, "p0@example.com") == ("active", "unsubscribed"), "from the topic, not from everything")
            let reason = try await api.database.pool.query(
                "SELECT facteur_skip_reason(s.id, 1) AS r FROM subscribers s WHERE email = 'p0@example.com'")[0].decode(String?.self, "r")
            #expect(reason == "not subscribed to the topic", "the worker's claim sees it the moment the POST is answered")
            let logged = try await api.database.pool.query(
                "SELECT action, source, user_agent FROM consent_log WHERE source = 'one_click'")
            #expect(logged.count == 1)
            #expect(try logged[0].decode(String.self, "action") == "unsubscribe")
            let stats = try await api.send(.get, "/api/campaigns/\(setup.campaign)/stats")
            #expect(try stats.value("unsubscribes") == .number(1))

            // A provider repeating the POST changes and counts nothing more.
            #expect(try await api.form(p0, [("List-Unsubscribe", "One-Click")]).status == .ok)
            #expect(try await TrackingTests.eventCount(api, "unsubscribe") == 1)

            // The multipart/form-data form of the same body (RFC 8058 allows both).
            let p1 = try #require(paths["p1@example.com"])
            let boundary = "----b"
            let multipart =
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--\(boundary)--\r\n"
            let status = try await api.client.execute(
                uri: p1, method: .post, headers: [.contentType: "multipart/form-data; boundary=\(boundary)"],
                body: ByteBuffer(string: multipart)
            ) { $0.status }
            #expect(status == .ok)
            #expect(try await Self.status(api, "p1@example.com").news == "unsubscribed")

            // A forged token, or the message's tracking token (in every shared click URL): 404 and nothing
            // written; a POST that is neither one-click nor a form: refused.
            let before = try await api.count("consent_log")
            let messageID = try await api.database.pool.query(
                "SELECT m.id FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = 'p2@example.com'")[0].decode(
                    Int64.self, "id")
            for tracking in ["/u/\(testLinks.token(message: messageID))", "/p/\(testLinks.token(message: messageID))"] {
                #expect(try await api.form(tracking, [("List-Unsubscribe", "One-Click")]).status == .notFound, "\(tracking)")
                #expect(try await api.page(tracking).status == .notFound)
            }
            let forged = try await api.form(String(p0.dropLast(3)) + "xyz", [("List-Unsubscribe", "One-Click")])
            #expect(forged.status == .notFound)
            #expect(forged.headers[.contentType]?.hasPrefix("text/plain") == true)
            let p2 = try #require(paths["p2@example.com"])
            #expect(try await api.form(p2, [("List-Unsubscribe", "Yes")]).status == .forbidden)
            #expect(try await api.count("consent_log") == before)
            #expect(try await Self.status(api, "p2@example.com").news == "subscribed")

            // The page of the same link: asks first (a link scanner's GET unsubscribes nobody), then confirms.
            let page = try await api.page(p2)
            #expect(page.status == .ok)
            #expect(page.text.contains("Stop receiving “News”"))
            #expect(page.text.contains(#"href="/p/"#), "a way to the preferences")
            #expect(try await Self.status(api, "p2@example.com").news == "subscribed")
            let done = try await api.form(p2, [("csrf", try #require(API.csrf(page.text)))])
            #expect(done.status == .ok)
            #expect(done.text.contains("You will no longer receive “News”."))
            #expect(try await Self.status(api, "p2@example.com").news == "unsubscribed")
        }
    }

    @Test func an_unsubscribe_request_sent_to_the_mailto_address_is_applied_like_one_click() async throws {
        try await SendWorkerTests.withCampaign(people: 2) { setup in
            let api = setup.api
            #expect(try await setup.worker().sendDue() == 2)
            // The mailto: of List-Unsubscribe carries the message's token in its subject.
            let raw = try String(
                contentsOf: setup.outbox.appendingPathComponent(
                    try #require(try FileManager.default.contentsOfDirectory(atPath: setup.outbox.path).first { $0.hasSuffix(".eml") })),
                encoding: .utf8
            ).replacingOccurrences(of: "\r\n ", with: " ")  // unfolded
            let header = try #require(raw.split(separator: "\r\n").first { $0.hasPrefix("List-Unsubscribe: ") })
            let subject = try #require(header.range(of: "subject=unsubscribe%20")).upperBound
            let token = String(header[subject...].prefix { $0 != ">" })
            let recipient = String(raw.split(separator: "\r\n")[1].dropFirst("X-Envelope-To: ".count))
            func mail(_ subject: String) -> String {
                "From: \(recipient)\r\nTo: unsubscribe@mail.example.test\r\nSubject: \(subject)\r\n\r\n\r\n"
            }
            let reply = try await api.send(
                .post, "/api/bounces", json: mail("Re: unsubscribe \(token)"), headers: [.contentType: "message/rfc822"])
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(reply.text.contains(#""outcome":"unsubscribed""#))
            #expect(try await Self.status(api, recipient) == ("active", "unsubscribed"))
            let source = try await api.database.pool.query(
                "SELECT source, user_agent FROM consent_log WHERE action = 'unsubscribe'")
            #expect(try source.map { try $0.decode(String.self, "source") } == ["mailto"])
            #expect(try source[0].decode(String?.self, "user_agent") == "email from \(recipient)")
            // Sent twice: counted once. A forged token or another subject: not a report, nothing written.
            let twice = try await api.send(
                .post, "/api/bounces", json: mail("unsubscribe \(token)"), headers: [.contentType: "message/rfc822"])
            #expect(twice.text.contains(#""outcome":"duplicate""#))
            for subject in ["unsubscribe \(token.dropLast(2))zz", "please unsubscribe \(token)", "hello"] {
                let refused = try await api.send(.post, "/api/bounces", json: mail(subject), headers: [.contentType: "message/rfc822"])
                #expect(refused.status == .unprocessableContent, "\(subject): \(refused.status)")
            }
            #expect(try await TrackingTests.eventCount(api, "unsubscribe") == 1)
        }
    }

    @Test func double_opt_in_sign_up_confirms_through_the_emailed_link_in_the_chosen_language() async throws {
        let outbox = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-signup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outbox) }
        try await withAPI(transport: try OutboxTransport(directory: outbox)) { api in
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News", "default_subscribed": true}"#)
            let form = try await api.page("/subscribe", headers: [.acceptLanguage: "fr-FR,fr;q=0.9,en;q=0.5"])
            #expect(form.status == .ok)
            #expect(form.text.contains("S’abonner") && form.text.contains(#"id="topic-news" name="topic" value="news" checked"#))
            let csrf = try #require(API.csrf(form.text))
            let headers: HTTPFields = [.init("X-Forwarded-For")!: "198.51.100.4", .userAgent: PreferenceCenterTests.browser]

            // A bot fills the hidden field: told it worked, nothing happens.
            let bot = try await api.form(
                "/subscribe", [("csrf", csrf), ("email", "bot@example.com"), ("website", "http://spam"), ("lang", "fr")])
            #expect(bot.status == .ok)
            #expect(try await api.count("subscribers") == 0)
            // A bad address: the form again, with what was typed and what is wrong.
            let bad = try await api.form("/subscribe", [("csrf", csrf), ("email", "not an address"), ("name", "Zoé"), ("lang", "fr")])
            #expect(bad.status == .unprocessableContent)
            #expect(bad.text.contains("Veuillez saisir une adresse e-mail valide.") && bad.text.contains(#"value="Zoé""#))
            #expect(try await api.count("subscribers") == 0)

            let signed = try await api.form(
                "/subscribe", [("csrf", csrf), ("email", "zoe@example.fr"), ("name", "Zoé"), ("topic", "news"), ("lang", "fr")],
                headers: headers)
            #expect(signed.status == .ok, "\(signed.text)")
            #expect(signed.text.contains("Consultez votre boîte de réception"))
            #expect(try await Self.status(api, "zoe@example.fr") == ("pending", "subscribed"))
            #expect(try await api.form("/subscribe", [("csrf", csrf), ("email", "x@example.fr")]).status == .forbidden, "used once")

            // The confirmation email (sent after the answer), read back by Python's email package.
            func emails() throws -> [String] {
                try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }.sorted()
            }
            try await WorkerFaultTests.waitUntil("the confirmation is sent", timeout: .seconds(10)) { try emails().count == 1 }
            let files = try emails()
            let raw = try Data(contentsOf: outbox.appendingPathComponent(try #require(files.first)))
            let parsed = try await ExternalCommand.python(
                """
                import sys, email, email.policy, re
                m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
                print(m["subject"]); print(m["list-unsubscribe"]); print(m["list-unsubscribe-post"])
                print(re.search(r"https://mail\\.example\\.test(/confirm/[A-Za-z0-9_.-]+)", m.get_body(("plain",)).get_content()).group(1))
                """, input: Array(raw))
            let lines = parsed.split(separator: "\n").map(String.init)
            #expect(lines[0] == "Confirmez votre abonnement")
            #expect(lines[1].hasPrefix("<https://mail.example.test/u/"))
            #expect(lines[2] == "List-Unsubscribe=One-Click")
            let confirmPath = lines[3]

            let confirmPage = try await api.page(confirmPath)
            #expect(confirmPage.text.contains("Confirmer mon abonnement"))
            #expect(confirmPage.text.contains("Vous recevrez :") && confirmPage.text.contains("<li>News</li>"), "what they agree to")
            #expect(try await Self.status(api, "zoe@example.fr").status == "pending", "opening the link confirms nothing by itself")
            let confirmed = try await api.form(confirmPath, [("csrf", try #require(API.csrf(confirmPage.text)))], headers: headers)
            #expect(confirmed.status == .ok)
            #expect(confirmed.text.contains("Vous êtes abonné"))
            #expect(try await Self.status(api, "zoe@example.fr").status == "active")
            let log = try await api.database.pool.query(
                "SELECT action, source, host(ip) AS ip FROM consent_log ORDER BY id")
            #expect(
                try log.map { "\(try $0.decode(String.self, "action"))/\(try $0.decode(String.self, "source"))" } == [
                    "subscribe/signup", "confirm/double_opt_in",
                ])
            #expect(try log.allSatisfy { try $0.decode(String?.self, "ip") == "198.51.100.4" })
            let again = try await api.page(confirmPath)
            #expect(again.text.contains("Déjà confirmé"))

            // The one-click link of the confirmation email (a system email) unsubscribes from everything.
            let oneClick = String(lines[1].dropFirst("<https://mail.example.test".count).dropLast())
            #expect(try await api.form(oneClick, [("List-Unsubscribe", "One-Click")]).status == .ok)
            #expect(try await Self.status(api, "zoe@example.fr") == ("unsubscribed", "unsubscribed"))
            #expect(try await api.page(confirmPath).text.contains("Ce lien ne s’applique plus"), "an old confirmation does not undo it")

            // Signing up again after unsubscribing asks for a new confirmation; once an hour at most.
            func signUp(_ email: String) async throws -> HTTPResponse.Status {
                let fresh = try #require(API.csrf(try await api.page("/subscribe").text))
                return try await api.form("/subscribe", [("csrf", fresh), ("email", email)]).status
            }
            #expect(try await signUp("ZOE@example.fr") == .ok)
            #expect(try await Self.status(api, "zoe@example.fr").status == "pending")
            try await WorkerFaultTests.waitUntil("the second confirmation is sent", timeout: .seconds(10)) { try emails().count == 2 }
            #expect(try await signUp("zoe@example.fr") == .ok)
            // An erased address (kept as a hash in the suppression list) is never signed up again.
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "gone@example.com"}"#)
            #expect(try await api.send(.delete, "/api/subscribers/gone@example.com?suppress=true").status == .noContent)
            #expect(try await signUp("gone@example.com") == .ok, "the same page: nothing tells who is suppressed")
            #expect(try await api.database.pool.query("SELECT 1 FROM subscribers WHERE email = 'gone@example.com'").isEmpty)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try emails().count == 2, "no second email within the hour, none to a suppressed address")

            // Through the API: pending, and the email goes out.
            let created = try await api.send(.post, "/api/subscribers", json: #"{"email": "max@example.com", "double_opt_in": true}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(try created.value("status") == .string("pending"))
            #expect(try emails().count == 3)
            let refused = try await api.send(
                .post, "/api/subscribers", json: #"{"email": "a@example.com", "double_opt_in": true, "status": "active"}"#)
            #expect(try refused.error("field") == "status")
            #expect(
                try await api.send(.post, "/api/subscribers", json: #"{"email": "b@example.com", "double_opt_in": "yes"}"#).status
                    == .unprocessableContent)
        }
    }

    @Test func sign_ups_are_limited_per_address_and_need_a_transport() async throws {
        try await withAPI(signupLimit: 2) { api in
            func signUp(_ email: String) async throws -> API.Reply {
                let csrf = try #require(API.csrf(try await api.page("/subscribe").text))
                return try await api.form(
                    "/subscribe", [("csrf", csrf), ("email", email)], headers: [.init("X-Forwarded-For")!: "192.0.2.9"])
            }
            // No transport in this harness: told to try later, nothing written.
            #expect(try await signUp("one@example.com").status == .serviceUnavailable)
            #expect(try await signUp("two@example.com").status == .serviceUnavailable)
            let third = try await signUp("three@example.com")
            #expect(third.status == .tooManyRequests)
            #expect(third.text.contains("too many sign-ups"))
            #expect(try await api.count("subscribers") == 0)
            let api503 = try await api.send(.post, "/api/subscribers", json: #"{"email": "c@example.com", "double_opt_in": true}"#)
            #expect(api503.status == .serviceUnavailable)
            #expect(try await api.count("subscribers") == 0, "nothing created when the email cannot go out")
        }
    }
}
