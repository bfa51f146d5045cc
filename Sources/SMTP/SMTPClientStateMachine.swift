import NIOCore

/// The whole client side of one SMTP session as a pure value: every input (a reply, a timer, the
/// connection closing, a request from the user) is a mutating call that returns the one ``Action`` the
/// channel handler must perform. Nothing here does I/O, so every path is testable with plain values.
///
/// Session: greeting → EHLO (HELO if EHLO gets 5xx) → STARTTLS → EHLO → AUTH → ready.
/// Between messages we send RSET only after a failed transaction that may have left server-side state
/// (a rejected MAIL/RCPT/DATA). After the final reply to DATA the transaction is over (RFC 5321 §4.1.1.4),
/// so the next MAIL FROM follows directly and saves a round trip per message.
struct SMTPClientStateMachine {
    struct Settings {
        var heloName: String
        var tlsMode: SMTPConfiguration.TLSMode
        var credentials: SMTPConfiguration.Credentials?
        var timeouts: SMTPTimeouts
    }

    enum Action: Hashable {
        /// Nothing to do; any armed timer keeps running.
        case none
        /// Write and flush the commands, then (re)arm the reply timer.
        case write([SMTPCommand], timeout: TimeAmount)
        /// Write the encoded body with the data-block timer armed; report completion with ``bodyWritten()``.
        case writeBody(ByteBuffer, timeout: TimeAmount)
        /// Re-arm the reply timer for the next outstanding reply.
        case armTimer(TimeAmount)
        /// Insert the TLS handler at the front of the pipeline; report completion with ``tlsEstablished()``.
        case startTLSHandshake(timeout: TimeAmount)
        /// Setup finished: cancel the timer and report the server's capabilities.
        case sessionReady(SMTPServerCapabilities)
        /// The current transaction finished; cancel the timer and report to the caller.
        case completeTransaction(Result<SMTPDeliveryResult, SMTPError>)
        /// Fail whatever is pending (setup or transaction) with the error and close the channel.
        case failAndClose(SMTPError)
        /// Close the channel (after QUIT).
        case close
    }

    enum AuthStep: Hashable {
        /// Waiting for 235 after `AUTH PLAIN <token>` or after the password of AUTH LOGIN.
        case final
        case loginUsername
        case loginPassword
    }

    enum State {
        case initial
        case greeting
        case ehlo
        case helo
        case startTLS
        case tlsHandshake
        case authenticating(AuthStep)
        case ready
        case transaction(Transaction)
        /// RSET sent after a failed transaction; the error is reported once the server confirms.
        case resetting(SMTPError)
        case quitting
        case closed
    }

    let settings: Settings
    var state: State = .initial
    private(set) var capabilities = SMTPServerCapabilities()
    /// True once the session runs over TLS (implicit TLS, or after a successful STARTTLS handshake).
    private(set) var isSecured: Bool

    init(settings: Settings) {
        self.settings = settings
        self.isSecured = settings.tlsMode == .implicit
    }

    var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    // MARK: Inputs

    mutating func channelActive() -> Action {
        guard case .initial = state else { return .none }
        state = .greeting
        return .armTimer(settings.timeouts.greeting)
    }

    mutating func replyReceived(_ reply: SMTPReply) -> Action {
        switch state {
        case .initial, .tlsHandshake:
            return closeWith(.protocolViolation("unexpected reply \(reply)", phase: currentPhase, reply: reply))
        case .greeting:
            guard reply.code == 220 else { return rejectSetup(reply, phase: .greeting, "server refused the session") }
            return sendEHLO()
        case .ehlo:
            if reply.isPositiveCompletion {
                capabilities = SMTPServerCapabilities(ehloReply: reply)
                return afterHello()
            }
            if reply.isPermanentFailure && !isSecured {
                // Servers from before RFC 1869 answer EHLO with 500/502; HELO still works but offers no extensions.
                state = .helo
                return .write([.helo(settings.heloName)], timeout: settings.timeouts.command)
            }
            return rejectSetup(reply, phase: .ehlo, "EHLO rejected")
        case .helo:
            guard reply.isPositiveCompletion else { return rejectSetup(reply, phase: .helo, "HELO rejected") }
            capabilities = SMTPServerCapabilities()
            return afterHello()
        case .startTLS:
            if reply.code == 220 {
                state = .tlsHandshake
                return .startTLSHandshake(timeout: settings.timeouts.command)
            }
            if settings.tlsMode == .opportunistic && reply.code != 421 { return authenticateOrReady() }
            guard reply.code >= 400 else { return rejectSetup(reply, phase: .startTLS, "STARTTLS refused") }
            // Required TLS being unavailable affects every message to this server, even when the server calls it temporary.
            return closeWith(.rejected(reply, phase: .startTLS, scope: .configuration, message: "STARTTLS refused"))
        case .authenticating(let step):
            return authenticationReply(reply, step: step)
        case .ready:
            if reply.code == 421 {
                return closeWith(.rejected(reply, phase: .idle, scope: .connection, message: "server closed the idle connection"))
            }
            return closeWith(.protocolViolation("unsolicited reply \(reply)", phase: .idle, reply: reply))
        case .transaction(var transaction):
            state = .closed  // placeholder while the transaction is mutated; every path below sets the real state
            return transactionReply(reply, transaction: &transaction)
        case .resetting(let error):
            guard reply.isPositiveCompletion else {
                var error = error
                error.message += "; RSET then failed with \(reply)"
                return closeWith(error)
            }
            state = .ready
            return .completeTransaction(.failure(error))
        case .quitting:
            state = .closed
            return .close
        case .closed:
            return .none
        }
    }

