import Facteur
import Foundation
import Hummingbird

/// `/api/subscribers`: create, read, update, list, bulk upsert, erase, topics and consent history.
struct SubscriberController {
    let subscribers: Subscribers
    let topics: Topics

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get(use: list)
        group.post(use: create)
        group.post("batch", use: batch)
        group.get(":ref", use: get)
        group.patch(":ref", use: update)
        group.delete(":ref", use: erase)
        group.put(":ref/topics", use: setTopics)
        group.get(":ref/consent", use: consent)
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

    @Sendable func create(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(context: context)
        return try JSONResponse.make(try await subscribers.create(body, context: request.consent(source: "api")), status: .created)
    }

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
