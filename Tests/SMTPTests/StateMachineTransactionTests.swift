import NIOCore
import Testing

@testable import SMTP

@Suite struct StateMachineTransactionTests {
    let message = Array("Subject: hi\r\n\r\nbody\r\n".utf8)

    func envelope(_ recipients: [String] = ["a@x.test"], message: [UInt8]? = nil, utf8: Bool = false) -> SMTPEnvelope {
        try! SMTPEnvelope(from: "sender@x.test", to: recipients, message: message ?? self.message, requiresSMTPUTF8: utf8)
    }

    @Test func happyPathWithoutPipelining() {
        var machine = readyMachine("8BITMIME")
        let env = envelope(["a@x.test", "b@x.test"])
        #expect(machine.startTransaction(env) == .write([.mailFrom("sender@x.test", parameters: [])], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("250 2.1.0 Ok")) == .write([.rcptTo("a@x.test")], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("250 2.1.5 Ok")) == .write([.rcptTo("b@x.test")], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("250 2.1.5 Ok")) == .write([.data], timeout: .minutes(2)))
        #expect(machine.replyReceived(reply("354 End data with <CR><LF>.<CR><LF>")) == .writeBody(env.body, timeout: .minutes(3)))
        #expect(machine.bodyWritten() == .armTimer(.minutes(10)))
        let action = machine.replyReceived(reply("250 2.0.0 Ok: queued as 4Xyz123"))
        guard case .completeTransaction(.success(let result)) = action else {
            Issue.record("expected success, got \(action)")
            return
        }
        #expect(result.queueID == "4Xyz123")
        #expect(result.acceptedRecipients == ["a@x.test", "b@x.test"])
        #expect(result.reply.enhancedCode?.description == "2.0.0")
        // After a successful transaction the next MAIL FROM follows directly, without RSET.
        #expect(machine.isReady)
        #expect(machine.startTransaction(env) == .write([.mailFrom("sender@x.test", parameters: [])], timeout: .minutes(5)))
    }

