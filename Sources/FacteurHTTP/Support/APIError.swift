import Facteur
import Foundation
import Hummingbird
import NIOCore
import Postgres

/// The one error shape every API failure has: `{"error": {"code", "message", "field"}}`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    init(_ error: FacteurError) {
        let status: HTTPResponse.Status =
            switch error.kind {
            case .badRequest: .badRequest
            case .invalid: .unprocessableContent
            case .notFound: .notFound
            case .conflict: .conflict
            case .tooLarge: .contentTooLarge
            case .forbidden: .forbidden
            case .rateLimited: .tooManyRequests
            case .unavailable: .serviceUnavailable
            }
        self.init(status, code: error.kind.rawValue, message: error.message, field: error.field)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: String] = ["code": code, "message": message]
        if let field { body["field"] = field }
        let data = try JSONEncoder.api.encode(["error": body])
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"facteur\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error a handler throws into an `APIError`, so no client ever sees a bare 500 page
/// or an internal message: domain errors keep their words, everything else is logged and hidden.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as FacteurError {
            throw APIError(error)
        } catch let error as HTTPError {
            let code =
                switch error.status {
                case .notFound: "not_found"
                case .contentTooLarge: "too_large"
                case .methodNotAllowed: "method_not_allowed"
                case .unsupportedMediaType: "unsupported_media_type"
                default: error.status.code < 500 ? "bad_request" : "internal"
                }
            let message =
                error.body ?? (error.status == .notFound ? "no route for \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            throw APIError(error.status, code: code, message: message)
        } catch let error as PostgresError where error.code == .poolTimeout || error.code == .connection || error.code == .poolClosed {
            context.logger.error("database unavailable", metadata: ["error": "\(error)"])
            throw APIError(.serviceUnavailable, code: "unavailable", message: "the database is unavailable; try again shortly")
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, code: "internal", message: "internal error; it has been logged")
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, ISO 8601 dates, unescaped slashes: stable output for clients and tests.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

/// Builds JSON responses.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder.api.encode(value))))
    }
}

extension Request {
    /// The body parsed as JSON, with a 415 for other content types and a 413 past the context's limit.
    mutating func jsonBody(context: some RequestContext) async throws -> JSONValue {
        if let type = headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the body as application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "the body is larger than \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else {
            throw APIError(.badRequest, code: "bad_request", message: "the body is empty; send a JSON object")
        }
        return try JSONValue.parse(buffer.readableBytesView)
    }
}

extension Parameters {
    /// A positive integer path parameter, or a 404 that says what was expected.
    func id(_ name: String) throws -> Int64 {
        guard let raw = get(name), let value = Int64(raw), value > 0 else {
            throw APIError(.notFound, code: "not_found", message: "'\(get(name) ?? "")' is not an id")
        }
        return value
    }
}

extension Request {
    /// `?limit=` (1–1000, default 50) and `?after=<cursor>` of a keyset-paginated list.
    func pageParameters() throws -> (limit: Int, after: Int64) {
        let query = uri.queryParameters
        var limit = 50
        if let raw = query["limit"] {
            guard let value = Int(String(raw)), (1...1000).contains(value) else {
                throw FacteurError.invalid("limit", "must be between 1 and 1000")
            }
            limit = value
        }
        return (limit, try Cursor.decode(query["after"].map(String.init)))
    }
}
