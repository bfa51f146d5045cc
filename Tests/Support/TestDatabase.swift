import Foundation
import Postgres

/// The PostgreSQL server tests talk to: `FACTEUR_TEST_DATABASE_URL` when set, otherwise a private
/// cluster under `.facteur/test-pg` in the checkout, created and started on first use.
public enum TestServer {
    /// A superuser configuration (database `postgres`).
    public static let configuration: PostgresConfiguration = {
        if let url = ProcessInfo.processInfo.environment["FACTEUR_TEST_DATABASE_URL"], !url.isEmpty {
            return PostgresConfiguration(connectionString: url, applicationName: "facteur-tests")
        }
        do {
            let cluster = try localCluster()
            try cluster.start()
            var configuration = cluster.configuration()
            configuration.applicationName = "facteur-tests"
            return configuration
        } catch {
            fatalError("cannot start the test PostgreSQL cluster: \(error)")
        }
    }()

    /// A libpq connection string for `database` on the test server, for child processes.
    public static func connectionString(database: String) -> String {
        let base = configuration.connectionString
        if base.hasPrefix("postgres://") || base.hasPrefix("postgresql://"), var components = URLComponents(string: base) {
            components.path = "/" + database
            return components.string ?? base
        }
        return base + " dbname='\(database)'"
    }

    /// The repository root, found from this file's path.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func localCluster() throws -> LocalCluster {
        try LocalCluster(
            directory: repositoryRoot.appendingPathComponent(".facteur/test-pg").path,
            settings: [
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "400", "shared_buffers": "128MB",
            ])
    }
}

/// Gives each test a database of its own, copied from a template migrated once per process.
///
/// `CREATE DATABASE … TEMPLATE` copies files, so a fresh, fully migrated database costs a few
/// milliseconds instead of a migration run, and tests running in parallel never see each other's rows.
public actor TemplateDatabase {
    private let name: String
    private let prepare: @Sendable (PostgresPool) async throws -> Void
    private var ready: Task<Void, Error>?
    private var counter = 0

    /// - Parameters:
    ///   - name: the template database's name, one per test target.
    ///   - prepare: fills the template (e.g. runs the migrations).
    public init(name: String, prepare: @escaping @Sendable (PostgresPool) async throws -> Void) {
        self.name = name
        self.prepare = prepare
    }

    /// Creates a fresh copy of the template, hands `body` a pool on it, then drops it.
    public func withDatabase<T: Sendable>(
        maxConnections: Int = 4, _ body: @Sendable (PostgresPool) async throws -> T
    ) async throws -> T {
        let copy = try await makeCopy()
        let pool = PostgresPool(configuration: TestServer.configuration.with(database: copy), maxConnections: maxConnections)
        do {
            let result = try await body(pool)
            await pool.close()
            try await Self.drop(copy)
            return result
        } catch {
            await pool.close()
            try? await Self.drop(copy)
            throw error
        }
    }

    /// Creates a copy and returns its name; the caller drops it (for tests that start processes).
    public func makeCopy() async throws -> String {
        try await ensureTemplate()
        counter += 1
        let copy = "\(name)_\(getpid())_\(counter)"
        try await Self.admin {
            try await $0.execute("DROP DATABASE IF EXISTS \(identifier: copy)")
            try await $0.execute("CREATE DATABASE \(identifier: copy) TEMPLATE \(identifier: name)")
        }
        return copy
    }

    /// Drops a database made by `makeCopy`, ending any sessions still on it.
    public static func drop(_ database: String) async throws {
        try await admin { try await $0.execute("DROP DATABASE IF EXISTS \(identifier: database) WITH (FORCE)") }
    }

    private func ensureTemplate() async throws {
        if ready == nil {
            let name = self.name
            let prepare = self.prepare
            ready = Task {
                try await Self.admin { admin in
                    // Serializes template builds across processes sharing the server.
                    try await admin.execute("SELECT pg_advisory_lock(hashtext(\(name)))")
                    defer { Task { _ = try? await admin.execute("SELECT pg_advisory_unlock(hashtext(\(name)))") } }
                    try await admin.execute("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
                    try await admin.execute("CREATE DATABASE \(identifier: name)")
                }
                let pool = PostgresPool(configuration: TestServer.configuration.with(database: name), maxConnections: 1)
                do {
                    try await prepare(pool)
                    await pool.close()
                } catch {
                    await pool.close()
                    throw error
                }
            }
        }
        try await ready!.value
    }

    static func admin<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let pool = PostgresPool(configuration: TestServer.configuration, maxConnections: 1)
        do {
            let result = try await pool.withConnection(body)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}
