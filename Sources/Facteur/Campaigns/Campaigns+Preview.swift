import Foundation
import Mail
import Postgres

extension Campaigns {
    /// A message exactly as one subscriber would get it: subject, HTML (links rewritten, pixel added),
    /// text and headers. Before the campaign starts the links carry message id 0, which no click or
    /// open will ever match.
    /// A preview: the composed parts and the whole signed message as it would be sent.
    public struct Preview: Sendable {
        public var composed: MessageComposer.Composed
        public var raw: [UInt8]
    }

    public func preview(
        id: Int64, subscriber reference: String, layouts: EmailLayouts, builder: LinkBuilder, assembler: MessageAssembler
    ) async throws -> Preview {
        let campaign = try await get(id: id)
        let subscriberID = try await Subscribers(database: database).resolve(reference)
        let composer = try await MessageComposer.prepare(campaign: campaign, database: database, layouts: layouts, builder: builder)
        guard let row = try await database.pool.query(database.sql("subscriber-render-context", subscriberID)).first else {
            throw FacteurError.notFound("no subscriber '\(reference)'")
        }
        let message = try await database.pool.query(database.sql("campaign-message-of-subscriber", id, subscriberID)).first
        let composed = try composer.compose(messageID: try message?.decode(Int64.self, "id") ?? 0, subscriber: row)
        let to = try Mailbox(try row.decode(String.self, "email"), name: try row.decode(String.self, "name"))
        let assembled = try assembler.assemble(
            composed, from: try Mailbox(campaign.fromEmail, name: campaign.fromName),
            replyTo: try campaign.replyTo.map { try Mailbox($0) }, to: to)
        return Preview(composed: composed, raw: assembled.bytes)
    }
}
