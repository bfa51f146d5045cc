import Facteur
import Foundation
import Hummingbird

/// `/api/campaigns`: CRUD and the status flow (schedule, start, pause, resume, cancel).
struct CampaignController {
    let campaigns: Campaigns
    let layouts: EmailLayouts
    let links: LinkBuilder
    let assembler: MessageAssembler
    let transport: (any MailTransport)?

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { request, _ in
            let query = request.uri.queryParameters
            var status: Campaign.Status?
            if let raw = query["status"] {
                guard let value = Campaign.Status(rawValue: String(raw)) else {
                    throw FacteurError.invalid(
                        "status", "must be one of \(Campaign.Status.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = value
            }
            let (limit, after) = try request.pageParameters()
            return try JSONResponse.make(try await campaigns.list(status: status, after: after, limit: limit))
        }
        group.addResource(
            create: { try await campaigns.create($0) }, get: { try await campaigns.get(id: $0) },
            update: { try await campaigns.update(id: $0, $1) }, delete: { try await campaigns.delete(id: $0) })
        group.post(":id/schedule") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await campaigns.schedule(id: try context.parameters.id("id"), body))
        }
        group.post(":id/unschedule") { _, context in
            try JSONResponse.make(try await campaigns.unschedule(id: try context.parameters.id("id")))
        }
        group.post(":id/start") { _, context in try JSONResponse.make(try await campaigns.start(id: try context.parameters.id("id"))) }
        group.post(":id/pause") { _, context in try JSONResponse.make(try await campaigns.pause(id: try context.parameters.id("id"))) }
        group.post(":id/resume") { _, context in try JSONResponse.make(try await campaigns.resume(id: try context.parameters.id("id"))) }
        group.post(":id/cancel") { _, context in try JSONResponse.make(try await campaigns.cancel(id: try context.parameters.id("id"))) }
        group.get(":id/preview") { request, context in
            guard let reference = request.uri.queryParameters["subscriber"].map({ String($0).removingPercentEncoding ?? String($0) }) else {
                throw FacteurError.invalid("subscriber", "name the subscriber to preview for: ?subscriber=<id or email>")
            }
            let preview = try await campaigns.preview(
                id: try context.parameters.id("id"), subscriber: reference, layouts: layouts, builder: links, assembler: assembler)
            return try JSONResponse.make(Preview(preview))
        }
        group.post(":id/test") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            guard let transport else {
                throw APIError(
                    .serviceUnavailable, code: "unavailable",
                    message: "no mail transport is configured: set FACTEUR_OUTBOX to a folder for .eml files (SMTP arrives with the worker)"
                )
            }
            return try JSONResponse.make(
                try await campaigns.testSend(
                    id: try context.parameters.id("id"), body, layouts: layouts, builder: links, assembler: assembler, transport: transport)
            )
        }
        group.get(":id/progress") { _, context in try JSONResponse.make(try await campaigns.progress(id: try context.parameters.id("id"))) }
        group.get(":id/stats") { request, context in
            var hours = 24 * 14
            if let raw = request.uri.queryParameters["hours"] {
                guard let value = Int(String(raw)), (1...24 * 366).contains(value) else {
                    throw FacteurError.invalid("hours", "must be a whole number of hours between 1 and 8784")
                }
                hours = value
            }
            return try JSONResponse.make(try await campaigns.stats(id: try context.parameters.id("id"), hours: hours))
        }
    }
}

/// The preview's JSON shape.
struct Preview: Encodable {
    var subject: String
    var html: String
    var text: String
    var headers: [[String: String]]
    /// The whole MIME message, signed, exactly as it would be sent.
    var raw: String

    init(_ preview: Campaigns.Preview) {
        let composed = preview.composed
        raw = String(decoding: preview.raw, as: UTF8.self)
        subject = composed.subject
        html = composed.html
        text = composed.text
        headers = composed.headers.map { ["name": $0.name, "value": $0.value] }
    }
}
