import Foundation

/// Builds the public URLs a message carries, each with a signed token.
public struct LinkBuilder: Sendable {
    /// The public base URL (`FACTEUR_BASE_URL`), without a trailing slash.
    public let baseURL: String
    public let signer: TokenSigner
    /// Where `mailto:` unsubscribe requests go (`FACTEUR_UNSUBSCRIBE_MAILTO`), for mail clients
    /// that offer only that form of `List-Unsubscribe`. Nil: the header carries the URL alone.
    public let unsubscribeMailbox: String?

    /// Where bounces go (`FACTEUR_BOUNCE_ADDRESS`, e.g. `bounces@mail.example.com`): each message's
    /// envelope sender becomes `bounces+<token>@mail.example.com` (VERP), so a bounce names its
    /// message by the address it is delivered to. Nil: the campaign's From address.
    public let bounceAddress: String?

    public init(baseURL: String, signer: TokenSigner, unsubscribeMailbox: String? = nil, bounceAddress: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.signer = signer
        self.unsubscribeMailbox = unsubscribeMailbox
        self.bounceAddress = bounceAddress
    }

    /// The VERP envelope sender of a message, when a bounce address is set.
    public func returnPath(message: Int64) -> String? {
        guard let bounceAddress, let at = bounceAddress.lastIndex(of: "@") else { return nil }
        return "\(bounceAddress[..<at])+\(token(message: message))\(bounceAddress[at...])"
    }

    /// The preference center of a subscriber.
    public func preferences(subscriber: Int64) -> String {
        "\(baseURL)/p/\(signer.sign(.subscriber, id: subscriber))"
    }

    /// The double opt-in confirmation page of a subscriber.
    public func confirmation(subscriber: Int64) -> String {
        "\(baseURL)/confirm/\(signer.sign(.confirmation, id: subscriber))"
    }

    /// Unsubscribe from everything, for emails that belong to no campaign (the double opt-in).
    public func unsubscribeAll(subscriber: Int64) -> String {
        "\(baseURL)/u/\(signer.sign(.subscriber, id: subscriber))"
    }

    /// The signed token of one message, made once and shared by all of that message's URLs.
    public func token(message: Int64) -> String {
        signer.sign(.message, id: message)
    }

    /// The unsubscribe token of a message (a purpose of its own, see `TokenSigner.Purpose.unsubscribe`).
    public func unsubscribeToken(message: Int64) -> String {
        signer.sign(.unsubscribe, id: message)
    }

    /// One-click unsubscribe (RFC 8058) for a message: from the campaign's topic. `token` is the
    /// message's `unsubscribeToken`.
    public func unsubscribe(token: String) -> String {
        "\(baseURL)/u/\(token)"
    }

    /// The `List-Unsubscribe` value (RFC 2369): the one-click HTTPS URL first (RFC 8058 requires
    /// one), then a `mailto:` whose subject carries the token, so a reply can be matched without a
    /// lookup by address.
    public func listUnsubscribe(token: String) -> String {
        guard let mailbox = unsubscribeMailbox else { return "<\(unsubscribe(token: token))>" }
        return "<\(unsubscribe(token: token))>, <mailto:\(mailbox)?subject=unsubscribe%20\(token)>"
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
