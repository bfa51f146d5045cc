import Foundation
import Postgres
import Testing

@Suite("COPY and LISTEN/NOTIFY")
struct CopyAndNotifyTests {
    @Test func copy_streams_a_hundred_thousand_rows() async throws {
        try await withTestPool { pool in
            try await pool.execute("CREATE TABLE contacts (id int, email text)")
            let copied = try await pool.withConnection { conn in
                try await conn.copyFrom("COPY contacts (id, email) FROM STDIN") { writer in
                    for i in 0..<100_000 { try await writer.write("\(i)\tuser\(i)@example.com\n") }
                }
            }
            #expect(copied == 100_000)
            let row = try await pool.query("SELECT count(*) AS n, count(DISTINCT email) AS d, max(id) AS m FROM contacts")[0]
            #expect(try row.decode(Int.self, "n") == 100_000)
            #expect(try row.decode(Int.self, "d") == 100_000)
            #expect(try row.decode(Int.self, "m") == 99_999)
        }
    }

    @Test func a_failed_copy_writes_nothing_and_leaves_the_connection_usable() async throws {
        struct Stop: Error {}
        try await withTestPool(maxConnections: 1) { pool in
            try await pool.execute("CREATE TABLE contacts (id int)")
            await #expect(throws: Stop.self) {
                try await pool.withConnection { conn in
                    try await conn.copyFrom("COPY contacts FROM STDIN") { writer in
                        try await writer.write("1\n2\n")
                        throw Stop()
                    }
                }
            }
            let bad = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { conn in
                    try await conn.copyFrom("COPY contacts FROM STDIN") { try await $0.write("1\nnot-a-number\n") }
                }
            }
            #expect(bad?.sqlState == "22P02")
            #expect(try await pool.query("SELECT count(*) AS n FROM contacts")[0].decode(Int.self, "n") == 0)
        }
    }

    @Test func listen_receives_notifications_and_survives_a_terminated_backend() async throws {
        try await withTestPool { pool in
            let listener = PostgresListener(configuration: pool.configuration, channels: ["campaigns"])
            var iterator = listener.notifications().makeAsyncIterator()
            let hello = try #require(await iterator.next())
            #expect(hello.channel == "")
            try await pool.notify(channel: "campaigns", payload: "pause:7")
            let first = try #require(await iterator.next())
            #expect(first.channel == "campaigns")
            #expect(first.payload == "pause:7")

            try await pool.execute("SELECT pg_terminate_backend(\(hello.backendPID))")
            let reconnected = try #require(await iterator.next())
            #expect(reconnected.channel == "")
            #expect(reconnected.backendPID != hello.backendPID)
            try await pool.notify(channel: "campaigns", payload: "resume:7")
            let second = try #require(await iterator.next())
            #expect(second.payload == "resume:7")
        }
    }
}
