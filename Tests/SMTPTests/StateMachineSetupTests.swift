import NIOCore
import Testing

@testable import SMTP

typealias Machine = SMTPClientStateMachine

func makeMachine(
    tls: SMTPConfiguration.TLSMode = .none, credentials: SMTPConfiguration.Credentials? = nil, timeouts: SMTPTimeouts = SMTPTimeouts()
) -> Machine {
    Machine(settings: .init(heloName: "client.example", tlsMode: tls, credentials: credentials, timeouts: timeouts))
}

func ehlo(_ keywords: String...) -> SMTPReply {
    SMTPReply(code: 250, lines: ["mx.example"] + keywords)
}

/// Drives a machine through greeting and EHLO with the given keywords and checks it reports ready.
func readyMachine(_ keywords: String...) -> Machine {
    var machine = makeMachine()
    _ = machine.channelActive()
    _ = machine.replyReceived(reply("220 mx.example ESMTP"))
    let action = machine.replyReceived(SMTPReply(code: 250, lines: ["mx.example"] + keywords))
    guard case .sessionReady = action else { preconditionFailure("not ready: \(action)") }
    return machine
}

extension Machine.Action {
    var failure: SMTPError? {
        switch self {
        case .failAndClose(let error): error
        case .completeTransaction(.failure(let error)): error
        default: nil
        }
    }
}

@Suite struct StateMachineSetupTests {
    let timeouts = SMTPTimeouts()

    @Test func greetingEhloReady() {
        var machine = makeMachine()
        #expect(machine.channelActive() == .armTimer(.minutes(5)))
        #expect(machine.replyReceived(reply("220 mx.example ESMTP")) == .write([.ehlo("client.example")], timeout: .minutes(5)))
        let capabilities = SMTPServerCapabilities(ehloReply: ehlo("PIPELINING", "SIZE 100"))
        #expect(machine.replyReceived(ehlo("PIPELINING", "SIZE 100")) == .sessionReady(capabilities))
        #expect(machine.isReady)
        #expect(machine.capabilities.pipelining)
    }

    @Test func heloFallbackWhenEhloIsRefused() {
        var machine = makeMachine()
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 old server"))
        #expect(machine.replyReceived(reply("502 5.5.2 Command not recognized")) == .write([.helo("client.example")], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("250 hello")) == .sessionReady(SMTPServerCapabilities()))
    }

    @Test func heloRefusedToo() {
        var machine = makeMachine()
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 old server"))
        _ = machine.replyReceived(reply("500 no"))
        let error = machine.replyReceived(reply("550 go away")).failure
        #expect(error?.phase == .helo)
        #expect(error?.isPermanent == true)
        #expect(error?.scope == .configuration)
        #expect(machine.isClosed)
    }

    @Test func ehloTransientFailureDoesNotFallBack() {
        var machine = makeMachine()
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        let error = machine.replyReceived(reply("451 4.3.0 try later")).failure
        #expect(error?.phase == .ehlo)
        #expect(error?.isTransient == true)
        #expect(error?.scope == .connection)
    }

