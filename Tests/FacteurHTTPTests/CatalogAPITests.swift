import Facteur
import Foundation
import Hummingbird
import Testing

@Suite("Fields, topics and companies API")
struct CatalogAPITests {
    @Test func fields_refuse_duplicates_reserved_keys_and_unknown_types() async throws {
        try await withAPI { api in
            #expect(try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#).status == .created)
            #expect(try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#).status == .conflict)
            let reserved = try await api.send(.post, "/api/fields", json: #"{"key": "email", "type": "text"}"#)
            #expect(reserved.status == .unprocessableContent)
            #expect(try reserved.error("message")?.contains("built-in") == true)
            #expect(try await api.send(.post, "/api/fields", json: #"{"key": "Bad Key", "type": "text"}"#).status == .unprocessableContent)
            #expect(try await api.send(.post, "/api/fields", json: #"{"key": "x", "type": "color"}"#).status == .unprocessableContent)
            #expect(try await api.count("fields") == 1)
            #expect(try await api.send(.get, "/api/fields").text.contains(#""key":"plan""#))
        }
    }

    @Test func topic_statuses_are_set_logged_once_per_change_and_validated() async throws {
        try await withAPI { api in
            #expect(try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "Product news"}"#).status == .created)
            #expect(try await api.send(.post, "/api/topics", json: #"{"key": "events", "name": "Events"}"#).status == .created)
            #expect(try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "Again"}"#).status == .conflict)
            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "e@example.com"}"#)
            let set = try await api.send(
                .put, "/api/subscribers/e@example.com/topics", json: #"{"news": "subscribed", "events": "unsubscribed"}"#)
            #expect(set.status == .ok, "\(set.text)")
            #expect(try set.value("topics") == .object(["news": .string("subscribed"), "events": .string("unsubscribed")]))
            // The same choice again is not a change: nothing more is logged.
            _ = try await api.send(.put, "/api/subscribers/e@example.com/topics", json: #"{"news": "subscribed"}"#)
            #expect(try await api.count("consent_log") == 2)
            let unknown = try await api.send(
                .put, "/api/subscribers/e@example.com/topics", json: #"{"news": "unsubscribed", "ghost": "subscribed"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try unknown.error("field") == "ghost")
            let badValue = try await api.send(.put, "/api/subscribers/e@example.com/topics", json: #"{"news": "maybe"}"#)
            #expect(badValue.status == .unprocessableContent)
            #expect(try await api.count("consent_log") == 2)
            #expect(try await api.send(.get, "/api/subscribers/e@example.com").value("topics.news") == .string("subscribed"))
        }
    }

    @Test func companies_validate_firmographics_and_link_people_all_or_nothing() async throws {
        try await withAPI { api in
            let created = try await api.send(
                .post, "/api/companies",
                json:
                    #"{"name": "Climatisation Québec", "domain": "ClimQC.ca", "industry": "HVAC", "naics": "238220", "employees": 12, "revenue": 1500000.5, "region": "QC"}"#
            )
            #expect(created.status == .created, "\(created.text)")
            #expect(try created.value("domain") == .string("climqc.ca"))
            #expect(try created.value("revenue") == .number(1_500_000.5))
            guard case .number(let id)? = try created.value("id") else { return }
            for (body, field) in [
                (#"{"name": "X", "naics": "23-8220"}"#, "naics"), (#"{"name": "X", "employees": -1}"#, "employees"),
                (#"{"name": "X", "domain": "not a domain"}"#, "domain"), (#"{"name": " "}"#, "name"), (#"{"domain": "x.com"}"#, "name"),
            ] {
                let reply = try await api.send(.post, "/api/companies", json: body)
                #expect(reply.status == .unprocessableContent, "\(body)")
                #expect(try reply.error("field") == field)
            }
            #expect(try await api.send(.post, "/api/companies", json: #"{"name": "Dup", "domain": "climqc.ca"}"#).status == .conflict)
            #expect(try await api.count("companies") == 1)

            _ = try await api.send(.post, "/api/subscribers", json: #"{"email": "a@climqc.ca"}"#)
            let subscriberID = try await api.database.pool.query("SELECT id FROM subscribers")[0].decode(Int64.self, "id")
            let partial = try await api.send(
                .post, "/api/companies/\(Int(id))/subscribers", json: #"{"subscriber_ids": [\#(subscriberID), 987654]}"#)
            #expect(partial.status == .unprocessableContent)
            #expect(try await api.database.pool.query("SELECT company_id FROM subscribers")[0].decode(Int64?.self, "company_id") == nil)
            let linked = try await api.send(
                .post, "/api/companies/\(Int(id))/subscribers", json: #"{"subscriber_ids": [\#(subscriberID)]}"#)
            #expect(try linked.value("linked") == .number(1))
            #expect(try await api.send(.get, "/api/companies/\(Int(id))").value("subscriber_count") == .number(1))
            let patched = try await api.send(.patch, "/api/companies/\(Int(id))", json: #"{"employees": 15, "region": null}"#)
            #expect(try patched.value("employees") == .number(15))
            #expect(try patched.value("region") == nil || (try patched.value("region")) == .null)
            #expect(try await api.send(.delete, "/api/companies/\(Int(id))").status == .noContent)
            #expect(try await api.send(.get, "/api/companies/\(Int(id))").status == .notFound)
            #expect(try await api.send(.get, "/api/companies/abc").status == .notFound)
        }
    }
}

@Suite("Inputs the database cannot store")
struct UnstorableInputTests {
    @Test func nul_characters_are_refused_with_the_field_named() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#)
            let company = try await api.send(.post, "/api/companies", json: #"{"name": "Nul", "attributes": {"a": ["ok", "x\u0000y"]}}"#)
            #expect(company.status == .unprocessableContent)
            #expect(try company.error("field") == "attributes.a[1]")
            let subscriber = try await api.send(
                .post, "/api/subscribers", json: #"{"email": "n@example.com", "attributes": {"plan": "a\u0000b"}}"#)
            #expect(subscriber.status == .unprocessableContent)
            #expect(try subscriber.error("field") == "attributes.plan")
            let csv = try await api.send(.post, "/api/imports", csv: "email,plan\nn@example.com,a\u{0}b\nok@example.com,pro\n")
            #expect(csv.status == .ok)
            #expect(try csv.value("failed") == .number(1))
            #expect(csv.text.contains("NUL"))
            #expect(try await api.count("subscribers") == 1)
            #expect(try await api.count("companies") == 0)
        }
    }

    @Test func unknown_numeric_subscribers_are_404_everywhere() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
            #expect(try await api.send(.put, "/api/subscribers/123456/topics", json: #"{"news": "subscribed"}"#).status == .notFound)
            #expect(try await api.send(.get, "/api/subscribers/123456/consent").status == .notFound)
            #expect(try await api.send(.patch, "/api/subscribers/123456", json: #"{"name": "x"}"#).status == .notFound)
            let basic = try await api.send(.get, "/api/topics", headers: [:])
            #expect(basic.status == .ok)
            let wrongScheme = try await api.client.execute(uri: "/api/topics", method: .get, headers: [.authorization: "Basic abc"]) { $0 }
            #expect(wrongScheme.status == .unauthorized)
            #expect(String(buffer: wrongScheme.body).contains("Bearer scheme"))
        }
    }
}
