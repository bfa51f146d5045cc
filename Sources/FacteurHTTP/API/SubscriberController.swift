import Facteur
import Foundation
import Hummingbird

/// `/api/subscribers`: create, read, update, list, bulk upsert, erase, topics and consent history.
struct SubscriberController {
    let subscribers: Subscribers
    let topics: Topics
    /// Sends double opt-in confirmations; nil without a transport or sender.
    let mail: SystemMail?
    let pages: PageTemplates?
    let preferences: Preferences

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get(use: list)
        group.post(use: create)
        group.post("batch", use: batch)
        group.get(":ref", use: get)
        group.patch(":ref", use: update)
        group.delete(":ref", use: erase)
        group.put(":ref/topics", use: setTopics)
        group.get(":ref/consent", use: consent)
        group.post(":ref/confirmation", use: resendConfirmation)
    }

    @Sendable func list(_ request: Request, context: AppContext) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = Subscribers.Filter()
        if let raw = query["status"] {
            guard let status = Subscriber.Status(rawValue: String(raw)) else {
                throw FacteurError.invalid("status", "must be one of \(Subscriber.Status.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.status = status
        }
        if let raw = query["company_id"] {
            guard let id = Int64(String(raw)) else { throw FacteurError.invalid("company_id", "must be a number") }
            filter.companyID = id
        }
        filter.search = query["q"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        filter.topic = query["topic"].map(String.init)
        if let raw = query["created_after"] {
            guard let date = ISODates.parse(String(raw)) else { throw FacteurError.invalid("created_after", "must be an ISO 8601 date") }
            filter.createdAfter = date
        }
        (filter.limit, filter.after) = try request.pageParameters()
        return try JSONResponse.make(try await subscribers.list(filter))
    }

    /// With `"double_opt_in": true` the person is created `pending` and sent the confirmation
    /// email; they become active at `/confirm/{token}`.
    @Sendable func create(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        var body = try await request.jsonBody(context: context)
        var doubleOptIn = false
        if case .object(var object) = body, let flag = object.removeValue(forKey: "double_opt_in") {
            guard case .bool(let value) = flag else { throw FacteurError.invalid("double_opt_in", "must be true or false") }
            doubleOptIn = value
            if value {
                guard object["status"] == nil else {
                    throw FacteurError.invalid("status", "leave status out with double_opt_in: the person is pending until they confirm")
                }
                object["status"] = .string("pending")
            }
            body = .object(object)
        }
        if doubleOptIn, mail == nil { throw Self.noMail }
        let created = try await subscribers.create(body, context: request.consent(source: "api"))
        if doubleOptIn {
            do {
                try await sendConfirmation(created)
            } catch let error as FacteurError where error.kind == .unavailable {
                throw FacteurError(
                    .unavailable,
                    "subscriber \(created.id) was created, pending, but the confirmation email could not be sent: retry with POST /api/subscribers/\(created.id)/confirmation"
                )
            }
        }
        return try JSONResponse.make(try await subscribers.get(id: created.id), status: .created)
    }

    /// Sends the confirmation email again to a pending person.
    @Sendable func resendConfirmation(_ request: Request, context: AppContext) async throws -> Response {
        let subscriber = try await subscribers.get(reference: try context.parameters.reference())
        guard subscriber.status == .pending else {
            throw FacteurError(
                .conflict, "subscriber \(subscriber.id) is \(subscriber.status.rawValue), not pending: there is nothing to confirm")
        }
        try await sendConfirmation(subscriber)
        return try JSONResponse.make(["sent": true])
    }

    private func sendConfirmation(_ subscriber: Subscriber) async throws {
        guard let mail, let pages else { throw Self.noMail }
        try await mail.sendConfirmation(
            subscriber: subscriber.id, email: subscriber.email, name: subscriber.name,
            language: pages.language(choices: [subscriber.locale], acceptLanguage: nil))
        try await preferences.confirmationSent(subscriber: subscriber.id)
    }

    static let noMail = FacteurError(
        .unavailable, "double opt-in needs a mail transport (SMTP_URL or FACTEUR_OUTBOX) and the page templates; nothing was created")

    @Sendable func batch(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        return try JSONResponse.make(try await subscribers.upsert(batch: try await request.jsonBody(context: context)))
    }

    @Sendable func get(_ request: Request, context: AppContext) async throws -> Response {
        try JSONResponse.make(try await subscribers.get(reference: try context.parameters.reference()))
    }

    @Sendable func update(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(context: context)
        return try JSONResponse.make(
            try await subscribers.update(reference: try context.parameters.reference(), body, context: request.consent(source: "api")))
    }

    @Sendable func erase(_ request: Request, context: AppContext) async throws -> Response {
        let suppress = request.uri.queryParameters["suppress"].map { $0 == "true" || $0 == "1" } ?? false
        try await subscribers.erase(reference: try context.parameters.reference(), suppress: suppress)
        return Response(status: .noContent)
    }

    @Sendable func setTopics(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(context: context)
        let id = try await subscribers.resolve(try context.parameters.reference())
        try await topics.setStatuses(subscriber: id, body, context: request.consent(source: "api"))
        return try JSONResponse.make(try await subscribers.get(id: id))
    }

    @Sendable func consent(_ request: Request, context: AppContext) async throws -> Response {
        let id = try await subscribers.resolve(try context.parameters.reference())
        return try JSONResponse.make(["items": try await topics.consentHistory(subscriber: id)])
    }
}

extension Parameters {
    /// The `:ref` path parameter, percent-decoded (an email address may hold `%C3%A9` for `é`).
    func reference() throws -> String {
        let raw = try require("ref")
        return raw.removingPercentEncoding ?? raw
    }
}

extension Request {
    /// Who is changing consent: the source, the client's address and user agent.
    func consent(source: String) -> ConsentContext {
        let forwarded = headers[.init("X-Forwarded-For")!]?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
        let ip = forwarded.flatMap { IPAddressText.isValid($0) ? $0 : nil }
        return ConsentContext(source: source, ip: ip, userAgent: headers[.userAgent].map { String($0.prefix(500)) })
    }
}

/// Checks that text is an IPv4 or IPv6 address before it reaches an `inet` column.
enum IPAddressText {
    static func isValid(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
