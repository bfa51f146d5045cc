import Foundation
import Mail

/// A validated campaign create or update request.
struct CampaignInput {
    var name: String?
    var subject: String?
    var fromName: String?
    var fromEmail: String?
    var replyTo: String?
    var templateID: Int64?
    var segmentID: Int64?
    var topicKey: String?
    var headers: [String: String]?
    var trackOpens: Bool?
    var trackClicks: Bool?
    var rateLimit: Int64?
    var abTest: ABTest?
    /// Nullable columns the request sets to null.
    var cleared: [String] = []

    static let keys: Set<String> = [
        "name", "subject", "from_name", "from_email", "reply_to", "template_id", "segment_id", "topic", "headers", "track_opens",
        "track_clicks", "rate_limit", "ab",
    ]
    /// Headers Facteur writes itself; a campaign cannot override them.
    static let reservedHeaders: Set<String> = [
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "sender", "return-path", "mime-version",
        "content-type", "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post", "dkim-signature", "received",
    ]

    init(_ object: JSONObject, creating: Bool) throws {
        try object.rejectUnknownKeys(Self.keys)
        name = try object.string("name", required: creating, maxLength: 200)
        subject = try object.string("subject", maxLength: 2000)
        fromName = try object.string("from_name", maxLength: 200)
        if let raw = try object.string("from_email", required: creating, maxLength: 320) {
            fromEmail = try Self.address(raw, field: "from_email")
        }
        if let raw = try object.string("reply_to", maxLength: 320) { replyTo = try Self.address(raw, field: "reply_to") }
        templateID = try object.int("template_id", required: creating, range: 1...Int64.max)
        segmentID = try object.int("segment_id", range: 1...Int64.max)
        topicKey = try object.string("topic", maxLength: 63)
        if let raw = try object.object("headers") {
            guard raw.count <= 20 else { throw FacteurError.invalid("headers", "at most 20 extra headers") }
            var headers: [String: String] = [:]
            for (key, value) in raw.sorted(by: { $0.key < $1.key }) {
                guard key.range(of: "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", options: .regularExpression) != nil else {
                    throw FacteurError.invalid("headers.\(key)", "is not a header name (letters, digits and '-')")
                }
                guard !Self.reservedHeaders.contains(key.lowercased()) else {
                    throw FacteurError.invalid("headers.\(key)", "is written by Facteur and cannot be set")
                }
                guard case .string(let text) = value, text.utf8.count <= 900,
                    !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
                else { throw FacteurError.invalid("headers.\(key)", "must be one line of text (no CR, LF or control characters)") }
                headers[key] = text
            }
            self.headers = headers
        }
        trackOpens = try object.bool("track_opens")
        trackClicks = try object.bool("track_clicks")
        rateLimit = try object.int("rate_limit", range: 1...100_000)
        if let raw = object.values["ab"], raw != .null { abTest = try Self.abTest(try JSONObject(raw, path: "ab.")) }
        cleared = ["reply_to", "topic", "rate_limit", "ab", "segment_id"].filter { object.isNull($0) }
    }

    static func address(_ raw: String, field: String) throws -> String {
        do {
            return try EmailAddress(raw).value
        } catch {
            throw FacteurError.invalid(field, "'\(raw)' is not a valid address: \(error.message)")
        }
    }

    static func abTest(_ object: JSONObject) throws -> ABTest {
        try object.rejectUnknownKeys(["subjects", "test_share", "metric", "wait_seconds"])
        guard let subjects = try object.stringArray("subjects", maxCount: 4), subjects.count >= 2 else {
            throw FacteurError.invalid("ab.subjects", "an A/B test needs 2 to 4 subjects")
        }
        for (index, subject) in subjects.enumerated()
        where subject.isEmpty || subject.utf8.count > 2000 || subject.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            throw FacteurError.invalid("ab.subjects[\(index)]", "must be one non-empty line of at most 2000 bytes")
        }
        let share = try object.double("test_share") ?? 0.2
        guard (0.05...0.5).contains(share) else { throw FacteurError.invalid("ab.test_share", "must be between 0.05 and 0.5") }
        let metric = try object.string("metric").map { raw -> ABTest.Metric in
            guard let metric = ABTest.Metric(rawValue: raw) else { throw FacteurError.invalid("ab.metric", "must be open or click") }
            return metric
        }
        let wait = try object.int("wait_seconds", range: 600...(7 * 86_400)) ?? 4 * 3600
        return ABTest(subjects: subjects, testShare: share, metric: metric ?? .open, waitSeconds: Int(wait), winner: nil)
    }
}
