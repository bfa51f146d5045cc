import Crypto
import Foundation
import Postgres

/// Applies delivery-status notifications and complaint reports that arrive after sending (POST
/// /api/bounces, `facteur bounces import`): finds the message they are about, records the bounce or
/// complaint, and suppresses the address when it must never be mailed again.
///
/// The message is found, in order, by the Message-ID of the returned original, by the VERP return
/// path the report was sent to (`bounces+<token>@…`, see `LinkBuilder.returnPath`), by the signed
/// one-click URL in the original's `List-Unsubscribe`; failing all three, the recipient's address
/// names the subscriber (no campaign). Importing the same report twice changes nothing.
public struct BounceProcessor: Sendable {
    /// What became of one recipient of a report.
    public struct Result: Sendable, Encodable, Equatable {
        public var recipient: String
        /// `hard_bounce`, `soft_bounce`, `suppressed` (soft bounces reached the limit),
        /// `complaint`, `duplicate` (seen before), `ignored` (a delay or success notice),
        /// `unmatched` (no subscriber has that address), `unsubscribed` (a `mailto:` unsubscribe request).
        public var outcome: String
        public var status: String?
        public var subscriberID: Int64?
        public var campaignID: Int64?

        enum CodingKeys: String, CodingKey {
            case recipient, outcome, status
            case subscriberID = "subscriber_id"
            case campaignID = "campaign_id"
        }
    }

    /// Suppress after this many soft bounces within `softBounceDays` (`FACTEUR_SOFT_BOUNCE_LIMIT`,
    /// `FACTEUR_SOFT_BOUNCE_DAYS`; default 3 in 7 days).
    public struct Settings: Sendable {
        public var softBounceLimit = 3
        public var softBounceDays = 7

        public init(softBounceLimit: Int = 3, softBounceDays: Int = 7) {
            self.softBounceLimit = softBounceLimit
            self.softBounceDays = softBounceDays
        }

        public static func fromEnvironment(_ environment: [String: String]) throws -> Settings {
            var settings = Settings()
            settings.softBounceLimit = try EnvironmentSettings.int(environment, "FACTEUR_SOFT_BOUNCE_LIMIT", 1...100) ?? 3
            settings.softBounceDays = try EnvironmentSettings.int(environment, "FACTEUR_SOFT_BOUNCE_DAYS", 1...365) ?? 7
            return settings
        }
    }

    let database: Database
    let signer: TokenSigner
    let settings: Settings

    public init(database: Database, signer: TokenSigner, settings: Settings = Settings()) {
        self.database = database
        self.signer = signer
        self.settings = settings
    }

    /// Parses and applies a raw report (a whole message, headers and body). A message that is no
    /// report but an unsubscribe request sent to `List-Unsubscribe`'s `mailto:` address (subject
    /// `unsubscribe <token>`, see `LinkBuilder.listUnsubscribe`) is applied as one.
    public func process(raw: [UInt8]) async throws -> [Result] {
        let report: BounceReport
        do {
            report = try BounceReport.parse(raw)
        } catch let error as FacteurError {
            guard let request = try await unsubscribeRequest(raw) else { throw error }
            return [request]
        }
        let digest = SHA256.hash(data: raw).prefix(12).map { String(format: "%02x", $0) }.joined()
        return try await apply(report, key: "report:\(digest)")
    }

