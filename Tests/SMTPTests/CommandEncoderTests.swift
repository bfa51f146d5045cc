import NIOCore
import Testing

@testable import SMTP

@Suite struct CommandEncoderTests {
    private func encoded(_ commands: [SMTPCommand]) -> String {
        var buffer = ByteBuffer()
        for command in commands { command.encode(into: &buffer) }
        return String(buffer: buffer)
    }

    private func body(_ message: String) -> String {
        String(buffer: SMTPMessageBody.encode(Array(message.utf8)).bytes)
    }

    @Test func commandsOnTheWire() {
        #expect(
            encoded([.ehlo("client.example"), .helo("c"), .startTLS, .rset, .quit, .data])
                == "EHLO client.example\r\nHELO c\r\nSTARTTLS\r\nRSET\r\nQUIT\r\nDATA\r\n")
        #expect(
            encoded([.mailFrom("a@example.com", parameters: ["SIZE=12", "BODY=8BITMIME"])])
                == "MAIL FROM:<a@example.com> SIZE=12 BODY=8BITMIME\r\n")
        #expect(encoded([.mailFrom("", parameters: [])]) == "MAIL FROM:<>\r\n")
        #expect(encoded([.rcptTo("b@example.org")]) == "RCPT TO:<b@example.org>\r\n")
    }

    @Test func authPlainCarriesBase64InitialResponse() {
        // base64("\0user\0pass") from RFC 4616's layout.
        #expect(encoded([.authPlain(username: "user", password: "pass")]) == "AUTH PLAIN AHVzZXIAcGFzcw==\r\n")
        #expect(encoded([.authLogin, .authResponse(Array("user".utf8))]) == "AUTH LOGIN\r\ndXNlcg==\r\n")
    }

    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func base64MatchesRFC4648(_ input: String, _ output: String) {
        #expect(Base64.encode(Array(input.utf8)) == output)
    }

    @Test func dotStuffing() {
        #expect(body(".hidden\r\nnormal\r\n..two\r\n.\r\nend.\r\n") == "..hidden\r\nnormal\r\n...two\r\n..\r\nend.\r\n.\r\n")
    }

    @Test func bareLFAndCRBecomeCRLFAndStuffingStillApplies() {
        #expect(body("a\nb\r\nc\rd\n.e\n") == "a\r\nb\r\nc\r\nd\r\n..e\r\n.\r\n")
    }

    @Test func missingFinalLineBreakIsAdded() {
        #expect(body("no newline") == "no newline\r\n.\r\n")
        #expect(body("") == ".\r\n")
        #expect(body(".") == "..\r\n.\r\n")
    }

    @Test func sizeAndEightBitDetection() {
        let ascii = SMTPMessageBody.encode(Array("a\nb".utf8))
        #expect(ascii.messageSize == 6)  // "a\r\nb\r\n", without stuffing or terminator
        #expect(!ascii.hasEightBitData)
        #expect(SMTPMessageBody.encode(Array("caf\u{E9}\r\n".utf8)).hasEightBitData)
        #expect(SMTPMessageBody.encode(Array("..\r\n".utf8)).messageSize == 4)
    }

    @Test(arguments: ["a@b\r\nRCPT TO:<evil@x>", "a@b\nDATA", "a\0@b", "<a@b>", "a@b> SIZE=1", ""])
    func injectionIsRefused(_ address: String) {
        let error = #expect(throws: SMTPError.self) {
            try SMTPEnvelope(from: "ok@example.com", to: [address], message: [], requiresSMTPUTF8: false)
        }
        #expect(error?.kind == .invalidAddress)
        #expect(error?.isPermanent == true)
        #expect(error?.scope == .message)
        if !address.isEmpty {
            #expect(throws: SMTPError.self) {
                try SMTPEnvelope(from: address, to: ["ok@example.com"], message: [], requiresSMTPUTF8: false)
            }
        }
    }

    @Test func envelopeRules() throws {
        #expect(throws: SMTPError.self) { try SMTPEnvelope(from: "a@b", to: [], message: [], requiresSMTPUTF8: false) }
        #expect(try SMTPEnvelope(from: "", to: ["x@y"], message: [], requiresSMTPUTF8: false).from == "")
        #expect(try SMTPEnvelope(from: "a@b", to: ["j\u{F6}rg@example.de"], message: [], requiresSMTPUTF8: false).requiresSMTPUTF8)
        #expect(try !SMTPEnvelope(from: "a@b", to: ["x@y"], message: [], requiresSMTPUTF8: false).requiresSMTPUTF8)
    }

    @Test func queueIDExtraction() {
        #expect(SMTPDeliveryResult(reply: reply("250 2.0.0 Ok: queued as 4Xyz123"), recipients: []).queueID == "4Xyz123")
        #expect(SMTPDeliveryResult(reply: reply("250 OK"), recipients: []).queueID == "OK")
        #expect(SMTPDeliveryResult(reply: reply("250 OK id=1uABCD-000123-Xy"), recipients: []).queueID == "1uABCD-000123-Xy")
        #expect(
            SMTPDeliveryResult(reply: reply("250 2.0.0 Message accepted for delivery"), recipients: []).queueID
                == "Message accepted for delivery")
    }

    @Test func capabilitiesFromEHLO() {
        let caps = SMTPServerCapabilities(
            ehloReply: reply(
                "250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN login\r\n250-AUTH=XOAUTH2\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            ))
        #expect(caps.pipelining && caps.startTLS && caps.eightBitMIME && caps.smtpUTF8 && caps.enhancedStatusCodes)
        #expect(caps.maximumMessageSize == 10_240_000)
        #expect(caps.authMechanisms == ["PLAIN", "LOGIN", "XOAUTH2"])
        let bare = SMTPServerCapabilities(ehloReply: reply("250-mx\r\n250 SIZE\r\n"))
        #expect(bare.maximumMessageSize == 0)
        #expect(!bare.pipelining && !bare.startTLS && bare.authMechanisms.isEmpty)
    }
}
