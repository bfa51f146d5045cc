import Foundation
import Postgres

/// A campaign: what is sent (template, subject), from whom, to which audience, and where it stands.
public struct Campaign: Sendable, Encodable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case draft, scheduled, sending, sent, paused, cancelled
    }

    public var id: Int64
    public var name: String
    public var subject: String
    public var fromName: String
    public var fromEmail: String
    public var replyTo: String?
    public var templateID: Int64
    public var segmentID: Int64?
    public var topicID: Int64?
    public var topic: String?
    public var headers: [String: String]
    public var status: Status
    public var scheduledAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var trackOpens: Bool
    public var trackClicks: Bool
    public var rateLimit: Int?
    public var abTest: ABTest?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, subject, topic, headers, status
        case fromName = "from_name"
        case fromEmail = "from_email"
        case replyTo = "reply_to"
        case templateID = "template_id"
        case segmentID = "segment_id"
        case topicID = "topic_id"
        case scheduledAt = "scheduled_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case trackOpens = "track_opens"
        case trackClicks = "track_clicks"
        case rateLimit = "rate_limit"
        case abTest = "ab"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(row: PostgresRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        subject = try row.decode(String.self, "subject")
        fromName = try row.decode(String.self, "from_name")
        fromEmail = try row.decode(String.self, "from_email")
        replyTo = try row.decode(String?.self, "reply_to")
        templateID = try row.decode(Int64.self, "template_id")
        segmentID = try row.decode(Int64?.self, "segment_id")
        topicID = try row.decode(Int64?.self, "topic_id")
        topic = try row.decode(String?.self, "topic_key")
        headers = try row.decode(PostgresJSON.self, "headers").decode(as: [String: String].self)
        status = Status(rawValue: try row.decode(String.self, "status")) ?? .draft
        scheduledAt = try row.decode(Date?.self, "scheduled_at")
        startedAt = try row.decode(Date?.self, "started_at")
        finishedAt = try row.decode(Date?.self, "finished_at")
        trackOpens = try row.decode(Bool.self, "track_opens")
        trackClicks = try row.decode(Bool.self, "track_clicks")
        rateLimit = try row.decode(Int?.self, "rate_limit")
        abTest = try row.decode(PostgresJSON?.self, "ab")?.decode(as: ABTest.self)
        createdAt = try row.decode(Date.self, "created_at")
        updatedAt = try row.decode(Date.self, "updated_at")
    }
}

/// An A/B subject test: up to four subjects sent to a test share; the winner goes to the rest.
public struct ABTest: Sendable, Codable, Equatable {
    public enum Metric: String, Sendable, Codable { case open, click }

    public var subjects: [String]
    /// Fraction of the audience in the test, split evenly between subjects (0.05–0.5).
    public var testShare: Double
    public var metric: Metric
    /// How long the test runs before the winner is chosen.
    public var waitSeconds: Int
    /// Index of the winning subject once chosen.
    public var winner: Int?

    enum CodingKeys: String, CodingKey {
        case subjects, metric, winner
        case testShare = "test_share"
        case waitSeconds = "wait_seconds"
    }
}
