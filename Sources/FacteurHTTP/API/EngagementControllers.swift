import Facteur
import Foundation
import Hummingbird

/// `POST /api/events` (one event or an array of up to 10,000), and a subscriber's engagement and
/// activity under `/api/subscribers/{ref}/engagement` and `/api/subscribers/{ref}/events`.
struct EventController {
    let events: CustomEvents
    let engagement: Engagement
    let subscribers: Subscribers

    func addRoutes(events group: RouterGroup<AppContext>, subscribers subscriberGroup: RouterGroup<AppContext>) {
        group.post(use: record)
        subscriberGroup.get(":ref/engagement") { _, context in
            let id = try await subscribers.resolve(try context.parameters.reference())
            return try JSONResponse.make(try await engagement.summary(subscriber: id))
        }
        subscriberGroup.get(":ref/events") { request, context in
            let id = try await subscribers.resolve(try context.parameters.reference())
            let query = request.uri.queryParameters
            let (limit, _) = try request.pageParameters()
            return try JSONResponse.make(
                try await engagement.events(
                    subscriber: id, type: query["type"].map(String.init), before: query["before"].map(String.init), limit: limit))
        }
    }

    @Sendable func record(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(context: context)
        if case .array = body {
            return try JSONResponse.make(try await events.record(batch: body))
        }
        let (id, duplicate) = try await events.record(one: body)
        if duplicate { return try JSONResponse.make(["status": "duplicate"]) }
        return try JSONResponse.make(EventCreated(id: id ?? 0, status: "recorded"), status: .created)
    }

    private struct EventCreated: Encodable {
        var id: Int64
        var status: String
    }
}

/// `/api/scoring-rules`: CRUD, and `POST /api/scoring-rules/rebuild`.
struct ScoringRuleController {
    let rules: ScoringRules

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(try await rules.list()) }
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await rules.create(try await request.jsonBody(context: context)), status: .created)
        }
        group.post("rebuild") { _, _ in
            let started = ContinuousClock.now
            let changed = try await rules.rebuild()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            return try JSONResponse.make(RebuildReport(changedScores: changed, seconds: (seconds * 1000).rounded() / 1000))
        }
        group.get(":id") { _, context in try JSONResponse.make(try await rules.get(id: try context.parameters.id("id"))) }
        group.patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await rules.update(id: try context.parameters.id("id"), body))
        }
        group.delete(":id") { _, context in
            try await rules.delete(id: try context.parameters.id("id"))
            return Response(status: .noContent)
        }
    }

    private struct RebuildReport: Encodable {
        var changedScores: Int
        var seconds: Double
        enum CodingKeys: String, CodingKey {
            case changedScores = "changed_scores"
            case seconds
        }
    }
}

/// `POST /api/bounces`: one raw bounce (DSN) or complaint (ARF) report, as received.
struct BounceController {
    let processor: BounceProcessor

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.post { request, context in
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: BounceReport.maxBytes)
            } catch {
                throw APIError(.contentTooLarge, code: "too_large", message: "a report is at most \(BounceReport.maxBytes) bytes")
            }
            guard buffer.readableBytes > 0 else {
                throw APIError(.badRequest, code: "bad_request", message: "the body is empty; send the report message as received")
            }
            let results = try await processor.process(raw: Array(buffer.readableBytesView))
            return try JSONResponse.make(["results": results])
        }
    }
}
