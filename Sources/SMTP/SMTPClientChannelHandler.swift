import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Runs an ``SMTPClientStateMachine`` on a channel: bytes in become replies, actions out become writes,
/// timers, the STARTTLS pipeline change and promise completions. It also queues send requests so that a
/// connection carries one transaction at a time however many tasks call `send` concurrently.
final class SMTPClientChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    enum Request: Sendable {
        case send(SMTPEnvelope, EventLoopPromise<SMTPDeliveryResult>)
        /// QUIT once queued transactions are done, then close.
        case quit
    }

    private var stateMachine: SMTPClientStateMachine
    private var decoder = SMTPReplyDecoder()
    private let sslContext: NIOSSLContext?
    private let tlsServerName: String?
    private var readyPromise: EventLoopPromise<SMTPServerCapabilities>?
    private var currentPromise: EventLoopPromise<SMTPDeliveryResult>?
    private var queue: [(SMTPEnvelope, EventLoopPromise<SMTPDeliveryResult>)] = []
    private var quitRequested = false
    private var timer: Scheduled<Void>?
    private var timerGeneration = 0
    private var context: ChannelHandlerContext?
    private let logger: Logger

    init(
        settings: SMTPClientStateMachine.Settings, sslContext: NIOSSLContext?, tlsServerName: String?,
        readyPromise: EventLoopPromise<SMTPServerCapabilities>?, logger: Logger
    ) {
        self.stateMachine = SMTPClientStateMachine(settings: settings)
        self.sslContext = sslContext
        self.tlsServerName = tlsServerName
        self.readyPromise = readyPromise
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { run(stateMachine.channelActive()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        run(stateMachine.channelActive())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(stateMachine.connectionClosed())
        cancelTimer()
        failEverything(.connectionClosed(phase: stateMachine.currentPhase))
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.append(unwrapInboundIn(data))
        do {
            while !stateMachine.isClosed, let reply = try decoder.next() {
                logger.trace("SMTP reply", metadata: ["smtp.reply": "\(reply)"])
                run(stateMachine.replyReceived(reply))
            }
        } catch {
            run(stateMachine.errorCaught(error))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            run(stateMachine.tlsEstablished())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("SMTP channel error", metadata: ["error": "\(error)"])
        let smtpError: SMTPError
        if let error = error as? SMTPError {
            smtpError = error
        } else if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            smtpError = SMTPError(
                kind: .tlsFailure, phase: .tlsHandshake, scope: .configuration, isTransient: false, message: "TLS failed: \(error)")
        } else {
            smtpError = .connectionClosed(phase: .idle, message: "connection error: \(error)")
        }
        run(stateMachine.errorCaught(smtpError))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
        switch unwrapOutboundIn(data) {
        case .send(let envelope, let transactionPromise):
            if stateMachine.isClosed {
                transactionPromise.fail(SMTPError.connectionClosed(phase: .mailFrom, message: "connection is closed"))
                return
            }
            queue.append((envelope, transactionPromise))
            startNextTransaction()
        case .quit:
            quitRequested = true
            startNextTransaction()
        }
    }

    // MARK: Running actions

    private func run(_ action: SMTPClientStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .write(let commands, let timeout):
            var buffer = context.channel.allocator.buffer(capacity: 64)
            for command in commands { command.encode(into: &buffer) }
            armTimer(timeout)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .writeBody(let body, let timeout):
            armTimer(timeout)
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenSuccess { [self] in run(stateMachine.bodyWritten()) }
            context.writeAndFlush(wrapOutboundOut(body), promise: written)
        case .armTimer(let timeout):
            armTimer(timeout)
        case .startTLSHandshake(let timeout):
            armTimer(timeout)
            startTLS(context: context)
        case .sessionReady(let capabilities):
            cancelTimer()
            readyPromise?.succeed(capabilities)
            readyPromise = nil
            startNextTransaction()
        case .completeTransaction(let result):
            cancelTimer()
            let promise = currentPromise
            currentPromise = nil
            promise?.completeWith(result.mapError { $0 as any Error })
            startNextTransaction()
        case .failAndClose(let error):
            logger.debug("SMTP session failed", metadata: ["error": "\(error)"])
            cancelTimer()
            failEverything(error)
            context.close(promise: nil)
        case .close:
            cancelTimer()
            context.close(promise: nil)
        }
    }

    private func startTLS(context: ChannelHandlerContext) {
        // Bytes that arrived together with the 220 were sent in plaintext and would otherwise be read as if
        // they came over TLS: a man in the middle could inject replies this way.
        guard !decoder.hasBufferedBytes else {
            run(stateMachine.errorCaught(.protocolViolation("server sent data after its STARTTLS reply, before the TLS handshake")))
            return
        }
        guard let sslContext else {
            run(stateMachine.errorCaught(.invalidConfiguration("STARTTLS without a TLS configuration")))
            return
        }
        do {
            let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: tlsServerName)
            try context.pipeline.syncOperations.addHandler(tls, position: .first)
        } catch {
            run(
                stateMachine.errorCaught(
                    SMTPError(kind: .tlsFailure, phase: .tlsHandshake, scope: .configuration, isTransient: false, message: "\(error)")))
        }
    }

    private func startNextTransaction() {
        guard currentPromise == nil, stateMachine.isReady else { return }
        if !queue.isEmpty {
            let (envelope, promise) = queue.removeFirst()
            currentPromise = promise
            run(stateMachine.startTransaction(envelope))
        } else if quitRequested {
            run(stateMachine.closeRequested())
        }
    }

    /// Transactions that never started get a transient connection error: they can safely go to another connection.
    private func failEverything(_ error: SMTPError) {
        readyPromise?.fail(error)
        readyPromise = nil
        currentPromise?.fail(error)
        currentPromise = nil
        let waiting = queue
        queue = []
        for (_, promise) in waiting {
            promise.fail(
                SMTPError.connectionClosed(phase: .mailFrom, message: "connection failed before this message was sent: \(error.message)"))
        }
    }

    private func armTimer(_ timeout: TimeAmount) {
        guard let context else { return }
        cancelTimer()
        let generation = timerGeneration
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard generation == timerGeneration else { return }
            timer = nil
            run(stateMachine.timeoutFired())
        }
    }

    private func cancelTimer() {
        timerGeneration &+= 1
        timer?.cancel()
        timer = nil
    }
}
