import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

@testable import SMTP

@Suite struct ChannelHandlerTests {
    final class Harness {
        let channel = EmbeddedChannel()
        let ready: EventLoopPromise<SMTPServerCapabilities>
        var readyResult: Result<SMTPServerCapabilities, any Error>?

        init(tls: SMTPConfiguration.TLSMode = .none, timeouts: SMTPTimeouts = SMTPTimeouts(), sslContext: NIOSSLContext? = nil) throws {
            ready = channel.eventLoop.makePromise()
            let settings = SMTPClientStateMachine.Settings(heloName: "client.example", tlsMode: tls, credentials: nil, timeouts: timeouts)
            let handler = SMTPClientChannelHandler(
                settings: settings, sslContext: sslContext, tlsServerName: "localhost", readyPromise: ready, logger: .init(label: "test"))
            try channel.pipeline.syncOperations.addHandler(handler)
            ready.futureResult.assumeIsolated().whenComplete { [self] in readyResult = $0 }
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        }

        func serverSays(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }

        /// Everything the client wrote since the last call, one string per write.
        func clientWrites() throws -> [String] {
            var writes: [String] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
            return writes
        }

        func send(_ recipients: [String] = ["rcpt@x.test"], message: String = "Subject: t\r\n\r\n.dot\r\n") throws -> EventLoopFuture<
            SMTPDeliveryResult
        > {
            let promise = channel.eventLoop.makePromise(of: SMTPDeliveryResult.self)
            let envelope = try SMTPEnvelope(from: "from@x.test", to: recipients, message: Array(message.utf8), requiresSMTPUTF8: false)
            try channel.writeOutbound(SMTPClientChannelHandler.Request.send(envelope, promise))
            return promise.futureResult
        }
    }

    static func outcome<T>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? {
        var result: Result<T, any Error>?
        future.assumeIsolated().whenComplete { result = $0 }
        return result
    }

    @Test func setupAndPipelinedTransactionOnTheWire() throws {
        let harness = try Harness()
        #expect(try harness.clientWrites().isEmpty)
        try harness.serverSays("220 mx ESMTP\r\n")
        #expect(try harness.clientWrites() == ["EHLO client.example\r\n"])
        try harness.serverSays("250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        #expect(try harness.readyResult?.get().pipelining == true)

        let result = try harness.send(["a@x.test", "b@x.test"])
        #expect(try harness.clientWrites() == ["MAIL FROM:<from@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"])
        try harness.serverSays("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n")
        #expect(try harness.clientWrites() == ["Subject: t\r\n\r\n..dot\r\n.\r\n"])
        try harness.serverSays("250 2.0.0 Ok: queued as ABC123\r\n")
        let delivered = try Self.outcome(result)?.get()
        #expect(delivered?.queueID == "ABC123")
        #expect(delivered?.rejectedRecipients.map(\.address) == ["b@x.test"])
    }

    @Test func concurrentSendsAreSerialised() throws {
        let harness = try Harness()
        try harness.serverSays("220 mx\r\n")
        try harness.serverSays("250 mx\r\n")
        _ = try harness.clientWrites()
        let first = try harness.send(["one@x.test"])
        let second = try harness.send(["two@x.test"])
        #expect(try harness.clientWrites() == ["MAIL FROM:<from@x.test>\r\n"])
        try harness.serverSays("250 ok\r\n")
        try harness.serverSays("250 ok\r\n")
        try harness.serverSays("354 go\r\n")
        #expect(try harness.clientWrites() == ["RCPT TO:<one@x.test>\r\n", "DATA\r\n", "Subject: t\r\n\r\n..dot\r\n.\r\n"])
        try harness.serverSays("250 first\r\n")
        #expect(try Self.outcome(first)?.get().queueID == "first")
        #expect(Self.outcome(second) == nil)
        #expect(try harness.clientWrites() == ["MAIL FROM:<from@x.test>\r\n"])
    }

    @Test func quitWaitsForQueuedTransactionThenCloses() throws {
        let harness = try Harness()
        try harness.serverSays("220 mx\r\n250 mx\r\n")
        _ = try harness.clientWrites()
        let sent = try harness.send()
        try harness.channel.writeOutbound(SMTPClientChannelHandler.Request.quit)
        try harness.serverSays("250 ok\r\n250 ok\r\n354 go\r\n")
        _ = try harness.clientWrites()
        try harness.serverSays("250 done\r\n")
        #expect(try Self.outcome(sent)?.get() != nil)
        #expect(try harness.clientWrites() == ["QUIT\r\n"])
        try harness.serverSays("221 bye\r\n")
        #expect(!harness.channel.isActive)
    }

    @Test func greetingTimeoutFailsSetupAndCloses() throws {
        var timeouts = SMTPTimeouts()
        timeouts.greeting = .seconds(10)
        let harness = try Harness(timeouts: timeouts)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(harness.readyResult == nil)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        let error = harness.readyResult.flatMap { result -> SMTPError? in
            if case .failure(let error) = result { return error as? SMTPError }
            return nil
        }
        #expect(error?.kind == .timeout)
        #expect(error?.phase == .greeting)
        #expect(!harness.channel.isActive)
    }

    @Test func replyCancelsTheTimer() throws {
        var timeouts = SMTPTimeouts()
        timeouts.greeting = .seconds(10)
        timeouts.command = .seconds(60)
        let harness = try Harness(timeouts: timeouts)
        try harness.serverSays("220 mx\r\n")
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(harness.channel.isActive)
        #expect(harness.readyResult == nil)
    }

    @Test func garbageFromServerFailsAndCloses() throws {
        let harness = try Harness()
        try harness.serverSays("HTTP/1.1 400 Bad Request\r\n")
        guard case .failure(let error as SMTPError) = harness.readyResult else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .protocolViolation)
        #expect(error.phase == .greeting)
        #expect(!harness.channel.isActive)
    }

