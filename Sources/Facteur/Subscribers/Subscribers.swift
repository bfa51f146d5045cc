import Foundation
import Postgres

/// Who made a consent change and from where, for `consent_log`.
public struct ConsentContext: Sendable {
    public var source: String
    public var ip: String?
    public var userAgent: String?

    public init(source: String, ip: String? = nil, userAgent: String? = nil) {
        self.source = source
        self.ip = ip
        self.userAgent = userAgent
    }

    public static let api = ConsentContext(source: "api")
}

/// Subscriber operations: create, read, update, list, bulk upsert and erase.
public struct Subscribers: Sendable {
    let database: Database
    let fields: FieldRegistry
    let topics: Topics

    public init(database: Database) {
        self.database = database
        self.fields = FieldRegistry(database: database)
        self.topics = Topics(database: database)
    }

    /// Creates one subscriber (and their topic subscriptions) in one transaction.
    public func create(_ body: JSONValue, context: ConsentContext = .api) async throws -> Subscriber {
        let input = try SubscriberInput(try JSONObject(body), fields: try await fields.byKey(), requireEmail: true)
        if let keys = input.topics { try await topics.requireKeys(keys, field: "topics") }
        let id: Int64 = try await database.pool.withTransaction { tx in
            let rows: PostgresRows
            do {
                rows = try await tx.query(
                    database.sql(
                        "subscriber-insert", input.email!, input.name ?? "", (input.status ?? .active).rawValue, input.locale ?? "en",
                        input.timezone ?? nil, PostgresJSON(rawJSON: input.attributesJSON), input.companyID ?? nil))
            } catch let error as PostgresError {
                throw Self.translate(error, email: input.email)
            }
            let id = try rows[0].decode(Int64.self, "id")
            if let keys = input.topics, !keys.isEmpty {
                try await Topics.setStatus(on: tx, database: database, subscriber: id, keys: keys, status: "subscribed", context: context)
            }
            // Attribute scoring rules see the new person at once.
            _ = try await tx.query(database.sql("scores-attribute-refresh-subscriber", id))
            return id
        }
        return try await get(id: id)
    }

    public func get(id: Int64) async throws -> Subscriber {
        try Subscriber(row: try await database.one(database.sql("subscriber-select", id), notFound: "no subscriber with id \(id)"))
    }

    /// Looks up by numeric id or by email address (case-insensitive).
    public func get(reference: String) async throws -> Subscriber {
        try await get(id: try await resolve(reference))
    }

    /// The id behind a reference: digits are an id, anything with '@' an email.
    public func resolve(_ reference: String) async throws -> Int64 {
        if let id = Int64(reference), id > 0 {
            guard try await database.pool.query(database.sql("subscriber-exists", id)).first != nil else {
                throw FacteurError.notFound("no subscriber with id \(id)")
            }
            return id
        }
        guard reference.contains("@"), reference.utf8.count <= 320 else {
            throw FacteurError.notFound("no subscriber '\(reference)': use a numeric id or an email address")
        }
        guard let row = try await database.pool.query(database.sql("subscriber-id-by-email", reference)).first else {
            throw FacteurError.notFound("no subscriber with email '\(reference)'")
        }
        return try row.decode(Int64.self, "id")
    }

    /// Applies a partial update: absent keys are kept, attributes merge (null removes a key).
    public func update(reference: String, _ body: JSONValue, context: ConsentContext = .api) async throws -> Subscriber {
        let id = try await resolve(reference)
        let input = try SubscriberInput(try JSONObject(body), fields: try await fields.byKey(), requireEmail: false)
        if let keys = input.topics { try await topics.requireKeys(keys, field: "topics") }
        try await database.pool.withTransaction { tx in
            let rows: PostgresRows
            do {
                rows = try await tx.query(
                    database.sql(
                        "subscriber-update", id, input.email, input.name, input.status?.rawValue, input.locale,
                        input.timezone != nil, input.timezone ?? nil, PostgresJSON(rawJSON: input.attributesJSON), input.removeAttributes,
                        input.companyID != nil, input.companyID ?? nil))
            } catch let error as PostgresError {
                throw Self.translate(error, email: input.email)
            }
            guard let row = rows.first else { throw FacteurError.notFound("no subscriber with id \(id)") }
            let old = try row.decode(String.self, "old_status")
            let new = try row.decode(String.self, "status")
            if old != new {
                let details = JSONValue.object(["from": .string(old), "to": .string(new)]).jsonText
                try await tx.execute(
                    database.sql(
                        "consent-log-insert", id, Int64?.none, new == "unsubscribed" ? "unsubscribe_all" : "status", context.source,
                        context.ip, context.userAgent, PostgresJSON(rawJSON: details)))
            }
            if let keys = input.topics, !keys.isEmpty {
                try await Topics.setStatus(on: tx, database: database, subscriber: id, keys: keys, status: "subscribed", context: context)
            }
            if input.changesAttributes {
                _ = try await tx.query(database.sql("scores-attribute-refresh-subscriber", id))
            }
        }
        return try await get(id: id)
    }

    /// Filters for `list`.
    public struct Filter: Sendable {
        public var status: Subscriber.Status?
        public var companyID: Int64?
        public var search: String?
        public var topic: String?
        public var createdAfter: Date?
        public var after: Int64 = 0
        public var limit: Int = 50

        public init() {}
    }

    public func list(_ filter: Filter) async throws -> Page<Subscriber> {
        let limit = max(1, min(filter.limit, 1000))
        let search = filter.search.map(Self.escapeLike)
        let rows = try await database.pool.query(
            database.sql(
                "subscribers-list", filter.after, filter.status?.rawValue, filter.companyID, search, filter.topic, filter.createdAfter,
                limit + 1))
        return Page(fetched: try rows.map(Subscriber.init(row:)), limit: limit, id: \.id)
    }

    /// Erases a person: events, consent history, subscriptions, messages and the row itself.
    /// With `suppress`, keeps only a SHA-256 of the address so they are never mailed again.
    public func erase(reference: String, suppress: Bool, form: FormTokens.Verified? = nil) async throws {
        let id = try await resolve(reference)
        try await database.pool.withTransaction { tx in
            if let form { try await FormTokens.claim(form, on: tx, database: database) }
            try await tx.execute(database.sql("subscriber-erase-events", id))
            try await tx.execute("SET LOCAL facteur.erasing = 'on'")
            try await tx.execute(database.sql("subscriber-erase-consent", id))
            guard let row = try await tx.query(database.sql("subscriber-delete", id)).first else {
                throw FacteurError.notFound("no subscriber with id \(id)")
            }
            if suppress {
                try await tx.execute(database.sql("suppression-by-hash", try row.decode(String.self, "email")))
            }
        }
    }

    /// Maps constraint violations to errors a client can act on.
    static func translate(_ error: PostgresError, email: String?) -> Error {
        if error.isUniqueViolation {
            return FacteurError(.conflict, "a subscriber with email '\(email ?? "")' already exists", field: "email")
        }
        if error.isForeignKeyViolation {
            return FacteurError.invalid("company_id", "no company with that id")
        }
        if error.isCheckViolation || error.isDataError {
            return FacteurError(.invalid, "the database refused a value: \(error.message)", field: error.column)
        }
        return error
    }

    static func escapeLike(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(
            of: "_", with: "\\_")
    }
}
