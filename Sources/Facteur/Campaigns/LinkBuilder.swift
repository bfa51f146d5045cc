import Foundation

/// Builds the public URLs a message carries, each with a signed token.
public struct LinkBuilder: Sendable {
    /// The public base URL (`FACTEUR_BASE_URL`), without a trailing slash.
    public let baseURL: String
    public let signer: TokenSigner

    public init(baseURL: String, signer: TokenSigner) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.signer = signer
    }

    /// The preference center of a subscriber.
    public func preferences(subscriber: Int64) -> String {
        "\(baseURL)/p/\(signer.sign(.subscriber, id: subscriber))"
    }

    /// The signed token of one message, made once and shared by all of that message's URLs.
    public func token(message: Int64) -> String {
        signer.sign(.message, id: message)
    }

    /// One-click unsubscribe (RFC 8058) for a message: from the campaign's topic.
    public func unsubscribe(token: String) -> String {
        "\(baseURL)/u/\(token)"
    }

    public func click(token: String, link: Int64) -> String {
        "\(baseURL)/t/c/\(token)/\(link)"
    }

    public func open(token: String) -> String {
        "\(baseURL)/t/o/\(token)"
    }

    public func viewInBrowser(token: String) -> String {
        "\(baseURL)/v/\(token)"
    }
}
