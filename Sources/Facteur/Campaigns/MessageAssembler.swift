import Foundation
import Mail

/// Turns a composed message into the bytes put on the wire: MIME, then one DKIM signature per signer.
public struct MessageAssembler: Sendable {
    public let signers: [DKIMSigner]

    public init(signers: [DKIMSigner]) {
        self.signers = signers
    }

    /// The finished message and its Message-ID (without angle brackets, as `messages.message_id` stores it).
    public struct Assembled: Sendable {
        public var bytes: [UInt8]
        public var messageID: String
        public var requiresSMTPUTF8: Bool
    }

    /// - Parameters:
    ///   - from: the campaign's sender, parsed once per campaign.
    ///   - to: the subscriber's address and name.
    public func assemble(
        _ composed: MessageComposer.Composed, from: Mailbox, replyTo: Mailbox?, to: Mailbox, messageID: String? = nil, date: Date = Date()
    ) throws -> Assembled {
        let message = try Mail.Message(
            from: from, replyTo: replyTo, to: [to], subject: composed.subject, date: date, messageID: messageID,
            headers: composed.headers, textBody: composed.text, htmlBody: composed.html)
        let parts = try message.renderParts()
        let signatures = try DKIMSigner.signatureHeaders(headers: parts.headers, body: parts.body[...], signers: signers)
        return Assembled(bytes: parts.bytes(prepending: signatures), messageID: message.messageID, requiresSMTPUTF8: parts.requiresSMTPUTF8)
    }

    /// Signers from `FACTEUR_DKIM`: `selector:domain:/path/to/key.pem`, comma-separated for dual
    /// signing (RSA and Ed25519, RFC 8463). The key type follows the PEM. Unset: no signature.
    public static func signers(fromEnvironment environment: [String: String]) throws -> [DKIMSigner] {
        guard let spec = environment["FACTEUR_DKIM"], !spec.isEmpty else { return [] }
        return try spec.split(separator: ",").map { entry in
            let parts = entry.split(separator: ":", maxSplits: 2).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 3 else {
                throw FacteurError(.invalid, "FACTEUR_DKIM entries look like selector:domain:/path/key.pem, got '\(entry)'")
            }
            do {
                return try DKIMSigner(domain: parts[1], selector: parts[0], key: try DKIMKey(pemFile: parts[2]))
            } catch {
                throw FacteurError(.invalid, "FACTEUR_DKIM '\(parts[0]):\(parts[1])': \(error)")
            }
        }
    }
}
