import Foundation
import Postgres

/// Something a subscriber can opt into: a newsletter, product news, event invitations.
public struct Topic: Sendable, Encodable, Equatable {
    public var id: Int64
    public var key: String
    public var name: String
    public var description: String
    public var defaultSubscribed: Bool
    /// Name and description by language: `{"fr": {"name": "…", "description": "…"}}`.
    public var translations: [String: Translation]
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, key, name, description
        case translations
        case defaultSubscribed = "default_subscribed"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        key = try row.decode(String.self, "key")
        name = try row.decode(String.self, "name")
        description = try row.decode(String.self, "description")
        defaultSubscribed = try row.decode(Bool.self, "default_subscribed")
        translations = try row.decode(PostgresJSON.self, "translations").decode(as: [String: Translation].self)
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
    }
}

extension Topic {
    public struct Translation: Sendable, Codable, Equatable {
        public var name: String
        public var description: String?
    }

    /// `translations` from a request: language tags of the preference pages, each with a name
    /// and an optional description.
    static func translations(_ object: JSONObject) throws -> String? {
        guard let value = object.values["translations"] else { return nil }
        guard case .object(let byLanguage) = value else {
            throw FacteurError.invalid("translations", "must be an object such as {\"fr\": {\"name\": \"Actualités\"}}")
        }
        var clean: [String: JSONValue] = [:]
        for (language, entry) in byLanguage {
            guard language.range(of: "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", options: .regularExpression) != nil else {
                throw FacteurError.invalid("translations.\(language)", "must be a language tag such as fr or fr-CA")
            }
            let fields = try JSONObject(entry, path: "translations.\(language).")
            try fields.rejectUnknownKeys(["name", "description"])
            let name = try fields.string("name", required: true, maxLength: 200)!
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw FacteurError.invalid("translations.\(language).name", "must not be blank")
            }
            var translated: [String: JSONValue] = ["name": .string(name)]
            if let description = try fields.string("description", maxLength: 2000) { translated["description"] = .string(description) }
            clean[language] = .object(translated)
        }
        return JSONValue.object(clean).jsonText
    }
}

