import Facteur
import Hummingbird
import Logging

/// The per-request context: Hummingbird's core storage plus the API key that authenticated the call.
public struct AppContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `APIKeyMiddleware` on `/api` routes.
    public var identity: APIKeys.Identity?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// JSON bodies are small; CSV imports stream and do not use this limit.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