    @Test func happyPathWithPipeliningSendsEnvelopeInOneWrite() {
        var machine = readyMachine("PIPELINING", "SIZE 1000000")
        let env = envelope(["a@x.test", "b@x.test"])
        let size = "SIZE=\(env.messageSize)"
        #expect(
            machine.startTransaction(env)
                == .write(
                    [.mailFrom("sender@x.test", parameters: [size]), .rcptTo("a@x.test"), .rcptTo("b@x.test"), .data], timeout: .minutes(5))
        )
        #expect(machine.replyReceived(reply("250 ok")) == .armTimer(.minutes(5)))
        #expect(machine.replyReceived(reply("250 ok")) == .armTimer(.minutes(5)))
        #expect(machine.replyReceived(reply("250 ok")) == .armTimer(.minutes(2)))
        #expect(machine.replyReceived(reply("354 go")) == .writeBody(env.body, timeout: .minutes(3)))
        guard case .completeTransaction(.success(let result)) = machine.replyReceived(reply("250 OK")) else {
            Issue.record("expected success")
            return
        }
        #expect(result.queueID == "OK")
    }

    @Test func someRecipientsRejectedStillDelivers() {
        var machine = readyMachine("PIPELINING")
        let env = envelope(["a@x.test", "gone@x.test", "full@x.test"])
        _ = machine.startTransaction(env)
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("550 5.1.1 <gone@x.test>: Recipient address rejected"))
        _ = machine.replyReceived(reply("452 4.2.2 Mailbox full"))
        _ = machine.replyReceived(reply("354 go"))
        guard case .completeTransaction(.success(let result)) = machine.replyReceived(reply("250 2.0.0 Ok: queued as Q1")) else {
            Issue.record("expected success")
            return
        }
        #expect(result.acceptedRecipients == ["a@x.test"])
        #expect(result.rejectedRecipients.map(\.address) == ["gone@x.test", "full@x.test"])
        #expect(result.rejectedRecipients.map(\.reply.code) == [550, 452])
        #expect(result.rejectedRecipients[0].reply.enhancedCode?.description == "5.1.1")
    }

    @Test(arguments: [(["550 no", "551 no"], false), (["450 busy", "550 no"], true)])
    func allRecipientsRejectedWithPipeliningResetsThenFails(rcptReplies: [String], transient: Bool) {
        var machine = readyMachine("PIPELINING")
        _ = machine.startTransaction(envelope(["a@x.test", "b@x.test"]))
        _ = machine.replyReceived(reply("250 ok"))
        for line in rcptReplies { _ = machine.replyReceived(reply(line)) }
        #expect(machine.replyReceived(reply("554 5.5.1 Error: no valid recipients")) == .write([.rset], timeout: .minutes(5)))
        let error = machine.replyReceived(reply("250 reset")).failure
        #expect(error?.kind == .allRecipientsRejected)
        #expect(error?.phase == .rcptTo)
        #expect(error?.scope == .message)
        #expect(error?.isTransient == transient)
        #expect(error?.recipients.count == 2)
        #expect(machine.isReady)
    }

    @Test func dataAcceptedDespiteNoRecipientsSendsEmptyBody() {
        var machine = readyMachine("PIPELINING")
        _ = machine.startTransaction(envelope())
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("550 no"))
        #expect(machine.replyReceived(reply("354 go")) == .writeBody(ByteBuffer(string: ".\r\n"), timeout: .minutes(3)))
        #expect(machine.replyReceived(reply("250 ok")).failure?.kind == .allRecipientsRejected)
        #expect(machine.isReady)
    }

    @Test func mailRejectedWithoutPipeliningResetsImmediately() {
        var machine = readyMachine()
        _ = machine.startTransaction(envelope())
        #expect(machine.replyReceived(reply("553 5.7.1 Sender address rejected")) == .write([.rset], timeout: .minutes(5)))
        let error = machine.replyReceived(reply("250 ok")).failure
        #expect(error?.phase == .mailFrom)
        #expect(error?.isPermanent == true)
        #expect(error?.reply?.enhancedCode?.description == "5.7.1")
    }

    @Test func failedResetClosesTheConnection() {
        var machine = readyMachine()
        _ = machine.startTransaction(envelope())
        _ = machine.replyReceived(reply("451 later"))
        guard case .failAndClose(let error) = machine.replyReceived(reply("500 what")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.phase == .mailFrom)
        #expect(machine.isClosed)
    }

    /// Each transaction phase with a transient and a permanent reply: the class follows the first digit,
    /// the phase is where it happened, and the connection stays usable (message scope).
    @Test(arguments: [
        ("mail", 451, true), ("mail", 550, false), ("rcpt", 450, true), ("rcpt", 550, false),
        ("data", 451, true), ("data", 554, false), ("final", 452, true), ("final", 552, false),
    ])
    func transactionFailureClassification(at phase: String, code: Int, transient: Bool) {
        var machine = readyMachine()
        let negative = SMTPReply(code: code, lines: ["nope"])
        let script: [String: [SMTPReply]] = [
            "mail": [negative],
            "rcpt": [reply("250 ok"), negative],
            "data": [reply("250 ok"), reply("250 ok"), negative],
            "final": [reply("250 ok"), reply("250 ok"), reply("354 go"), negative],
        ]
        _ = machine.startTransaction(envelope())
        var last = Machine.Action.none
        for step in script[phase]! { last = machine.replyReceived(step) }
        if case .write([.rset], _) = last { last = machine.replyReceived(reply("250 reset")) }
        guard let error = last.failure else {
            Issue.record("expected a failure, got \(last)")
            return
        }
        let expectedPhase: [String: SMTPPhase] = ["mail": .mailFrom, "rcpt": .rcptTo, "data": .dataInitiation, "final": .dataTermination]
        #expect(error.phase == expectedPhase[phase])
        #expect(error.isTransient == transient)
        #expect(error.scope == .message)
        #expect(error.reply?.code == code)
        #expect(machine.isReady)
    }

    @Test(arguments: ["mail", "rcpt", "data", "final"])
    func serverClosing421MidTransaction(at phase: String) {
        var machine = readyMachine("PIPELINING")
        _ = machine.startTransaction(envelope())
        let before: [String: [String]] = [
            "mail": [], "rcpt": ["250 ok"], "data": ["250 ok", "250 ok"], "final": ["250 ok", "250 ok", "354 go"],
        ]
        for line in before[phase]! { _ = machine.replyReceived(reply(line)) }
        guard case .failAndClose(let error) = machine.replyReceived(reply("421 4.3.2 Shutting down")) else {
            Issue.record("expected close")
            return
        }
        #expect(error.scope == .connection)
        #expect(error.isTransient)
        #expect(machine.isClosed)
    }

    @Test func smtpUTF8RequiredButNotOffered() {
        var machine = readyMachine("8BITMIME")
        let error = machine.startTransaction(envelope(utf8: true)).failure
        #expect(error?.kind == .smtpUTF8NotSupported)
        #expect(error?.isPermanent == true)
        #expect(error?.scope == .message)
        #expect(machine.isReady)  // nothing was sent; other messages can use the connection
    }

    @Test func smtpUTF8AndEightBitParametersWhenOffered() {
        var machine = readyMachine("SMTPUTF8", "8BITMIME")
        #expect(
            machine.startTransaction(envelope(["j\u{F6}rg@x.test"]))
                == .write([.mailFrom("sender@x.test", parameters: ["BODY=8BITMIME", "SMTPUTF8"])], timeout: .minutes(5)))
        var plain = readyMachine("SMTPUTF8", "8BITMIME")
        let eightBit = Array("Subject: caf\u{E9}\r\n\r\nx\r\n".utf8)
        #expect(
            plain.startTransaction(envelope(message: eightBit))
                == .write([.mailFrom("sender@x.test", parameters: ["BODY=8BITMIME"])], timeout: .minutes(5)))
    }

    @Test func sizeExceededFailsBeforeSendingAnything() {
        var machine = readyMachine("SIZE 10")
        let error = machine.startTransaction(envelope()).failure
        #expect(error?.kind == .messageTooLarge)
        #expect(error?.isPermanent == true)
        #expect(error?.message.contains("at most 10") == true)
        #expect(machine.isReady)
    }

    @Test func timeoutInsideTransactionNamesThePhase() {
        var machine = readyMachine()
        _ = machine.startTransaction(envelope())
        _ = machine.replyReceived(reply("250 ok"))
        let error = machine.timeoutFired().failure
        #expect(error?.kind == .timeout)
        #expect(error?.phase == .rcptTo)
        #expect(error?.isTransient == true)
    }

    @Test func connectionLostAfterBodyIsTransientAndNamesDataTermination() {
        var machine = readyMachine()
        _ = machine.startTransaction(envelope())
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("354 go"))
        let error = machine.connectionClosed().failure
        #expect(error?.kind == .connectionClosed)
        #expect(error?.phase == .dataTermination)
        #expect(error?.scope == .connection)
    }

    @Test func unsolicitedReplyDuringBodyUploadIsAProtocolViolation() {
        var machine = readyMachine()
        _ = machine.startTransaction(envelope())
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("250 ok"))
        _ = machine.replyReceived(reply("354 go"))
        _ = machine.replyReceived(reply("250 ok"))
        #expect(machine.replyReceived(reply("250 extra")).failure?.kind == .protocolViolation)
    }

    @Test func transactionOnClosedConnectionFailsTransiently() {
        var machine = readyMachine()
        _ = machine.connectionClosed()
        let error = machine.startTransaction(envelope()).failure
        #expect(error?.kind == .connectionClosed)
        #expect(error?.isTransient == true)
    }
}
