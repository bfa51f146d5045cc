import Foundation
import Postgres
import Testing

@Suite("Types round-trip through a real server")
struct RoundTripTests {
    @Test func every_bindable_type_round_trips() async throws {
        try await withTestPool { pool in
            let date = Date(timeIntervalSince1970: 1_790_000_000.123456)
            let uuid = UUID()
            let rows = try await pool.query(
                """
                SELECT \("Élodie 🎉")::text AS s, \(42)::bigint AS i, \(Int64.min)::bigint AS i64, \(Int32(7))::int AS i32,
                       \(3.25)::float8 AS d, \(true)::bool AS b, \(date)::timestamptz AS t, \(uuid)::uuid AS u,
                       \(PostgresBytes([0, 1, 254, 255]))::bytea AS bytes, \(PostgresJSON(rawJSON: #"{"a": [1, "x"]}"#))::jsonb AS j,
                       \([Int64(1), -2, 3])::bigint[] AS ints, \(["a b", "c\"d", "é", "NULL", ""])::text[] AS strings
                """)
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, "s") == "Élodie 🎉")
            #expect(try row.decode(Int.self, "i") == 42)
            #expect(try row.decode(Int64.self, "i64") == Int64.min)
            #expect(try row.decode(Int32.self, "i32") == 7)
            #expect(try row.decode(Double.self, "d") == 3.25)
            #expect(try row.decode(Bool.self, "b") == true)
            #expect(abs(try row.decode(Date.self, "t").timeIntervalSince(date)) < 0.000_001)
            #expect(try row.decode(UUID.self, "u") == uuid)
            #expect(try row.decode(PostgresBytes.self, "bytes").bytes == [0, 1, 254, 255])
            struct Doc: Decodable, Equatable {
                let a: [Item]
                enum Item: Decodable, Equatable {
                    case int(Int)
                    case string(String)
                    init(from decoder: Decoder) throws {
                        let c = try decoder.singleValueContainer()
                        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
                    }
                }
            }
            #expect(try row.decode(PostgresJSON.self, "j").decode(as: Doc.self) == Doc(a: [.int(1), .string("x")]))
            #expect(try row.decode([Int64].self, "ints") == [1, -2, 3])
            #expect(try row.decode([String].self, "strings") == ["a b", "c\"d", "é", "NULL", ""])
        }
    }

    @Test func nulls_decode_as_nil_and_fail_for_non_optionals() async throws {
        try await withTestPool { pool in
            let none: String? = nil
            let noInt: Int? = nil
            let row = try #require(try await pool.query("SELECT \(none)::text AS s, \(noInt)::bigint AS i").first)
            #expect(try row.decode(String?.self, "s") == nil)
            #expect(try row.decode(Int?.self, "i") == nil)
            #expect(row.isNull("s"))
            let error = try #require(throws: PostgresError.self) { try row.decode(String.self, "s") }
            #expect(error.code == .decoding)
            #expect(error.message.contains("'s'"))
            #expect(error.message.contains("NULL"))
        }
    }

    @Test func type_mismatch_names_the_column_and_both_types() async throws {
        try await withTestPool { pool in
            let row = try #require(try await pool.query("SELECT 'hello'::text AS greeting").first)
            let error = try #require(throws: PostgresError.self) { try row.decode(Int.self, "greeting") }
            #expect(error.message.contains("'greeting'"))
            #expect(error.message.contains("text"))
            #expect(error.message.contains("Int"))
            let missing = try #require(throws: PostgresError.self) { try row.decode(Int.self, "nope") }
            #expect(missing.message.contains("no column named 'nope'"))
        }
    }

    @Test func one_megabyte_of_unicode_text_round_trips() async throws {
        try await withTestPool { pool in
            let big = String(repeating: "Offre d'été — ", count: 1_048_576 / 16)
            try await pool.execute("CREATE TABLE blobs (body text)")
            try await pool.execute("INSERT INTO blobs VALUES (\(big))")
            let row = try #require(try await pool.query("SELECT body, octet_length(body) AS n FROM blobs").first)
            #expect(try row.decode(String.self, "body") == big)
            #expect(try row.decode(Int.self, "n") >= 1_000_000)
        }
    }

    @Test func timestamps_survive_dates_before_1970_and_far_ahead() async throws {
        try await withTestPool { pool in
            for seconds in [-2_208_988_800.5, 0, 1_700_000_000.000001, 4_102_444_800] {
                let date = Date(timeIntervalSince1970: seconds)
                let row = try #require(try await pool.query("SELECT \(date)::timestamptz AS t").first)
                #expect(abs(try row.decode(Date.self, "t").timeIntervalSince1970 - seconds) < 0.000_002)
            }
        }
    }

    @Test func a_nul_byte_in_text_is_refused_before_reaching_the_server() async throws {
        try await withTestPool { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT \("a\u{0}b")::text") }
            #expect(error?.code == .encoding)
        }
    }

    @Test func interpolation_binds_values_so_quotes_cannot_inject() async throws {
        try await withTestPool { pool in
            let hostile = "x'); DROP TABLE t; --"
            try await pool.execute("CREATE TABLE t (v text)")
            try await pool.execute("INSERT INTO t VALUES (\(hostile))")
            let rows = try await pool.query("SELECT v FROM t")
            #expect(try rows[0].decode(String.self, "v") == hostile)
            var sql: SQL = "SELECT v FROM t WHERE v = \(hostile)"
            sql.append(" AND v <> \("other")")
            #expect(sql.text == "SELECT v FROM t WHERE v = $1 AND v <> $2")
            #expect(try await pool.query(sql).count == 1)
        }
    }

    @Test func server_errors_carry_sqlstate_and_constraint() async throws {
        try await withTestPool { pool in
            try await pool.execute("CREATE TABLE people (email text CONSTRAINT people_email_key UNIQUE)")
            try await pool.execute("INSERT INTO people VALUES ('a@example.com')")
            let error = await #expect(throws: PostgresError.self) {
                try await pool.execute("INSERT INTO people VALUES ('a@example.com')")
            }
            #expect(error?.isUniqueViolation == true)
            #expect(error?.sqlState == "23505")
            #expect(error?.constraint == "people_email_key")
            #expect(error?.detail?.contains("a@example.com") == true)
        }
    }
}
