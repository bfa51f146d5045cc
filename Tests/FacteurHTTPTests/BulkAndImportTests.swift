import Facteur
import Foundation
import Hummingbird
import Testing

@Suite("Bulk upsert, CSV import and export")
struct BulkAndImportTests {
    @Test func bulk_upsert_lands_good_items_and_reports_bad_ones_by_index() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#)
            _ = try await api.send(
                .post, "/api/subscribers", json: #"{"email": "old@example.com", "name": "Old", "status": "unsubscribed"}"#)
            let reply = try await api.send(
                .post, "/api/subscribers/batch",
                json: """
                    [{"email": "new@example.com", "name": "New", "attributes": {"plan": "pro"}},
                     {"email": "broken"},
                     {"email": "OLD@example.com", "name": "Renamed"},
                     {"email": "x@example.com", "attributes": {"plan": 1}},
                     {"email": "new@example.com", "name": "New again"}]
                    """)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(try reply.value("inserted") == .number(1))
            #expect(try reply.value("updated") == .number(1))
            #expect(try reply.value("failed") == .number(2))
            #expect(reply.text.contains(#""field":"[1].email""#))
            #expect(reply.text.contains(#""field":"[3].attributes.plan""#))
            let old = try await api.send(.get, "/api/subscribers/old@example.com")
            #expect(try old.value("name") == .string("Renamed"))
            #expect(try old.value("status") == .string("unsubscribed"))
            #expect(try await api.send(.get, "/api/subscribers/new@example.com").value("name") == .string("New again"))
        }
    }

    @Test func a_batch_over_ten_thousand_is_refused_whole() async throws {
        try await withAPI { api in
            let items = (0...10_000).map { #"{"email": "b\#($0)@example.com"}"# }.joined(separator: ",")
            let reply = try await api.send(.post, "/api/subscribers/batch", json: "[\(items)]")
            #expect(reply.status == .contentTooLarge)
            #expect(try reply.error("message")?.contains("at most 10000") == true)
            #expect(try await api.count("subscribers") == 0)
        }
    }

    @Test func csv_import_reports_bad_rows_by_line_and_lands_the_rest() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "age", "type": "number"}"#)
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "left@example.com", "status": "unsubscribed"}"#)
            let csv = #"""
                email,name,age,topics,status
                ann@example.com,"Lefèvre, Ann",34,news,
                not-an-email,Bob,20,,
                cleo@example.com,Cléo,old,,
                "dan@example.com","Dan ""the man""",41,news|missing,
                left@example.com,Left,50,news,active
                eve@example.com,Eve,
                ann@example.com,Ann L.,35,,

                """#
            let reply = try await api.send(.post, "/api/imports", csv: csv)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(try reply.value("inserted") == .number(1))
            #expect(try reply.value("updated") == .number(1))
            #expect(try reply.value("failed") == .number(4))
            for (line, fragment) in [
                (3, "missing '@'"), (4, "'old' is not a number"), (5, "no topic with key 'missing'"), (7, "has 3 fields"),
            ] {
                #expect(reply.text.contains(#""index":\#(line)"#), "line \(line) not reported")
                #expect(reply.text.contains(fragment), "\(fragment) not reported")
            }
            let ann = try await api.send(.get, "/api/subscribers/ann@example.com")
            #expect(try ann.value("name") == .string("Ann L."))
            #expect(try ann.value("attributes.age") == .number(35))
            #expect(try ann.value("topics.news") == .string("subscribed"))
            let left = try await api.send(.get, "/api/subscribers/left@example.com")
            #expect(try left.value("status") == .string("unsubscribed"), "an import must not re-activate an unsubscribed person")
            let consent = try await api.database.pool.query("SELECT source FROM consent_log WHERE action = 'subscribe'")
            #expect(try consent.map { try $0.decode(String.self, "source") }.contains("import"))
        }
    }

    @Test(arguments: [
        ("name\nAnn\n", "no 'email' column"),
        ("email,shoe_size\na@example.com,42\n", "unknown column 'shoe_size'"),
        ("email,email\na@example.com,b@example.com\n", "appears twice"),
    ])
    func a_bad_header_refuses_the_whole_file(csv: String, message: String) async throws {
        try await withAPI { api in
            let reply = try await api.send(.post, "/api/imports", csv: csv)
            #expect(reply.status == .unprocessableContent)
            #expect(try reply.error("message")?.contains(message) == true, "\(reply.text)")
            #expect(try await api.count("subscribers") == 0)
        }
    }

    @Test func import_needs_csv_and_an_unknown_topic_parameter_is_refused() async throws {
        try await withAPI { api in
            let json = try await api.send(.post, "/api/imports", json: "{}")
            #expect(json.status == .unsupportedMediaType)
            let topic = try await api.send(.post, "/api/imports?topic=ghost", csv: "email\na@example.com\n")
            #expect(topic.status == .unprocessableContent)
            #expect(try await api.count("subscribers") == 0)
        }
    }

    @Test func export_round_trips_through_import() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#)
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
            let csv = "email,name,plan,topics\nann@example.com,\"Ann, \"\"A\"\"\",=SUM(A1),news\nbo@example.com,Bo,,\n"
            #expect(try await api.send(.post, "/api/imports", csv: csv).status == .ok)
            let export = try await api.send(.get, "/api/exports/subscribers.csv")
            #expect(export.status == .ok)
            #expect(export.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = export.text.split(separator: "\r\n")
            #expect(lines.first == "email,name,status,locale,timezone,topics,created_at,plan")
            #expect(lines.count == 3)
            #expect(lines[1].hasPrefix("ann@example.com,\"Ann, \"\"A\"\"\",active,en,,news,"))
            #expect(lines[1].hasSuffix(",=SUM(A1)"))
            let safe = try await api.send(.get, "/api/exports/subscribers.csv?spreadsheet=true")
            #expect(safe.text.contains(",'=SUM(A1)"))
            // Re-importing the export changes nothing but counts everyone as updated.
            let again = try await api.send(.post, "/api/imports", csv: export.text)
            #expect(try again.value("updated") == .number(2))
            #expect(try again.value("failed") == .number(0))
        }
    }
}
