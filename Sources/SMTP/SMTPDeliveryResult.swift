/// The outcome of RCPT TO for one recipient.
public struct SMTPRecipientResult: Sendable, Hashable {
    public var address: String
    public var reply: SMTPReply

    public init(address: String, reply: SMTPReply) {
        self.address = address
        self.reply = reply
    }

    public var isAccepted: Bool { reply.isPositiveCompletion }
}

/// A message the server accepted for at least one recipient.
public struct SMTPDeliveryResult: Sendable, Hashable {
    /// The server's reply to the end of DATA.
    public var reply: SMTPReply
    /// Best-effort queue id from that reply (Postfix `queued as X`, Exim `id=X`), else the whole reply text.
    public var queueID: String
    /// Per-recipient RCPT outcomes, in the order given; rejected ones did not receive the message.
    public var recipients: [SMTPRecipientResult]

    public init(reply: SMTPReply, recipients: [SMTPRecipientResult]) {
        self.reply = reply
        self.queueID = Self.queueID(from: reply)
        self.recipients = recipients
    }

    public var acceptedRecipients: [String] { recipients.filter(\.isAccepted).map(\.address) }
    public var rejectedRecipients: [SMTPRecipientResult] { recipients.filter { !$0.isAccepted } }

    static func queueID(from reply: SMTPReply) -> String {
        let words = reply.text.split(separator: " ")
        func clean(_ word: Substring) -> String { String(word.filter { !")(,;".contains($0) }) }
        for index in words.indices {
            if index + 2 < words.count, words[index].lowercased() == "queued", words[index + 1].lowercased() == "as" {
                return clean(words[index + 2])
            }
            if words[index].lowercased().hasPrefix("id="), words[index].count > 3 {
                return clean(words[index].dropFirst(3))
            }
        }
        return reply.text
    }
}
