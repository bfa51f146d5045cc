import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

/// `POST /api/events`, the batcher under pressure, retention, and the engagement rollup.
@Suite("Custom events and engagement")
struct EventsAPITests {
    static func people(_ api: API, _ count: Int) async throws {
        let rows = (0..<count).map { #"{"email": "e\#($0)@example.com"}"# }.joined(separator: ",")
        #expect(try await api.send(.post, "/api/subscribers/batch", json: "[\(rows)]").status == .ok)
    }

    @Test func one_event_by_email_is_recorded_once_per_idempotency_key() async throws {
        try await withAPI { api in
            try await Self.people(api, 1)
            let body = #"{"email": "E0@example.com", "name": "page_view", "properties": {"path": "/pricing"}, "idempotency_key": "k-1"}"#
            let first = try await api.send(.post, "/api/events", json: body)
            #expect(first.status == .created, "\(first.text)")
            #expect(try first.value("status") == .string("recorded"))
            let retry = try await api.send(.post, "/api/events", json: body)
            #expect(retry.status == .ok)
            #expect(try retry.value("status") == .string("duplicate"))
            #expect(try await api.count("events") == 1)
            let engagement = try await api.send(.get, "/api/subscribers/e0@example.com/engagement")
            #expect(try engagement.value("last_activity_at") != .null, "a custom event is activity")
        }
    }

    @Test func a_persons_activity_lists_newest_first_in_pages_and_by_type() async throws {
        try await withAPI { api in
            try await Self.people(api, 2)
            // Out of order on purpose: the list follows occurred_at, not the order of arrival.
            let batch = [
                ("page_view", "2026-03-01T10:00:00Z"), ("purchase", "2026-05-01T10:00:00Z"), ("page_view", "2026-04-01T10:00:00Z"),
                ("page_view", "2026-06-01T10:00:00Z"), ("signup", "2026-01-01T10:00:00Z"),
            ].map { #"{"email": "e0@example.com", "name": "\#($0.0)", "occurred_at": "\#($0.1)"}"# }.joined(separator: ",")
            #expect(try await api.send(.post, "/api/events", json: "[\(batch)]").status == .ok)
            _ = try await api.send(.post, "/api/events", json: #"{"email": "e1@example.com", "name": "page_view"}"#)

            func page(_ query: String) async throws -> (months: [String], next: String?) {
                let reply = try await api.send(.get, "/api/subscribers/e0@example.com/events\(query)")
                #expect(reply.status == .ok, "\(reply.text)")
                guard case .array(let items)? = try reply.value("items") else { return ([], nil) }
                let months = items.compactMap { item -> String? in
                    guard case .object(let event) = item, case .string(let at)? = event["occurred_at"] else { return nil }
                    return String(at.prefix(7))
                }
                guard case .string(let next)? = try reply.value("next_cursor") else { return (months, nil) }
                return (months, next)
            }
            #expect(
                try await page("").months == ["2026-06", "2026-05", "2026-04", "2026-03", "2026-01"], "only this person's, newest first")
            let first = try await page("?limit=2")
            #expect(first.months == ["2026-06", "2026-05"])
            let second = try await page("?limit=2&before=\(try #require(first.next))")
            #expect(second.months == ["2026-04", "2026-03"])
            let last = try await page("?limit=2&before=\(try #require(second.next))")
            #expect(last.months == ["2026-01"] && last.next == nil)
            #expect(try await page("?type=page_view").months == ["2026-06", "2026-04", "2026-03"])

            for (query, field) in [("?before=nonsense", "before"), ("?limit=0", "limit"), ("?type=", "type")] {
                let reply = try await api.send(.get, "/api/subscribers/e0@example.com/events\(query)")
                #expect(reply.status == .unprocessableContent, "\(query)")
                #expect(try reply.error("field") == field, "\(query): \(reply.text)")
            }
            #expect(try await api.send(.get, "/api/subscribers/nobody@example.com/events").status == .notFound)
        }
    }

    @Test func a_batch_lands_what_is_valid_and_reports_each_refused_item() async throws {
        try await withAPI { api in
            try await Self.people(api, 2)
            let id = try await api.database.pool.query("SELECT min(id) AS id FROM subscribers")[0].decode(Int64.self, "id")
            let batch = """
                [
                  {"subscriber_id": \(id), "name": "purchase", "properties": {"amount": 42.5}, "occurred_at": "2026-01-15T10:00:00Z"},
                  {"email": "ghost@example.com", "name": "purchase"},
                  {"email": "e1@example.com", "name": "open"},
                  {"email": "e1@example.com", "name": "signup", "idempotency_key": "same"},
                  {"email": "e1@example.com", "name": "signup", "idempotency_key": "same"},
                  {"email": "e1@example.com", "name": "x", "properties": [1]},
                  {"name": "x"}
                ]
                """
            let reply = try await api.send(.post, "/api/events", json: batch)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect(try reply.value("recorded") == .number(2))
            #expect(try reply.value("duplicates") == .number(1), "the same key twice in one batch counts once")
            #expect(try reply.value("failed") == .number(4))
            #expect(reply.text.contains("no subscriber with email ghost@example.com"))
            #expect(reply.text.contains("is a built-in event"))
            #expect(try await api.count("events") == 2)
            let stored = try await api.database.pool.query("SELECT properties->>'amount' AS amount FROM events WHERE type = 'purchase'")
            #expect(try stored[0].decode(String.self, "amount") == "42.5")
        }
    }

    @Test func bad_events_are_refused_with_the_field_named_and_write_nothing() async throws {
        try await withAPI { api in
            try await Self.people(api, 1)
            for (body, field) in [
                (#"{"email": "e0@example.com"}"#, "name"), (#"{"email": "e0@example.com", "name": "  "}"#, "name"),
                (#"{"name": "x"}"#, "subscriber_id"), (#"{"email": "e0@example.com", "subscriber_id": 1, "name": "x"}"#, "subscriber_id"),
                (#"{"email": "e0@example.com", "name": "click"}"#, "name"),
                (#"{"email": "e0@example.com", "name": "x", "properties": "no"}"#, "properties"),
                (#"{"email": "e0@example.com", "name": "x", "occurred_at": "yesterday"}"#, "occurred_at"),
                (#"{"email": "e0@example.com", "name": "x", "occurred_at": "2999-01-01T00:00:00Z"}"#, "occurred_at"),
                (#"{"email": "e0@example.com", "name": "x", "idempotency_key": ""}"#, "idempotency_key"),
                (#"{"email": "e0@example.com", "name": "x", "colour": "red"}"#, "colour"),
                (#"{"email": "e0@example.com", "name": "x", "properties": {"a": "b\u0000"}}"#, "properties.a"),
            ] {
                let reply = try await api.send(.post, "/api/events", json: body)
                #expect(reply.status == .unprocessableContent, "\(body): \(reply.text)")
                #expect(try reply.error("field") == field, "\(body): \(reply.text)")
            }
            let unknown = try await api.send(.post, "/api/events", json: #"{"email": "nobody@example.com", "name": "x"}"#)
            #expect(unknown.status == .notFound)
            let big = String(repeating: "y", count: 40_000)
            let tooBig = try await api.send(
                .post, "/api/events", json: #"{"email": "e0@example.com", "name": "x", "properties": {"a": "\#(big)"}}"#)
            #expect(tooBig.status == .contentTooLarge)
            let many = "[" + Array(repeating: #"{"email": "e0@example.com", "name": "x"}"#, count: 10_001).joined(separator: ",") + "]"
            #expect(try await api.send(.post, "/api/events", json: many).status == .contentTooLarge)
            #expect(try await api.send(.post, "/api/events", json: "42").status == .badRequest)
            #expect(try await api.count("events") == 0)
        }
    }

    @Test func under_pressure_callers_wait_for_room_and_every_event_is_written() async throws {
        try await withFacteurDatabase { database in
            try await database.pool.execute(
                "INSERT INTO subscribers (email) SELECT 'b' || g || '@example.com' FROM generate_series(1, 20) g")
            var settings = EventBatcher.Settings()
            (settings.capacity, settings.maxBatch, settings.writers) = (16, 8, 2)
            let batcher = EventBatcher(database: database, settings: settings, logger: Logger(label: "test"))
            let writers = Task { try await batcher.run() }
            let ids = try await database.pool.query("SELECT id FROM subscribers").map { try $0.decode(Int64.self, "id") }
            let outcomes = try await withThrowingTaskGroup(of: EventOutcome.self) { group in
                for index in 0..<600 {
                    group.addTask { try await batcher.record(EventInput(type: "ping", subscriberID: ids[index % ids.count])) }
                }
                return try await group.reduce(into: [EventOutcome]()) { $0.append($1) }
            }
            batcher.stop()
            _ = await writers.result
            #expect(outcomes.count == 600)
            #expect(outcomes.allSatisfy { if case .recorded = $0 { true } else { false } })
            #expect(try await database.pool.query("SELECT count(*) AS n FROM events")[0].decode(Int.self, "n") == 600)
            // One transaction per batch: batches of 2 to 8 events, never more than maxBatch.
            let transactions = try await database.pool.query("SELECT count(DISTINCT xmin::text) AS n FROM events")[0].decode(Int.self, "n")
            #expect(transactions >= 75 && transactions < 600, "\(transactions) commits for 600 events")
            await #expect(throws: PostgresError.self) { _ = try await batcher.record(EventInput(type: "late", subscriberID: ids[0])) }
        }
    }

    @Test func retention_drops_old_monthly_partitions_and_old_stray_rows() async throws {
        try await withFacteurDatabase { database in
            try await database.pool.execute("INSERT INTO subscribers (email) VALUES ('r@example.com')")
            try await database.pool.execute(
                "CREATE TABLE events_y2020m01 PARTITION OF events FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-02-01 00:00+00')")
            try await database.pool.execute(
                """
                INSERT INTO events (type, subscriber_id, occurred_at)
                SELECT t, (SELECT id FROM subscribers), at FROM (VALUES ('old', timestamptz '2020-01-10 00:00+00'),
                    ('stray', timestamptz '2019-06-01 00:00+00'), ('recent', now())) AS v(t, at)
                """)
            let dropped = try await PartitionMaintenance(pool: database.pool, logger: Logger(label: "test")).dropExpired(months: 12)
            #expect(dropped == ["events_y2020m01"])
            let left = try await database.pool.query("SELECT type FROM events ORDER BY type").map { try $0.decode(String.self, "type") }
            #expect(left == ["recent"])
            await #expect(throws: PostgresError.self) {
                _ = try await PartitionMaintenance(pool: database.pool, logger: Logger(label: "test")).dropExpired(months: 0)
            }
        }
    }
}