/// Topic CRUD and subscription changes; every change of consent lands in `consent_log`.
public struct Topics: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func list() async throws -> [Topic] {
        try await database.pool.query(database.sql("topics-list")).map(Topic.init(row:))
    }

    public func get(id: Int64) async throws -> Topic {
        try Topic(row: try await database.one(database.sql("topic-select", id), notFound: "no topic with id \(id)"))
    }

    public func create(_ body: JSONValue) async throws -> Topic {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["key", "name", "description", "default_subscribed", "translations"])
        let key = try object.string("key", required: true, maxLength: 63)!
        guard key.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
            throw FacteurError.invalid("key", "must hold only a-z, 0-9, _ and - (at most 63), starting with a letter or digit")
        }
        let name = try object.string("name", required: true, maxLength: 200)!
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw FacteurError.invalid("name", "must not be blank") }
        let description = try object.string("description", maxLength: 2000) ?? ""
        let defaultSubscribed = try object.bool("default_subscribed") ?? false
        do {
            let translations = try Topic.translations(object) ?? "{}"
            let rows = try await database.pool.query(
                database.sql("topic-insert", key, name, description, defaultSubscribed, PostgresJSON(rawJSON: translations)))
            return try await get(id: try rows[0].decode(Int64.self, "id"))
        } catch let error as PostgresError where error.isUniqueViolation {
            throw FacteurError(.conflict, "a topic with key '\(key)' already exists", field: "key")
        }
    }

    public func update(id: Int64, _ body: JSONValue) async throws -> Topic {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["name", "description", "default_subscribed", "translations"])
        let name = try object.string("name", maxLength: 200)
        if let name, name.trimmingCharacters(in: .whitespaces).isEmpty { throw FacteurError.invalid("name", "must not be blank") }
        let rows = try await database.pool.query(
            database.sql(
                "topic-update", id, name, try object.string("description", maxLength: 2000), try object.bool("default_subscribed"),
                try Topic.translations(object).map { PostgresJSON(rawJSON: $0) }))
        guard !rows.isEmpty else { throw FacteurError.notFound("no topic with id \(id)") }
        return try await get(id: id)
    }

    public func delete(id: Int64) async throws {
        do {
            guard try await database.pool.query(database.sql("topic-delete", id)).first != nil else {
                throw FacteurError.notFound("no topic with id \(id)")
            }
        } catch let error as PostgresError where error.isForeignKeyViolation {
            throw FacteurError(.conflict, "topic \(id) is used by a campaign; archive the campaign first")
        }
    }

    /// Throws 422 naming the first key that is not a topic.
    func requireKeys(_ keys: [String], field: String) async throws {
        let rows = try await database.pool.query(database.sql("topic-keys", keys))
        let known = Set(try rows.map { try $0.decode(String.self, "key") })
        if let (index, missing) = keys.enumerated().first(where: { !known.contains($0.element) }) {
            throw FacteurError.invalid("\(field)[\(index)]", "no topic with key '\(missing)'")
        }
    }

    /// Sets a subscriber's status for some topics: `{"newsletter": "subscribed", "events": "unsubscribed"}`.
    public func setStatuses(subscriber id: Int64, _ body: JSONValue, context: ConsentContext) async throws {
        let object = try JSONObject(body)
        var byStatus: [String: [String]] = [:]
        for (key, value) in object.values.sorted(by: { $0.key < $1.key }) {
            guard case .string(let status) = value, status == "subscribed" || status == "unsubscribed" else {
                throw FacteurError.invalid(key, "must be \"subscribed\" or \"unsubscribed\"")
            }
            byStatus[status, default: []].append(key)
        }
        guard !byStatus.isEmpty else { throw FacteurError(.badRequest, "name at least one topic, e.g. {\"newsletter\": \"subscribed\"}") }
        let keys = object.values.keys.sorted()
        let rows = try await database.pool.query(database.sql("topic-keys", keys))
        let known = Set(try rows.map { try $0.decode(String.self, "key") })
        if let missing = keys.first(where: { !known.contains($0) }) {
            throw FacteurError.invalid(missing, "no topic with key '\(missing)'")
        }
        try await database.pool.withTransaction { tx in
            for (status, keys) in byStatus.sorted(by: { $0.key < $1.key }) {
                try await Self.setStatus(on: tx, database: database, subscriber: id, keys: keys, status: status, context: context)
            }
        }
    }

    /// One statement: upsert the subscriptions and log the ones that really changed; returns how many did.
    @discardableResult
    static func setStatus(
        on connection: PostgresConnection, database: Database, subscriber: Int64, keys: [String], status: String, context: ConsentContext
    ) async throws -> Int {
        try await connection.execute(
            database.sql(
                "subscriptions-set", subscriber, keys, status, context.source, context.ip, context.userAgent, PostgresJSON(rawJSON: "{}")))
    }

    /// A subscriber's consent history, oldest first.
    public func consentHistory(subscriber id: Int64) async throws -> [ConsentEntry] {
        try await database.pool.query(database.sql("consent-log-of-subscriber", id)).map(ConsentEntry.init(row:))
    }
}

/// One line of `consent_log`.
public struct ConsentEntry: Sendable, Encodable {
    public var id: Int64
    public var topic: String?
    public var action: String
    public var source: String
    public var ip: String?
    public var userAgent: String?
    public var details: [String: JSONValue]
    public var occurredAt: Date

    enum CodingKeys: String, CodingKey {
        case id, topic, action, source, ip, details
        case userAgent = "user_agent"
        case occurredAt = "occurred_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        topic = try row.decode(String?.self, "topic")
        action = try row.decode(String.self, "action")
        source = try row.decode(String.self, "source")
        ip = try row.decode(String?.self, "ip")
        userAgent = try row.decode(String?.self, "user_agent")
        details = try row.decode(PostgresJSON.self, "details").decode(as: [String: JSONValue].self)
        occurredAt = try row.decode(Date.self, "occurred_at")
    }
}
