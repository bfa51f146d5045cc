import Facteur
import Foundation
import Hummingbird
import Testing

@Suite("Subscribers API")
struct SubscriberAPITests {
    static func registerFields(_ api: API) async throws {
        for body in [
            #"{"key": "plan", "type": "text", "label": "Plan"}"#, #"{"key": "age", "type": "number"}"#,
            #"{"key": "vip", "type": "boolean"}"#, #"{"key": "trial_ends", "type": "date"}"#,
        ] {
            #expect(try await api.send(.post, "/api/fields", json: body).status == .created)
        }
    }

    @Test func create_normalizes_and_get_finds_by_id_or_email() async throws {
        try await withAPI { api in
            try await Self.registerFields(api)
            let created = try await api.send(
                .post, "/api/subscribers",
                json:
                    #"{"email": " Élodie.Lefèvre@Exemple.FR ", "name": "Élodie Lefèvre", "locale": "FR-ca", "timezone": "America/Montreal", "attributes": {"plan": "pro", "age": 34, "vip": true, "trial_ends": "2026-12-01"}}"#
            )
            #expect(created.status == .created)
            #expect(try created.value("email") == .string("Élodie.Lefèvre@exemple.fr"))
            #expect(try created.value("locale") == .string("fr-CA"))
            #expect(try created.value("attributes.trial_ends") == .string("2026-12-01T00:00:00Z"))
            #expect(try created.value("status") == .string("active"))
            guard case .number(let id)? = try created.value("id") else {
                Issue.record("no id")
                return
            }
            #expect(try await api.send(.get, "/api/subscribers/\(Int(id))").status == .ok)
            let lower = try await api.send(
                .get, "/api/subscribers/\u{c9}lodie.Lef\u{e8}vre@EXEMPLE.fr".addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!)
            #expect(lower.status == .ok)
            #expect(try await api.send(.get, "/api/subscribers/999999").status == .notFound)
        }
    }

