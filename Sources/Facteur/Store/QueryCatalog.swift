import Foundation
import Postgres

/// The named queries of `sql/queries/*.sql`, loaded once at start.
///
/// Each query follows a `-- name: subscriber-by-email` line, as in listmonk. Keeping SQL in files keeps
/// it reviewable as SQL, and a test PREPAREs every one against the migrated schema so a typo fails the
/// build's tests rather than a request at 3 a.m.
public struct QueryCatalog: Sendable {
    public struct Query: Sendable {
        public let name: String
        public let text: String
        public let file: String
        /// Highest `$n` placeholder.
        public let parameterCount: Int
    }

    public let queries: [String: Query]

    /// A catalog from queries already parsed (tests, tools).
    public init(queries: [String: Query]) {
        self.queries = queries
    }

    public init(directory: URL) throws {
        var queries: [String: Query] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for query in try Self.parse(text, file: file) {
                guard queries[query.name] == nil else {
                    throw FacteurError(.conflict, "query '\(query.name)' is defined twice (second time in \(file))")
                }
                queries[query.name] = query
            }
        }
        self.queries = queries
    }

    static func parse(_ text: String, file: String) throws -> [Query] {
        var result: [Query] = []
        var name: String?
        var body: [Substring] = []
        func flush() {
            guard let name else { return }
            let sql = body.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            result.append(Query(name: name, text: sql, file: file, parameterCount: placeholderCount(sql)))
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-- name:") {
                flush()
                name = trimmed.dropFirst("-- name:".count).trimmingCharacters(in: .whitespaces)
                body = []
            } else if name != nil {
                body.append(line)
            }
        }
        flush()
        return result
    }

    static func placeholderCount(_ sql: String) -> Int {
        var highest = 0
        var scalars = sql.unicodeScalars[...]
        while let c = scalars.popFirst() {
            guard c == "$" else { continue }
            var digits = 0
            var any = false
            while let d = scalars.first, let value = Int(String(d)) {
                digits = digits * 10 + value
                any = true
                scalars.removeFirst()
            }
            if any { highest = max(highest, digits) }
        }
        return highest
    }

    /// Parses query text as if it were a file (for tests and tools).
    public static func parseForTests(_ text: String) throws -> [Query] {
        try parse(text, file: "inline.sql")
    }
}
