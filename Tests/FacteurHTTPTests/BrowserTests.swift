import Facteur
import FacteurHTTP
import FacteurTestSupport
import Foundation
import Hummingbird
import Logging
import Mail
import Prometheus
import ServiceLifecycle
import Testing

/// The preference center in a real browser (headless Chromium through Selenium), reached from the
/// links of a campaign email the send worker built, against a real HTTP server and database.
/// Screenshots at 375 and 1280 px are kept in `.facteur/test-artifacts/browser/`.
@Suite(.enabled(if: ExternalTools.available { ExternalTools.hasBrowser }, "needs chromium, chromium-driver and selenium"))
struct BrowserTests {
    static let artifacts = URL(fileURLWithPath: TestServer.repositoryRoot.path).appendingPathComponent(".facteur/test-artifacts/browser")

    @Test func every_link_of_a_campaign_email_works_in_the_browser_in_english_and_french() async throws {
        let port = try ServerProcess.freePort()
        let base = "http://127.0.0.1:\(port)"
        let links = LinkBuilder(baseURL: base, signer: testLinks.signer)
        let outbox = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-browser-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outbox) }
        let transport = try OutboxTransport(directory: outbox)
        try? FileManager.default.removeItem(at: Self.artifacts)
        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)

        try await withFacteurDatabase { database in
            let logger = Logger(label: "browser-test")
            let events = EventBatcher(database: database, logger: logger)
            let router = buildRouter(
                HTTPDependencies(
                    database: database, home: testHome, metrics: PrometheusCollectorRegistry(), links: links, transport: transport,
                    events: events, classifier: try RequestClassifier(),
                    pages: try await PageTemplates.load(from: testHome.templatesDirectory),
                    systemFrom: try Mailbox("news@example.com")))
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
            let group = ServiceGroup(configuration: .init(services: [events, app], logger: logger))
            let server = Task { try await group.run() }
            defer { server.cancel() }

            // Three topics; two people subscribed to news and offers; a campaign on news.
            let pool = database.pool
            try await pool.execute(
                """
                INSERT INTO topics (key, name, description, translations) VALUES
                  ('news', 'News', 'The monthly letter', '{"fr": {"name": "Actualités", "description": "La lettre mensuelle"}}'),
                  ('events', 'Events', 'Invitations', '{"fr": {"name": "Événements", "description": "Invitations"}}'),
                  ('offers', 'Offers', 'Deals', '{"fr": {"name": "Offres", "description": "Bons plans"}}')
                """)
            try await pool.execute(
                "INSERT INTO subscribers (email, name, locale) VALUES ('ana@example.com', 'Ana', 'en'), ('ben@example.com', 'Ben', 'en')")
            try await pool.execute(
                """
                INSERT INTO subscriptions (subscriber_id, topic_id, status, source)
                SELECT s.id, t.id, 'subscribed', 'api' FROM subscribers s, topics t WHERE t.key IN ('news', 'offers')
                """)
            let template = try await Templates(database: database, layouts: .none).create(
                .object([
                    "name": .string("Letter"), "subject": .string("Hello"),
                    "html": .string(
                        #"<p>Hi {{first_name}}</p><a href="{{preferences_url}}">Preferences</a> <a href="{{unsubscribe_url}}">Unsubscribe</a>"#
                    ),
                ]))
            let campaigns = Campaigns(database: database, templates: Templates(database: database, layouts: .none))
            let campaign = try await campaigns.create(
                .object([
                    "name": .string("Letter"), "template_id": .number(Double(template.id)), "subject": .string("Hello {{first_name}}"),
                    "from_email": .string("news@example.com"), "topic": .string("news"), "track_clicks": .bool(false),
                    "track_opens": .bool(false),
                ]))
            _ = try await campaigns.start(id: campaign.id)
            let worker = SendWorker(
                database: database, transport: transport, links: links, assembler: MessageAssembler(signers: []), layouts: .none,
                settings: SendWorkerSettings(id: "browser"), logger: logger)
            #expect(try await worker.sendDue() == 2)
            let emails = try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }
            func email(to address: String) throws -> String {
                try #require(
                    emails.first { name in
                        (try? String(contentsOf: outbox.appendingPathComponent(name), encoding: .utf8))?.contains(
                            "X-Envelope-To: \(address)")
                            == true
                    }.map { outbox.appendingPathComponent($0).path })
            }

            try await WorkerFaultTests.waitUntil("the server answers", timeout: .seconds(30)) {
                (try? await ExternalCommand.run("/usr/bin/env", ["curl", "-sf", "\(base)/livez"])) != nil
            }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Support/Servers/browser_preference_center.py")
            let output = try await ExternalCommand.run(
                "/usr/bin/env",
                [
                    "python3", script.path, try email(to: "ana@example.com"), try email(to: "ben@example.com"), outbox.path,
                    Self.artifacts.path, base,
                ])
            let seen = try JSONValue.parse(Data(output))
            func text(_ key: String) -> String? {
                if case .object(let object) = seen, case .string(let value)? = object[key] { return value }
                return nil
            }
            #expect(text("title_en") == "Your email preferences")
            #expect(text("saved_notice") == "Vos préférences sont enregistrées.")
            #expect(text("lang_after_save") == "fr")
            #expect(text("unsubscribe_question")?.contains("« Actualités »") == true)
            #expect(text("unsubscribe_done") == "Vous ne recevrez plus « Actualités ».")
            #expect(text("preferences_link")?.hasPrefix("\(base)/p/") == true)
            #expect(text("list_unsubscribe_post") == "List-Unsubscribe=One-Click")
            #expect(text("signup_title") == "Check your inbox")
            #expect(text("confirmation_subject") == "Confirm your subscription")
            #expect(text("confirmed_title") == "You are subscribed")
            guard case .object(let object) = seen else { throw TestSetupError(description: "not an object") }
            #expect(object["events_ticked"] == .bool(true) && object["offers_ticked"] == .bool(false))
            #expect(object["cookies"] == .array([]), "no cookie, ever")
            #expect(object["one_click"] == .object(["status": .number(200), "set_cookie": .null, "location": .null]))
            if case .object(let widths)? = object["widths"] {
                for (name, width) in widths where name.contains("-375") {
                    #expect(width == .number(375), "\(name): no horizontal scroll at 375 px")
                }
            } else {
                Issue.record("no widths measured")
            }
            for name in ["preferences-en-375.png", "preferences-en-1280.png", "preferences-fr-375.png", "unsubscribe-fr-375.png"] {
                let png = try Data(contentsOf: Self.artifacts.appendingPathComponent(name))
                #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5000, "\(name) is a real screenshot")
                let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
                #expect(width == (name.contains("-375") ? 375 : 1280), "\(name) is \(width) px wide")
            }

            // What the browser did, in the database and the consent log.
            func statuses(_ address: String) async throws -> [String: String] {
                var result: [String: String] = [:]
                for row in try await pool.query(
                    """
                    SELECT t.key, x.status FROM subscriptions x JOIN topics t ON t.id = x.topic_id
                      JOIN subscribers s ON s.id = x.subscriber_id WHERE s.email = \(address)
                    """)
                {
                    result[try row.decode(String.self, "key")] = try row.decode(String.self, "status")
                }
                return result
            }
            #expect(try await statuses("ana@example.com") == ["news": "unsubscribed", "offers": "unsubscribed", "events": "subscribed"])
            #expect(
                try await statuses("ben@example.com") == ["news": "unsubscribed", "offers": "subscribed"],
                "one-click: the campaign's topic only")
            let ana = try await pool.query("SELECT locale FROM subscribers WHERE email = 'ana@example.com'")[0].decode(
                String.self, "locale")
            #expect(ana == "fr")
            let log = try await pool.query(
                """
                SELECT s.email, c.action, c.source, c.user_agent LIKE '%HeadlessChrome%' AS browser
                  FROM consent_log c JOIN subscribers s ON s.id = c.subscriber_id ORDER BY c.id
                """)
            let entries = try log.map {
                "\(try $0.decode(String.self, "email")) \(try $0.decode(String.self, "action")) \(try $0.decode(String.self, "source"))"
            }
            #expect(
                entries == [
                    "ana@example.com subscribe preference_center", "ana@example.com unsubscribe preference_center",
                    "ana@example.com locale preference_center", "ana@example.com unsubscribe preference_center",
                    "ben@example.com unsubscribe one_click", "browser@example.com confirm double_opt_in",
                ], "\(entries)")
            let status = try await pool.query("SELECT status FROM subscribers WHERE email = 'browser@example.com'")[0].decode(
                String.self, "status")
            #expect(status == "active")

            await group.triggerGracefulShutdown()
            _ = await server.result
        }
    }
}
