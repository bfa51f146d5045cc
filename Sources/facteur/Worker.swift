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
        let parts = try await WorkerParts(environment: environment, database: database, logger: logger, configuration: configuration)
        if once {
            let count = try await parts.worker.sendDue()
            logger.info("sent what was due", metadata: ["messages": "\(count)"])
            await parts.close()
            await database.pool.close()
            return
        }
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { _, _ in
            var buffer = [UInt8]()
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        let app = Application(
            router: router,
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

/// The worker and the campaign clock, built from the environment; `facteur dev` runs them too.
struct WorkerParts {
    let worker: SendWorker
    let scheduler: CampaignScheduler
    let transport: any MailTransport

    init(environment: Environment, database: Database, logger: Logger, configuration: PostgresConfiguration) async throws {
        let layouts = try await EmailLayouts.load(from: environment.home.templatesDirectory.appendingPathComponent("email"))
        transport = try environment.mailTransport(logger: logger)
        worker = SendWorker(
            database: database, transport: transport, links: try environment.linkBuilder(),
            assembler: MessageAssembler(signers: try MessageAssembler.signers(fromEnvironment: environment.values)), layouts: layouts,
            settings: try SendWorkerSettings.fromEnvironment(environment.values), logger: logger,
            listener: PostgresListener(configuration: configuration, channels: [Campaigns.channel], logger: logger))
        scheduler = CampaignScheduler(
            campaigns: Campaigns(database: database, templates: Templates(database: database, layouts: layouts)), logger: logger)
    }

    var services: [any Service] { [worker, scheduler] }

    func close() async {
        await (transport as? any ClosableTransport)?.close()
    }
}
