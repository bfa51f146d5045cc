import Foundation
import Postgres

/// Renders one campaign for many subscribers: the template is parsed once, the tracked links are
/// looked up once, and each message only renders, rewrites links and adds the pixel.
///
/// Click tracking applies to the HTML part; the text part keeps each link's real destination, so a
/// reader of plain text sees where a link goes (clicks there are not counted).
public struct MessageComposer: Sendable {
    public let campaign: Campaign
    let template: MessageTemplate
    let links: [String: Int64]
    let topic: Topic?
    let builder: LinkBuilder
    let layouts: EmailLayouts

    /// What one subscriber receives, before MIME encoding and signing.
    public struct Composed: Sendable, Equatable {
        public var subject: String
        public var html: String
        public var text: String
        /// `List-Unsubscribe` and `List-Unsubscribe-Post`, then the campaign's own headers.
        public var headers: [(name: String, value: String)]

        public static func == (a: Composed, b: Composed) -> Bool {
            a.subject == b.subject && a.html == b.html && a.text == b.text && a.headers.map(\.name) == b.headers.map(\.name)
                && a.headers.map(\.value) == b.headers.map(\.value)
        }
    }

    /// Loads and parses everything a campaign's messages share.
    public static func prepare(campaign: Campaign, database: Database, layouts: EmailLayouts, builder: LinkBuilder) async throws
        -> MessageComposer
    {
        let stored = try await Templates(database: database, layouts: layouts).get(id: campaign.templateID)
        let fields = try await FieldRegistry(database: database).list().map(\.key)
        var links: [String: Int64] = [:]
        for row in try await database.pool.query(database.sql("campaign-links", campaign.id)) {
            links[try row.decode(String.self, "url")] = try row.decode(Int64.self, "id")
        }
        let template = try MessageTemplate(
            subject: campaign.subject, subjectVariants: campaign.abTest?.subjects ?? [], html: stored.html, text: stored.text,
            layout: stored.layout, layouts: layouts, variables: .forMessages(customFields: fields),
            trackedLinks: campaign.trackClicks ? links : [:])
        var topic: Topic?
        if let topicID = campaign.topicID { topic = try await Topics(database: database).get(id: topicID) }
        return MessageComposer(campaign: campaign, template: template, links: links, topic: topic, builder: builder, layouts: layouts)
    }

    /// Renders the message `messageID` for the subscriber described by `row` (query `subscriber-render-context`).
    public func compose(messageID: Int64, subscriber row: PostgresRow, variant: Int? = nil) throws -> Composed {
        compose(
            messageID: messageID, subscriberID: try row.decode(Int64.self, "id"), context: try Self.subscriberContext(row), variant: variant
        )
    }

    /// The A/B subject a message gets: its own variant in the test share; the winner's for the
    /// rest once chosen; the campaign's subject otherwise.
    public func subjectVariant(of variant: Int?) -> Int? {
        variant ?? campaign.abTest?.winner
    }

    /// Renders from a ready template context (a database row's, or a stand-in for a test send).
    /// `variant` is the message's A/B variant (`messages.variant`).
    public func compose(messageID: Int64, subscriberID: Int64, context subscriber: [String: Any], variant: Int? = nil) -> Composed {
        var context = subscriber
        context["campaign"] = ["id": campaign.id, "name": campaign.name, "subject": campaign.subject]
        context["footer"] = layouts.footer(locale: context["locale"] as? String ?? "en")
        if let topic { context["topic"] = ["key": topic.key, "name": topic.name, "description": topic.description] }
        // One signature per message (an HMAC), shared by every URL of it.
        let token = builder.token(message: messageID)
        let unsubscribeToken = builder.unsubscribeToken(message: messageID)
        let unsubscribe = builder.unsubscribe(token: unsubscribeToken)
        context["unsubscribe_url"] = unsubscribe
        context["preferences_url"] = builder.preferences(subscriber: subscriberID)
        context["view_in_browser_url"] = builder.viewInBrowser(token: token)
        // The template's tracked hrefs were rewritten once to these keys (see MessageTemplate).
        if campaign.trackClicks {
            for id in links.values { context[MessageTemplate.clickKey(id)] = builder.click(token: token, link: id) }
        }
        let rendered = template.render(context, subjectVariant: subjectVariant(of: variant))
        var html = rendered.html
        if campaign.trackOpens { html = LinkRewriter.addOpenPixel(html, url: builder.open(token: token)) }
        var headers: [(name: String, value: String)] = [
            ("List-Unsubscribe", builder.listUnsubscribe(token: unsubscribeToken)), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        headers += campaign.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return Composed(subject: rendered.subject, html: html, text: rendered.text, headers: headers)
    }

    /// The template context of one subscriber: fields, first/last name, custom attributes, company.
    static func subscriberContext(_ row: PostgresRow) throws -> [String: Any] {
        let name = try row.decode(String.self, "name")
        let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
        var context: [String: Any] = [
            "subscriber_id": try row.decode(Int64.self, "id"), "email": try row.decode(String.self, "email"), "name": name,
            "locale": try row.decode(String.self, "locale"), "score": try row.decode(Double.self, "score"),
            "status": try row.decode(String.self, "status"),
        ]
        if let first = parts.first, !first.isEmpty { context["first_name"] = first }
        if parts.count > 1 { context["last_name"] = parts[1] }
        if let zone = try row.decode(String?.self, "timezone") { context["timezone"] = zone }
        let attributes = try row.decode(PostgresJSON.self, "attributes").decode(as: [String: JSONValue].self)
        var plain: [String: Any] = [:]
        for (key, value) in attributes {
            guard let converted = value.plainValue else { continue }
            plain[key] = converted
            if context[key] == nil { context[key] = converted }
        }
        context["attributes"] = plain
        if let company = try row.decode(String?.self, "company_name") {
            var values: [String: Any] = ["name": company]
            for key in ["domain", "industry", "naics", "region"] {
                if let value = try row.decode(String?.self, "company_" + key) { values[key] = value }
            }
            if let employees = try row.decode(Int64?.self, "company_employees") { values["employees"] = employees }
            if let revenue = try row.decode(Double?.self, "company_revenue") { values["revenue"] = revenue }
            context["company"] = values
        }
        return context
    }
}

extension JSONValue {
    /// The value as a plain Swift value for Mustache (nil for JSON null).
    var plainValue: Any? {
        switch self {
        case .null: nil
        case .bool(let flag): flag
        case .number(let number): Int64(exactly: number).map { $0 as Any } ?? number
        case .string(let text): text
        case .array(let items): items.compactMap(\.plainValue)
        case .object(let members): members.compactMapValues(\.plainValue)
        }
    }
}
