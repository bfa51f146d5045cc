import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// Single-use form tokens: every form on the public pages carries one (CSRF protection).
///
/// A token is signed with the link keys and names who it was issued for (a subscriber, or 0 for
/// the public sign-up form), when, and a random nonce. It is good for `lifetime`; its nonce is
/// claimed in `form_tokens_used` in the same transaction as the change it allows, so a replayed
/// form (the back button, a second submit, a copied request) changes nothing. No cookies: the
/// pages work for a person who refuses them, and one-click unsubscribe must set none.
public struct FormTokens: Sendable {
    let signer: TokenSigner
    public let lifetime: TimeInterval
    let clock: @Sendable () -> Date

    public static let defaultLifetime: TimeInterval = 4 * 3600

    public init(signer: TokenSigner, lifetime: TimeInterval = FormTokens.defaultLifetime, clock: @escaping @Sendable () -> Date = Date.init)
    {
        self.signer = signer
        self.lifetime = lifetime
        self.clock = clock
    }

    /// A verified, not yet claimed, form token.
    public struct Verified: Sendable {
        public let subject: Int64
        let nonce: Int64
    }

    public func issue(for subject: Int64) -> String {
        let issued = UInt64(max(0, clock().timeIntervalSince1970))
        // 63 bits: the nonce is a bigint key in PostgreSQL.
        let nonce = UInt64.random(in: 1...UInt64(Int64.max))
        return signer.sign(.form, values: [UInt64(bitPattern: subject), issued, nonce])
    }

    /// Checks the signature, the subject and the age; the caller claims it inside its transaction.
    public func verify(_ token: String?, for subject: Int64) throws -> Verified {
        guard let token, !token.isEmpty else {
            throw FacteurError(.forbidden, "the form is missing its security token; reload the page and try again", field: "csrf")
        }
        guard let values = signer.verify(token, as: .form, count: 3), Int64(bitPattern: values[0]) == subject,
            let nonce = Int64(exactly: values[2])
        else {
            throw FacteurError(
                .forbidden, "the form's security token is not valid for this page; reload the page and try again", field: "csrf")
        }
        let age = clock().timeIntervalSince1970 - TimeInterval(values[1])
        guard age <= lifetime, age > -300 else {
            throw FacteurError(.forbidden, "the form has expired; reload the page and try again", field: "csrf")
        }
        return Verified(subject: subject, nonce: nonce)
    }

    /// Marks the token used; throws when it was used before.
    public static func claim(_ token: Verified, on connection: PostgresConnection, database: Database) async throws {
        guard try await connection.query(database.sql("form-token-claim", token.nonce)).first != nil else {
            throw FacteurError(.forbidden, "this form was already sent once; reload the page to make another change", field: "csrf")
        }
    }

    /// Claims a token on its own (a download, which changes nothing else).
    public static func claim(_ token: Verified, database: Database) async throws {
        try await database.pool.withTransaction { try await claim(token, on: $0, database: database) }
    }

    /// Forgets nonces older than any token still valid (the hourly maintenance pass).
    public static func purge(database: Database, lifetime: TimeInterval) async throws -> Int {
        try await database.pool.execute(database.sql("form-tokens-purge", Int(lifetime) + 600))
    }
}

/// Hourly: forgets the nonces of form tokens too old to be accepted anyway.
public struct FormTokenMaintenance: Service {
    let database: Database
    let lifetime: TimeInterval
    let logger: Logger

    public init(database: Database, lifetime: TimeInterval = FormTokens.defaultLifetime, logger: Logger) {
        self.database = database
        self.lifetime = lifetime
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: .seconds(3600), logger: logger, failure: "form token maintenance failed") {
            _ = try await FormTokens.purge(database: database, lifetime: lifetime)
        }
    }
}
