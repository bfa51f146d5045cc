import ArgumentParser
import Facteur
import FacteurHTTP
import Foundation
import Hummingbird
import Logging
import Metrics
import Postgres
import Prometheus
import ServiceLifecycle

/// `facteur serve`: the HTTP API against `DATABASE_URL`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the admin API, preference pages and tracking endpoints.")

    @Flag(help: "Apply pending migrations before serving.")
    var migrate = false

    func run() async throws {
        let environment = Environment()
        environment.bootstrapLogging()
        let logger = Logger(label: "facteur")
        let database = try Database(
            configuration: try environment.databaseConfiguration(), home: environment.home, maxConnections: try environment.poolSize(),
            logger: logger)
        if migrate { try await database.migrate(home: environment.home, logger: logger) }
        let shared = try await SharedParts(environment: environment, logger: logger)
        try await runServer(database: database, environment: environment, shared: shared, logger: logger)
        await shared.close()
        await database.pool.close()
    }
}

/// Runs the HTTP server until SIGTERM or SIGINT, then shuts down gracefully. `extraServices()`
/// run beside it (`facteur dev` adds the send worker, whose metrics join the server's `/metrics`).
func runServer(
    database: Database, environment: Environment, shared: SharedParts, logger: Logger,
    extraServices: () async throws -> [any Service] = { [] }, onStarted: (@Sendable () -> Void)? = nil
) async throws {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    let events = EventBatcher(database: database, settings: try EventBatcher.Settings.fromEnvironment(environment.values), logger: logger)
    let dependencies = HTTPDependencies(
        database: database, home: environment.home, metrics: registry,
        maxImportBytes: try environment.int("FACTEUR_MAX_IMPORT_BYTES", default: 1 << 30),
        // Test sends go where the worker sends.
        layouts: shared.layouts, links: shared.links, assembler: shared.assembler, transport: shared.transport,
        events: events, classifier: try RequestClassifier.fromEnvironment(environment.values),
        trustForwarded: environment.values["FACTEUR_TRUST_FORWARDED"] == "true",
        bounces: try BounceProcessor.Settings.fromEnvironment(environment.values),
        pages: try await PageTemplates.load(from: environment.home.templatesDirectory),
        systemFrom: try SystemMail.sender(environment: environment.values, baseURL: shared.links.baseURL),
        signupLimit: try environment.int("FACTEUR_SIGNUP_LIMIT", default: 10))
    let router = buildRouter(dependencies)
    var app = Application(
        router: router, configuration: .init(address: .hostname(environment.host, port: try environment.port()), serverName: "facteur"),
        logger: logger)
    if let onStarted { app.addServices(StartupNotice(action: onStarted)) }
    // A bad query stops the process here, at start, not in a request at 3 a.m.
    try await database.queries.verify(on: database.pool)
    let extraServices = try await extraServices()
    let group = ServiceGroup(
        configuration: .init(
            services: [
                events, app,
                PartitionMaintenance(
                    pool: database.pool, logger: logger,
                    retentionMonths: try environment.optionalInt("FACTEUR_EVENT_RETENTION_MONTHS", 1...1200)),
                ScoreMaintenance(rules: ScoringRules(database: database), logger: logger),
                FormTokenMaintenance(database: database, logger: logger),
            ] + extraServices,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    try await group.run()
}

/// Calls `action` once the service group is running (used to print the dev banner).
struct StartupNotice: Service {
    let action: @Sendable () -> Void
    func run() async throws {
        action()
        try? await gracefulShutdown()
    }
}
