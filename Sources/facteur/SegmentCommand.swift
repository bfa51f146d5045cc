import ArgumentParser
import Facteur
import Foundation
import Postgres

/// `facteur segment count|members|explain (ID | --text RULE)` and `facteur segment refresh ID`.
struct SegmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Evaluate a segment, stored or written as text.",
        subcommands: [Count.self, Members.self, Explain.self, Refresh.self])

    struct Target: ParsableArguments {
        @Argument(help: "A stored segment's id.") var id: Int64?
        @Option(help: #"A rule in the text syntax, e.g. 'country = "FR" and opened within 30d'."#) var text: String?
        @Option(help: "Evaluate as of this instant (ISO 8601) instead of now: relative dates and windows count back from it.")
        var now: String?

        /// Runs `body` with the database, the store, the rule and a compiler that knows every segment.
        func withRule(_ body: (Database, Segments, SegmentRule, SegmentCompiler) async throws -> Void) async throws {
            var instant = Date()
            if let now {
                guard let parsed = ISODates.parse(now) else {
                    throw ValidationError("--now must be an ISO 8601 instant, e.g. 2026-11-23T09:00:00Z")
                }
                instant = parsed
            }
            try await withDatabase { database in
                let segments = Segments(database: database)
                let (rule, compiler) = try await segments.compiled(id: id, text: text, now: instant)
                try await body(database, segments, rule, compiler)
            }
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many subscribers the segment selects now.")
        @OptionGroup var target: Target
        @Option(help: "Evaluate it this many times and print each query's time in milliseconds (for benchmarks).")
        var `repeat`: Int = 1

        func validate() throws {
            guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat must be between 1 and 1000") }
        }

        func run() async throws {
            try await target.withRule { _, segments, rule, compiler in
                let sql = try compiler.count(rule)
                var count = 0
                var times: [Double] = []
                for _ in 0..<`repeat` {
                    let started = ContinuousClock.now
                    count = try await segments.evaluating { tx in try await tx.query(sql)[0].decode(Int.self, "n") }
                    let elapsed = (ContinuousClock.now - started).components
                    times.append(Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15)
                }
                print("\(count) subscribers")
                print("times_ms: " + times.map { String(format: "%.2f", $0) }.joined(separator: " "))
            }
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The members, as id,email lines.")
        @OptionGroup var target: Target

        func run() async throws {
            try await target.withRule { _, segments, rule, compiler in
                let members = try compiler.select("s.id, s.email", where: rule, then: " ORDER BY s.id")
                for row in try await segments.evaluating({ tx in try await tx.query(members) }) {
                    print("\(try row.decode(Int64.self, "id")),\(try row.decode(String.self, "email"))")
                }
            }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The rule as text, its SQL and parameters, and PostgreSQL's plan.")
        @OptionGroup var target: Target
        @Flag(help: "Run the query and show the plan with its timings and buffers (EXPLAIN ANALYZE).") var analyze = false

        func run() async throws {
            try await target.withRule { _, segments, rule, compiler in
                let count = try compiler.count(rule)
                print("rule: \(SegmentText.format(rule))")
                print("sql: \(count.text)")
                for (index, bind) in count.binds.enumerated() { print("  $\(index + 1) = \(bind.value ?? "NULL")") }
                print("plan:")
                let explain = analyze ? "EXPLAIN (ANALYZE, BUFFERS) " : "EXPLAIN "
                let plan = try await segments.evaluating { tx in
                    try await tx.query(SQL(unsafeSQL: explain + count.text, binds: count.binds))
                }
                for row in plan { print("  " + (try row.decode(String.self, "QUERY PLAN"))) }
            }
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a static segment's snapshot again: its members become who its rule selects now.")
        @Argument(help: "The static segment's id.") var id: Int64

        func run() async throws {
            try await withDatabase { database in
                let segments = Segments(database: database)
                let segment = try await segments.refresh(id: id)
                let members = try await segments.memberIDs(id: id).count
                print("segment \(segment.id) (\(segment.name)): \(members) members")
            }
        }
    }
}
