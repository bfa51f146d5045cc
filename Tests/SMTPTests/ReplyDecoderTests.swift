import NIOCore
import TestSupport
import Testing

@testable import SMTP

@Suite struct ReplyDecoderTests {
    private func decodeAll(_ chunks: [String], decoder: inout SMTPReplyDecoder) throws -> [SMTPReply] {
        var result: [SMTPReply] = []
        for chunk in chunks {
            decoder.append(ByteBuffer(string: chunk))
            while let reply = try decoder.next() { result.append(reply) }
        }
        return result
    }

    @Test func singleLineReply() throws {
        var decoder = SMTPReplyDecoder()
        let decoded = try decodeAll(["220 mx.example ESMTP ready\r\n"], decoder: &decoder)
        #expect(decoded == [SMTPReply(code: 220, lines: ["mx.example ESMTP ready"])])
    }

    @Test func multiLineReplyIsOneReply() throws {
        var decoder = SMTPReplyDecoder()
        let decoded = try decodeAll(["250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n221 bye\r\n"], decoder: &decoder)
        #expect(decoded.count == 2)
        #expect(decoded[0].code == 250)
        #expect(decoded[0].lines == ["mx.example", "PIPELINING", "SIZE 1000", "8BITMIME"])
        #expect(decoded[1].code == 221)
    }

    @Test func bareLFAndSplitAcrossReads() throws {
        var decoder = SMTPReplyDecoder()
        let raw = "250-first\n250-second\r\n250 last\n"
        let decoded = try decodeAll(raw.map { String($0) }, decoder: &decoder)
        #expect(decoded == [SMTPReply(code: 250, lines: ["first", "second", "last"])])
        #expect(!decoder.hasBufferedBytes)
    }

    @Test func incompleteMultiLineReplyWaits() throws {
        var decoder = SMTPReplyDecoder()
        let decoded = try decodeAll(["250-one\r\n250-two\r\n"], decoder: &decoder)
        #expect(decoded.isEmpty)
        #expect(decoder.hasBufferedBytes)
    }

    @Test func enhancedStatusCodeIsParsedOutOfEveryLine() throws {
        var decoder = SMTPReplyDecoder()
        let decoded = try decodeAll(
            ["550-5.1.1 The email account does not exist\r\n550 5.1.1 Please check the address\r\n"], decoder: &decoder)
        #expect(decoded[0].enhancedCode == SMTPEnhancedStatusCode(statusClass: 5, subject: 1, detail: 1))
        #expect(decoded[0].lines == ["The email account does not exist", "Please check the address"])
        #expect(decoded[0].description == "550 5.1.1 The email account does not exist Please check the address")
    }

    @Test func enhancedCodeOfAnotherClassIsLeftInText() throws {
        var decoder = SMTPReplyDecoder()
        let decoded = try decodeAll(["250 4.0.0 odd\r\n", "250 1.2 not a code\r\n", "250 OK\r\n"], decoder: &decoder)
        #expect(decoded[0].enhancedCode == nil)
        #expect(decoded[0].text == "4.0.0 odd")
        #expect(decoded[1].enhancedCode == nil)
        #expect(decoded[2].text == "OK")
    }

    @Test func codeWithoutText() throws {
        var decoder = SMTPReplyDecoder()
        #expect(try decodeAll(["354\r\n"], decoder: &decoder) == [SMTPReply(code: 354, lines: [""])])
    }

    @Test(arguments: ["HTTP/1.1 400 Bad Request\r\n", "25\r\n", "250x\r\n", "650 no\r\n", "\r\n", "abc def\r\n"])
    func garbageIsRefused(_ raw: String) {
        var decoder = SMTPReplyDecoder()
        #expect(throws: SMTPError.self) { try decodeAll([raw], decoder: &decoder) }
    }

    @Test func codeChangingInsideMultiLineReplyIsRefused() {
        var decoder = SMTPReplyDecoder()
        let error = #expect(throws: SMTPError.self) { try decodeAll(["250-one\r\n251 two\r\n"], decoder: &decoder) }
        #expect(error?.kind == .protocolViolation)
    }

    @Test func overlongLineWithoutNewlineIsRefusedBeforeItEnds() {
        var decoder = SMTPReplyDecoder(maximumLineLength: 100, maximumReplyLength: 1000)
        let error = #expect(throws: SMTPError.self) { try decodeAll(["250 " + String(repeating: "x", count: 200)], decoder: &decoder) }
        #expect(error?.message.contains("longer than 100") == true)
    }

    @Test func overlongMultiLineReplyIsRefused() {
        var decoder = SMTPReplyDecoder()
        let line = "250-" + String(repeating: "y", count: 1000) + "\r\n"
        let error = #expect(throws: SMTPError.self) { try decodeAll([String(repeating: line, count: 70)], decoder: &decoder) }
        #expect(error?.kind == .protocolViolation)
        #expect(error?.message.contains("65536") == true)
    }

    @Test func invalidUTF8DoesNotCrash() throws {
        var decoder = SMTPReplyDecoder()
        var buffer = ByteBuffer(string: "250 ")
        buffer.writeBytes([0xFF, 0xFE, 0xC3])
        buffer.writeString("\r\n")
        decoder.append(buffer)
        let decoded = try decoder.next()
        #expect(decoded?.code == 250)
    }

    @Test func randomBytesNeverCrash() {
        var generator = SeededRandom(seed: 42)
        for _ in 0..<2000 {
            var decoder = SMTPReplyDecoder(maximumLineLength: 64, maximumReplyLength: 256)
            let bytes = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            decoder.append(ByteBuffer(bytes: bytes))
            do { while try decoder.next() != nil {} } catch { #expect(error.kind == .protocolViolation) }
        }
    }
}
