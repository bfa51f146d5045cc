import Facteur
import Foundation
import Hummingbird
import Testing

@Suite("Authentication, health and errors")
struct AuthAndHealthTests {
    @Test func health_and_metrics_are_open_and_the_api_is_not() async throws {
        try await withAPI { api in
            let health = try await api.send(.get, "/healthz", key: "")
            #expect(health.status == .ok)
            #expect(try health.value("database") == .string("ok"))
            let metrics = try await api.send(.get, "/metrics", key: "")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)

            let missing = try await api.client.execute(uri: "/api/subscribers", method: .get) { $0 }
            #expect(missing.status == .unauthorized)
            #expect(String(buffer: missing.body).contains("Authorization: Bearer"))
            #expect(missing.headers[.wwwAuthenticate] != nil)

            let wrong = try await api.send(.get, "/api/subscribers", key: "fct_not-a-real-key")
            #expect(wrong.status == .unauthorized)
            #expect(try wrong.error("code") == "unauthorized")
            #expect(try wrong.error("message") == "the API key is unknown or revoked")

            #expect(try await api.send(.get, "/api/subscribers").status == .ok)
        }
    }

    @Test func a_revoked_key_stops_working() async throws {
        try await withAPI { api in
            let other = try await APIKeys(database: api.database).create(name: "temporary")
            #expect(try await api.send(.get, "/api/topics", key: other.secret).status == .ok)
            try await api.database.pool.execute(api.database.sql("api-key-revoke", other.id))
            #expect(try await api.send(.get, "/api/topics", key: other.secret).status == .unauthorized)
        }
    }

    @Test func keys_are_stored_only_as_sha256() async throws {
        try await withAPI { api in
            let rows = try await api.database.pool.query("SELECT prefix, encode(key_hash, 'hex') AS hash FROM api_keys")
            for row in rows {
                let hash = try row.decode(String.self, "hash")
                #expect(hash.count == 64)
                #expect(!hash.contains(api.key))
            }
            #expect(api.key.hasPrefix("fct_"))
        }
    }

    @Test func unknown_routes_and_bad_bodies_get_json_errors_not_5xx() async throws {
        try await withAPI { api in
            let unknown = try await api.send(.get, "/api/nothing-here")
            #expect(unknown.status == .notFound)
            #expect(try unknown.error("code") == "not_found")

            let notJSON = try await api.send(.post, "/api/subscribers", json: "{\"email\": ")
            #expect(notJSON.status == .badRequest)
            #expect(try notJSON.error("message")?.hasPrefix("the body is not valid JSON") == true)

            let wrongType = try await api.send(.post, "/api/subscribers", json: "{}", headers: [.contentType: "text/plain"])
            #expect(wrongType.status == .unsupportedMediaType)

            let array = try await api.send(.post, "/api/subscribers", json: "[1, 2]")
            #expect(array.status == .badRequest)
            #expect(try array.error("message") == "expected a JSON object, got an array")

            let empty = try await api.send(.post, "/api/subscribers", json: "")
            #expect(empty.status == .badRequest)

            let huge = String(repeating: "x", count: 17 * 1024 * 1024)
            let tooLarge = try await api.send(.post, "/api/subscribers", json: "{\"name\": \"\(huge)\"}")
            #expect(tooLarge.status == .contentTooLarge)
            #expect(try await api.count("subscribers") == 0)
        }
    }

    @Test func openapi_describes_every_route_the_router_serves() async throws {
        try await withAPI { api in
            let reply = try await api.send(.get, "/openapi.yaml", key: "")
            #expect(reply.status == .ok)
            let documented = Set(
                reply.text.split(separator: "\n").filter { $0.hasPrefix("  /") && $0.hasSuffix(":") }.map {
                    String($0.dropFirst(2).dropLast())
                })
            let routes = [
                "/healthz", "/metrics", "/openapi.yaml", "/api/subscribers", "/api/subscribers/batch", "/api/subscribers/{ref}",
                "/api/subscribers/{ref}/topics", "/api/subscribers/{ref}/consent", "/api/fields", "/api/topics", "/api/topics/{id}",
                "/api/companies", "/api/companies/{id}", "/api/companies/{id}/subscribers", "/api/templates", "/api/templates/{id}",
                "/api/campaigns", "/api/campaigns/{id}", "/api/campaigns/{id}/schedule", "/api/campaigns/{id}/unschedule",
                "/api/campaigns/{id}/start", "/api/campaigns/{id}/pause", "/api/campaigns/{id}/resume", "/api/campaigns/{id}/cancel",
                "/api/campaigns/{id}/progress", "/api/campaigns/{id}/preview", "/api/campaigns/{id}/test",
                "/api/imports", "/api/exports/subscribers.csv", "/livez", "/t/o/{token}", "/t/c/{token}/{link}", "/api/events",
                "/api/subscribers/{ref}/engagement", "/api/scoring-rules", "/api/scoring-rules/{id}", "/api/scoring-rules/rebuild",
                "/api/bounces", "/api/campaigns/{id}/stats", "/api/subscribers/{ref}/preferences",
                "/api/subscribers/{ref}/confirmation", "/api/exports/consent.csv", "/p/{token}", "/p/{token}/data", "/p/{token}/erase",
                "/u/{token}", "/confirm/{token}", "/subscribe", "/api/subscribers/{ref}/events",
                "/api/segments", "/api/segments/{id}", "/api/segments/preview", "/api/segments/{id}/members",
            ]
            for route in routes { #expect(documented.contains(route), "openapi.yaml does not describe \(route)") }
        }
    }
}
