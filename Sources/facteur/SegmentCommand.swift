import ArgumentParser
import Facteur
import Foundation
import Postgres

/// `facteur segment count|members|explain (ID | --text RULE)`.
struct SegmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Evaluate a segment, stored or written as text.",
        subcommands: [Count.self, Members.self, Explain.self])

    struct Target: ParsableArguments {
        @Argument(help: "A stored segment's id.") var id: Int64?
        @Option(help: #"A rule in the text syntax, e.g. 'country = "FR" and opened within 30d'."#) var text: String?

        /// Runs `body` with the database, the rule and a compiler that knows every segment.
        func withRule(_ body: (Database, SegmentRule, SegmentCompiler) async throws -> Void) async throws {
            try await withDatabase { database in
                let (rule, compiler) = try await Segments(database: database).compiled(id: id, text: text)
                try await body(database, rule, compiler)
            }
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many subscribers the segment selects now.")
        @OptionGroup var target: Target

        func run() async throws {
            try await target.withRule { database, rule, compiler in
                let started = ContinuousClock.now
                let count = try await database.pool.query(try compiler.count(rule))[0].decode(Int.self, "n")
                print("\(count) subscribers (\(ContinuousClock.now - started))")
            }
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The members, as id,email lines.")
        @OptionGroup var target: Target

        func run() async throws {
            try await target.withRule { database, rule, compiler in
                let members: SQL = "SELECT s.id, s.email FROM subscribers s WHERE \(try compiler.predicate(rule)) ORDER BY s.id"
                for row in try await database.pool.query(members) {
                    print("\(try row.decode(Int64.self, "id")),\(try row.decode(String.self, "email"))")
                }
            }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The rule as text, its SQL and parameters, and PostgreSQL's plan.")
        @OptionGroup var target: Target

        func run() async throws {
            try await target.withRule { database, rule, compiler in
                let count = try compiler.count(rule)
                print("rule: \(SegmentText.format(rule))")
                print("sql: \(count.text)")
                for (index, bind) in count.binds.enumerated() { print("  $\(index + 1) = \(bind.value ?? "NULL")") }
                print("plan:")
                for row in try await database.pool.query(SQL(unsafeSQL: "EXPLAIN " + count.text, binds: count.binds)) {
                    print("  " + (try row.decode(String.self, "QUERY PLAN")))
                }
            }
        }
    }
}
