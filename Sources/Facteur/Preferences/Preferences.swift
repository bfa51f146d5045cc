import Foundation
import Postgres

/// A subscriber's choices as the preference center shows them and the API returns them.
public struct PreferenceState: Sendable, Encodable {
    public var subscriber: Int64
    public var email: String
    public var name: String
    public var status: String
    public var locale: String
    public var frequency: String
    public var pausedUntil: Date?
    public var topics: [TopicChoice]

    public struct TopicChoice: Sendable, Encodable {
        public var key: String
        /// In the requested language when the topic has a translation for it.
        public var name: String
        public var description: String
        /// "subscribed", "unsubscribed", or nil: never chosen.
        public var status: String?
    }

    enum CodingKeys: String, CodingKey {
        case subscriber = "subscriber_id"
        case email, name, status, locale, frequency, topics
        case pausedUntil = "paused_until"
    }

    /// Paused now (a pause in the past is over).
    public var isPaused: Bool { pausedUntil.map { $0 > Date() } ?? false }
}

/// What a person (or the API on their behalf) asks to change. Anything nil or empty is kept.
public struct PreferenceChange: Sendable {
    public enum Pause: Sendable, Equatable {
        case days(Int)
        case resume
    }

    /// Topic key → subscribed (true) or unsubscribed (false).
    public var topics: [String: Bool] = [:]
    public var frequency: String?
    public var pause: Pause?
    /// Unsubscribe from everything; wins over topic subscriptions in the same change.
    public var unsubscribeAll = false
    public var locale: String?

    public init() {}

    public static let frequencies = ["as_sent", "weekly", "monthly"]
    public static let pauseDays = 1...365

    /// The API's form: `{"topics": {"news": "subscribed"}, "frequency": "weekly", "pause_days": 30,
    /// "unsubscribe_all": false, "locale": "fr"}`; `pause_days: 0` resumes.
    public init(json body: JSONValue) throws {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["topics", "frequency", "pause_days", "unsubscribe_all", "locale"])
        if let topics = try object.object("topics") {
            for (key, value) in topics {
                guard case .string(let status) = value, status == "subscribed" || status == "unsubscribed" else {
                    throw FacteurError.invalid("topics.\(key)", "must be \"subscribed\" or \"unsubscribed\"")
                }
                self.topics[key] = status == "subscribed"
            }
        }
        if let frequency = try object.string("frequency") {
            guard Self.frequencies.contains(frequency) else {
                throw FacteurError.invalid("frequency", "must be one of \(Self.frequencies.joined(separator: ", "))")
            }
            self.frequency = frequency
        }
        if let days = try object.int("pause_days", range: 0...Int64(Self.pauseDays.upperBound)) {
            pause = days == 0 ? .resume : .days(Int(days))
        }
        unsubscribeAll = try object.bool("unsubscribe_all") ?? false
        if let locale = try object.string("locale", maxLength: 35) {
            self.locale = try SubscriberInput.validLocale(locale, field: "locale")
        }
        guard !topics.isEmpty || frequency != nil || pause != nil || unsubscribeAll || locale != nil else {
            throw FacteurError(.badRequest, "nothing to change: send topics, frequency, pause_days, unsubscribe_all or locale")
        }
    }
}

