import NIOCore
import NIOSSL

/// Per-phase reply timeouts. Defaults follow RFC 5321 §4.5.3.2, which sets them generously because
/// servers legitimately do slow work (DNS checks, content scanning) before answering.
public struct SMTPTimeouts: Sendable, Hashable {
    public var connect: TimeAmount = .seconds(30)
    public var greeting: TimeAmount = .minutes(5)
    /// EHLO, HELO, STARTTLS, the TLS handshake, AUTH and RSET: the RFC names none, so MAIL's is used.
    public var command: TimeAmount = .minutes(5)
    public var mailFrom: TimeAmount = .minutes(5)
    public var rcptTo: TimeAmount = .minutes(5)
    public var dataInitiation: TimeAmount = .minutes(2)
    /// Applied while the body is being written (the RFC applies it per block; we write in one go).
    public var dataBlock: TimeAmount = .minutes(3)
    public var dataTermination: TimeAmount = .minutes(10)
    /// Waiting for the reply to QUIT before closing anyway.
    public var quit: TimeAmount = .seconds(30)

    public init() {}

    /// Every timeout set to the same value, as `timeout=` in the URL does.
    public init(all value: TimeAmount) {
        connect = value
        greeting = value
        command = value
        mailFrom = value
        rcptTo = value
        dataInitiation = value
        dataBlock = value
        dataTermination = value
        quit = value
    }
}

/// Where and how to reach one SMTP server, and how many connections the pool may keep to it.
public struct SMTPConfiguration: Sendable {
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain text; never upgrade.
        case none
        /// Upgrade with STARTTLS and fail the connection if the server does not offer it.
        case startTLS = "starttls"
        /// Upgrade with STARTTLS when offered, else stay in plain text (protects only against passive eavesdroppers).
        case opportunistic
        /// TLS from the first byte (`smtps://`, usually port 465).
        case implicit
    }

    public struct Credentials: Sendable, Hashable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var host: String
    public var port: Int
    public var tlsMode: TLSMode
    /// Verify the server certificate and host name. Turn off only for test servers.
    public var verifyCertificate = true
    /// A PEM file of trusted CA certificates used instead of the system's.
    public var caFilePath: String?
    public var credentials: Credentials?
    /// The name sent with EHLO/HELO; RFC 5321 asks for the client's fully qualified domain name.
    public var heloName = "localhost"
    public var maximumConnections = 4
    /// A connection is closed (QUIT) after this many transactions, so long campaigns spread load and recover from leaks.
    public var maximumMessagesPerConnection = 1000
    /// Idle connections are closed after this long, before servers time them out themselves.
    public var idleTimeout: TimeAmount = .seconds(60)
    public var timeouts = SMTPTimeouts()

    public init(host: String, port: Int? = nil, tlsMode: TLSMode = .none, credentials: Credentials? = nil) {
        self.host = host
        self.port = port ?? (tlsMode == .implicit ? 465 : 25)
        self.tlsMode = tlsMode
        self.credentials = credentials
    }

    /// The NIOSSL configuration matching ``verifyCertificate`` and ``caFilePath``.
    public func makeTLSConfiguration() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verifyCertificate ? .fullVerification : .none
        if let caFilePath { tls.trustRoots = .file(caFilePath) }
        return tls
    }

    func makeSSLContext() throws(SMTPError) -> NIOSSLContext? {
        guard tlsMode != .none else { return nil }
        do {
            return try NIOSSLContext(configuration: makeTLSConfiguration())
        } catch {
            throw SMTPError.invalidConfiguration("cannot set up TLS (ca=\(caFilePath ?? "system")): \(error)")
        }
    }

    /// The host name for SNI and certificate checks; nil for IP literals, which NIOSSL then checks against the peer address.
    var tlsServerName: String? {
        let isIPv4 = host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
        return isIPv4 || host.contains(":") ? nil : host
    }
}
