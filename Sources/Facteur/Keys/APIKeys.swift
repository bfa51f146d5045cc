import Crypto
import Foundation
import Postgres

/// Admin API keys. A key is shown once at creation; only its SHA-256 is stored, so a leaked
/// database does not leak usable keys.
public struct APIKeys: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// A newly created key: `secret` is the only copy of the key there will ever be.
    public struct Created: Sendable, Encodable {
        public var id: Int64
        public var name: String
        public var secret: String
    }

    /// The identity behind a verified key.
    public struct Identity: Sendable {
        public var id: Int64
        public var name: String
        public var scopes: [String]
    }

    public func create(name: String) async throws -> Created {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 200 else { throw FacteurError.invalid("name", "must be 1 to 200 characters") }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let secret =
            "fct_"
            + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let rows = try await database.pool.query(
            database.sql("api-key-insert", trimmed, PostgresBytes(Self.hash(secret)), String(secret.prefix(12)), ["admin"]))
        return Created(id: try rows[0].decode(Int64.self, "id"), name: trimmed, secret: secret)
    }

    /// The key's identity, or nil when it is unknown or revoked.
    public func verify(_ secret: String) async throws -> Identity? {
        guard secret.hasPrefix("fct_"), secret.utf8.count < 200 else { return nil }
        guard let row = try await database.pool.query(database.sql("api-key-verify", PostgresBytes(Self.hash(secret)))).first else {
            return nil
        }
        return Identity(
            id: try row.decode(Int64.self, "id"), name: try row.decode(String.self, "name"), scopes: try row.decode([String].self, "scopes")
        )
    }

    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(secret.utf8)))
    }
}
