import Facteur
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The public pages a subscriber reaches from an email, with no account and no cookie:
/// `/p/{token}` (preferences, their data, erasure), `/u/{token}` (unsubscribe, and RFC 8058's
/// one-click POST), `/confirm/{token}` (double opt-in) and `/subscribe` (the sign-up form).
///
/// Every page is server-rendered from `templates/pages/` in the person's language and works
/// without JavaScript. Every form carries a single-use token (see `FormTokens`). A bad token of
/// any kind gets a page that says the link does not work and nothing more; no input reaches a 5xx.
struct PageController: Sendable {
    let database: Database
    let preferences: Preferences
    let subscribers: Subscribers
    let topics: Topics
    let templates: PageTemplates
    let signer: TokenSigner
    let forms: FormTokens
    let mail: SystemMail?
    let limiter: SignupRateLimiter
    let trustForwarded: Bool
    let logger: Logger

    /// Forms are small; anything larger is refused before it is parsed.
    static let maxFormBytes = 64 * 1024

    func addRoutes(to router: Router<AppContext>) {
        router.get("p/:token", use: showPreferences)
        router.post("p/:token", use: savePreferences)
        router.post("p/:token/data", use: downloadData)
        router.post("p/:token/erase", use: erase)
        router.get("u/:token", use: showUnsubscribe)
        router.post("u/:token", use: unsubscribe)
        router.get("confirm/:token", use: showConfirm)
        router.post("confirm/:token", use: confirm)
        router.get("subscribe", use: showSignup)
        router.post("subscribe", use: signup)
    }

    // MARK: Preferences