/// Reads and changes a person's preferences; every change is written to `consent_log`, in the
/// same transaction, with who asked (source, IP address, user agent).
public struct Preferences: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// The person's choices, topic names in `language` where translated.
    public func state(subscriber id: Int64, language: String) async throws -> PreferenceState {
        try await state(subscriber: id) { _ in language }.state
    }

    /// The person's choices in the language `pick` makes of their locale (a page's negotiation).
    public func state(
        subscriber id: Int64, pick: (_ locale: String) -> String
    ) async throws -> (state: PreferenceState, language: String) {
        let row = try await database.one(database.sql("preferences-subscriber", id), notFound: "no subscriber with id \(id)")
        let language = pick(try row.decode(String.self, "locale"))
        var topics: [PreferenceState.TopicChoice] = []
        for topic in try await database.pool.query(database.sql("preferences-topics", id)) {
            let translations = try topic.decode(PostgresJSON.self, "translations").decode(as: [String: Topic.Translation].self)
            let base = String(language.prefix { $0 != "-" })
            let translated = translations[language] ?? translations[base]
            let name = try topic.decode(String.self, "name")
            let description = try topic.decode(String.self, "description")
            topics.append(
                .init(
                    key: try topic.decode(String.self, "key"), name: translated?.name ?? name,
                    description: translated?.description ?? description, status: try topic.decode(String?.self, "status")))
        }
        let state = PreferenceState(
            subscriber: id, email: try row.decode(String.self, "email"), name: try row.decode(String.self, "name"),
            status: try row.decode(String.self, "status"), locale: try row.decode(String.self, "locale"),
            frequency: try row.decode(String.self, "frequency"), pausedUntil: try row.decode(Date?.self, "paused_until"), topics: topics)
        return (state, language)
    }

    /// What `apply` did, in the order it did it: `subscribe:news`, `frequency`, `pause`, …
    public typealias Applied = [String]

    /// Applies a change in one transaction. With `form`, claims the form token in it too, so a
    /// replayed form changes nothing.
    @discardableResult
    public func apply(
        subscriber id: Int64, _ change: PreferenceChange, context: ConsentContext, form: FormTokens.Verified? = nil
    ) async throws -> Applied {
        let keys = change.topics.keys.sorted()
        if !keys.isEmpty {
            let known = Set(try await database.pool.query(database.sql("topic-keys", keys)).map { try $0.decode(String.self, "key") })
            if let missing = keys.first(where: { !known.contains($0) }) {
                throw FacteurError.invalid("topics.\(missing)", "no topic with key '\(missing)'")
            }
        }
        return try await database.pool.withTransaction { tx in
            if let form { try await FormTokens.claim(form, on: tx, database: database) }
            guard let row = try await tx.query(database.sql("preferences-subscriber-lock", id)).first else {
                throw FacteurError.notFound("no subscriber with id \(id)")
            }
            let status = try row.decode(String.self, "status")
            var applied: Applied = []
            func log(_ action: String, _ details: [String: JSONValue]) async throws {
                try await tx.execute(
                    database.sql(
                        "consent-log-insert", id, Int64?.none, action, context.source, context.ip, context.userAgent,
                        PostgresJSON(rawJSON: JSONValue.object(details).jsonText)))
                applied.append(action)
            }
            func setStatus(_ new: String, action: String) async throws {
                guard new != status else { return }
                try await tx.execute(database.sql("preferences-set-status", id, new))
                try await log(action, ["from": .string(status), "to": .string(new)])
            }

            if change.unsubscribeAll {
                if try await Self.unsubscribeAll(subscriber: id, status: status, on: tx, database: database, context: context) {
                    applied.append("unsubscribe_all")
                }
            } else {
                let subscribe = keys.filter { change.topics[$0] == true }
                let unsubscribe = keys.filter { change.topics[$0] == false }
                if !subscribe.isEmpty {
                    try await Topics.setStatus(
                        on: tx, database: database, subscriber: id, keys: subscribe, status: "subscribed", context: context)
                    applied += subscribe.map { "subscribe:\($0)" }
                    // Choosing a topic again after unsubscribing from everything is coming back.
                    if status == "unsubscribed" { try await setStatus("active", action: "status") }
                }
                if !unsubscribe.isEmpty {
                    try await Topics.setStatus(
                        on: tx, database: database, subscriber: id, keys: unsubscribe, status: "unsubscribed", context: context)
                    applied += unsubscribe.map { "unsubscribe:\($0)" }
                }
            }
            if let frequency = change.frequency {
                let old = try row.decode(String.self, "frequency")
                if frequency != old {
                    try await tx.execute(database.sql("preferences-set-frequency", id, frequency))
                    try await log("frequency", ["from": .string(old), "to": .string(frequency)])
                }
            }
            switch change.pause {
            case .days(let days)?:
                let until = try await tx.query(database.sql("preferences-set-pause", id, days))[0].decode(Date.self, "paused_until")
                try await log("pause", ["days": .number(Double(days)), "until": .string(ISODates.format(until))])
            case .resume?:
                if let until = try row.decode(Date?.self, "paused_until"), until > Date() {
                    _ = try await tx.query(database.sql("preferences-set-pause", id, Int?.none))
                    try await log("resume", [:])
                }
            case nil:
                break
            }
            if let locale = change.locale {
                let old = try row.decode(String.self, "locale")
                if locale != old {
                    try await tx.execute(database.sql("preferences-set-locale", id, locale))
                    try await log("locale", ["from": .string(old), "to": .string(locale)])
                }
            }
            return applied
        }
    }

    /// Unsubscribes from every topic (each logged) and sets the status to unsubscribed (logged
    /// as `unsubscribe_all`). Bounced and complained people keep that status. Returns whether
    /// anything changed (nothing is logged when nothing did).
    @discardableResult
    static func unsubscribeAll(
        subscriber id: Int64, status: String, on tx: PostgresConnection, database: Database, context: ConsentContext,
        details: [String: JSONValue] = [:]
    ) async throws -> Bool {
        let subscribed = try await tx.query(database.sql("preferences-subscribed-keys", id)).map { try $0.decode(String.self, "key") }
        var changed = false
        if !subscribed.isEmpty {
            changed =
                try await Topics.setStatus(
                    on: tx, database: database, subscriber: id, keys: subscribed, status: "unsubscribed", context: context) > 0
        }
        let newStatus = status == "active" || status == "pending" ? "unsubscribed" : status
        if newStatus != status {
            try await tx.execute(database.sql("preferences-set-status", id, newStatus))
            changed = true
        }
        guard changed else { return false }
        var logged = details
        logged["from"] = .string(status)
        logged["to"] = .string(newStatus)
        try await tx.execute(
            database.sql(
                "consent-log-insert", id, Int64?.none, "unsubscribe_all", context.source, context.ip, context.userAgent,
                PostgresJSON(rawJSON: JSONValue.object(logged).jsonText)))
        return true
    }
}