    @Test func serverClosingMidTransactionFailsTheSendTransiently() throws {
        let harness = try Harness()
        try harness.serverSays("220 mx\r\n250 mx\r\n")
        let sent = try harness.send()
        try harness.channel.close().wait()
        guard case .failure(let error as SMTPError) = Self.outcome(sent) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .connectionClosed)
        #expect(error.isTransient)
        #expect(error.phase == .mailFrom)
    }

    @Test func bytesBufferedAfterStartTLSReplyAreRejected() throws {
        let sslContext = try NIOSSLContext(configuration: .makeClientConfiguration())
        let harness = try Harness(tls: .startTLS, sslContext: sslContext)
        try harness.serverSays("220 mx\r\n250-mx\r\n250 STARTTLS\r\n")
        #expect(try harness.clientWrites() == ["EHLO client.example\r\n", "STARTTLS\r\n"])
        // A man in the middle appends a plaintext reply that would be read as if it came over TLS.
        try harness.serverSays("220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
        guard case .failure(let error as SMTPError) = harness.readyResult else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .protocolViolation)
        #expect(error.phase == .tlsHandshake)
        #expect(!harness.channel.isActive)
    }

    @Test func startTLSInsertsTheTLSHandlerFirst() throws {
        let sslContext = try NIOSSLContext(configuration: .makeClientConfiguration())
        let harness = try Harness(tls: .startTLS, sslContext: sslContext)
        try harness.serverSays("220 mx\r\n250-mx\r\n250 STARTTLS\r\n")
        _ = try harness.clientWrites()
        try harness.serverSays("220 go ahead\r\n")
        #expect(throws: Never.self) { try harness.channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) }
        // The ClientHello goes out through the new handler.
        let hello = try harness.channel.readOutbound(as: ByteBuffer.self)
        #expect(hello?.getInteger(at: hello!.readerIndex, as: UInt8.self) == 0x16)  // TLS handshake record
        #expect(harness.readyResult == nil)
    }
}
