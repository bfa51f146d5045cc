import Foundation
import Mail

/// Emails Facteur sends on its own, outside campaigns: the double opt-in confirmation.
/// Text from `templates/system/` and `templates/strings/`, signed like campaign mail, with a
/// one-click `List-Unsubscribe` (RFC 8058) that unsubscribes from everything.
public struct SystemMail: Sendable {
    public let from: Mailbox
    let templates: PageTemplates
    let links: LinkBuilder
    let assembler: MessageAssembler
    let transport: any MailTransport

    public init(from: Mailbox, templates: PageTemplates, links: LinkBuilder, assembler: MessageAssembler, transport: any MailTransport) {
        self.from = from
        self.templates = templates
        self.links = links
        self.assembler = assembler
        self.transport = transport
    }

    /// `FACTEUR_SYSTEM_FROM` (an address) and `FACTEUR_SYSTEM_FROM_NAME`; by default
    /// `noreply@` the host of the public base URL.
    public static func sender(environment: [String: String], baseURL: String) throws -> Mailbox {
        let name = environment["FACTEUR_SYSTEM_FROM_NAME"].flatMap { $0.isEmpty ? nil : $0 }
        if let address = environment["FACTEUR_SYSTEM_FROM"], !address.isEmpty {
            do {
                return try Mailbox(address, name: name)
            } catch {
                throw FacteurError(.invalid, "FACTEUR_SYSTEM_FROM '\(address)' is not a usable address: \(error)")
            }
        }
        // A name, not an address literal: `facteur dev` on 127.0.0.1 sends as noreply@localhost.localdomain.
        let host = URLComponents(string: baseURL)?.host ?? ""
        let isName = host.contains(".") && host.contains(where: \.isLetter) && !host.contains(":")
        let domain = isName ? host : "localhost.localdomain"
        do {
            return try Mailbox("noreply@\(domain)", name: name)
        } catch {
            throw FacteurError(.invalid, "set FACTEUR_SYSTEM_FROM: noreply@\(domain) is not a usable address")
        }
    }

    /// Sends the double opt-in email with its `/confirm/{token}` link in the person's language.
    public func sendConfirmation(subscriber id: Int64, email: String, name: String, language: String) async throws {
        let unsubscribe = links.unsubscribeAll(subscriber: id)
        let data: [String: Any] = [
            "confirm_url": links.confirmation(subscriber: id), "unsubscribe_url": unsubscribe, "name": name, "email": email,
        ]
        let html = templates.systemEmail("confirm", language: language, data: data)
        let composed = MessageComposer.Composed(
            subject: templates.string("email_confirm_subject", language: language, data: data), html: html,
            text: HTMLToText.convert(html),
            headers: [("List-Unsubscribe", "<\(unsubscribe)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")])
        let to = try Mailbox(email, name: name.isEmpty ? nil : name)
        let assembled = try assembler.assemble(composed, from: from, replyTo: nil, to: to)
        do {
            _ = try await transport.send(
                assembled.bytes, from: from.address.asciiValue, to: [to.address.asciiValue], requiresSMTPUTF8: assembled.requiresSMTPUTF8)
        } catch {
            throw FacteurError(.unavailable, "the confirmation email could not be sent just now; please try again in a few minutes")
        }
    }
}