    /// The TLS handshake after STARTTLS succeeded. RFC 3207 requires discarding what the server said before.
    mutating func tlsEstablished() -> Action {
        guard case .tlsHandshake = state else { return .none }
        isSecured = true
        capabilities = SMTPServerCapabilities()
        return sendEHLO()
    }

    mutating func timeoutFired() -> Action {
        switch state {
        case .initial, .ready, .closed:
            return .none
        case .quitting:
            state = .closed
            return .close
        default:
            let phase = currentPhase
            return closeWith(
                SMTPError(
                    kind: .timeout, phase: phase, scope: .connection, isTransient: true,
                    message: "no reply from the server during \(phase.rawValue) within the configured timeout"))
        }
    }

    mutating func connectionClosed() -> Action {
        switch state {
        case .closed:
            return .none
        case .quitting, .ready, .initial:
            state = .closed
            return .none
        default:
            return closeWith(.connectionClosed(phase: currentPhase))
        }
    }

    /// An error seen by the handler (decoder, TLS, socket); the phase is filled in here.
    mutating func errorCaught(_ error: SMTPError) -> Action {
        if case .closed = state { return .none }
        var error = error
        error.phase = currentPhase
        return closeWith(error)
    }

    /// Graceful close: QUIT when idle, otherwise abort whatever is in flight.
    mutating func closeRequested() -> Action {
        switch state {
        case .ready:
            state = .quitting
            return .write([.quit], timeout: settings.timeouts.quit)
        case .quitting, .closed:
            return .none
        default:
            return closeWith(
                SMTPError(
                    kind: .shutDown, phase: currentPhase, scope: .connection, isTransient: true,
                    message: "connection closed by the client"))
        }
    }

    // MARK: Helpers

    var currentPhase: SMTPPhase {
        switch state {
        case .initial: .connect
        case .greeting: .greeting
        case .ehlo: .ehlo
        case .helo: .helo
        case .startTLS: .startTLS
        case .tlsHandshake: .tlsHandshake
        case .authenticating: .authentication
        case .ready, .closed: .idle
        case .transaction(let transaction): transaction.phase
        case .resetting: .reset
        case .quitting: .quit
        }
    }

    mutating func closeWith(_ error: SMTPError) -> Action {
        state = .closed
        return .failAndClose(error)
    }

    private mutating func sendEHLO() -> Action {
        state = .ehlo
        return .write([.ehlo(settings.heloName)], timeout: settings.timeouts.command)
    }

    /// Setup failures: 4xx may clear up on another connection, 5xx means this server will not take our mail as configured.
    private mutating func rejectSetup(_ reply: SMTPReply, phase: SMTPPhase, _ message: String) -> Action {
        let scope: SMTPError.Scope = reply.isPermanentFailure ? .configuration : .connection
        if reply.isPositiveCompletion || reply.isPositiveIntermediate {
            return closeWith(.protocolViolation("unexpected reply during \(phase.rawValue)", phase: phase, reply: reply))
        }
        return closeWith(.rejected(reply, phase: phase, scope: scope, message: message))
    }

    private mutating func afterHello() -> Action {
        guard !isSecured else { return authenticateOrReady() }
        switch settings.tlsMode {
        case .startTLS where !capabilities.startTLS:
            return closeWith(
                SMTPError(
                    kind: .startTLSNotOffered, phase: .ehlo, scope: .configuration, isTransient: false,
                    message: "tls=starttls is configured but the server does not offer STARTTLS"))
        case .startTLS, .opportunistic:
            guard capabilities.startTLS else { return authenticateOrReady() }
            state = .startTLS
            return .write([.startTLS], timeout: settings.timeouts.command)
        case .none, .implicit:
            return authenticateOrReady()
        }
    }

    private mutating func authenticateOrReady() -> Action {
        guard let credentials = settings.credentials else {
            state = .ready
            return .sessionReady(capabilities)
        }
        if capabilities.authMechanisms.contains("PLAIN") {
            state = .authenticating(.final)
            return .write([.authPlain(username: credentials.username, password: credentials.password)], timeout: settings.timeouts.command)
        }
        if capabilities.authMechanisms.contains("LOGIN") {
            state = .authenticating(.loginUsername)
            return .write([.authLogin], timeout: settings.timeouts.command)
        }
        let offered =
            capabilities.authMechanisms.isEmpty ? "no AUTH" : "AUTH " + capabilities.authMechanisms.sorted().joined(separator: " ")
        return closeWith(
            SMTPError(
                kind: .authenticationNotSupported, phase: .authentication, scope: .configuration, isTransient: false,
                message: "credentials are configured but the server offers \(offered); supported: PLAIN, LOGIN"))
    }

    private mutating func authenticationReply(_ reply: SMTPReply, step: AuthStep) -> Action {
        guard let credentials = settings.credentials else { return closeWith(.protocolViolation("no credentials")) }
        switch (step, reply.code) {
        case (.final, 200..<300):
            // RFC 4954 says 235; some servers (smtp-sink among them) answer 250, which means the same.
            state = .ready
            return .sessionReady(capabilities)
        case (.loginUsername, 334):
            state = .authenticating(.loginPassword)
            return .write([.authResponse(Array(credentials.username.utf8))], timeout: settings.timeouts.command)
        case (.loginPassword, 334):
            state = .authenticating(.final)
            return .write([.authResponse(Array(credentials.password.utf8))], timeout: settings.timeouts.command)
        default:
            // 535 bad credentials and 534/538 policy are permanent; 454 temporary failure is transient. Both concern every message.
            if reply.code == 421 || reply.code >= 400 {
                return closeWith(.rejected(reply, phase: .authentication, scope: .configuration, message: "authentication failed"))
            }
            return closeWith(.protocolViolation("unexpected reply during AUTH", phase: .authentication, reply: reply))
        }
    }
}
