import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Testing

/// The preference page through the real router and a real database: what it shows, what a save
/// writes (to the subscriber and to the consent log), and what it refuses.
@Suite("Preference center")
struct PreferenceCenterTests {
    static let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

    /// Topics `news` (with a French translation) and `events`; one person subscribed to news.
    static func setUp(_ api: API, locale: String = "en") async throws -> Int64 {
        let news =
            #"{"key": "news", "name": "News", "description": "Our monthly letter", "translations": {"fr": {"name": "Actualités", "description": "Notre lettre mensuelle"}}}"#
        #expect(try await api.send(.post, "/api/topics", json: news).status == .created)
        #expect(try await api.send(.post, "/api/topics", json: #"{"key": "events", "name": "Events"}"#).status == .created)
        let created = try await api.send(
            .post, "/api/subscribers", json: #"{"email": "ana@example.com", "name": "Ana", "locale": "\#(locale)", "topics": ["news"]}"#)
        guard case .number(let id)? = try created.value("id") else { throw TestSetupError(description: created.text) }
        return Int64(id)
    }

    static func consent(_ api: API, _ id: Int64) async throws -> [(action: String, source: String, ip: String?, agent: String?)] {
        try await api.database.pool.query(
            "SELECT action, source, host(ip) AS ip, user_agent FROM consent_log WHERE subscriber_id = \(id) ORDER BY id"
        ).map {
            (
                try $0.decode(String.self, "action"), try $0.decode(String.self, "source"), try $0.decode(String?.self, "ip"),
                try $0.decode(String?.self, "user_agent")
            )
        }
    }

    static func subscriptions(_ api: API, _ id: Int64) async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await api.database.pool.query(
            "SELECT t.key, x.status FROM subscriptions x JOIN topics t ON t.id = x.topic_id WHERE x.subscriber_id = \(id)")
        {
            result[try row.decode(String.self, "key")] = try row.decode(String.self, "status")
        }
        return result
    }

