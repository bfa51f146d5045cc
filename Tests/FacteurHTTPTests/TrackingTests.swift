import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Testing

/// The open pixel and click redirect, driven with the URLs of messages the worker really sent.
@Suite("Tracking")
struct TrackingTests {
    static let iPhoneMail = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    static let outlookDesktop =
        "Mozilla/4.0 (compatible; ms-office; MSOffice 16; Microsoft Outlook 16.0.17328; Windows NT 10.0)"

    /// The tracked URLs of one delivered message: its pixel and its click URLs, by recipient.
    struct Tracked {
        var open: String
        var clicks: [String]
    }

    /// Reads the `.eml` files of the outbox and pulls out each message's tracking URLs (paths only).
    static func trackedURLs(_ setup: SendWorkerTests.Setup) throws -> [String: Tracked] {
        var result: [String: Tracked] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: setup.outbox.path) where name.hasSuffix(".eml") {
            let raw = try String(contentsOf: setup.outbox.appendingPathComponent(name), encoding: .utf8)
            let recipient = String(raw.split(separator: "\r\n")[1].dropFirst("X-Envelope-To: ".count))
            // Undo quoted-printable where URLs live: soft line breaks and "=3D".
            let text = raw.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "=3D", with: "=")
            func paths(_ pattern: String) -> [String] {
                let regex = try! NSRegularExpression(pattern: "https://mail\\.example\\.test(" + pattern + ")")
                let range = NSRange(text.startIndex..., in: text)
                return regex.matches(in: text, range: range).compactMap { Range($0.range(at: 1), in: text).map { String(text[$0]) } }
            }
            let opens = paths("/t/o/[A-Za-z0-9_.-]+")
            result[recipient] = Tracked(open: opens.first ?? "", clicks: Array(Set(paths("/t/c/[A-Za-z0-9_.-]+/[0-9]+"))).sorted())
        }
        return result
    }

    static func eventCount(_ api: API, _ type: String, machine: Bool? = nil) async throws -> Int {
        let filter = machine.map { " AND machine = \($0)" } ?? ""
        return try await api.database.pool.query(
            .init(unsafeSQL: "SELECT count(*) AS n FROM events WHERE type = '\(type)'\(filter)"))[0].decode(Int.self, "n")
    }

    @Test func opens_and_clicks_of_a_sent_campaign_reach_stats_and_engagement() async throws {
        try await SendWorkerTests.withCampaign(people: 3) { setup in
            let api = setup.api
            #expect(try await setup.worker().sendDue() == 3)
            // Sent an hour ago: past the scanner window.
            try await api.database.pool.execute("UPDATE messages SET sent_at = now() - interval '1 hour'")
            let urls = try Self.trackedURLs(setup)
            let p0 = try #require(urls["p0@example.com"])
            #expect(p0.clicks.count == 2, "two distinct tracked links (the unsubscribe link is not tracked)")

            let pixel = try await api.send(.get, p0.open, headers: [.userAgent: Self.iPhoneMail])
            #expect(pixel.status == .ok)
            #expect(pixel.headers[.contentType] == "image/gif")
            #expect(pixel.headers[.cacheControl]?.contains("no-store") == true)
            #expect(pixel.text.utf8.count == 43 || !pixel.text.isEmpty)
            _ = try await api.send(.get, p0.open, headers: [.userAgent: Self.iPhoneMail])

            let click = try await api.send(.get, p0.clicks[0], headers: [.userAgent: Self.iPhoneMail])
            #expect(click.status == .found)
            let target = try #require(click.headers[.location])
            #expect(["https://example.com/a", "https://example.com/b?x=1&y=2"].contains(target))

            // p1: Apple's privacy proxy fetches the pixel; p2: a scanner HEADs a link; neither is a person.
            let p1 = try #require(urls["p1@example.com"])
            _ = try await api.send(.get, p1.open, headers: [.userAgent: "Mozilla/5.0"])
            let p2 = try #require(urls["p2@example.com"])
            #expect(try await api.send(.head, p2.clicks[1], headers: [.userAgent: Self.outlookDesktop]).status == .found)

            #expect(try await Self.eventCount(api, "open", machine: false) == 2)
            #expect(try await Self.eventCount(api, "open", machine: true) == 1)
            #expect(try await Self.eventCount(api, "click", machine: true) == 1)

            let stats = try await api.send(.get, "/api/campaigns/\(setup.campaign)/stats")
            #expect(stats.status == .ok, "\(stats.text)")
            #expect(try stats.value("sent") == .number(3))
            #expect(try stats.value("delivered") == .number(3))
            #expect(try stats.value("unique_opens") == .number(1))
            #expect(try stats.value("opens") == .number(2))
            #expect(try stats.value("machine_opens") == .number(1))
            #expect(try stats.value("unique_clicks") == .number(1))
            #expect(try stats.value("machine_clicks") == .number(1))
            #expect(try stats.value("click_to_open_rate") == .number(1))
            #expect(try stats.value("open_rate") == .number(0.3333))
            guard case .array(let links)? = try stats.value("links"), case .array(let hours)? = try stats.value("hourly") else {
                Issue.record("links and hourly are lists: \(stats.text)")
                return
            }
            #expect(links.count == 2)
            #expect(hours.count == 1, "one hour with events")

            let engagement = try await api.send(.get, "/api/subscribers/p0@example.com/engagement")
            #expect(try engagement.value("opens") == .number(2))
            #expect(try engagement.value("clicks") == .number(1))
            #expect(try engagement.value("sends") == .number(1))
            #expect(try engagement.value("top_device") == .string("mobile"))
            #expect(try engagement.value("top_client") == .string("Apple Mail"))
            #expect(try engagement.value("devices.mobile") == .number(3))
            let machineOnly = try await api.send(.get, "/api/subscribers/p1@example.com/engagement")
            #expect(try machineOnly.value("opens") == .number(0), "a proxy's open is not a person's")
            #expect(try machineOnly.value("last_open_at") == nil || (try machineOnly.value("last_open_at")) == .null)
        }
    }

    @Test func an_open_or_click_seconds_after_sending_is_a_scanners() async throws {
        try await SendWorkerTests.withCampaign(people: 1) { setup in
            #expect(try await setup.worker().sendDue() == 1)
            let p0 = try #require(try Self.trackedURLs(setup)["p0@example.com"])
            _ = try await setup.api.send(.get, p0.clicks[0], headers: [.userAgent: Self.iPhoneMail])
            #expect(try await Self.eventCount(setup.api, "click", machine: true) == 1)
            #expect(try await Self.eventCount(setup.api, "click", machine: false) == 0)
        }
    }

    @Test func forged_or_mismatched_tokens_redirect_but_record_nothing_and_unknown_links_are_404() async throws {
        try await SendWorkerTests.withCampaign(people: 1) { setup in
            let api = setup.api
            #expect(try await setup.worker().sendDue() == 1)
            let p0 = try #require(try Self.trackedURLs(setup)["p0@example.com"])
            let parts = p0.clicks[0].split(separator: "/")  // t, c, token, link
            let (token, link) = (String(parts[2]), String(parts[3]))
            var forged = Array(token)
            forged[forged.count - 3] = forged[forged.count - 3] == "A" ? "B" : "A"

            for path in [
                "/t/c/\(String(forged))/\(link)", "/t/c/garbage/\(link)", "/t/c/\(testLinks.token(message: 999_999))/\(link)",
                "/t/c/\(testLinks.signer.sign(.subscriber, id: 1))/\(link)",
            ] {
                let reply = try await api.send(.get, path, headers: [.userAgent: Self.iPhoneMail])
                #expect(reply.status == .found, "\(path)")
                #expect(reply.headers[.location]?.hasPrefix("https://example.com/") == true)
            }
            for path in ["/t/o/\(String(forged))", "/t/o/x", "/t/o/\(testLinks.token(message: 999_999))"] {
                let reply = try await api.send(.get, path, headers: [.userAgent: Self.iPhoneMail])
                #expect(reply.status == .ok, "a bad pixel token still gets the image")
                #expect(reply.headers[.contentType] == "image/gif")
            }
            // A genuine token of this campaign's message with a link of another campaign.
            try await api.database.pool.execute(
                "INSERT INTO campaigns (name, subject, from_email, template_id) SELECT 'Other', 's', 'a@example.com', template_id FROM campaigns"
            )
            try await api.database.pool.execute(
                "INSERT INTO campaign_links (campaign_id, url) SELECT max(id), 'https://other.example/' FROM campaigns")
            let other = try await api.database.pool.query("SELECT max(id) AS id FROM campaign_links")[0].decode(Int64.self, "id")
            let crossed = try await api.send(.get, "/t/c/\(token)/\(other)")
            #expect(crossed.status == .found)
            #expect(crossed.headers[.location] == "https://other.example/")

            for path in ["/t/c/\(token)/999999", "/t/c/\(token)/abc", "/t/c/\(token)/-1", "/t/c/\(token)/0"] {
                let reply = try await api.send(.get, path)
                #expect(reply.status == .notFound, "\(path)")
                #expect(reply.headers[.location] == nil)
            }
            #expect(try await api.count("events") == 1, "only the 'sent' event")
        }
    }
}