    @Test func startTLSFlowThenAuthPlain() {
        let credentials = SMTPConfiguration.Credentials(username: "u", password: "p")
        var machine = makeMachine(tls: .startTLS, credentials: credentials)
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        #expect(machine.replyReceived(ehlo("STARTTLS", "PIPELINING")) == .write([.startTLS], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("220 2.0.0 Ready to start TLS")) == .startTLSHandshake(timeout: .minutes(5)))
        #expect(!machine.isSecured)
        #expect(machine.tlsEstablished() == .write([.ehlo("client.example")], timeout: .minutes(5)))
        #expect(machine.isSecured)
        #expect(!machine.capabilities.pipelining)  // pre-TLS capabilities are forgotten (RFC 3207)
        #expect(
            machine.replyReceived(ehlo("AUTH LOGIN PLAIN", "SIZE 10"))
                == .write([.authPlain(username: "u", password: "p")], timeout: .minutes(5)))
        let ready = machine.replyReceived(reply("235 2.7.0 Authentication successful"))
        guard case .sessionReady(let capabilities) = ready else {
            Issue.record("expected ready, got \(ready)")
            return
        }
        #expect(capabilities.maximumMessageSize == 10)
    }

    @Test func startTLSConfiguredButNotOffered() {
        var machine = makeMachine(tls: .startTLS)
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        let error = machine.replyReceived(ehlo("PIPELINING")).failure
        #expect(error?.kind == .startTLSNotOffered)
        #expect(error?.scope == .configuration)
        #expect(error?.isPermanent == true)
    }

    @Test func startTLSRequiredAfterHeloFallbackFails() {
        var machine = makeMachine(tls: .startTLS)
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        _ = machine.replyReceived(reply("500 what"))
        #expect(machine.replyReceived(reply("250 ok")).failure?.kind == .startTLSNotOffered)
    }

    @Test func startTLSRefusedByServer() {
        var machine = makeMachine(tls: .startTLS)
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        _ = machine.replyReceived(ehlo("STARTTLS"))
        let error = machine.replyReceived(reply("454 4.7.0 TLS not available")).failure
        #expect(error?.phase == .startTLS)
        #expect(error?.isTransient == true)
        #expect(error?.scope == .configuration)
    }

    @Test func opportunisticTLSUsesItWhenOfferedAndSkipsOtherwise() {
        var offered = makeMachine(tls: .opportunistic)
        _ = offered.channelActive()
        _ = offered.replyReceived(reply("220 hi"))
        #expect(offered.replyReceived(ehlo("STARTTLS")) == .write([.startTLS], timeout: .minutes(5)))
        // A refusal downgrades to plain text instead of failing: that is what opportunistic means.
        #expect(offered.replyReceived(reply("454 no TLS today")) == .sessionReady(SMTPServerCapabilities(ehloReply: ehlo("STARTTLS"))))

        var notOffered = makeMachine(tls: .opportunistic)
        _ = notOffered.channelActive()
        _ = notOffered.replyReceived(reply("220 hi"))
        #expect(notOffered.replyReceived(ehlo("SIZE 5")) == .sessionReady(SMTPServerCapabilities(ehloReply: ehlo("SIZE 5"))))
    }

    @Test func implicitTLSDoesNotSendStartTLS() {
        var machine = makeMachine(tls: .implicit)
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        #expect(machine.isSecured)
        #expect(machine.replyReceived(ehlo("STARTTLS")) == .sessionReady(SMTPServerCapabilities(ehloReply: ehlo("STARTTLS"))))
    }

    @Test func authLoginWhenPlainIsNotOffered() {
        var machine = makeMachine(credentials: .init(username: "user", password: "secret"))
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        #expect(machine.replyReceived(ehlo("AUTH LOGIN CRAM-MD5")) == .write([.authLogin], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("334 VXNlcm5hbWU6")) == .write([.authResponse(Array("user".utf8))], timeout: .minutes(5)))
        #expect(machine.replyReceived(reply("334 UGFzc3dvcmQ6")) == .write([.authResponse(Array("secret".utf8))], timeout: .minutes(5)))
        guard case .sessionReady = machine.replyReceived(reply("235 ok")) else {
            Issue.record("not ready")
            return
        }
    }

    @Test(arguments: [(535, false), (534, false), (454, true)])
    func authRejectedConcernsConfiguration(code: Int, transient: Bool) {
        var machine = makeMachine(credentials: .init(username: "user", password: "bad"))
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        _ = machine.replyReceived(ehlo("AUTH PLAIN"))
        let error = machine.replyReceived(SMTPReply(code: code, lines: ["no"])).failure
        #expect(error?.kind == .rejected)
        #expect(error?.phase == .authentication)
        #expect(error?.scope == .configuration)
        #expect(error?.isTransient == transient)
        #expect(error?.reply?.code == code)
    }

    @Test func credentialsButNoUsableMechanism() {
        var machine = makeMachine(credentials: .init(username: "u", password: "p"))
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        let error = machine.replyReceived(ehlo("AUTH CRAM-MD5 XOAUTH2")).failure
        #expect(error?.kind == .authenticationNotSupported)
        #expect(error?.message.contains("AUTH CRAM-MD5 XOAUTH2") == true)
        #expect(error?.scope == .configuration)
    }

    @Test(arguments: [(421, true, SMTPError.Scope.connection), (450, true, .connection), (554, false, .configuration)])
    func greetingRefused(code: Int, transient: Bool, scope: SMTPError.Scope) {
        var machine = makeMachine()
        _ = machine.channelActive()
        let error = machine.replyReceived(SMTPReply(code: code, lines: ["go away"])).failure
        #expect(error?.phase == .greeting)
        #expect(error?.isTransient == transient)
        #expect(error?.scope == scope)
        #expect(machine.isClosed)
    }

    @Test func timeoutsFailTheCurrentPhaseAndAreTransient() {
        var machine = makeMachine()
        _ = machine.channelActive()
        let error = machine.timeoutFired().failure
        #expect(error?.kind == .timeout)
        #expect(error?.phase == .greeting)
        #expect(error?.isTransient == true)
        #expect(error?.scope == .connection)
        #expect(machine.timeoutFired() == .none)
    }

    @Test func configuredTimeoutsAreUsed() {
        var timeouts = SMTPTimeouts()
        timeouts.greeting = .seconds(7)
        timeouts.command = .seconds(3)
        var machine = makeMachine(timeouts: timeouts)
        #expect(machine.channelActive() == .armTimer(.seconds(7)))
        #expect(machine.replyReceived(reply("220 hi")) == .write([.ehlo("client.example")], timeout: .seconds(3)))
    }

    @Test func connectionLostDuringSetup() {
        var machine = makeMachine()
        _ = machine.channelActive()
        _ = machine.replyReceived(reply("220 hi"))
        let error = machine.connectionClosed().failure
        #expect(error?.kind == .connectionClosed)
        #expect(error?.phase == .ehlo)
        #expect(error?.isTransient == true)
    }

    @Test func unsolicited421WhileIdleClosesTheConnection() {
        var machine = readyMachine()
        let error = machine.replyReceived(reply("421 4.4.2 idle timeout")).failure
        #expect(error?.reply?.code == 421)
        #expect(error?.scope == .connection)
        #expect(error?.isTransient == true)
        #expect(machine.isClosed)
    }

    @Test func quitFromReady() {
        var machine = readyMachine()
        #expect(machine.closeRequested() == .write([.quit], timeout: .seconds(30)))
        #expect(machine.replyReceived(reply("221 bye")) == .close)
        #expect(machine.isClosed)
        #expect(machine.connectionClosed() == .none)
    }

    @Test func quitTimeoutJustCloses() {
        var machine = readyMachine()
        _ = machine.closeRequested()
        #expect(machine.timeoutFired() == .close)
    }
}
