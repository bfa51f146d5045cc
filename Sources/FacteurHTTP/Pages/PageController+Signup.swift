import Facteur
import Foundation
import Hummingbird

/// `/subscribe`: the public sign-up form, with double opt-in (see `Preferences.signup`).
extension PageController {
    @Sendable func showSignup(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let chosen = self.language(request, locale: nil)
            language = chosen
            return page("subscribe", chosen, try await signupData(chosen, email: "", name: "", ticked: nil))
        }
    }

    @Sendable func signup(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let form = try await formBody(request)
            let chosen = templates.language(choices: [form.value("lang")], acceptLanguage: request.headers[.acceptLanguage])
            language = chosen
            let consent = consent(request, context, source: "signup")
            guard limiter.allow(consent.ip ?? "unknown") else {
                throw FacteurError(.rateLimited, "too many sign-ups from this address")
            }
            // The honeypot: hidden from people, filled in by form-filling bots. They are told it worked.
            if let trap = form.value("website"), !trap.isEmpty {
                return message(chosen, title: "check_inbox_title", body: "check_inbox_body")
            }
            let verified = try forms.verify(form.value("csrf"), for: 0)
            guard let mail else { throw FacteurError(.unavailable, "no mail transport is configured for confirmation emails") }
            let request = Preferences.Signup(
                email: (form.value("email") ?? "").trimmingCharacters(in: .whitespaces), name: form.value("name") ?? "",
                topics: form.values("topic"), locale: chosen)
            do {
                if case .confirm(let id) = try await preferences.signup(request, context: consent, form: verified) {
                    // Sent after the answer: a reply that waited for SMTP would tell who is already subscribed
                    // (they get none). A failure is logged; signing up again sends it again.
                    let logger = self.logger
                    Task {
                        do {
                            try await mail.sendConfirmation(subscriber: id, email: request.email, name: request.name, language: chosen)
                        } catch {
                            logger.error("confirmation email not sent", metadata: ["subscriber": "\(id)", "error": "\(error)"])
                        }
                    }
                }
            } catch let error as FacteurError where error.kind == .invalid || error.kind == .badRequest {
                // Shown again with what was typed and what is wrong.
                var data = try await signupData(chosen, email: request.email, name: request.name, ticked: Set(request.topics))
                data["error"] = templates.string(error.field == "email" ? "error_email" : "error_form", language: chosen)
                return page("subscribe", chosen, data, status: .unprocessableContent)
            }
            return message(chosen, title: "check_inbox_title", body: "check_inbox_body")
        }
    }

    private func signupData(_ language: String, email: String, name: String, ticked: Set<String>?) async throws -> [String: Any] {
        let all = try await topics.list()
        return [
            "action_url": "/subscribe", "csrf": forms.issue(for: 0), "email": email, "name": name,
            "topics": all.map { topic -> [String: Any] in
                let translated = topic.translations[language]
                return [
                    "key": topic.key, "name": translated?.name ?? topic.name,
                    "description": translated?.description ?? topic.description,
                    "checked": ticked.map { $0.contains(topic.key) } ?? topic.defaultSubscribed,
                ]
            },
            "has_topics": !all.isEmpty,
        ]
    }
}