    @Sendable func showPreferences(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let id = try subscriber(context, purpose: .subscriber)
            let (state, chosen) = try await preferences.state(subscriber: id) { self.language(request, locale: $0) }
            language = chosen
            return page("preferences", chosen, preferencesData(state, token: try token(context), language: chosen))
        }
    }

    @Sendable func savePreferences(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let (id, form, state, verified) = try await personForm(request, context, .subscriber, language: &language)
            let change = try preferenceChange(form, state: state)
            try await preferences.apply(
                subscriber: id, change, context: consent(request, context, source: "preference_center"), form: verified)
            let (saved, savedLanguage) = try await preferences.state(subscriber: id) {
                self.templates.language(choices: [$0], acceptLanguage: nil)
            }
            language = savedLanguage
            var data = preferencesData(saved, token: try token(context), language: savedLanguage)
            data["saved"] = true
            return page("preferences", savedLanguage, data)
        }
    }

    /// The form's fields as a change. Topics: what the person toggled, against what the page
    /// showed (`shown`: the topics listed, `was`: those ticked then), not against the database now,
    /// so an old page saved for another reason cannot undo a later one-click unsubscribe. A ticked
    /// key that is not a topic is passed on, so that `apply` refuses the whole form.
    private func preferenceChange(_ form: FormBody, state: PreferenceState) throws -> PreferenceChange {
        var change = PreferenceChange()
        let ticked = Set(form.values("topic"))
        let shown = Set(form.values("shown"))
        let was = Set(form.values("was"))
        for key in shown.union(ticked) {
            let now = ticked.contains(key)
            if now != was.contains(key) { change.topics[key] = now }
        }
        if let frequency = form.value("frequency") {
            guard PreferenceChange.frequencies.contains(frequency) else { throw FacteurError.invalid("frequency", "unknown frequency") }
            change.frequency = frequency
        }
        switch form.value("pause") ?? "" {
        case "": break
        case "resume": change.pause = .resume
        case "30", "60", "90": change.pause = .days(Int(form.value("pause")!)!)
        default: throw FacteurError.invalid("pause", "unknown pause")
        }
        change.unsubscribeAll = form.value("unsubscribe_all") == "1"
        if let locale = form.value("locale") {
            guard templates.languages.contains(locale) else { throw FacteurError.invalid("locale", "unknown language") }
            // The list shows the stored locale's language: fr-CA is "fr" there and stays fr-CA.
            if locale != storedLanguage(state) { change.locale = locale }
        }
        return change
    }

    private func preferencesData(_ state: PreferenceState, token: String, language: String) -> [String: Any] {
        let paused = state.isPaused
        return [
            "action_url": "/p/\(token)", "data_url": "/p/\(token)/data", "erase_url": "/p/\(token)/erase", "self_url": "/p/\(token)",
            "email": state.email, "name": state.name,
            "csrf": forms.issue(for: state.subscriber), "csrf_data": forms.issue(for: state.subscriber),
            "csrf_erase": forms.issue(for: state.subscriber),
            "topics": state.topics.map { topic -> [String: Any] in
                ["key": topic.key, "name": topic.name, "description": topic.description, "checked": topic.status == "subscribed"]
            },
            "has_topics": !state.topics.isEmpty,
            "freq_as_sent": state.frequency == "as_sent", "freq_weekly": state.frequency == "weekly",
            "freq_monthly": state.frequency == "monthly",
            "paused": paused, "paused_until_text": paused ? Self.day(state.pausedUntil!, language: language) : "",
            "unsubscribed": state.status == "unsubscribed",
            "locales": templates.languages.map { code in
                ["code": code, "name": templates.string("language_name", language: code), "selected": code == storedLanguage(state)]
                    as [String: Any]
            },
        ]
    }

    /// The page language of the person's stored locale (what the language list shows as chosen).
    private func storedLanguage(_ state: PreferenceState) -> String {
        templates.language(choices: [state.locale], acceptLanguage: nil)
    }

    @Sendable func downloadData(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let (id, _, state, verified) = try await personForm(request, context, .subscriber, language: &language)
            try await FormTokens.claim(verified, database: database)
            let export = PersonalData(
                profile: try await subscribers.get(id: id), preferences: state, consent: try await topics.consentHistory(subscriber: id))
            var response = try JSONResponse.make(export)
            response.headers[.contentDisposition] = #"attachment; filename="my-data.json""#
            Self.addPageHeaders(&response.headers)
            return response
        }
    }

    /// "Download my data": the profile, the choices and every consent entry.
    struct PersonalData: Encodable {
        var profile: Subscriber
        var preferences: PreferenceState
        var consent: [ConsentEntry]
    }

    @Sendable func erase(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let (id, form, _, verified) = try await personForm(request, context, .subscriber, language: &language)
            guard form.value("confirm") == "yes" else { throw FacteurError.invalid("confirm", "tick the box to confirm") }
            // The address is kept only as a hash in the suppression list, so it is never mailed again.
            try await subscribers.erase(reference: "\(id)", suppress: true, form: verified)
            return message(language, title: "erased_title", body: "erased_body")
        }
    }

    // MARK: Unsubscribe

    @Sendable func showUnsubscribe(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            guard let target = try await preferences.unsubscribeTarget(token: try token(context), signer: signer) else {
                throw FacteurError.notFound("unknown link")
            }
            let (state, chosen) = try await preferences.state(subscriber: target.subscriber) { self.language(request, locale: $0) }
            language = chosen
            return page("unsubscribe", chosen, unsubscribeData(target, state: state, token: try token(context), done: false))
        }
    }

    /// RFC 8058 one-click (`List-Unsubscribe=One-Click`, from a mailbox provider: plain 200, no
    /// cookie, no redirect), or the button of the unsubscribe page (a form with its token).
    @Sendable func unsubscribe(_ request: Request, context: AppContext) async throws -> Response {
        var oneClick = false
        let response = await guarded(request) { language in
            let body = try await collect(request)
            oneClick = Self.isOneClick(body, contentType: request.headers[.contentType])
            guard let target = try await preferences.unsubscribeTarget(token: try token(context), signer: signer) else {
                throw FacteurError.notFound("unknown link")
            }
            if oneClick {
                try await preferences.unsubscribe(target, context: consent(request, context, source: "one_click"))
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"])
            }
            let form = try FormBody(body)
            let (_, chosen) = try await preferences.state(subscriber: target.subscriber) { self.language(request, locale: $0) }
            language = chosen
            let verified = try forms.verify(form.value("csrf"), for: target.subscriber)
            try await preferences.unsubscribe(target, context: consent(request, context, source: "preference_center"), form: verified)
            let (state, _) = try await preferences.state(subscriber: target.subscriber) { _ in chosen }
            return page("unsubscribe", chosen, unsubscribeData(target, state: state, token: try token(context), done: true))
        }
        guard oneClick, response.status != .ok else { return response }
        // A provider reads only the status: no page, whatever went wrong.
        return Response(status: response.status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"])
    }

    private func unsubscribeData(_ target: UnsubscribeTarget, state: PreferenceState, token: String, done: Bool) -> [String: Any] {
        var data: [String: Any] = [
            "action_url": "/u/\(token)", "csrf": forms.issue(for: target.subscriber), "done": done,
            "preferences_url": "/p/\(signer.sign(.subscriber, id: target.subscriber))", "email": state.email,
        ]
        if let key = target.topic, let topic = state.topics.first(where: { $0.key == key }) {
            data["topic_name"] = topic.name
        }
        return data
    }

    /// RFC 8058 §3.1: the body is `List-Unsubscribe=One-Click`, form-encoded or as a
    /// multipart/form-data field of that name.
    static func isOneClick(_ body: [UInt8], contentType: String?) -> Bool {
        if contentType?.lowercased().hasPrefix("multipart/form-data") == true {
            let text = String(decoding: body.prefix(maxFormBytes), as: UTF8.self)
            return text.contains("name=\"List-Unsubscribe\"") && text.contains("One-Click")
        }
        return (try? FormBody(body))?.value("List-Unsubscribe")?.trimmingCharacters(in: .whitespacesAndNewlines) == "One-Click"
    }

    // MARK: Double opt-in

    @Sendable func showConfirm(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let id = try subscriber(context, purpose: .confirmation)
            let (state, chosen) = try await preferences.state(subscriber: id) { self.language(request, locale: $0) }
            language = chosen
            guard state.status == "pending" else {
                return confirmOutcome(state.status == "active" ? .alreadyConfirmed : .notPending, id, chosen)
            }
            let topics = state.topics.filter { $0.status == "subscribed" }.map { ["name": $0.name] }
            return page(
                "confirm", chosen,
                [
                    "action_url": "/confirm/\(try token(context))", "csrf": forms.issue(for: id), "email": state.email, "topics": topics,
                    "has_topics": !topics.isEmpty,
                ])
        }
    }

    @Sendable func confirm(_ request: Request, context: AppContext) async throws -> Response {
        await guarded(request) { language in
            let (id, _, _, verified) = try await personForm(request, context, .confirmation, language: &language)
            let outcome = try await preferences.confirm(
                subscriber: id, context: consent(request, context, source: "double_opt_in"), form: verified)
            return confirmOutcome(outcome, id, language)
        }
    }

    private func confirmOutcome(_ outcome: Preferences.ConfirmOutcome, _ id: Int64, _ language: String) -> Response {
        let link = ("/p/\(signer.sign(.subscriber, id: id))", "manage_preferences")
        switch outcome {
        case .confirmed: return message(language, title: "confirmed_title", body: "confirmed_body", link: link)
        case .alreadyConfirmed: return message(language, title: "already_confirmed_title", body: "already_confirmed_body", link: link)
        case .notPending: return message(language, title: "confirm_closed_title", body: "confirm_closed_body")
        }
    }

    // MARK: Shared

    /// Runs a page handler; any error becomes a page in the language known so far.
    func guarded(_ request: Request, _ body: (inout String) async throws -> Response) async -> Response {
        var language = self.language(request, locale: nil)
        do {
            return try await body(&language)
        } catch let error as FacteurError {
            return errorPage(error, language: language)
        } catch {
            logger.error("page failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return message(language, title: "unavailable_title", body: "unavailable_body", status: .serviceUnavailable)
        }
    }

    func errorPage(_ error: FacteurError, language: String) -> Response {
        switch error.kind {
        case .notFound: message(language, title: "not_found_title", body: "not_found_body", status: .notFound)
        case .forbidden: message(language, title: "form_invalid_title", body: "form_invalid_body", status: .forbidden)
        case .tooLarge: message(language, title: "invalid_title", body: "too_large_body", status: .contentTooLarge)
        case .rateLimited: message(language, title: "rate_limited_title", body: "rate_limited_body", status: .tooManyRequests)
        case .unavailable: message(language, title: "unavailable_title", body: "unavailable_body", status: .serviceUnavailable)
        case .badRequest: message(language, title: "invalid_title", body: "invalid_body", status: .badRequest)
        case .invalid, .conflict: message(language, title: "invalid_title", body: "invalid_body", status: .unprocessableContent)
        }
    }

    /// The explicit `?lang=`, then the person's locale, then `Accept-Language`, then English.
    func language(_ request: Request, locale: String?) -> String {
        templates.language(
            choices: [request.uri.queryParameters["lang"].map(String.init), locale], acceptLanguage: request.headers[.acceptLanguage])
    }

    /// What a form posted to a person's page starts with: who (from the link), the form, their
    /// choices, the page language (set into `language` at once, for error pages), the form token.
    private func personForm(
        _ request: Request, _ context: AppContext, _ purpose: TokenSigner.Purpose, language: inout String
    ) async throws -> (id: Int64, form: FormBody, state: PreferenceState, token: FormTokens.Verified) {
        let id = try subscriber(context, purpose: purpose)
        let form = try await formBody(request)
        let (state, chosen) = try await preferences.state(subscriber: id) { self.language(request, locale: $0) }
        language = chosen
        return (id, form, state, try forms.verify(form.value("csrf"), for: id))
    }

    func token(_ context: AppContext) throws -> String {
        guard let token = context.parameters.get("token") else { throw FacteurError.notFound("unknown link") }
        return token
    }

    func subscriber(_ context: AppContext, purpose: TokenSigner.Purpose) throws -> Int64 {
        guard let claims = signer.verify(try token(context), as: purpose) else { throw FacteurError.notFound("unknown link") }
        return claims.id
    }

    func collect(_ request: Request) async throws -> [UInt8] {
        do {
            return Array(buffer: try await request.body.collect(upTo: Self.maxFormBytes))
        } catch {
            throw FacteurError(.tooLarge, "the form is larger than \(Self.maxFormBytes) bytes")
        }
    }

    func formBody(_ request: Request) async throws -> FormBody {
        try FormBody(try await collect(request))
    }

    func consent(_ request: Request, _ context: AppContext, source: String) -> ConsentContext {
        let address = context.clientAddress(of: request, trustForwarded: trustForwarded)
        return ConsentContext(
            source: source, ip: address.flatMap { IPAddressText.isValid($0) ? $0 : nil },
            userAgent: request.headers[.userAgent].map { String($0.prefix(500)) })
    }

    func page(_ name: String, _ language: String, _ data: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        Self.addPageHeaders(&headers)
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: templates.page(name, language: language, data: data))))
    }

    func message(
        _ language: String, title: String, body: String, link: (url: String, text: String)? = nil, status: HTTPResponse.Status = .ok
    ) -> Response {
        var data: [String: Any] = [
            "title": templates.string(title, language: language), "body": templates.string(body, language: language),
        ]
        if let link {
            data["link_url"] = link.url
            data["link_text"] = templates.string(link.text, language: language)
        }
        return page("message", language, data, status: status)
    }

    /// Never indexed, never cached, never framed; no referrer (the URL holds a token); no script.
    static func addPageHeaders(_ headers: inout HTTPFields) {
        headers[.cacheControl] = "no-store"
        headers[.xRobotsTag] = "noindex, nofollow"
        headers[.referrerPolicy] = "no-referrer"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }

    /// "12 March 2027" / "12 mars 2027".
    static func day(_ date: Date, language: String) -> String {
        date.formatted(Date.FormatStyle(date: .long, time: .omitted).locale(Locale(identifier: language)))
    }
}

extension HTTPFields.Element.Name {
    static let xRobotsTag = Self("X-Robots-Tag")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
