import NIOCore

/// One message ready to be sent: addresses validated and body already encoded.
///
/// Built by the caller's task (not on the event loop) so that encoding large bodies does not stall I/O.
struct SMTPEnvelope: Sendable, Hashable {
    var from: String
    var recipients: [String]
    var body: ByteBuffer
    var messageSize: Int
    var hasEightBitData: Bool
    var requiresSMTPUTF8: Bool

    init(from: String, to recipients: [String], message: [UInt8], requiresSMTPUTF8: Bool) throws(SMTPError) {
        try SMTPAddress.validate(from, phase: .mailFrom, allowEmpty: true)
        guard !recipients.isEmpty else {
            throw SMTPError(kind: .invalidAddress, phase: .rcptTo, scope: .message, isTransient: false, message: "no recipients")
        }
        for recipient in recipients { try SMTPAddress.validate(recipient, phase: .rcptTo, allowEmpty: false) }
        let encoded = SMTPMessageBody.encode(message)
        self.from = from
        self.recipients = recipients
        self.body = encoded.bytes
        self.messageSize = encoded.messageSize
        self.hasEightBitData = encoded.hasEightBitData
        // A non-ASCII address cannot be transmitted at all without SMTPUTF8, whatever the caller said.
        self.requiresSMTPUTF8 = requiresSMTPUTF8 || !([from] + recipients).allSatisfy(SMTPAddress.isASCII)
    }
}

extension SMTPClientStateMachine {
    /// Progress of one MAIL/RCPT/DATA exchange. Replies are matched to commands strictly in order, which is
    /// what makes PIPELINING (RFC 2920) work: all envelope commands go out at once, replies come back in order.
    struct Transaction {
        enum Step: Hashable {
            case mailFrom
            case rcptTo(Int)
            case data
            case body
        }

        var envelope: SMTPEnvelope
        var pipelined: Bool
        /// Commands sent whose replies have not arrived yet, oldest first.
        var awaiting: [Step]
        var mailReply: SMTPReply?
        var recipientResults: [SMTPRecipientResult] = []
        var dataReply: SMTPReply?
        /// Whether ``dataReply`` answered DATA itself or the end of the body.
        var dataReplyPhase: SMTPPhase = .dataInitiation
        /// True when the body we sent is only the terminator, because the server said 354 without any recipient.
        var sentEmptyBody = false

        var phase: SMTPPhase {
            switch awaiting.first {
            case .mailFrom, .none: .mailFrom
            case .rcptTo: .rcptTo
            case .data: .dataInitiation
            case .body: .dataTermination
            }
        }

        var mailAccepted: Bool { mailReply?.isPositiveCompletion ?? false }
        var anyRecipientAccepted: Bool { recipientResults.contains(where: \.isAccepted) }
    }

    mutating func startTransaction(_ envelope: SMTPEnvelope) -> Action {
        guard case .ready = state else {
            if isClosed { return .completeTransaction(.failure(.connectionClosed(phase: .mailFrom, message: "connection is closed"))) }
            return .completeTransaction(
                .failure(.protocolViolation("a transaction was started while the session was not ready", phase: currentPhase)))
        }
        if envelope.requiresSMTPUTF8 && !capabilities.smtpUTF8 {
            return .completeTransaction(
                .failure(
                    SMTPError(
                        kind: .smtpUTF8NotSupported, phase: .mailFrom, scope: .message, isTransient: false,
                        message: "the message needs SMTPUTF8 (internationalised addresses or headers) but the server does not offer it")))
        }
        if let limit = capabilities.maximumMessageSize, limit > 0, envelope.messageSize > limit {
            return .completeTransaction(
                .failure(
                    SMTPError(
                        kind: .messageTooLarge, phase: .mailFrom, scope: .message, isTransient: false,
                        message: "message is \(envelope.messageSize) bytes, the server accepts at most \(limit)")))
        }
        var parameters: [String] = []
        if capabilities.maximumMessageSize != nil { parameters.append("SIZE=\(envelope.messageSize)") }
        if capabilities.eightBitMIME && (envelope.hasEightBitData || envelope.requiresSMTPUTF8) { parameters.append("BODY=8BITMIME") }
        if envelope.requiresSMTPUTF8 { parameters.append("SMTPUTF8") }
        let mail = SMTPCommand.mailFrom(envelope.from, parameters: parameters)

        var transaction = Transaction(envelope: envelope, pipelined: capabilities.pipelining, awaiting: [.mailFrom])
        var commands = [mail]
        if transaction.pipelined {
            for index in envelope.recipients.indices {
                commands.append(.rcptTo(envelope.recipients[index]))
                transaction.awaiting.append(.rcptTo(index))
            }
            commands.append(.data)
            transaction.awaiting.append(.data)
        }
        state = .transaction(transaction)
        return .write(commands, timeout: settings.timeouts.mailFrom)
    }

