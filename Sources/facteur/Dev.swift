import ArgumentParser
import Facteur
import Foundation
import Logging
import Postgres

/// `facteur dev`: everything on an embedded default — a private PostgreSQL cluster under `.facteur/`,
/// migrations applied, the server running — for trying Facteur with one command.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Facteur on a private PostgreSQL cluster under .facteur/ (no setup needed).")

    @Option(help: "Where the private cluster and dev files live.")
    var directory = ".facteur"

    func run() async throws {
        var environment = Environment()
        environment.bootstrapLogging()
        if try TokenSigner.fromEnvironment(environment.values) == nil {
            environment = Environment(environment.values.merging(["FACTEUR_SECRET": try devSecret()]) { $1 })
        }
        if environment.string("FACTEUR_OUTBOX") == nil, environment.string("SMTP_URL") == nil {
            // Mail is captured as .eml files unless a server is configured.
            environment = Environment(environment.values.merging(["FACTEUR_OUTBOX": directory + "/outbox"]) { $1 })
        }
        let logger = Logger(label: "facteur.dev")
        let configuration: PostgresConfiguration
        var cluster: LocalCluster?
        if environment.string("DATABASE_URL") != nil {
            configuration = try environment.databaseConfiguration()
        } else {
            let local = try LocalCluster(directory: directory + "/pg")
            try local.start(logger: logger)
            if local.directory != URL(fileURLWithPath: directory + "/pg").standardizedFileURL.path {
                logger.notice("the postgres user cannot reach \(directory); the cluster lives in \(local.directory)")
            }
            try await Self.createDatabase("facteur", on: local)
            configuration = local.configuration(database: "facteur")
            cluster = local
        }
        let database = try Database(
            configuration: configuration, home: environment.home, maxConnections: try environment.poolSize(), logger: logger)
        do {
            try await database.migrate(home: environment.home, logger: logger)
            let key = try await devKey(database)
            let base = "http://\(environment.host):\(try environment.port())"
            let socket = cluster?.socketDirectory
            let mail =
                environment.string("SMTP_URL") == nil ? "written to \(directory)/outbox as .eml files" : "sent through SMTP_URL"
            let settings = environment
            // One set of layouts, keys and mail transport for the API's test sends and the worker.
            let shared = try await SharedParts(environment: environment, logger: logger)
            try await runServer(
                database: database, environment: environment, shared: shared, logger: logger,
                extraServices: {
                    // Built once metrics are bootstrapped, so the worker's join the server's /metrics.
                    try await WorkerParts(
                        environment: settings, database: database, logger: logger, configuration: configuration, shared: shared
                    ).services
                },
                onStarted: {
                    var banner = "\nFacteur is running.\n  API:      \(base)/api  (Authorization: Bearer \(key))\n"
                    banner += "  Health:   \(base)/healthz\n  Metrics:  \(base)/metrics\n  OpenAPI:  \(base)/openapi.yaml\n"
                    if let socket { banner += "  Database: psql -h \(socket) -U postgres facteur\n" }
                    banner += "  Mail:     \(mail)\n"
                    banner += "  The API key is also in \(directory)/api-key. Stop with Ctrl-C.\n"
                    FileHandle.standardError.write(Data(banner.utf8))
                }
            )
            await shared.close()
        } catch {
            await database.pool.close()
            try? cluster?.stop()
            throw error
        }
        await database.pool.close()
        if let cluster {
            logger.info("stopping the private PostgreSQL cluster")
            try cluster.stop()
        }
    }

    /// The dev API key: created on the first run and kept in `.facteur/api-key` so the README's
    /// walkthrough can read it. Production keys are never written to disk.
    private func devKey(_ database: Database) async throws -> String {
        let path = directory + "/api-key"
        if let saved = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            try await APIKeys(database: database).verify(saved) != nil
        {
            return saved
        }
        let key = try await APIKeys(database: database).create(name: "facteur dev")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data((key.secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return key.secret
    }

    /// The dev link-signing secret, made on the first run and kept in `.facteur/secret` so links in
    /// mail sent by `facteur dev` keep working across restarts.
    private func devSecret() throws -> String {
        let path = directory + "/secret"
        if let saved = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            saved.utf8.count >= 32
        {
            return saved
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<48).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return secret
    }

    static func createDatabase(_ name: String, on cluster: LocalCluster) async throws {
        let admin = PostgresPool(configuration: cluster.configuration(), maxConnections: 1)
        defer { Task { await admin.close() } }
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
        if exists.isEmpty { try await admin.execute("CREATE DATABASE \(identifier: name)") }
    }
}
