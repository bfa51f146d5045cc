import Foundation
import Mail
import Postgres

/// What an unsubscribe link stands for.
public struct UnsubscribeTarget: Sendable, Equatable {
    public var subscriber: Int64
    public var campaign: Int64?
    public var message: Int64?
    /// The campaign's topic; nil means everything (a campaign without a topic, a system email).
    public var topic: String?
}

extension Preferences {
    /// The target of a `/u/{token}` link: a message's unsubscribe token (a campaign email: its
    /// topic) or a subscriber token (system emails such as the double opt-in: everything). Nil for
    /// a forged token, a tracking token, or a message or person that no longer exists.
    public func unsubscribeTarget(token: String, signer: TokenSigner) async throws -> UnsubscribeTarget? {
        if let claims = signer.verify(token, as: .unsubscribe) {
            guard let row = try await database.pool.query(database.sql("preferences-message", claims.id)).first else { return nil }
            return UnsubscribeTarget(
                subscriber: try row.decode(Int64.self, "subscriber_id"), campaign: try row.decode(Int64.self, "campaign_id"),
                message: claims.id, topic: try row.decode(String?.self, "topic"))
        }
        if let claims = signer.verify(token, as: .subscriber) {
            guard try await database.pool.query(database.sql("subscriber-exists", claims.id)).first != nil else { return nil }
            return UnsubscribeTarget(subscriber: claims.id)
        }
        return nil
    }

    /// Unsubscribes from the target's topic, or from everything, before returning: the send
    /// worker's claim and last check read the same rows, so nothing more goes out for it. The
    /// campaign's `unsubscribe` event is written only when something changed (a provider
    /// repeating a one-click POST counts once).
    @discardableResult
    public func unsubscribe(_ target: UnsubscribeTarget, context: ConsentContext, form: FormTokens.Verified? = nil) async throws -> Bool {
        try await database.pool.withTransaction { tx in
            if let form { try await FormTokens.claim(form, on: tx, database: database) }
            guard let row = try await tx.query(database.sql("preferences-subscriber-lock", target.subscriber)).first else {
                throw FacteurError.notFound("no subscriber with id \(target.subscriber)")
            }
            let changed: Bool
            if let topic = target.topic {
                changed =
                    try await Topics.setStatus(
                        on: tx, database: database, subscriber: target.subscriber, keys: [topic], status: "unsubscribed", context: context)
                    > 0
            } else {
                var details: [String: JSONValue] = [:]
                if let campaign = target.campaign { details["campaign_id"] = .number(Double(campaign)) }
                changed = try await Self.unsubscribeAll(
                    subscriber: target.subscriber, status: try row.decode(String.self, "status"), on: tx, database: database,
                    context: context, details: details)
            }
            if changed {
                var properties: [String: JSONValue] = ["source": .string(context.source)]
                if let topic = target.topic { properties["topic"] = .string(topic) }
                try await tx.execute(
                    database.sql(
                        "preferences-unsubscribe-event", target.subscriber, target.campaign, target.message,
                        PostgresJSON(rawJSON: JSONValue.object(properties).jsonText)))
            }
            return changed
        }
    }

    /// Notes that a confirmation email went out (the sign-up form sends at most one an hour).
    public func confirmationSent(subscriber id: Int64) async throws {
        try await database.pool.execute(database.sql("preferences-confirmation-sent", id))
    }

    public enum ConfirmOutcome: Sendable, Equatable {
        case confirmed
        case alreadyConfirmed
        /// Unsubscribed, bounced or complained since: an old confirmation link does not undo that.
        case notPending
    }