    /// The body left our buffers; now wait (long) for the server to process it.
    mutating func bodyWritten() -> Action {
        guard case .transaction(let transaction) = state, transaction.awaiting == [.body] else { return .none }
        return .armTimer(settings.timeouts.dataTermination)
    }

    mutating func transactionReply(_ reply: SMTPReply, transaction: inout Transaction) -> Action {
        guard let step = transaction.awaiting.first else {
            return closeWith(.protocolViolation("unsolicited reply \(reply)", phase: transaction.phase, reply: reply))
        }
        if reply.code == 421 {
            return closeWith(
                .rejected(
                    reply, phase: transaction.phase, scope: .connection, message: "server is closing the connection"))
        }
        transaction.awaiting.removeFirst()
        let envelope = transaction.envelope
        var next: (SMTPCommand, Transaction.Step, TimeAmount)?

        switch step {
        case .mailFrom:
            transaction.mailReply = reply
            if !transaction.pipelined && reply.isPositiveCompletion {
                next = (.rcptTo(envelope.recipients[0]), .rcptTo(0), settings.timeouts.rcptTo)
            }
        case .rcptTo(let index):
            transaction.recipientResults.append(SMTPRecipientResult(address: envelope.recipients[index], reply: reply))
            if !transaction.pipelined {
                if index + 1 < envelope.recipients.count {
                    next = (.rcptTo(envelope.recipients[index + 1]), .rcptTo(index + 1), settings.timeouts.rcptTo)
                } else if transaction.anyRecipientAccepted {
                    next = (.data, .data, settings.timeouts.dataInitiation)
                }
            }
        case .data:
            if reply.code == 354 {
                transaction.awaiting = [.body]
                var body = envelope.body
                if !(transaction.mailAccepted && transaction.anyRecipientAccepted) {
                    // RFC 2920 §3.1: the server accepted DATA after rejecting the envelope; end it without content.
                    transaction.sentEmptyBody = true
                    body = ByteBuffer(string: ".\r\n")
                }
                state = .transaction(transaction)
                return .writeBody(body, timeout: settings.timeouts.dataBlock)
            }
            transaction.dataReply = reply
        case .body:
            transaction.dataReply = reply
            transaction.dataReplyPhase = .dataTermination
            state = .ready
            if reply.isPositiveCompletion && !transaction.sentEmptyBody {
                return .completeTransaction(.success(SMTPDeliveryResult(reply: reply, recipients: transaction.recipientResults)))
            }
            return .completeTransaction(.failure(Self.failure(of: transaction)))
        }

        if let (command, step, timeout) = next {
            transaction.awaiting.append(step)
            state = .transaction(transaction)
            return .write([command], timeout: timeout)
        }
        if let head = transaction.awaiting.first {
            state = .transaction(transaction)
            return .armTimer(timeout(for: head))
        }
        // The envelope failed before the body was sent: clear server-side state before reporting.
        state = .resetting(Self.failure(of: transaction))
        return .write([.rset], timeout: settings.timeouts.command)
    }

    private func timeout(for step: Transaction.Step) -> TimeAmount {
        switch step {
        case .mailFrom: settings.timeouts.mailFrom
        case .rcptTo: settings.timeouts.rcptTo
        case .data: settings.timeouts.dataInitiation
        case .body: settings.timeouts.dataTermination
        }
    }

    /// The most specific reason a transaction failed: sender, then recipients, then DATA.
    static func failure(of transaction: Transaction) -> SMTPError {
        let recipients = transaction.recipientResults
        if let mail = transaction.mailReply, !mail.isPositiveCompletion {
            var error = SMTPError.rejected(mail, phase: .mailFrom, scope: .message, message: "sender rejected")
            error.recipients = recipients
            return error
        }
        if !transaction.anyRecipientAccepted, let first = recipients.first(where: { !$0.isAccepted }) {
            return SMTPError(
                kind: .allRecipientsRejected, phase: .rcptTo, scope: .message,
                isTransient: recipients.contains { $0.reply.isTransientFailure }, reply: first.reply,
                recipients: recipients, message: "all \(recipients.count) recipient(s) rejected")
        }
        if let data = transaction.dataReply, !data.isPositiveCompletion {
            var error = SMTPError.rejected(data, phase: transaction.dataReplyPhase, scope: .message, message: "message rejected")
            error.recipients = recipients
            return error
        }
        return .protocolViolation("transaction failed without a negative reply", phase: transaction.phase)
    }
}
