import Foundation
import TestSupport
import Testing

@testable import SMTP

/// Tests against Postfix's smtp-sink, a fast PIPELINING server with switches for injecting faults.
@Suite(.enabled(if: ExternalTools.available { ExternalTools.smtpSinkPath != nil }, "needs smtp-sink (apt-get install postfix)"))
struct SmtpSinkIntegrationTests {
    static func pool(_ server: ServerProcess, userInfo: String = "", query: String = "") throws -> SMTPClientPool {
        try SMTPClientPool(
            configuration: SMTPConfiguration(url: "smtp://\(userInfo)127.0.0.1:\(server.port)?timeout=10&max_connections=2\(query)"))
    }

    static let message = Array("Subject: sink\r\n\r\n.line\r\nbody\r\n".utf8)

    static func sendFailure(_ pool: SMTPClientPool, to recipients: [String] = ["r@y.test"]) async -> SMTPError? {
        do {
            _ = try await pool.send(from: "s@x.test", to: recipients, message: message)
            Issue.record("send should have failed")
            return nil
        } catch {
            return error as? SMTPError
        }
    }

    @Test func pipelinedDeliveryWithAuthThroughThePool() async throws {
        let server = try await ServerProcess.smtpSink()
        defer { server.stop() }
        let connection = try await SMTPConnection.connect(
            configuration: SMTPConfiguration(url: "smtp://user:secret@127.0.0.1:\(server.port)?timeout=10"))
        #expect(connection.capabilities.pipelining)
        #expect(connection.capabilities.authMechanisms.contains("PLAIN"))
        let single = try await connection.send(from: "s@x.test", to: ["a@y.test", "b@y.test"], message: Self.message)
        #expect(single.reply.code == 250)
        #expect(single.queueID == "Ok")
        await connection.close()

        let pool = try Self.pool(server, userInfo: "user:secret@")
        let results = try await withThrowingTaskGroup(of: SMTPDeliveryResult.self) { group in
            for index in 0..<30 {
                group.addTask { try await pool.send(from: "s@x.test", to: ["r\(index)@y.test"], message: Self.message) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 30)
        #expect(results.allSatisfy { $0.reply.enhancedCode?.description == "2.0.0" })
        #expect(await pool.openConnections <= 2)
        await pool.shutdown()
    }

    @Test func softRejectOnRcptKeepsTheConnection() async throws {
        let server = try await ServerProcess.smtpSink(["-r", "RCPT"])
        defer { server.stop() }
        let pool = try Self.pool(server)
        for _ in 0..<2 {
            let error = await Self.sendFailure(pool, to: ["a@y.test", "b@y.test"])
            #expect(error?.kind == .allRecipientsRejected)
            #expect(error?.isTransient == true)
            #expect(error?.scope == .message)
            #expect(error?.phase == .rcptTo)
            #expect(error?.reply?.code == 450)
            #expect(error?.reply?.enhancedCode?.description == "4.3.0")
            #expect(error?.recipients.map(\.address) == ["a@y.test", "b@y.test"])
            // A message-level failure leaves the session usable: RSET, then back to the pool.
            #expect(await pool.openConnections == 1)
            #expect(await pool.idleConnections == 1)
        }
        await pool.shutdown()
    }

    @Test func hardRejectOnRcptIsPermanent() async throws {
        let server = try await ServerProcess.smtpSink(["-f", "RCPT"])
        defer { server.stop() }
        let pool = try Self.pool(server)
        let error = await Self.sendFailure(pool)
        #expect(error?.kind == .allRecipientsRejected)
        #expect(error?.isPermanent == true)
        #expect(error?.reply?.code == 500)
        #expect(error?.recipients.first?.reply.enhancedCode?.description == "5.3.0")
        await pool.shutdown()
    }

    /// `-q DATA` drops the connection after DATA, `-q .` after the body: both must be transient and name
    /// the phase, and the pool must not reuse the dead connection for the next message.
    @Test(arguments: [("DATA", SMTPPhase.dataInitiation), (".", .dataTermination)])
    func disconnectMidDataIsTransientAndThePoolReconnects(command: String, phase: SMTPPhase) async throws {
        let server = try await ServerProcess.smtpSink(["-q", command])
        defer { server.stop() }
        let pool = try Self.pool(server)
        for _ in 0..<2 {
            let error = await Self.sendFailure(pool)
            #expect(error?.kind == .connectionClosed)
            #expect(error?.phase == phase)
            #expect(error?.isTransient == true)
            #expect(error?.scope == .connection)
            #expect(await pool.openConnections == 0)
        }
        await pool.shutdown()
    }

    @Test func serviceClosing421OnRcpt() async throws {
        let server = try await ServerProcess.smtpSink(["-Q", "RCPT"])
        defer { server.stop() }
        let pool = try Self.pool(server)
        let error = await Self.sendFailure(pool)
        #expect(error?.reply?.code == 421)
        #expect(error?.scope == .connection)
        #expect(error?.isTransient == true)
        #expect(await pool.openConnections == 0)
        await pool.shutdown()
    }

    @Test func connectionRefusedIsTransient() async throws {
        let server = try await ServerProcess.smtpSink()
        let port = server.port
        server.stop()
        let pool = try SMTPClientPool(configuration: SMTPConfiguration(url: "smtp://127.0.0.1:\(port)?timeout=5"))
        let error = await Self.sendFailure(pool)
        #expect(error?.kind == .connectFailed)
        #expect(error?.isTransient == true)
        #expect(error?.phase == .connect)
        #expect(await pool.openConnections == 0)
        await pool.shutdown()
    }
}
