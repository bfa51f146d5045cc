import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Testing

/// `/api/segments` through the real router and database.
@Suite("Segments API")
struct SegmentAPITests {
    static func setUp(_ api: API) async throws {
        #expect(
            try await api.send(.post, "/api/fields", json: #"{"key": "country", "type": "text", "label": "Country"}"#).status == .created)
        let people = (0..<6).map { index in
            #"{"email": "s\#(index)@example.com", "name": "Person \#(index)", "attributes": {"country": "\#(index % 2 == 0 ? "FR" : "BE")"}}"#
        }
        #expect(try await api.send(.post, "/api/subscribers/batch", json: "[\(people.joined(separator: ","))]").status == .ok)
        #expect(try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#).status == .created)
        _ = try await api.send(.put, "/api/subscribers/s0@example.com/topics", json: #"{"news": "subscribed"}"#)
        _ = try await api.send(.put, "/api/subscribers/s1@example.com/topics", json: #"{"news": "subscribed"}"#)
    }

    static func id(_ reply: API.Reply) throws -> Int {
        guard case .number(let id)? = try reply.value("id") else { throw TestSetupError(description: reply.text) }
        return Int(id)
    }

    @Test func segments_are_made_from_json_or_text_previewed_listed_and_paged() async throws {
        try await withAPI { api in
            try await Self.setUp(api)
            let french = try await api.send(.post, "/api/segments", json: #"{"name": "French", "text": "country = \"fr\""}"#)
            #expect(french.status == .created, "\(french.text)")
            #expect(try french.value("text") == .string(#"country = "fr""#))
            #expect(try french.value("rule.field") == .string("country"))
            let frenchID = try Self.id(french)
            let news = try await api.send(
                .post, "/api/segments",
                json: #"{"name": "French news readers", "rule": {"and": [{"segment": \#(frenchID)}, {"topic": "news"}]}}"#)
            #expect(news.status == .created, "\(news.text)")
            let newsID = try Self.id(news)

            let preview = try await api.send(
                .post, "/api/segments/preview", json: #"{"text": "segment \#(frenchID) and topic \"news\" subscribed"}"#)
            #expect(preview.status == .ok, "\(preview.text)")
            #expect(try preview.value("count") == .number(1))
            #expect(preview.text.contains("s0@example.com") && !preview.text.contains("s1@example.com"))
            #expect(try preview.value("sql").map { "\($0)" }?.contains("$1") == true, "values are bound, shown apart")
            guard case .array(let parameters)? = try preview.value("parameters") else { throw TestSetupError(description: preview.text) }
            #expect(parameters.contains(.string("fr")) && parameters.contains(.string("subscribed")))

            let first = try await api.send(.get, "/api/segments/\(frenchID)/members?limit=2")
            guard case .array(let items)? = try first.value("items"), case .string(let next)? = try first.value("next_cursor") else {
                throw TestSetupError(description: first.text)
            }
            #expect(items.count == 2)
            let second = try await api.send(.get, "/api/segments/\(frenchID)/members?limit=2&after=\(next)")
            guard case .array(let rest)? = try second.value("items") else { throw TestSetupError(description: second.text) }
            let nextAfterLast = try second.value("next_cursor")
            #expect(rest.count == 1 && nextAfterLast == nil, "the last page has no cursor")
            let listed = try await api.send(.get, "/api/segments")
            guard case .array(let all)? = try listed.value("items") else { throw TestSetupError(description: listed.text) }
            #expect(all.count == 2)

            // A loop through two segments is refused; so is deleting one that another uses.
            let loop = try await api.send(.patch, "/api/segments/\(frenchID)", json: #"{"text": "segment \#(newsID)"}"#)
            #expect(loop.status == .unprocessableContent)
            #expect(try loop.error("message")?.contains("cycle") == true, "\(loop.text)")
            #expect(try await api.send(.delete, "/api/segments/\(frenchID)").status == .conflict)
            #expect(try await api.send(.delete, "/api/segments/\(newsID)").status == .noContent)
            #expect(try await api.send(.delete, "/api/segments/\(frenchID)").status == .noContent)
            #expect(try await api.send(.get, "/api/segments/\(frenchID)").status == .notFound)
        }
    }

    @Test func a_static_segment_keeps_its_members_until_refreshed_and_exports_them_as_csv() async throws {
        try await withAPI { api in
            try await Self.setUp(api)
            let created = try await api.send(
                .post, "/api/segments", json: #"{"name": "French then", "kind": "static", "text": "country = \"FR\""}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(try created.value("kind") == .string("static"))
            guard case .string? = try created.value("refreshed_at") else { throw TestSetupError(description: created.text) }
            let id = try Self.id(created)
            func members() async throws -> [String] {
                let page = try await api.send(.get, "/api/segments/\(id)/members")
                guard case .array(let items)? = try page.value("items") else { throw TestSetupError(description: page.text) }
                return items.compactMap { if case .object(let item) = $0, case .string(let email)? = item["email"] { email } else { nil } }
            }
            #expect(try await members() == ["s0@example.com", "s2@example.com", "s4@example.com"])

            // Someone French arrives: not in the snapshot, nor in a segment that uses it, until a refresh.
            let person = #"{"email": "s6@example.com", "attributes": {"country": "FR"}}"#
            #expect(try await api.send(.post, "/api/subscribers", json: person).status == .created)
            #expect(try await members().count == 3)
            let using = try await api.send(.post, "/api/segments/preview", json: #"{"text": "segment \#(id)"}"#)
            #expect(try using.value("count") == .number(3), "\(using.text)")
            let refreshed = try await api.send(.post, "/api/segments/\(id)/refresh")
            #expect(refreshed.status == .ok, "\(refreshed.text)")
            #expect(try await members() == ["s0@example.com", "s2@example.com", "s4@example.com", "s6@example.com"])

            // The whole list as CSV, in the subscriber export's columns, by path or by Accept.
            let csv = try await api.send(.get, "/api/segments/\(id)/members.csv")
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(csv.headers[.contentDisposition]?.contains("segment-\(id).csv") == true)
            let lines = csv.text.split(separator: "\r\n", omittingEmptySubsequences: true).map(String.init)
            #expect(lines.first?.hasPrefix("email,name,status,locale,timezone,topics,created_at,country") == true, "\(csv.text)")
            #expect(
                lines.dropFirst().map { String($0.prefix { $0 != "," }) } == [
                    "s0@example.com", "s2@example.com", "s4@example.com", "s6@example.com",
                ])
            #expect(lines.dropFirst().first?.contains(",news,") == true, "topics are listed: \(csv.text)")
            let accepted = try await api.send(.get, "/api/segments/\(id)/members", headers: [.accept: "text/csv"])
            #expect(accepted.text == csv.text)

            // Erasure takes a person out of every snapshot.
            #expect(try await api.send(.delete, "/api/subscribers/s6@example.com").status == .noContent)
            #expect(try await members().count == 3)

            // A dynamic segment has nothing to refresh; a static one turned dynamic follows its rule again.
            let live = try Self.id(try await api.send(.post, "/api/segments", json: #"{"name": "Belgian", "text": "country = \"BE\""}"#))
            let refused = try await api.send(.post, "/api/segments/\(live)/refresh")
            #expect(refused.status == .conflict)
            #expect(try refused.error("message")?.contains("dynamic") == true, "\(refused.text)")
            #expect(try await api.send(.patch, "/api/segments/\(id)", json: #"{"text": "country = \"BE\""}"#).status == .ok)
            #expect(try await members() == ["s1@example.com", "s3@example.com", "s5@example.com"], "a new rule is a new snapshot")
            let dynamic = try await api.send(.patch, "/api/segments/\(id)", json: #"{"kind": "dynamic"}"#)
            #expect(try dynamic.value("refreshed_at") == nil || (try dynamic.value("refreshed_at")) == .null, "\(dynamic.text)")
            #expect(try await api.database.pool.query("SELECT 1 FROM segment_members").isEmpty)
            #expect(try await members().count == 3)
        }
    }

    @Test func a_campaign_sent_to_a_segment_queues_its_eligible_members_only() async throws {
        try await withAPI { api in
            try await Self.setUp(api)
            try await api.database.pool.execute(
                "INSERT INTO subscriptions (subscriber_id, topic_id, status, source) SELECT id, 1, 'subscribed', 'api' FROM subscribers ON CONFLICT DO NOTHING"
            )
            // s2 is French but has unsubscribed from everything: the segment does not override that.
            _ = try await api.send(.patch, "/api/subscribers/s2@example.com", json: #"{"status": "unsubscribed"}"#)
            let segment = try Self.id(try await api.send(.post, "/api/segments", json: #"{"name": "French", "text": "country = \"FR\""}"#))
            let base = try await CampaignAPITests.prepare(api)
            let created = try await api.send(.post, "/api/campaigns", json: String(base.dropLast()) + #", "segment_id": \#(segment)}"#)
            #expect(created.status == .created, "\(created.text)")
            let campaign = try Self.id(created)
            let started = try await api.send(.post, "/api/campaigns/\(campaign)/start")
            #expect(try started.value("queued") == .number(2), "\(started.text)")
            let queued = try await api.database.pool.query(
                "SELECT s.email FROM messages m JOIN subscribers s ON s.id = m.subscriber_id ORDER BY s.email"
            ).map { try $0.decode(String.self, "email") }
            #expect(queued == ["s0@example.com", "s4@example.com"])
            #expect(try await api.send(.delete, "/api/segments/\(segment)").status == .conflict, "a campaign's audience stays")
            let missing = try await api.send(.post, "/api/campaigns", json: String(base.dropLast()) + #", "segment_id": 999}"#)
            #expect(try missing.error("field") == "segment_id")
        }
    }

    @Test func the_command_line_counts_lists_and_explains_a_segment() async throws {
        let binary = try FacteurBinary.path()
        try await withAPI { api in
            try await Self.setUp(api)
            let id = try Self.id(try await api.send(.post, "/api/segments", json: #"{"name": "French", "text": "country = \"FR\""}"#))
            let environment = WorkerFaultTests.workerEnvironment(api.database.pool, smtpPort: 25)
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-segment-\(UUID().uuidString).log").path
            defer { try? FileManager.default.removeItem(atPath: log) }
            func run(_ arguments: [String]) async throws -> String {
                try? FileManager.default.removeItem(atPath: log)
                let status = await (try ChildProcess(binary, ["segment"] + arguments, environment: environment, log: log)).exited()
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                #expect(status == 0, "\(arguments): \(output)")
                return output
            }
            #expect(try await run(["count", "\(id)"]).hasPrefix("3 subscribers"))
            #expect(try await run(["count", "--text", #"country = "BE" and topic "news""#]).hasPrefix("1 subscribers"))
            let members = try await run(["members", "\(id)"]).split(separator: "\n").map { String($0.split(separator: ",")[1]) }
            #expect(members == ["s0@example.com", "s2@example.com", "s4@example.com"])
            let frozen = try Self.id(
                try await api.send(.post, "/api/segments", json: #"{"name": "Frozen", "kind": "static", "text": "country = \"BE\""}"#))
            #expect(try await run(["refresh", "\(frozen)"]).contains("3 members"))
            #expect(try await run(["count", "--repeat", "2", "--now", "2026-01-01T00:00:00Z", "\(frozen)"]).contains("times_ms: "))
            let explained = try await run(["explain", "--text", #"country = "FR""#])
            #expect(explained.contains(#"rule: country = "FR""#) && explained.contains("$1 = FR") && explained.contains("Seq Scan"))
            let refused = await (try ChildProcess(binary, ["segment", "count", "--text", "country ="], environment: environment, log: log))
                .exited()
            #expect(refused != 0)
            #expect(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("expected a value"))
        }
    }

    @Test func bad_rules_are_refused_with_their_place_and_nothing_is_stored() async throws {
        try await withAPI { api in
            try await Self.setUp(api)
            let cases: [(String, String, String)] = [
                (
                    #"{"name": "x", "rule": {"and": [{"field": "contry", "op": "eq", "value": "FR"}]}}"#, "rule.and[0].field",
                    "unknown field 'contry'"
                ),
                (
                    #"{"name": "x", "rule": {"and": [{"topic": "news"}, {"field": "country", "op": "gt", "value": 1}]}}"#, "rule.and[1].op",
                    "does not apply"
                ),
                (#"{"name": "x", "text": "country = \"FR\" and\n  opened within 30 days"}"#, "text", "line 2, column 17"),
                (#"{"name": "x", "text": "country = 1", "rule": {"topic": "news"}}"#, "text", "not both"),
                (#"{"name": "x"}"#, "rule", "give the rule"),
                (#"{"name": " ", "text": "topic \"news\""}"#, "name", "blank"),
                (#"{"name": "x", "text": "segment 999"}"#, "segment", "no segment with id 999"),
                (#"{"name": "x", "kind": "frozen", "text": "topic \"news\""}"#, "kind", "must be dynamic"),
                (#"{"name": "x", "kind": 1, "text": "topic \"news\""}"#, "kind", "string"),
                (#"{"name": "x", "text": "topic \"news\"", "colour": "red"}"#, "colour", "unknown field"),
            ]
            for (body, field, message) in cases {
                let reply = try await api.send(.post, "/api/segments", json: body)
                #expect(reply.status == .unprocessableContent, "\(body): \(reply.status)")
                #expect(try reply.error("field") == field, "\(body): \(reply.text)")
                #expect(try reply.error("message")?.contains(message) == true, "\(body): \(reply.text)")
            }
            #expect(try await api.count("segments") == 0)
            // Segments of segments cannot grow the query past its bound.
            let wide = "[" + Array(repeating: #"{"field": "country", "op": "eq", "value": "FR"}"#, count: 200).joined(separator: ",") + "]"
            let base = try Self.id(try await api.send(.post, "/api/segments", json: #"{"name": "wide", "rule": {"or": \#(wide)}}"#))
            let uses = "[" + Array(repeating: #"{"segment": \#(base)}"#, count: 20).joined(separator: ",") + "]"
            let big = try await api.send(.post, "/api/segments", json: #"{"name": "big", "rule": {"or": \#(uses)}}"#)
            #expect(big.status == .unprocessableContent)
            #expect(try big.error("message")?.contains("more than 2000 conditions") == true, "\(big.text)")
            #expect(try await api.count("segments") == 1)
            #expect(try await api.send(.post, "/api/segments/preview", json: #"{"text": "nope ="}"#).status == .unprocessableContent)
            #expect(try await api.send(.get, "/api/segments/42/members").status == .notFound)
            #expect(try await api.send(.patch, "/api/segments/42", json: #"{"name": "y"}"#).status == .notFound)
            #expect(try await api.send(.post, "/api/segments/42/refresh").status == .notFound)
            #expect(try await api.send(.get, "/api/segments/42/members.csv").status == .notFound)
            #expect(try await api.send(.get, "/api/segments/x/members.csv").status == .notFound)
        }
    }
}
