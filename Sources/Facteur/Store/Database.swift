import Foundation
import Logging
import Postgres

/// The database handle every part of the domain shares: the pool and the named queries.
public struct Database: Sendable {
    public let pool: PostgresPool
    public let queries: QueryCatalog

    public init(pool: PostgresPool, queries: QueryCatalog) {
        self.pool = pool
        self.queries = queries
    }

    /// Opens a pool and loads `sql/queries` from the Facteur home.
    public init(configuration: PostgresConfiguration, home: FacteurHome, maxConnections: Int, logger: Logger) throws {
        self.queries = try QueryCatalog(directory: home.queriesDirectory)
        self.pool = PostgresPool(configuration: configuration, maxConnections: maxConnections, logger: logger)
    }

    /// The first row of `sql`, or a 404 that says what was not found.
    public func one(_ sql: SQL, notFound message: @autoclosure () -> String) async throws -> PostgresRow {
        guard let row = try await pool.query(sql).first else { throw FacteurError.notFound(message()) }
        return row
    }

    /// A named query with its parameters.
    public func sql(_ name: String, _ binds: any PostgresEncodable...) -> SQL {
        guard let query = queries.queries[name] else { preconditionFailure("no query named '\(name)' in sql/queries") }
        precondition(binds.count == query.parameterCount, "query '\(name)' takes \(query.parameterCount) parameters, got \(binds.count)")
        return SQL(unsafeSQL: query.text, binds: binds.map { PostgresBind(type: type(of: $0).postgresType, value: $0.postgresText) })
    }
}

/// Where Facteur finds `sql/` and `templates/` at run time (`FACTEUR_HOME`, default: the working directory).
public struct FacteurHome: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// From `FACTEUR_HOME`, else the working directory.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> FacteurHome {
        let path = environment["FACTEUR_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.currentDirectoryPath
        return FacteurHome(root: URL(fileURLWithPath: path))
    }

    public var migrationsDirectory: URL { root.appendingPathComponent("sql/migrations") }
    public var queriesDirectory: URL { root.appendingPathComponent("sql/queries") }
    public var templatesDirectory: URL { root.appendingPathComponent("templates") }
}
