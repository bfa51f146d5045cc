import Foundation
import Postgres

extension Campaigns {
    /// A message exactly as one subscriber would get it: subject, HTML (links rewritten, pixel added),
    /// text and headers. Before the campaign starts the links carry message id 0, which no click or
    /// open will ever match.
    public func preview(id: Int64, subscriber reference: String, layouts: EmailLayouts, builder: LinkBuilder) async throws
        -> MessageComposer.Composed
    {
        let campaign = try await get(id: id)
        let subscriberID = try await Subscribers(database: database).resolve(reference)
        let composer = try await MessageComposer.prepare(campaign: campaign, database: database, layouts: layouts, builder: builder)
        guard let row = try await database.pool.query(database.sql("subscriber-render-context", subscriberID)).first else {
            throw FacteurError.notFound("no subscriber '\(reference)'")
        }
        let message = try await database.pool.query(database.sql("campaign-message-of-subscriber", id, subscriberID)).first
        return try composer.compose(messageID: try message?.decode(Int64.self, "id") ?? 0, subscriber: row)
    }
}
