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

    /// One-click unsubscribe (RFC 8058) for a message: from the campaign's topic.
    public func unsubscribe(message: Int64) -> String {
        "\(baseURL)/u/\(signer.sign(.message, id: message))"
    }

    public func click(message: Int64, link: Int64) -> String {
        click(token: signer.sign(.message, id: message), link: link)
    }

    /// A click URL from a message token signed once for all the links of that message.
    public func click(token: String, link: Int64) -> String {
        "\(baseURL)/t/c/\(token)/\(link)"
    }

    public func open(message: Int64) -> String {
        "\(baseURL)/t/o/\(signer.sign(.message, id: message))"
    }

    public func viewInBrowser(message: Int64) -> String {
        "\(baseURL)/v/\(signer.sign(.message, id: message))"
    }
}
