import Facteur
import Foundation
import Hummingbird
import NIOCore

/// The open pixel (`/t/o/{token}`) and the click redirect (`/t/c/{token}/{link}`).
///
/// Each answers after its event is committed (group commit through `EventBatcher`), so a 200 or
/// 302 means the event is stored. What a request cannot change:
/// - a click redirects only to the `campaign_links` URL of the link id, never to anything taken
///   from the request, so the endpoint is no open redirect; an unknown link id is a 404;
/// - a bad token still gets the pixel or the redirect (the reader should not notice), but records
///   nothing; so does a token whose message is not of the link's campaign;
/// - when the database cannot take the event, the reader still gets the pixel or the page
///   (the failure is logged and counted in `facteur_event_batch_failures_total`).
struct TrackingController {
    let events: EventBatcher
    let signer: TokenSigner
    let links: CampaignLinkCache
    let classifier: RequestClassifier
    let trustForwarded: Bool

    /// The 1×1 transparent GIF.
    static let pixel: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    static let classifiedHeaders: Set<String> = ["purpose", "sec-purpose", "x-purpose", "x-moz", "referer", "origin"]

    func addRoutes(to router: Router<AppContext>) {
        router.get("t/o/:token", use: open)
        router.head("t/o/:token", use: open)
        router.get("t/c/:token/:link", use: click)
        router.head("t/c/:token/:link", use: click)
    }

    @Sendable func open(_ request: Request, context: AppContext) async throws -> Response {
        if let claims = signer.verify(context.parameters.get("token") ?? "", as: .message) {
            let traits = classify(.open, request, context)
            await record(.tracking(.open, message: claims.id, traits: traits), context: context)
        }
        var headers = HTTPFields()
        headers[.contentType] = "image/gif"
        Self.noStore(&headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Self.pixel)))
    }

    @Sendable func click(_ request: Request, context: AppContext) async throws -> Response {
        guard let raw = context.parameters.get("link"), let id = Int64(raw), id > 0, let link = try await links.link(id) else {
            throw APIError(.notFound, code: "not_found", message: "this link does not exist")
        }
        if let claims = signer.verify(context.parameters.get("token") ?? "", as: .message) {
            let traits = classify(.click, request, context)
            await record(.tracking(.click, message: claims.id, campaign: link.campaignID, link: id, traits: traits), context: context)
        }
        var headers = HTTPFields()
        headers[.location] = link.url
        headers[.referrerPolicy] = "no-referrer"
        Self.noStore(&headers)
        return Response(status: .found, headers: headers)
    }

    private func classify(_ kind: RequestClassifier.Kind, _ request: Request, _ context: AppContext) -> RequestTraits {
        // Only what the classifier reads (prefetch hints, the webmail page), not every header.
        var headers: [String: String] = [:]
        for field in request.headers where Self.classifiedHeaders.contains(field.name.canonicalName) {
            headers[field.name.canonicalName] = field.value
        }
        return classifier.classify(
            kind: kind, method: request.method.rawValue, userAgent: request.headers[.userAgent],
            remoteAddress: context.clientAddress(of: request, trustForwarded: trustForwarded), headers: headers)
    }

    private func record(_ event: EventInput, context: AppContext) async {
        do {
            _ = try await events.record(event)
        } catch {
            context.logger.error("tracking event not recorded", metadata: ["error": "\(error)", "type": "\(event.type)"])
        }
    }

    private static func noStore(_ headers: inout HTTPFields) {
        headers[.cacheControl] = "no-store, no-cache, must-revalidate, private, max-age=0"
        headers[.pragma] = "no-cache"
        headers[.expires] = "0"
    }
}
