import Foundation
import TestSupport
import Testing

@testable import SMTP

/// End-to-end tests against aiosmtpd (`Servers/smtp_test_server.py`), which stores each message's raw bytes.
@Suite(
    .enabled(
        if: ExternalTools.available { ExternalTools.hasAiosmtpd && ExternalTools.hasOpenSSL },
        "needs python3 with aiosmtpd (pip install aiosmtpd) and openssl"))
struct AiosmtpdIntegrationTests {
    static func configuration(_ server: ServerProcess, scheme: String = "smtp", userInfo: String = "", query: String = "") throws
        -> SMTPConfiguration
    {
        try SMTPConfiguration(
            url: "\(scheme)://\(userInfo)127.0.0.1:\(server.port)?timeout=10&helo=client.test\(query.isEmpty ? "" : "&" + query)")
    }

    @Test func deliveredBytesAreExactlyTheMessage() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let connection = try await SMTPConnection.connect(configuration: Self.configuration(server))
        let messages: [(sent: String, stored: String)] = [
            (
                "Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n",
                "Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n"
            ),
            ("Subject: bare LF\n\nline one\n.dot\nno final newline", "Subject: bare LF\r\n\r\nline one\r\n.dot\r\nno final newline\r\n"),
            ("Subject: caf\u{E9}\r\n\r\nna\u{EF}ve\r\n", "Subject: caf\u{E9}\r\n\r\nna\u{EF}ve\r\n"),
        ]
        for message in messages {
            let result = try await connection.send(from: "sender@x.test", to: ["a@y.test", "b@y.test"], message: Array(message.sent.utf8))
            #expect(result.queueID == "OK")
            #expect(result.acceptedRecipients == ["a@y.test", "b@y.test"])
        }
        await connection.close()
        let stored = try server.storedMessages()
        #expect(stored.map { String(decoding: $0.bytes, as: UTF8.self) } == messages.map(\.stored))
        #expect(stored[0].envelope["from"] as? String == "sender@x.test")
        #expect(stored[0].envelope["to"] as? [String] == ["a@y.test", "b@y.test"])
        let options = stored[2].envelope["mail_options"] as? [String] ?? []
        #expect(options.contains("BODY=8BITMIME"))
        #expect(options.contains { $0.hasPrefix("SIZE=") })
        #expect(server.connectionCount == 1)
    }

    @Test func startTLSAndAuthPlainWithCustomCA() async throws {
        let certificate = try TestCertificate.make()
        defer { certificate.remove() }
        let server = try await ServerProcess.aiosmtpd([
            "--mode", "starttls", "--cert", certificate.certificatePath, "--key", certificate.keyPath, "--auth", "user@x.test:pa:ss w",
        ])
        defer { server.stop() }
        let config = try Self.configuration(
            server, userInfo: "user%40x.test:pa%3Ass%20w@", query: "tls=starttls&ca=\(certificate.certificatePath)")
        let connection = try await SMTPConnection.connect(configuration: config)
        #expect(connection.capabilities.authMechanisms.contains("PLAIN"))
        let result = try await connection.send(from: "s@x.test", to: ["r@y.test"], message: Array("Subject: tls\r\n\r\nsecret\r\n".utf8))
        #expect(result.reply.code == 250)
        await connection.close()
        #expect(try server.storedMessages().count == 1)
    }

    @Test func authLoginWhenPlainIsNotOffered() async throws {
        let certificate = try TestCertificate.make()
        defer { certificate.remove() }
        let server = try await ServerProcess.aiosmtpd([
            "--mode", "implicit", "--cert", certificate.certificatePath, "--key", certificate.keyPath, "--auth", "u:p", "--exclude-plain",
        ])
        defer { server.stop() }
        let connection = try await SMTPConnection.connect(
            configuration: Self.configuration(server, scheme: "smtps", userInfo: "u:p@", query: "ca=\(certificate.certificatePath)"))
        #expect(!connection.capabilities.authMechanisms.contains("PLAIN"))
        _ = try await connection.send(from: "s@x.test", to: ["r@y.test"], message: Array("Subject: login\r\n\r\nx\r\n".utf8))
        await connection.close()
        #expect(try server.storedMessages().count == 1)
    }

    @Test func wrongPasswordIsAPermanentConfigurationError() async throws {
        let certificate = try TestCertificate.make()
        defer { certificate.remove() }
        let server = try await ServerProcess.aiosmtpd([
            "--mode", "starttls", "--cert", certificate.certificatePath, "--key", certificate.keyPath, "--auth", "u:right",
        ])
        defer { server.stop() }
        let config = try Self.configuration(server, userInfo: "u:wrong@", query: "tls=starttls&ca=\(certificate.certificatePath)")
        let error = await #expect(throws: SMTPError.self) { try await SMTPConnection.connect(configuration: config) }
        #expect(error?.phase == .authentication)
        #expect(error?.scope == .configuration)
        #expect(error?.isPermanent == true)
        #expect(error?.reply?.code == 535)
    }

    @Test func untrustedCertificateFailsUnlessVerificationIsOff() async throws {
        let certificate = try TestCertificate.make()
        defer { certificate.remove() }
        let server = try await ServerProcess.aiosmtpd([
            "--mode", "starttls", "--cert", certificate.certificatePath, "--key", certificate.keyPath,
        ])
        defer { server.stop() }
        let error = await #expect(throws: SMTPError.self) {
            try await SMTPConnection.connect(configuration: Self.configuration(server, query: "tls=starttls"))
        }
        #expect(error?.kind == .tlsFailure)
        #expect(error?.scope == .configuration)
        #expect(error?.phase == .tlsHandshake)

        let connection = try await SMTPConnection.connect(configuration: Self.configuration(server, query: "tls=starttls&verify=false"))
        _ = try await connection.send(from: "s@x.test", to: ["r@y.test"], message: Array("x\r\n".utf8))
        await connection.close()
    }

    @Test func smtpUTF8IsUsedWhenOfferedAndRefusedOtherwise() async throws {
        let withUTF8 = try await ServerProcess.aiosmtpd(["--smtputf8"])
        defer { withUTF8.stop() }
        let pool = try SMTPClientPool(configuration: Self.configuration(withUTF8))
        _ = try await pool.send(from: "s@x.test", to: ["j\u{F6}rg@y.test"], message: Array("Subject: x\r\n\r\nx\r\n".utf8))
        await pool.shutdown()
        #expect((try withUTF8.storedMessages().first?.envelope["mail_options"] as? [String])?.contains("SMTPUTF8") == true)

        let without = try await ServerProcess.aiosmtpd()
        defer { without.stop() }
        let plainPool = try SMTPClientPool(configuration: Self.configuration(without))
        let error = await #expect(throws: SMTPError.self) {
            try await plainPool.send(from: "s@x.test", to: ["r@y.test"], message: Array("x\r\n".utf8), requiresSMTPUTF8: true)
        }
        #expect(error?.kind == .smtpUTF8NotSupported)
        #expect(error?.isPermanent == true)
        // The connection stays usable for the next message.
        _ = try await plainPool.send(from: "s@x.test", to: ["r@y.test"], message: Array("x\r\n".utf8))
        #expect(await plainPool.openConnections == 1)
        await plainPool.shutdown()
    }

    @Test func poolReusesConnectionsAndRotatesAfterMaxMessages() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let pool = try SMTPClientPool(configuration: Self.configuration(server, query: "max_connections=3&max_messages=10"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    _ = try await pool.send(
                        from: "s@x.test", to: ["r\(index)@y.test"], message: Array("Subject: \(index)\r\n\r\nbody\r\n".utf8))
                }
            }
            try await group.waitForAll()
        }
        #expect(await pool.openConnections <= 3)
        await pool.shutdown()
        #expect(await pool.openConnections == 0)
        #expect(try server.storedMessages().count == 40)
        // 40 messages at most 10 per connection: at least 4 sessions, and never wildly more.
        #expect((4...8).contains(server.connectionCount), "connections: \(server.connectionCount)")
        let error = await #expect(throws: SMTPError.self) { try await pool.send(from: "s@x.test", to: ["r@y.test"], message: []) }
        #expect(error?.kind == .shutDown)
    }

    @Test func idleConnectionsAreClosedAfterTheIdleTimeout() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let pool = try SMTPClientPool(configuration: Self.configuration(server, query: "idle_timeout=0.3"))
        _ = try await pool.send(from: "s@x.test", to: ["r@y.test"], message: Array("x\r\n".utf8))
        #expect(await pool.idleConnections == 1)
        try await Task.sleep(for: .seconds(1))
        #expect(await pool.openConnections == 0)
        _ = try await pool.send(from: "s@x.test", to: ["r@y.test"], message: Array("x\r\n".utf8))
        #expect(server.connectionCount == 2)
        await pool.shutdown()
    }

    @Test func connectionClosedByTheServerWhileIdleIsDiscarded() async throws {
        // Long enough that a loaded machine (the whole suite runs in parallel, maybe a build
        // beside it) still finishes a fresh session within it (1.5 s was not always); the old
        // connection idles past it.
        let server = try await ServerProcess.aiosmtpd(["--idle-timeout", "4"])
        defer { server.stop() }
        let pool = try SMTPClientPool(configuration: Self.configuration(server))
        _ = try await pool.send(from: "s@x.test", to: ["r@y.test"], message: Array("one\r\n".utf8))
        #expect(await pool.idleConnections == 1)
        try await Task.sleep(for: .seconds(6))  // the server says 421 and hangs up
        _ = try await pool.send(from: "s@x.test", to: ["r@y.test"], message: Array("two\r\n".utf8))
        #expect(server.connectionCount == 2)
        #expect(try server.storedMessages().count == 2)
        await pool.shutdown()
    }

    /// Faults injected per recipient; every error is classified and every healthy message still arrives.
    @Test func poolRecoversFromFaultsAndDeliversTheRest() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let pool = try SMTPClientPool(configuration: Self.configuration(server, query: "max_connections=2"))
        let recipients = ["ok1", "soft-a", "ok2", "hard-b", "ok3", "drop-c", "ok4", "bye-d", "ok5", "ok6"]
        let outcomes = await withTaskGroup(of: (String, Result<SMTPDeliveryResult, SMTPError>).self) { group in
            for name in recipients {
                group.addTask {
                    do {
                        return (
                            name,
                            .success(
                                try await pool.send(
                                    from: "s@x.test", to: ["\(name)@y.test"], message: Array("Subject: \(name)\r\n\r\n.\(name)\r\n".utf8)))
                        )
                    } catch {
                        return (name, .failure(error as! SMTPError))
                    }
                }
            }
            var all: [String: Result<SMTPDeliveryResult, SMTPError>] = [:]
            for await (name, outcome) in group { all[name] = outcome }
            return all
        }
        for name in recipients where name.hasPrefix("ok") {
            #expect(throws: Never.self, "\(name)") { try outcomes[name]!.get() }
        }
        func failure(_ name: String) -> SMTPError? {
            if case .failure(let error) = outcomes[name] { return error }
            Issue.record("\(name) should have failed")
            return nil
        }
        #expect(failure("soft-a")?.kind == .allRecipientsRejected)
        #expect(failure("soft-a")?.isTransient == true)
        #expect(failure("soft-a")?.scope == .message)
        #expect(failure("hard-b")?.isPermanent == true)
        #expect(failure("hard-b")?.recipients.first?.reply.enhancedCode?.description == "5.1.1")
        #expect(failure("drop-c")?.kind == .connectionClosed)
        #expect(failure("drop-c")?.phase == .dataTermination)
        #expect(failure("drop-c")?.isTransient == true)
        #expect(failure("bye-d")?.reply?.code == 421)
        #expect(failure("bye-d")?.scope == .connection)
        #expect(failure("bye-d")?.isTransient == true)
        await pool.shutdown()
        let stored = try server.storedMessages().map { String(decoding: $0.bytes, as: UTF8.self) }.sorted()
        #expect(stored == (1...6).map { "Subject: ok\($0)\r\n\r\n.ok\($0)\r\n" })
    }
}
