import NIOCore
import NIOSSL
import Testing

@testable import SMTP

@Suite struct ConfigurationTests {
    @Test func submissionWithStartTLSAndPercentEncodedCredentials() throws {
        let config = try SMTPConfiguration(url: "smtp://us%40er:p%3Ass%2Fw@mail.example.com:587?tls=starttls&helo=client.example")
        #expect(config.host == "mail.example.com")
        #expect(config.port == 587)
        #expect(config.tlsMode == .startTLS)
        #expect(config.credentials == .init(username: "us@er", password: "p:ss/w"))
        #expect(config.heloName == "client.example")
        #expect(config.verifyCertificate)
    }

    @Test func defaults() throws {
        let smtps = try SMTPConfiguration(url: "smtps://mail.example.com")
        #expect(smtps.tlsMode == .implicit)
        #expect(smtps.port == 465)
        let plain = try SMTPConfiguration(url: "smtp://127.0.0.1:2525/")
        #expect(plain.tlsMode == .none)
        #expect(plain.port == 2525)
        #expect(plain.credentials == nil)
        #expect(plain.timeouts == SMTPTimeouts())
        #expect(try SMTPConfiguration(url: "smtp://h").port == 25)
        #expect(try SMTPConfiguration(url: "smtp://[::1]:25").host == "::1")
    }

    @Test func rfc5321DefaultTimeouts() {
        let timeouts = SMTPTimeouts()
        #expect(timeouts.greeting == .minutes(5))
        #expect(timeouts.mailFrom == .minutes(5))
        #expect(timeouts.rcptTo == .minutes(5))
        #expect(timeouts.dataInitiation == .minutes(2))
        #expect(timeouts.dataBlock == .minutes(3))
        #expect(timeouts.dataTermination == .minutes(10))
    }

    @Test func options() throws {
        let config = try SMTPConfiguration(
            url:
                "smtp://h:25?tls=opportunistic&verify=false&ca=%2Fetc%2Fca.pem&max_connections=8&max_messages=50&timeout=2.5&idle_timeout=9"
        )
        #expect(config.tlsMode == .opportunistic)
        #expect(!config.verifyCertificate)
        #expect(config.caFilePath == "/etc/ca.pem")
        #expect(config.maximumConnections == 8)
        #expect(config.maximumMessagesPerConnection == 50)
        #expect(config.timeouts.dataTermination == .milliseconds(2500))
        #expect(config.timeouts.greeting == .milliseconds(2500))
        #expect(config.idleTimeout == .seconds(9))
        #expect(!config.makeTLSConfiguration().certificateVerification.isFullVerification)
    }

    @Test(arguments: [
        ("http://h", "unsupported scheme"), ("h:25", "missing scheme"), ("smtp://", "missing host"),
        ("smtp://h:99999", "invalid port"), ("smtp://h:abc", "invalid port"), ("smtp://user@h", "without a password"),
        ("smtp://h?tls=maybe", "tls must be"), ("smtps://h?tls=starttls", "cannot be combined"),
        ("smtp://h?max_connections=0", "max_connections"), ("smtp://h?timeout=-1", "timeout"),
        ("smtp://h?verify=perhaps", "verify"), ("smtp://h?bogus=1", "unknown option 'bogus'"), ("smtp://h/path", "unexpected path"),
        ("smtp://u:%zz@h", "percent-encoding"), ("smtp://h?helo=a%20b", "helo"),
    ])
    func badURLsNameTheProblem(url: String, expected: String) {
        let error = #expect(throws: SMTPError.self) { try SMTPConfiguration(url: url) }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error") should mention \(expected)")
    }

    @Test func missingCAFileIsAConfigurationError() {
        var config = SMTPConfiguration(host: "h", tlsMode: .startTLS)
        config.caFilePath = "/nonexistent/ca.pem"
        let error = #expect(throws: SMTPError.self) { try SMTPClientPool(configuration: config) }
        #expect(error?.kind == .invalidConfiguration)
    }

    @Test func ipLiteralsAreNotUsedForSNI() {
        #expect(SMTPConfiguration(host: "127.0.0.1").tlsServerName == nil)
        #expect(SMTPConfiguration(host: "::1").tlsServerName == nil)
        #expect(SMTPConfiguration(host: "mail.example.com").tlsServerName == "mail.example.com")
    }
}

extension CertificateVerification {
    fileprivate var isFullVerification: Bool {
        if case .fullVerification = self { return true }
        return false
    }
}
