import Facteur
import Foundation
import Hummingbird
import Logging
import Mail
import NIOCore
import Postgres
import Prometheus

/// What the HTTP application needs, passed in (no globals): the database, the home directory for
/// static files, and the metrics registry `/metrics` reads.
public struct HTTPDependencies: Sendable {
    public var database: Database
    public var home: FacteurHome
    public var metrics: PrometheusCollectorRegistry
    public var maxImportBytes: Int
    /// Email layouts and partials from `templates/email/`.
    public var layouts: EmailLayouts
    /// Public base URL and token signer for the links in messages.
    public var links: LinkBuilder
    /// MIME and DKIM.
    public var assembler: MessageAssembler
    /// Where test sends go; nil when none is configured.
    public var transport: (any MailTransport)?
    /// Writes tracking and custom events; the caller runs it (it is a `Service`).
    public var events: EventBatcher
    /// Tells machine opens and clicks from people's, and the device and client.
    public var classifier: RequestClassifier
    /// Believe `X-Forwarded-For` (a proxy in front sets it).
    public var trustForwarded: Bool
    /// Soft-bounce suppression threshold.
    public var bounces: BounceProcessor.Settings
    /// The public pages and system emails (`templates/pages`, `templates/system`, `templates/strings`);
    /// nil serves no pages.
    public var pages: PageTemplates?
    /// The sender of system emails (double opt-in); with `transport`, sign-ups can be confirmed.
    public var systemFrom: Mailbox?
    /// Sign-ups per client address per hour (`FACTEUR_SIGNUP_LIMIT`).
    public var signupLimit: Int

    public init(
        database: Database, home: FacteurHome, metrics: PrometheusCollectorRegistry, maxImportBytes: Int = 1 << 30,
        layouts: EmailLayouts = .none, links: LinkBuilder, assembler: MessageAssembler = MessageAssembler(signers: []),
        transport: (any MailTransport)? = nil, events: EventBatcher, classifier: RequestClassifier, trustForwarded: Bool = false,
        bounces: BounceProcessor.Settings = .init(), pages: PageTemplates? = nil, systemFrom: Mailbox? = nil, signupLimit: Int = 10
    ) {
        self.bounces = bounces
        self.pages = pages
        self.systemFrom = systemFrom
        self.signupLimit = signupLimit
        self.events = events
        self.classifier = classifier
        self.trustForwarded = trustForwarded
        self.transport = transport
        self.assembler = assembler
        self.links = links
        self.database = database
        self.home = home
        self.metrics = metrics
        self.maxImportBytes = maxImportBytes
        self.layouts = layouts
    }
}

