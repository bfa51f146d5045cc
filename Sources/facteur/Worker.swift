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

/// `facteur worker`: sends the queued messages of sending campaigns, runs the campaign clock
/// (scheduled starts, A/B decisions) and serves `/healthz` and `/metrics` on its own port.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send campaigns: claim queued messages, render, sign and hand them to SMTP_URL (or FACTEUR_OUTBOX).")

    @Flag(help: "Send what is due now, then exit (for cron-style runs and scripts).")
    var once = false

    func run() async throws {
        let environment = Environment()
        environment.bootstrapLogging()
        let logger = Logger(label: "facteur.worker")
        let configuration = try environment.databaseConfiguration()
        let database = try Database(
            configuration: configuration, home: environment.home, maxConnections: try environment.poolSize(), logger: logger)
        try await database.queries.verify(on: database.pool)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let parts = try await WorkerParts(
            environment: environment, database: database, logger: logger, configuration: configuration,
            shared: try await SharedParts(environment: environment, logger: logger))
        if once {
            let count = try await parts.worker.sendDue()
            logger.info("sent what was due", metadata: ["messages": "\(count)"])
            await parts.close()
            await database.pool.close()
            return
        }
        let app = Application(
            router: buildOperationalRouter(database: database, metrics: registry),
            configuration: .init(
                address: .hostname(environment.host, port: try environment.workerPort()),
                serverName: "facteur-worker"),
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [app] + parts.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await parts.close()
        await database.pool.close()
    }
}

/// What the API server and the worker both read from the environment, loaded once per process
/// (`facteur dev` runs both): layouts, link signing, DKIM keys and the mail transport.
struct SharedParts {
    let layouts: EmailLayouts
    let links: LinkBuilder
    let assembler: MessageAssembler
    /// Nil when neither `SMTP_URL` nor `FACTEUR_OUTBOX` is set (test sends are then refused).
    let transport: (any MailTransport)?

    init(environment: Environment, logger: Logger) async throws {
        layouts = try await EmailLayouts.load(from: environment.home.templatesDirectory.appendingPathComponent("email"))
        links = try environment.linkBuilder()
        assembler = MessageAssembler(signers: try MessageAssembler.signers(fromEnvironment: environment.values))
        transport = try environment.mailTransport(logger: logger)
    }

    func close() async {
        await (transport as? any ClosableTransport)?.close()
    }
}

/// The worker and the campaign clock; `facteur dev` runs them too.
struct WorkerParts {
    let worker: SendWorker
    let scheduler: CampaignScheduler

    init(environment: Environment, database: Database, logger: Logger, configuration: PostgresConfiguration, shared: SharedParts)
        async throws
    {
        guard let transport = shared.transport else {
            throw ValidationErrorText(
                "SMTP_URL is not set (e.g. smtp://user:pass@mail.example.com:587?tls=starttls); set FACTEUR_OUTBOX=DIR to write .eml files instead"
            )
        }
        worker = SendWorker(
            database: database, transport: transport, links: shared.links, assembler: shared.assembler, layouts: shared.layouts,
            settings: try SendWorkerSettings.fromEnvironment(environment.values), logger: logger,
            listener: PostgresListener(configuration: configuration, channels: [Campaigns.channel], logger: logger))
        scheduler = CampaignScheduler(
            campaigns: Campaigns(database: database, templates: Templates(database: database, layouts: shared.layouts)), logger: logger)
        self.shared = shared
    }

    let shared: SharedParts
    var services: [any Service] { [worker, scheduler] }

    func close() async {
        await shared.close()
    }
}
