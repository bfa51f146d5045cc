import Facteur
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The per-request context: Hummingbird's core storage plus the API key that authenticated the call.
public struct AppContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `APIKeyMiddleware` on `/api` routes.
    public var identity: APIKeys.Identity?

    /// The peer of the connection (a proxy's address when behind one).
    public var remoteAddress: SocketAddress?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address: the last `X-Forwarded-For` entry (the address the proxy in front
    /// saw; earlier entries are whatever the client sent) when the operator says such a proxy sets
    /// it (`FACTEUR_TRUST_FORWARDED=true`), else the connection's peer. Forwarded headers are never
    /// believed otherwise: anyone can send one.
    public func clientAddress(of request: Request, trustForwarded: Bool) -> String? {
        if trustForwarded, let forwarded = request.headers[.xForwardedFor],
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        {
            return last
        }
        return remoteAddress?.ipAddress
    }

    /// JSON bodies are small; CSV imports stream and do not use this limit.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}

extension HTTPFields.Element.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let pragma = Self("Pragma")!
}