/// `/healthz` (checks the database) and `/metrics` (Prometheus text), for the API server and,
/// on a port of its own, `facteur worker`.
public func addOperationalRoutes(to router: Router<AppContext>, database: Database, metrics registry: PrometheusCollectorRegistry) {
    router.get("healthz") { _, context in
        do {
            _ = try await database.pool.query("SELECT 1")
            return try JSONResponse.make(["status": "ok", "database": "ok"])
        } catch {
            context.logger.warning("health check failed", metadata: ["error": "\(error)"])
            return try JSONResponse.make(["status": "unavailable", "database": "unreachable"], status: .serviceUnavailable)
        }
    }
    // Liveness: the process answers, nothing else is checked (a database outage must not get
    // every replica restarted). Also the baseline of bench/track.sh.
    router.get("livez") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }
    router.get("metrics") { _, _ in
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

/// The worker's router: only the operational routes.
public func buildOperationalRouter(database: Database, metrics: PrometheusCollectorRegistry) -> Router<AppContext> {
    let router = Router(context: AppContext.self)
    router.add(middleware: ErrorMiddleware())
    addOperationalRoutes(to: router, database: database, metrics: metrics)
    return router
}

/// Builds the router: open routes (`/healthz`, `/metrics`, `/openapi.yaml`) and the admin API under `/api`.
public func buildRouter(_ dependencies: HTTPDependencies) -> Router<AppContext> {
    let database = dependencies.database
    let router = Router(context: AppContext.self)
    // Metrics wrap the error middleware so they count the status clients really get.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))

    addOperationalRoutes(to: router, database: database, metrics: dependencies.metrics)
    let openAPIPath = dependencies.home.root.appendingPathComponent("openapi.yaml").path
    router.get("openapi.yaml") { _, _ in
        guard let data = FileManager.default.contents(atPath: openAPIPath) else {
            throw APIError(.notFound, code: "not_found", message: "openapi.yaml is not in FACTEUR_HOME")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    TrackingController(
        events: dependencies.events, signer: dependencies.links.signer, links: CampaignLinkCache(database: database),
        classifier: dependencies.classifier, trustForwarded: dependencies.trustForwarded
    ).addRoutes(to: router)

    let mail = systemMail(dependencies)
    if let pages = dependencies.pages {
        PageController(
            database: database, preferences: Preferences(database: database), subscribers: Subscribers(database: database),
            topics: Topics(database: database), templates: pages, signer: dependencies.links.signer,
            forms: FormTokens(signer: dependencies.links.signer), mail: mail,
            limiter: SignupRateLimiter(limit: dependencies.signupLimit), trustForwarded: dependencies.trustForwarded,
            logger: Logger(label: "facteur.pages")
        ).addRoutes(to: router)
    }

    let api = router.group("api").add(middleware: APIKeyMiddleware(keys: APIKeys(database: database)))
    let topics = Topics(database: database)
    SubscriberController(
        subscribers: Subscribers(database: database), topics: topics, mail: mail, pages: dependencies.pages,
        preferences: Preferences(database: database)
    )
    .addRoutes(to: api.group("subscribers"))
    FieldController(fields: FieldRegistry(database: database)).addRoutes(to: api.group("fields"))
    TopicController(topics: topics).addRoutes(to: api.group("topics"))
    CompanyController(companies: Companies(database: database)).addRoutes(to: api.group("companies"))
    let templates = Templates(database: database, layouts: dependencies.layouts)
    TemplateController(templates: templates).addRoutes(to: api.group("templates"))
    CampaignController(
        campaigns: Campaigns(database: database, templates: templates), layouts: dependencies.layouts, links: dependencies.links,
        assembler: dependencies.assembler, transport: dependencies.transport
    )
    .addRoutes(to: api.group("campaigns"))
    EventController(
        events: CustomEvents(database: database, batcher: dependencies.events), engagement: Engagement(database: database),
        subscribers: Subscribers(database: database)
    ).addRoutes(events: api.group("events"), subscribers: api.group("subscribers"))
    PreferenceController(
        preferences: Preferences(database: database), subscribers: Subscribers(database: database),
        consent: ConsentExporter(database: database)
    ).addRoutes(subscribers: api.group("subscribers"), exports: api.group("exports"))
    SegmentController(segments: Segments(database: database), exporter: SubscriberExporter(database: database)).addRoutes(
        to: api.group("segments"))
    ScoringRuleController(rules: ScoringRules(database: database)).addRoutes(to: api.group("scoring-rules"))
    BounceController(processor: BounceProcessor(database: database, signer: dependencies.links.signer, settings: dependencies.bounces))
        .addRoutes(to: api.group("bounces"))
    ImportController(
        importer: SubscriberImporter(database: database), exporter: SubscriberExporter(database: database),
        maxImportBytes: dependencies.maxImportBytes
    ).addRoutes(imports: api.group("imports"), exports: api.group("exports"))
    return router
}

/// Confirmation emails need the pages' templates, a sender and a transport.
func systemMail(_ dependencies: HTTPDependencies) -> SystemMail? {
    guard let pages = dependencies.pages, let from = dependencies.systemFrom, let transport = dependencies.transport else { return nil }
    return SystemMail(from: from, templates: pages, links: dependencies.links, assembler: dependencies.assembler, transport: transport)
}

/// The HTTP application, ready to run as a `Service`.
public func buildApplication(
    _ dependencies: HTTPDependencies, host: String, port: Int, logger: Logger
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies),
        configuration: .init(address: .hostname(host, port: port), serverName: "facteur"),
        logger: logger)
}