    /// Applies a parsed report; `key` identifies the report (with the recipient, it makes the
    /// idempotency key of each bounce).
    public func apply(_ report: BounceReport, key: String) async throws -> [Result] {
        let message = try await findMessage(report)
        var results: [Result] = []
        var recipients = report.recipients
        if report.kind == .complaint && recipients.isEmpty, let message {
            // Providers often redact the complainer's address; the message names them.
            recipients = [.init(finalRecipient: message.email, action: "complained", status: "")]
        }
        for (index, recipient) in recipients.enumerated() {
            let kind: String
            switch (report.kind, recipient.action, recipient.status.first) {
            case (.complaint, _, _): kind = "complaint"
            case (.delivery, "failed", "5"): kind = "hard"
            case (.delivery, "failed", _): kind = "soft"
            default:
                results.append(.init(recipient: recipient.finalRecipient, outcome: "ignored", status: recipient.status))
                continue
            }
            // The message's person when the report is about them, else whoever has the address.
            var subscriber: Int64?
            var campaign: Int64?
            var messageID: Int64?
            if let message, message.email.lowercased() == recipient.finalRecipient.lowercased() || recipients.count == 1 {
                (subscriber, campaign, messageID) = (message.subscriberID, message.campaignID, message.id)
            } else {
                let rows = try await database.pool.query(database.sql("bounce-subscriber-by-email", recipient.finalRecipient))
                subscriber = try rows.first?.decode(Int64.self, "id")
            }
            guard let subscriber else {
                results.append(.init(recipient: recipient.finalRecipient, outcome: "unmatched", status: recipient.status))
                continue
            }
            var details: [String: JSONValue] = ["source": .string(report.kind == .complaint ? "arf" : "dsn")]
            if !recipient.status.isEmpty { details["status"] = .string(recipient.status) }
            if let diagnostic = recipient.diagnosticCode { details["diagnostic"] = .string(String(diagnostic.prefix(1000))) }
            if let remote = recipient.remoteMTA { details["remote_mta"] = .string(remote) }
            if let feedback = report.feedbackType { details["feedback_type"] = .string(feedback) }
            let outcome: String
            do {
                outcome = try await database.pool.query(
                    database.sql(
                        "bounce-apply", "\(key):\(index)", subscriber, campaign, messageID, kind,
                        PostgresJSON(rawJSON: JSONValue.object(details).jsonText), settings.softBounceLimit, settings.softBounceDays)
                )[0].decode(String.self, "outcome")
            } catch let error as PostgresError where error.isForeignKeyViolation {
                outcome = "unmatched"  // erased between the lookup and now
            }
            results.append(
                .init(
                    recipient: recipient.finalRecipient, outcome: outcome, status: recipient.status.isEmpty ? nil : recipient.status,
                    subscriberID: subscriber, campaignID: campaign))
        }
        return results
    }

    /// `Subject: unsubscribe <token>` (a reply may prefix `Re:`): unsubscribes from the message's
    /// topic, or from everything, logged with source `mailto`. Nil when the message is not one.
    func unsubscribeRequest(_ raw: [UInt8]) async throws -> Result? {
        guard let headers = try? MIMEReader.readHeaders(raw[...]).headers, let subject = headers.first("subject") else { return nil }
        let words = subject.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let index = words.firstIndex(where: { $0.lowercased() == "unsubscribe" }), index + 1 < words.count,
            words[..<index].allSatisfy({ $0.lowercased().hasSuffix(":") })
        else { return nil }
        let preferences = Preferences(database: database)
        guard let target = try await preferences.unsubscribeTarget(token: words[index + 1], signer: signer) else { return nil }
        let from = headers.first("from").map { String($0.prefix(500)) }
        let changed = try await preferences.unsubscribe(
            target, context: ConsentContext(source: "mailto", userAgent: from.map { "email from \($0)" }))
        let email = try await database.pool.query(database.sql("preferences-subscriber", target.subscriber)).first?.decode(
            String.self, "email")
        return Result(
            recipient: email ?? "", outcome: changed ? "unsubscribed" : "duplicate", subscriberID: target.subscriber,
            campaignID: target.campaign)
    }

    struct MatchedMessage {
        var id: Int64
        var subscriberID: Int64
        var campaignID: Int64
        var email: String
    }

    private func findMessage(_ report: BounceReport) async throws -> MatchedMessage? {
        if let messageID = report.originalMessageID {
            let rows = try await database.pool.query(database.sql("bounce-message-by-message-id", messageID))
            if let row = rows.first { return try Self.matched(row) }
        }
        var tokens: [String] = []
        // VERP: bounces+<token>@domain.
        for address in report.reportRecipients {
            guard let at = address.lastIndex(of: "@"), let plus = address[..<at].firstIndex(of: "+") else { continue }
            tokens.append(String(address[address.index(after: plus)..<at]))
        }
        // Our one-click unsubscribe URL (…/u/<token>) in the returned headers.
        for header in report.originalHeaders where header.name.lowercased() == "list-unsubscribe" {
            for part in header.value.components(separatedBy: "/u/").dropFirst() {
                tokens.append(String(part.prefix { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }))
            }
        }
        for token in tokens {
            // VERP paths carry the message token; List-Unsubscribe URLs its unsubscribe token.
            guard let claims = signer.verify(token, as: .message) ?? signer.verify(token, as: .unsubscribe) else { continue }
            let rows = try await database.pool.query(database.sql("bounce-message-by-id", claims.id))
            if let row = rows.first { return try Self.matched(row) }
        }
        return nil
    }

    private static func matched(_ row: PostgresRow) throws -> MatchedMessage {
        MatchedMessage(
            id: try row.decode(Int64.self, "id"), subscriberID: try row.decode(Int64.self, "subscriber_id"),
            campaignID: try row.decode(Int64.self, "campaign_id"), email: try row.decode(String.self, "email"))
    }
}