    @Test func the_page_shows_the_choices_in_the_persons_language_and_a_save_logs_every_change() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api)
            let path = "/p/\(testLinks.signer.sign(.subscriber, id: id))"
            let page = try await api.page(path)
            #expect(page.status == .ok)
            #expect(page.text.contains("Your email preferences") && page.text.contains("ana@example.com"))
            #expect(page.text.contains(#"id="topic-news" name="topic" value="news" checked"#), "news is ticked")
            #expect(page.text.contains(#"<label for="topic-events">Events"#), "every input has its label")
            #expect(page.text.contains(#"<meta name="robots" content="noindex, nofollow">"#))
            #expect(page.text.contains(#"name="viewport""#))
            #expect(!page.text.contains("<script"), "works without JavaScript: there is none")
            #expect(page.headers[.init("X-Robots-Tag")!] == "noindex, nofollow")
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(page.headers[.init("Referrer-Policy")!] == "no-referrer", "the token in the URL must not leak")
            #expect(page.headers[.init("Content-Security-Policy")!]?.contains("form-action 'self'") == true)
            #expect(page.headers[.setCookie] == nil)

            // The switch shows French, topic names included; Accept-Language does not override the person's locale.
            let french = try await api.page(path + "?lang=fr")
            #expect(french.text.contains("Vos préférences d’e-mail") && french.text.contains("Actualités"))
            #expect(french.text.contains(#"<html lang="fr">"#))
            #expect(try await api.page(path, headers: [.acceptLanguage: "fr-CA,fr;q=0.9"]).text.contains("Your email preferences"))

            // Untick news, tick events, weekly, pause 30 days, French.
            let csrf = try #require(API.csrf(page.text))
            let headers: HTTPFields = [.userAgent: Self.browser, .init("X-Forwarded-For")!: "203.0.113.7"]
            let fields =
                [
                    ("csrf", csrf), ("topic", "events"), ("frequency", "weekly"), ("pause", "30"), ("locale", "fr"),
                ] + API.topicFields(page.text)
            let saved = try await api.form(path, fields, headers: headers)
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(saved.text.contains("Vos préférences sont enregistrées."), "the confirmation is in the language just chosen")
            #expect(saved.text.contains("en pause jusqu’au"))
            #expect(try await Self.subscriptions(api, id) == ["news": "unsubscribed", "events": "subscribed"])
            let row = try await api.database.pool.query(
                "SELECT frequency, locale, paused_until > now() + interval '29 days' AS paused FROM subscribers WHERE id = \(id)")[0]
            #expect(try row.decode(String.self, "frequency") == "weekly")
            #expect(try row.decode(String.self, "locale") == "fr")
            #expect(try row.decode(Bool.self, "paused"))
            let log = try await Self.consent(api, id).filter { $0.source == "preference_center" }
            #expect(log.map(\.action).sorted() == ["frequency", "locale", "pause", "subscribe", "unsubscribe"])
            #expect(log.allSatisfy { $0.ip == "203.0.113.7" && $0.agent == Self.browser }, "who asked is kept with every change")
            let reason = try await api.database.pool.query("SELECT facteur_skip_reason(\(id), NULL) AS r")[0].decode(String?.self, "r")
            #expect(reason == "subscriber paused their emails", "the worker sees the pause")

            // The same form again (back button, double submit) changes nothing.
            let before = try await api.count("consent_log")
            let replay = try await api.form(path, [("csrf", csrf), ("topic", "news")] + API.topicFields(page.text), headers: headers)
            #expect(replay.status == .forbidden)
            #expect(replay.text.contains("expired or was already sent") || replay.text.contains("a expiré ou a déjà été envoyé"))
            #expect(try await api.count("consent_log") == before)
            #expect(try await Self.subscriptions(api, id)["news"] == "unsubscribed")

            // Resume, with the fresh token of the page just shown; then unsubscribe from everything.
            let again = try #require(API.csrf(saved.text))
            let resumed = try await api.form(
                path, [("csrf", again), ("topic", "events"), ("pause", "resume"), ("locale", "fr")] + API.topicFields(saved.text))
            #expect(resumed.status == .ok)
            #expect(try await Self.consent(api, id).last?.action == "resume")
            let third = try #require(API.csrf(resumed.text))
            let all = try await api.form(
                path, [("csrf", third), ("topic", "events"), ("unsubscribe_all", "1"), ("locale", "fr")] + API.topicFields(resumed.text))
            #expect(all.status == .ok)
            #expect(all.text.contains("Vous êtes désabonné de tous nos e-mails"))
            #expect(try await Self.subscriptions(api, id) == ["news": "unsubscribed", "events": "unsubscribed"])
            let status = try await api.database.pool.query("SELECT status FROM subscribers WHERE id = \(id)")[0].decode(
                String.self, "status")
            #expect(status == "unsubscribed")
            #expect(try await Self.consent(api, id).last?.action == "unsubscribe_all")

            // Ticking a topic again is coming back.
            let fourth = try #require(API.csrf(all.text))
            #expect(
                try await api.form(path, [("csrf", fourth), ("topic", "news"), ("locale", "fr")] + API.topicFields(all.text)).status == .ok)
            let back = try await api.database.pool.query("SELECT status FROM subscribers WHERE id = \(id)")[0].decode(String.self, "status")
            #expect(back == "active")
            #expect(try await Self.subscriptions(api, id)["news"] == "subscribed")
        }
    }

    @Test func an_old_page_saved_later_keeps_what_happened_since_and_the_stored_locale() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api, locale: "fr-CA")
            let path = "/p/\(testLinks.signer.sign(.subscriber, id: id))"
            let page = try await api.page(path)
            #expect(page.text.contains(#"<option value="fr" lang="fr" selected>"#), "fr-CA shows as French")
            // After the page was opened, the person unsubscribes from news by one-click (another tab, another day).
            _ = try await api.send(.put, "/api/subscribers/\(id)/topics", json: #"{"news": "unsubscribed"}"#)
            // The old page still shows news ticked; saved for a pause only, it must not subscribe them again.
            let saved = try await api.form(
                path,
                [("csrf", try #require(API.csrf(page.text))), ("topic", "news"), ("pause", "30"), ("locale", "fr")]
                    + API.topicFields(page.text))
            #expect(saved.status == .ok)
            #expect(try await Self.subscriptions(api, id)["news"] == "unsubscribed")
            let locale = try await api.database.pool.query("SELECT locale FROM subscribers WHERE id = \(id)")[0].decode(
                String.self, "locale")
            #expect(locale == "fr-CA", "saving with the language list untouched keeps the stored locale")
            #expect(
                try await Self.consent(api, id).map(\.action).filter { $0 == "locale" || $0 == "subscribe" } == ["subscribe"],
                "only the creation")
        }
    }

    @Test func bad_links_and_bad_forms_get_a_clear_page_and_change_nothing() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api)
            let token = testLinks.signer.sign(.subscriber, id: id)
            let path = "/p/\(token)"
            let page = try await api.page(path)
            let csrf = try #require(API.csrf(page.text))
            let consentBefore = try await api.count("consent_log")

            let other = try TokenSigner(keys: [("t1", String(repeating: "x", count: 32))])
            var tampered = Array(token)
            tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
            let badPaths = [
                "/p/" + String(tampered), "/p/" + String(token.dropLast(4)), "/p/" + other.sign(.subscriber, id: id),
                "/p/" + testLinks.signer.sign(.message, id: id), "/p/" + testLinks.signer.sign(.subscriber, id: 999_999),
                "/p/%25%25%25", "/p/" + String(repeating: "a", count: 2000), "/u/" + String(tampered),
                "/confirm/" + testLinks.signer.sign(.subscriber, id: id),
            ]
            for bad in badPaths {
                let reply = try await api.page(bad)
                #expect(reply.status == .notFound, "\(bad): \(reply.status)")
                #expect(reply.text.contains("This link does not work"), "\(bad)")
                #expect(!reply.text.contains("ana@example.com"), "reveals nothing")
            }

            // Forms: no token, someone else's, an expired one, a forged one.
            let expired = FormTokens(signer: testLinks.signer, clock: { Date().addingTimeInterval(-5 * 3600) }).issue(for: id)
            for (token, why) in [
                ("", "missing"), (FormTokens(signer: testLinks.signer).issue(for: id + 1), "another person's"), (expired, "expired"),
                (String(csrf.dropLast(2)) + "AA", "forged"),
            ] {
                let reply = try await api.form(path, [("csrf", token), ("topic", "events")])
                #expect(reply.status == .forbidden, "\(why) form token: \(reply.status)")
            }
            // Values: an unknown topic, frequency, pause or language; broken encoding; far too large.
            for (fields, status) in [
                ([("topic", "nope")], HTTPResponse.Status.unprocessableContent), ([("frequency", "daily")], .unprocessableContent),
                ([("pause", "7")], .unprocessableContent), ([("locale", "de")], .unprocessableContent),
            ] {
                let fresh = try #require(API.csrf(try await api.page(path).text))
                let reply = try await api.form(path, [("csrf", fresh)] + fields)
                #expect(reply.status == status, "\(fields): \(reply.status) \(reply.text.prefix(200))")
                #expect(reply.text.contains("Something is not right"))
            }
            let broken = try await api.client.execute(
                uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(csrf)&topic=%zz")
            ) { $0.status }
            #expect(broken == .badRequest)
            let huge = try await api.form(path, [("csrf", csrf), ("name", String(repeating: "x", count: 100_000))])
            #expect(huge.status == .contentTooLarge)

            #expect(try await api.count("consent_log") == consentBefore, "nothing was written")
            #expect(try await Self.subscriptions(api, id) == ["news": "subscribed"])
            // The token was not spent by the refused forms: the page's own form still works.
            #expect(try await api.form(path, [("csrf", csrf), ("topic", "news"), ("topic", "events")]).status == .ok)
        }
    }

    @Test func download_my_data_and_erase_me() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api)
            let path = "/p/\(testLinks.signer.sign(.subscriber, id: id))"
            let page = try await api.page(path)
            let download = try await api.form(path + "/data", [("csrf", try #require(API.csrf(page.text, index: 1)))])
            #expect(download.status == .ok)
            #expect(download.headers[.contentDisposition]?.contains("attachment") == true)
            #expect(try download.value("profile.email") == .string("ana@example.com"))
            guard case .array(let consent)? = try download.value("consent") else { throw TestSetupError(description: download.text) }
            #expect(consent.count == 1, "the subscription to news at creation")
            guard case .array(let topics)? = try download.value("preferences.topics") else {
                throw TestSetupError(description: "no topics")
            }
            #expect(topics.count == 2)

            let eraseToken = try #require(API.csrf(page.text, index: 2))
            let unticked = try await api.form(path + "/erase", [("csrf", eraseToken)])
            #expect(unticked.status == .unprocessableContent, "erasing needs the box ticked")
            #expect(try await api.count("subscribers") == 1)
            let erased = try await api.form(path + "/erase", [("csrf", eraseToken), ("confirm", "yes")])
            #expect(erased.status == .ok)
            #expect(erased.text.contains("Your data is erased"))
            #expect(try await api.count("subscribers") == 0)
            let suppressed = try await api.database.pool.query(
                "SELECT count(*) AS n FROM suppressions WHERE email_hash = sha256(convert_to('ana@example.com', 'UTF8'))")
            #expect(try suppressed[0].decode(Int.self, "n") == 1, "never mailed again, even if imported anew")
            #expect(try await api.page(path).status == .notFound)
        }
    }

    @Test func the_api_reads_and_sets_preferences_and_exports_the_consent_log() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api, locale: "fr")
            let read = try await api.send(.get, "/api/subscribers/ana@example.com/preferences")
            #expect(read.status == .ok)
            #expect(try read.value("frequency") == .string("as_sent"))
            guard case .array(let topics)? = try read.value("topics"), case .object(let first)? = topics.first else {
                throw TestSetupError(description: read.text)
            }
            #expect(first["name"] == .string("Actualités"), "names in the person's language")
            #expect(first["status"] == .string("subscribed"))

            let set = try await api.send(
                .put, "/api/subscribers/\(id)/preferences",
                json: #"{"topics": {"events": "subscribed"}, "frequency": "monthly", "pause_days": 60}"#)
            #expect(set.status == .ok, "\(set.text)")
            #expect(try set.value("frequency") == .string("monthly"))
            #expect(try await Self.subscriptions(api, id) == ["news": "subscribed", "events": "subscribed"])
            #expect(try await Self.consent(api, id).suffix(3).map(\.action) == ["subscribe", "frequency", "pause"])

            let before = try await api.count("consent_log")
            for (body, field) in [
                (#"{"topics": {"nope": "subscribed"}}"#, "topics.nope"), (#"{"topics": {"news": "yes"}}"#, "topics.news"),
                (#"{"frequency": "daily"}"#, "frequency"), (#"{"pause_days": 400}"#, "pause_days"), (#"{"locale": "x y"}"#, "locale"),
                (#"{"colour": "red"}"#, "colour"),
            ] {
                let reply = try await api.send(.put, "/api/subscribers/\(id)/preferences", json: body)
                #expect(reply.status == .unprocessableContent, "\(body): \(reply.status)")
                #expect(try reply.error("field") == field, "\(body): \(reply.text)")
            }
            #expect(try await api.send(.put, "/api/subscribers/\(id)/preferences", json: "{}").status == .badRequest)
            #expect(try await api.count("consent_log") == before)

            // Bad translations are refused with their path.
            let bad = try await api.send(.post, "/api/topics", json: #"{"key": "t", "name": "T", "translations": {"fr": {"title": "x"}}}"#)
            #expect(try bad.error("field") == "translations.fr.title")

            let csv = try await api.send(.get, "/api/exports/consent.csv?from=2000-01-01&to=2100-01-01")
            #expect(csv.status == .ok)
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first == "id,subscriber_id,email,topic,action,source,ip,user_agent,details,occurred_at")
            #expect(lines.count == 1 + before)
            #expect(lines.dropFirst().allSatisfy { $0.contains("ana@example.com") })
            let empty = try await api.send(.get, "/api/exports/consent.csv?from=2000-01-01&to=2000-02-01")
            #expect(empty.text.split(separator: "\r\n").count == 1)
            for query in ["", "?from=2026-01-01", "?from=junk&to=2027-01-01", "?from=2027-01-01&to=2026-01-01"] {
                let reply = try await api.send(.get, "/api/exports/consent.csv\(query)")
                #expect(reply.status == .unprocessableContent, "\(query)")
            }
        }
    }

    @Test func weekly_and_monthly_people_get_at_most_one_campaign_email_in_their_period() async throws {
        try await withAPI { api in
            let id = try await Self.setUp(api)
            let pool = api.database.pool
            func reason() async throws -> String? {
                try await pool.query("SELECT facteur_skip_reason(\(id), NULL) AS r")[0].decode(String?.self, "r")
            }
            try await pool.execute("INSERT INTO engagement (subscriber_id, last_sent_at) VALUES (\(id), now() - interval '3 days')")
            #expect(try await reason() == nil, "as sent: no cap")
            _ = try await api.send(.put, "/api/subscribers/\(id)/preferences", json: #"{"frequency": "weekly"}"#)
            #expect(try await reason() == "subscriber chose weekly emails and had one recently")
            try await pool.execute("UPDATE engagement SET last_sent_at = now() - interval '8 days' WHERE subscriber_id = \(id)")
            #expect(try await reason() == nil)
            _ = try await api.send(.put, "/api/subscribers/\(id)/preferences", json: #"{"frequency": "monthly"}"#)
            #expect(try await reason() == "subscriber chose monthly emails and had one recently")
        }
    }
}
