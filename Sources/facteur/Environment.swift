import Facteur
import Foundation
import Logging
import Mail
import Postgres

/// Settings read from the environment; every variable is listed in the README.
struct Environment {
    let values: [String: String]

    init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    func string(_ key: String) -> String? {
        values[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    func int(_ key: String, default value: Int) throws -> Int {
        guard let raw = string(key) else { return value }
        guard let parsed = Int(raw), parsed > 0 else { throw ValidationErrorText("\(key) must be a positive whole number, got '\(raw)'") }
        return parsed
    }

    /// A whole number in `range`, or nil when the variable is not set.
    func optionalInt(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(key) else { return nil }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ValidationErrorText("\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return parsed
    }

    var home: FacteurHome { FacteurHome.fromEnvironment(values) }
    var host: String { string("FACTEUR_HOST") ?? "127.0.0.1" }
    func port() throws -> Int { try int("FACTEUR_PORT", default: 8080) }
    /// `FACTEUR_WORKER_PORT` (default 8081; 0 picks a free port, for tests).
    func workerPort() throws -> Int {
        if string("FACTEUR_WORKER_PORT") == "0" { return 0 }
        return try int("FACTEUR_WORKER_PORT", default: 8081)
    }
    func poolSize() throws -> Int { try int("FACTEUR_DB_POOL_SIZE", default: 10) }

    /// `DATABASE_URL`, required outside `facteur dev`.
    func databaseConfiguration() throws -> PostgresConfiguration {
        guard let url = string("DATABASE_URL") else {
            throw ValidationErrorText(
                "DATABASE_URL is not set (e.g. postgres://facteur:secret@localhost:5432/facteur); `facteur dev` needs none")
        }
        return PostgresConfiguration(connectionString: url)
    }

    /// `FACTEUR_BASE_URL` (default `http://HOST:PORT`), `FACTEUR_UNSUBSCRIBE_MAILTO`, `FACTEUR_BOUNCE_ADDRESS` and the token keys of `FACTEUR_SECRETS` or `FACTEUR_SECRET`.
    func linkBuilder() throws -> LinkBuilder {
        guard let signer = try TokenSigner.fromEnvironment(values) else {
            throw ValidationErrorText(
                "FACTEUR_SECRET is not set: it signs the links in every email (32+ random bytes, e.g. `openssl rand -base64 48`)")
        }
        let fallback = "http://\(host):\(try port())"
        var mailbox: String?
        if let raw = string("FACTEUR_UNSUBSCRIBE_MAILTO") {
            guard (try? EmailAddress(raw)) != nil, raw.allSatisfy({ $0.isASCII && $0 != "?" && $0 != "&" && $0 != ">" }) else {
                throw ValidationErrorText(
                    "FACTEUR_UNSUBSCRIBE_MAILTO must be a plain ASCII address such as unsubscribe@example.com, got '\(raw)'")
            }
            mailbox = raw
        }
        var bounceAddress: String?
        if let raw = string("FACTEUR_BOUNCE_ADDRESS") {
            guard (try? EmailAddress(raw)) != nil, raw.allSatisfy({ $0.isASCII && $0 != "+" }), raw.utf8.count <= 150 else {
                throw ValidationErrorText(
                    "FACTEUR_BOUNCE_ADDRESS must be a plain ASCII address without '+' such as bounces@example.com, got '\(raw)'")
            }
            bounceAddress = raw
        }
        return LinkBuilder(
            baseURL: string("FACTEUR_BASE_URL") ?? fallback, signer: signer, unsubscribeMailbox: mailbox, bounceAddress: bounceAddress)
    }

    /// Where the worker hands messages: `SMTP_URL`, else the `FACTEUR_OUTBOX` folder.
    func mailTransport(logger: Logger) throws -> any MailTransport {
        if let url = string("SMTP_URL") { return try SMTPMailTransport(url: url, logger: logger) }
        if let outbox = string("FACTEUR_OUTBOX") { return try OutboxTransport(directory: URL(fileURLWithPath: outbox)) }
        throw ValidationErrorText(
            "SMTP_URL is not set (e.g. smtp://user:pass@mail.example.com:587?tls=starttls); set FACTEUR_OUTBOX=DIR to write .eml files instead"
        )
    }

    /// Logs to stderr; `LOG_LEVEL` (trace…critical, default info).
    func bootstrapLogging() {
        let level = string("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// A configuration mistake, printed as is.
struct ValidationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
