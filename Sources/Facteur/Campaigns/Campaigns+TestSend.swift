import Foundation
import Mail
import Postgres

extension Campaigns {
    /// What a test send did.
    public struct TestSendReport: Sendable, Encodable {
        public var sent: Int
        public var deliveries: [String]
    }

    /// Sends the campaign to a few addresses through `transport`, subject prefixed with `[Test]`.
    /// With `subscriber` it renders as that person; otherwise as a stand-in whose email is the
    /// recipient's. Links carry message id 0: nothing a tester clicks is counted.
    public func testSend(
        id: Int64, _ body: JSONValue, layouts: EmailLayouts, builder: LinkBuilder, assembler: MessageAssembler, transport: MailTransport
    ) async throws -> TestSendReport {
        let object = try JSONObject(body)
        try object.rejectUnknownKeys(["to", "subscriber"])
        guard let raw = try object.stringArray("to", maxCount: 20), !raw.isEmpty else {
            throw FacteurError.invalid("to", "list 1 to 20 addresses to send the test to")
        }
        let recipients = try raw.enumerated().map { index, text in
            do {
                return try EmailAddress(text)
            } catch let error as EmailAddressError {
                throw FacteurError.invalid("to[\(index)]", "'\(text)' is not a valid address: \(error.message)")
            }
        }
        let campaign = try await get(id: id)
        let composer = try await MessageComposer.prepare(campaign: campaign, database: database, layouts: layouts, builder: builder)
        var personal: (id: Int64, context: [String: Any])?
        if let reference = try object.string("subscriber", maxLength: 320) {
            let subscriberID = try await Subscribers(database: database).resolve(reference)
            guard let row = try await database.pool.query(database.sql("subscriber-render-context", subscriberID)).first else {
                throw FacteurError.notFound("no subscriber '\(reference)'")
            }
            personal = (subscriberID, try MessageComposer.subscriberContext(row))
        }
        let from = try Mailbox(campaign.fromEmail, name: campaign.fromName)
        let replyTo = try campaign.replyTo.map { try Mailbox($0) }
        var deliveries: [String] = []
        for recipient in recipients {
            let context = personal?.context ?? ["email": recipient.value, "subscriber_id": Int64(0), "locale": "en"]
            var composed = composer.compose(messageID: 0, subscriberID: personal?.id ?? 0, context: context)
            composed.subject = "[Test] " + composed.subject
            let assembled = try assembler.assemble(composed, from: from, replyTo: replyTo, to: try Mailbox(recipient))
            deliveries.append(
                try await transport.send(
                    assembled.bytes, from: campaign.fromEmail, to: [recipient.asciiValue], requiresSMTPUTF8: assembled.requiresSMTPUTF8))
        }
        return TestSendReport(sent: deliveries.count, deliveries: deliveries)
    }
}
