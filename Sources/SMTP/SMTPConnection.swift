import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One established, ready SMTP session (greeting, EHLO, TLS and AUTH done).
///
/// `send` may be called from any number of tasks: requests are queued on the channel's event loop and
/// run one transaction at a time, so no task ever blocks a thread waiting for its turn. Cancelling the
/// calling task does not abort a transaction in flight; SMTP has no way to take back a half-sent message.
public final class SMTPConnection: Sendable {
    /// What the server announced after the last EHLO (after STARTTLS when TLS was negotiated).
    public let capabilities: SMTPServerCapabilities
    let channel: any Channel

    init(channel: any Channel, capabilities: SMTPServerCapabilities) {
        self.channel = channel
        self.capabilities = capabilities
    }

    /// False once the server or the client closed the connection; such a connection only fails.
    public var isActive: Bool { channel.isActive }

    /// Connects and runs the session setup. Throws ``SMTPError`` (kinds `connectFailed`, `tlsFailure`,
    /// `rejected`, `startTLSNotOffered`, `authenticationNotSupported`, `timeout`, …).
    public static func connect(
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "smtp")
    ) async throws -> SMTPConnection {
        try await connect(
            configuration: configuration, sslContext: configuration.makeSSLContext(), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Variant taking a prepared TLS context, so a pool loads certificates once rather than per connection.
    static func connect(
        configuration: SMTPConfiguration, sslContext: NIOSSLContext?, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> SMTPConnection {
        let eventLoop = eventLoopGroup.next()
        let ready = eventLoop.makePromise(of: SMTPServerCapabilities.self)
        let settings = SMTPClientStateMachine.Settings(
            heloName: configuration.heloName, tlsMode: configuration.tlsMode, credentials: configuration.credentials,
            timeouts: configuration.timeouts)
        let implicitTLS = configuration.tlsMode == .implicit
        let serverName = configuration.tlsServerName
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.timeouts.connect)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS, let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPClientChannelHandler(
                            settings: settings, sslContext: sslContext, tlsServerName: serverName, readyPromise: ready, logger: logger))
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            let smtpError = SMTPError(
                kind: .connectFailed, phase: .connect, scope: .connection, isTransient: true,
                message: "cannot connect to \(configuration.host):\(configuration.port): \(error)")
            ready.fail(smtpError)
            throw smtpError
        }
        do {
            let capabilities = try await ready.futureResult.get()
            logger.debug("SMTP session ready", metadata: ["smtp.host": "\(configuration.host)"])
            return SMTPConnection(channel: channel, capabilities: capabilities)
        } catch {
            channel.close(promise: nil)
            throw Self.smtpError(error, phase: .greeting)
        }
    }

    /// Sends one message. Throws ``SMTPError``; partially rejected recipients are not an error but are listed
    /// in ``SMTPDeliveryResult/rejectedRecipients``.
    ///
    /// - Parameters:
    ///   - from: the envelope sender without angle brackets; empty for a null reverse-path (bounces).
    ///   - message: the full RFC 5322 message; line endings are normalised to CRLF and dots are stuffed here.
    ///   - requiresSMTPUTF8: the message has UTF-8 headers; also implied by any non-ASCII address.
    public func send(from: String, to recipients: [String], message: [UInt8], requiresSMTPUTF8: Bool = false) async throws
        -> SMTPDeliveryResult
    {
        try await send(SMTPEnvelope(from: from, to: recipients, message: message, requiresSMTPUTF8: requiresSMTPUTF8))
    }

    func send(_ envelope: SMTPEnvelope) async throws -> SMTPDeliveryResult {
        let promise = channel.eventLoop.makePromise(of: SMTPDeliveryResult.self)
        channel.writeAndFlush(SMTPClientChannelHandler.Request.send(envelope, promise)).whenFailure { error in
            promise.fail(SMTPError.connectionClosed(phase: .mailFrom, message: "connection is closed: \(error)"))
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            throw Self.smtpError(error, phase: .mailFrom)
        }
    }

    /// Sends QUIT after queued transactions and waits for the connection to close.
    public func close() async {
        requestClose()
        try? await channel.closeFuture.get()
    }

    /// Starts the QUIT without waiting; the QUIT timeout bounds how long the channel can linger.
    func requestClose() {
        channel.writeAndFlush(SMTPClientChannelHandler.Request.quit).whenFailure { [channel] _ in channel.close(promise: nil) }
    }

    private static func smtpError(_ error: any Error, phase: SMTPPhase) -> SMTPError {
        if let error = error as? SMTPError { return error }
        return .connectionClosed(phase: phase, message: "connection failed: \(error)")
    }
}
