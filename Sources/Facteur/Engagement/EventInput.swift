import Foundation

/// The built-in event types. Anything else is a custom event (`page_view`, `purchase` …).
/// Keep in sync with `facteur_builtin_event_types` and the `events_custom_idx` predicate.
public enum EventType: String, Sendable, CaseIterable {
    case sent, delivered, open, click, bounce, complaint, unsubscribe

    public static func isBuiltIn(_ name: String) -> Bool { EventType(rawValue: name) != nil }
}

/// One event on its way into `events`.
///
/// Tracking events name only the message (`messageID`, from the signed token): the writer finds
/// the subscriber and campaign from `messages`, so a request never has to. API events name the
/// subscriber directly.
public struct EventInput: Sendable, Equatable {
    public var type: String
    public var subscriberID: Int64?
    public var campaignID: Int64?
    /// `messages.id`, not the RFC 5322 Message-ID.
    public var messageID: Int64?
    public var linkID: Int64?
    public var machine: Bool
    public var device: DeviceClass?
    public var client: String?
    /// A JSON object, as text.
    public var properties: String
    public var idempotencyKey: String?
    /// Nil: the time the batch is written.
    public var occurredAt: Date?

    public init(
        type: String, subscriberID: Int64? = nil, campaignID: Int64? = nil, messageID: Int64? = nil, linkID: Int64? = nil,
        machine: Bool = false, device: DeviceClass? = nil, client: String? = nil, properties: String = "{}",
        idempotencyKey: String? = nil, occurredAt: Date? = nil
    ) {
        self.type = type
        self.subscriberID = subscriberID
        self.campaignID = campaignID
        self.messageID = messageID
        self.linkID = linkID
        self.machine = machine
        self.device = device
        self.client = client
        self.properties = properties
        self.idempotencyKey = idempotencyKey
        self.occurredAt = occurredAt
    }

    /// An open or click from a tracked link: the message from the token, the request's traits.
    public static func tracking(
        _ type: EventType, message: Int64, campaign: Int64? = nil, link: Int64? = nil, traits: RequestTraits, properties: String = "{}"
    ) -> EventInput {
        EventInput(
            type: type.rawValue, campaignID: campaign, messageID: message, linkID: link, machine: traits.machine, device: traits.device,
            client: traits.client, properties: properties)
    }
}

/// What became of one event of a batch.
public enum EventOutcome: Sendable, Equatable {
    /// Written; `id` is its `events.id`.
    case recorded(id: Int64)
    /// Its idempotency key was seen before: the earlier event stands.
    case duplicate
    /// Its subscriber or message no longer exists (erased meanwhile), or a click's link does not
    /// belong to the message's campaign: nothing written.
    case unmatched
}
