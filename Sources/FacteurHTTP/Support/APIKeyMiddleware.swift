import Facteur
import Hummingbird

/// Requires `Authorization: Bearer <key>` on the admin API; answers 401 in the API's error shape.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = AppContext
    let keys: APIKeys

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError(
                .unauthorized, code: "unauthorized",
                message: "send an API key as 'Authorization: Bearer <key>' (create one with facteur keys create)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError(.unauthorized, code: "unauthorized", message: "use the Bearer scheme: 'Authorization: Bearer <key>'")
        }
        guard let identity = try await keys.verify(String(parts[1])) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "the API key is unknown or revoked")
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "api_key"] = "\(identity.id)"
        return try await next(request, context)
    }
}