    /// Double opt-in: a pending person becomes active, logged with source `double_opt_in`.
    public func confirm(subscriber id: Int64, context: ConsentContext, form: FormTokens.Verified? = nil) async throws -> ConfirmOutcome {
        try await database.pool.withTransaction { tx in
            if let form { try await FormTokens.claim(form, on: tx, database: database) }
            guard let row = try await tx.query(database.sql("preferences-subscriber-lock", id)).first else {
                throw FacteurError.notFound("no subscriber with id \(id)")
            }
            switch try row.decode(String.self, "status") {
            case "pending":
                _ = try await tx.query(database.sql("preferences-confirm", id))
                try await tx.execute(
                    database.sql(
                        "consent-log-insert", id, Int64?.none, "confirm", context.source, context.ip, context.userAgent,
                        PostgresJSON(rawJSON: #"{"from": "pending", "to": "active"}"#)))
                return .confirmed
            case "active":
                return .alreadyConfirmed
            default:
                return .notPending
            }
        }
    }

    /// A public sign-up.
    public struct Signup: Sendable {
        public var email: String
        public var name: String
        public var topics: [String]
        public var locale: String

        public init(email: String, name: String, topics: [String], locale: String) {
            self.email = email
            self.name = name
            self.topics = topics
            self.locale = locale
        }
    }

    public enum SignupOutcome: Sendable, Equatable {
        /// A confirmation email must go to this pending person.
        case confirm(subscriber: Int64)
        /// Already active (or bounced, complained): nothing changes and no email is sent. The page
        /// says the same as for a new sign-up, so the form does not reveal who is subscribed.
        case unchanged
    }

    /// Double opt-in sign-up: a new person is created `pending` with the chosen topics (no topic
    /// chosen: the topics subscribed by default); one who had unsubscribed becomes pending again
    /// with those topics; a pending one gets the confirmation again, at most once an hour, and
    /// no topic changes (whoever fills the form is not yet known to be them). Suppressed addresses
    /// (erased people included) are left alone. Each change is logged with source `signup`; the
    /// confirmation page lists the topics the person is about to receive.
    public func signup(_ request: Signup, context: ConsentContext, form: FormTokens.Verified) async throws -> SignupOutcome {
        let input = try SubscriberInput(
            try JSONObject(
                .object([
                    "email": .string(request.email), "name": .string(request.name), "locale": .string(request.locale),
                    "topics": .array(request.topics.map(JSONValue.string)),
                ])),
            fields: [:], requireEmail: true)
        var topics = input.topics ?? []
        if !topics.isEmpty {
            try await Topics(database: database).requireKeys(topics, field: "topics")
        } else {
            topics = try await Topics(database: database).list().filter(\.defaultSubscribed).map(\.key)
        }
        let email = input.email!
        return try await database.pool.withTransaction { tx in
            try await FormTokens.claim(form, on: tx, database: database)
            guard try await !tx.query(database.sql("preferences-suppressed", email))[0].decode(Bool.self, "suppressed") else {
                return .unchanged
            }
            let id: Int64
            if let existing = try await tx.query(database.sql("subscriber-id-by-email", email)).first {
                id = try existing.decode(Int64.self, "id")
                let locked = try await tx.query(database.sql("preferences-subscriber-lock", id)).first
                switch try locked?.decode(String.self, "status") {
                case "pending"?:
                    if try locked?.decode(Bool?.self, "confirmation_recent") == true { return .unchanged }
                    try await tx.execute(database.sql("preferences-confirmation-sent", id))
                    return .confirm(subscriber: id)
                case "unsubscribed"?:
                    try await tx.execute(database.sql("preferences-set-status", id, "pending"))
                    try await tx.execute(
                        database.sql(
                            "consent-log-insert", id, Int64?.none, "status", context.source, context.ip, context.userAgent,
                            PostgresJSON(rawJSON: #"{"from": "unsubscribed", "to": "pending"}"#)))
                default:
                    return .unchanged
                }
            } else {
                let rows: PostgresRows
                do {
                    rows = try await tx.query(
                        database.sql(
                            "subscriber-insert", email, input.name ?? "", "pending", input.locale ?? PageTemplates.fallback, String?.none,
                            PostgresJSON(rawJSON: "{}"), Int64?.none))
                } catch let error as PostgresError {
                    throw Subscribers.translate(error, email: email)
                }
                id = try rows[0].decode(Int64.self, "id")
            }
            if !topics.isEmpty {
                try await Topics.setStatus(on: tx, database: database, subscriber: id, keys: topics, status: "subscribed", context: context)
            }
            try await tx.execute(database.sql("preferences-confirmation-sent", id))
            return .confirm(subscriber: id)
        }
    }
}