    @Test func a_duplicate_email_in_any_case_is_a_conflict_and_changes_nothing() async throws {
        try await withAPI { api in
            #expect(try await api.send(.post, "/api/subscribers", json: #"{"email": "ann@example.com", "name": "Ann"}"#).status == .created)
            let again = try await api.send(.post, "/api/subscribers", json: #"{"email": "ANN@EXAMPLE.COM", "name": "Other"}"#)
            #expect(again.status == .conflict)
            #expect(try again.error("field") == "email")
            let row = try await api.database.pool.query("SELECT name FROM subscribers")
            #expect(row.count == 1)
            #expect(try row[0].decode(String.self, "name") == "Ann")
        }
    }

    @Test(arguments: [
        (#"{"name": "No email"}"#, "email", "is required"),
        (#"{"email": "a@b.com\r\nBcc: x@y.com"}"#, "email", "control character"),
        (#"{"email": "not-an-address"}"#, "email", "missing '@'"),
        (#"{"email": "a@example.com", "emial": "typo"}"#, "emial", "unknown field 'emial'"),
        (#"{"email": "a@example.com", "status": "gone"}"#, "status", "must be one of"),
        (#"{"email": "a@example.com", "locale": "english!"}"#, "locale", "not a language tag"),
        (#"{"email": "a@example.com", "timezone": "Mars/Olympus"}"#, "timezone", "IANA time zone"),
        (#"{"email": "a@example.com", "attributes": {"shoe": 42}}"#, "attributes.shoe", "unknown field 'shoe'"),
        (#"{"email": "a@example.com", "attributes": {"age": "old"}}"#, "attributes.age", "of type number, got a string"),
        (#"{"email": "a@example.com", "attributes": {"vip": 1}}"#, "attributes.vip", "of type boolean, got a number"),
        (#"{"email": "a@example.com", "attributes": {"trial_ends": "soon"}}"#, "attributes.trial_ends", "must be a date"),
        (#"{"email": "a@example.com", "name": 12}"#, "name", "must be a string, got a number"),
        (#"{"email": "a@example.com", "company_id": 99}"#, "company_id", "no company"),
        (#"{"email": "a@example.com", "topics": ["nope"]}"#, "topics[0]", "no topic with key 'nope'"),
    ])
    func bad_input_is_refused_with_the_field_named_and_nothing_written(body: String, field: String, message: String) async throws {
        try await withAPI { api in
            try await Self.registerFields(api)
            let reply = try await api.send(.post, "/api/subscribers", json: body)
            #expect(reply.status == .unprocessableContent, "\(reply.text)")
            #expect(try reply.error("field") == field)
            #expect(try reply.error("message")?.contains(message) == true, "\(reply.text)")
            #expect(try await api.count("subscribers") == 0)
            #expect(try await api.count("consent_log") == 0)
        }
    }

    @Test func patch_merges_attributes_and_null_removes_a_key() async throws {
        try await withAPI { api in
            try await Self.registerFields(api)
            let created = try await api.send(
                .post, "/api/subscribers",
                json: #"{"email": "m@example.com", "timezone": "Europe/Paris", "attributes": {"plan": "free", "age": 30}}"#)
            #expect(created.status == .created)
            let patched = try await api.send(
                .patch, "/api/subscribers/m@example.com",
                json: #"{"name": "Marc", "timezone": null, "attributes": {"plan": "pro", "age": null, "vip": false}}"#)
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(try patched.value("attributes") == .object(["plan": .string("pro"), "vip": .bool(false)]))
            #expect(try patched.value("timezone") == nil || (try patched.value("timezone")) == .null)
            #expect(try patched.value("name") == .string("Marc"))
            let bad = try await api.send(.patch, "/api/subscribers/m@example.com", json: #"{"name": "X", "attributes": {"age": "x"}}"#)
            #expect(bad.status == .unprocessableContent)
            let after = try await api.send(.get, "/api/subscribers/m@example.com")
            #expect(try after.value("name") == .string("Marc"))
        }
    }

    @Test func unsubscribing_through_patch_is_logged_as_consent() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "u@example.com"}"#)
            let reply = try await api.send(
                .patch, "/api/subscribers/u@example.com", json: #"{"status": "unsubscribed"}"#,
                headers: [.userAgent: "ops-script/1.0", .init("X-Forwarded-For")!: "203.0.113.9"])
            #expect(reply.status == .ok)
            let consent = try await api.send(.get, "/api/subscribers/u@example.com/consent")
            guard case .object(let root) = try consent.json, case .array(let items)? = root["items"], case .object(let entry)? = items.first
            else {
                Issue.record("no consent entry: \(consent.text)")
                return
            }
            #expect(entry["action"] == .string("unsubscribe_all"))
            #expect(entry["source"] == .string("api"))
            #expect(entry["ip"] == .string("203.0.113.9"))
            #expect(entry["user_agent"] == .string("ops-script/1.0"))
        }
    }

    @Test func list_filters_and_pages_with_a_cursor() async throws {
        try await withAPI { api in
            for i in 0..<5 {
                _ = try await api.send(
                    .post, "/api/subscribers", json: #"{"email": "p\#(i)@example.com", "status": "\#(i == 4 ? "pending" : "active")"}"#)
            }
            var seen: [String] = []
            var uri = "/api/subscribers?limit=2&status=active"
            while true {
                let page = try await api.send(.get, uri)
                #expect(page.status == .ok)
                guard case .object(let root) = try page.json, case .array(let items)? = root["items"] else { break }
                for case .object(let item) in items { if case .string(let email)? = item["email"] { seen.append(email) } }
                guard case .string(let cursor)? = root["next_cursor"] else { break }
                uri = "/api/subscribers?limit=2&status=active&after=\(cursor)"
            }
            #expect(seen == ["p0@example.com", "p1@example.com", "p2@example.com", "p3@example.com"])
            let search = try await api.send(.get, "/api/subscribers?q=p4")
            #expect(search.text.contains("p4@example.com"))
            #expect(!search.text.contains("p3@example.com"))
            #expect(try await api.send(.get, "/api/subscribers?after=garbage").status == .unprocessableContent)
            #expect(try await api.send(.get, "/api/subscribers?limit=0").status == .unprocessableContent)
            #expect(try await api.send(.get, "/api/subscribers?status=gone").status == .unprocessableContent)
        }
    }

    @Test func erase_removes_the_person_their_events_and_consent_and_can_suppress_by_hash() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "Gone@Example.com", "topics": ["news"]}"#)
            let id = try await api.database.pool.query("SELECT id FROM subscribers")[0].decode(Int64.self, "id")
            try await api.database.pool.execute("INSERT INTO events (type, subscriber_id, occurred_at) VALUES ('open', \(id), now())")
            #expect(try await api.count("consent_log") == 1)
            let erased = try await api.send(.delete, "/api/subscribers/gone@example.com?suppress=true")
            #expect(erased.status == .noContent)
            #expect(try await api.count("subscribers") == 0)
            #expect(try await api.count("events") == 0)
            #expect(try await api.count("consent_log") == 0)
            #expect(try await api.count("subscriptions") == 0)
            let suppressed = try await api.database.pool.query(
                "SELECT email FROM suppressions WHERE email_hash = sha256(convert_to('gone@example.com', 'UTF8'))")
            #expect(suppressed.count == 1)
            #expect(try suppressed[0].decode(String?.self, "email") == nil)
            #expect(try await api.send(.delete, "/api/subscribers/gone@example.com").status == .notFound)
        }
    }
}
