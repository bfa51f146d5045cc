import Foundation
import Testing

@testable import Mail

private typealias T = MIMETestSupport

/// Every physical line of the header block.
private func headerLines(_ message: [UInt8]) -> [String] {
    T.lines(T.split(message).header).dropLast().map { String(decoding: $0, as: UTF8.self) }
}

/// Checks the structure of an encoded value and returns it decoded.
private func checkEncoded(_ value: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    #expect(value.utf8.allSatisfy { $0 < 0x80 }, "encoded value is ASCII", sourceLocation: sourceLocation)
    for word in T.encodedWords(value) {
        #expect(word.utf8.count <= 75, "encoded-word \(word) ≤ 75", sourceLocation: sourceLocation)
        let bytes = T.decodeEncodedWord(word)
        #expect(bytes != nil, "\(word) decodes", sourceLocation: sourceLocation)
        // Each word holds whole characters: it is valid UTF-8 on its own.
        #expect(
            bytes.flatMap { String(validating: $0, as: UTF8.self) } != nil,
            "\(word) is valid UTF-8 alone", sourceLocation: sourceLocation)
    }
    return T.decodeUnstructured(value)
}

@Suite struct HeaderEncodingTests {
    @Test func asciiSubjectIsUntouched() throws {
        let subject = "Weekly news: 10 tips & tricks (part 2) -- 50% off!"
        let raw = try T.message(subject: subject).render()
        #expect(T.rawField("Subject", in: raw) == subject)
    }

    @Test func frenchSubjectIsEncodedAndRoundTrips() throws {
        let subject = "Élodie Lefèvre — Offre d'été ☀️ : -30 % sur tout"
        let raw = try T.message(subject: subject).render()
        let value = try #require(T.rawField("Subject", in: raw))
        #expect(value.contains("=?utf-8?"))
        #expect(value.contains(" Offre"), "ASCII words stay readable")
        #expect(checkEncoded(value) == subject)
        for line in headerLines(raw) { #expect(line.utf8.count <= 78, "\(line)") }
    }

    @Test(arguments: [
        String(repeating: "Les nouveautés de la semaine sont arrivées, ", count: 6),
        String(repeating: "Newsletter of the week with many words ", count: 8),
        String(repeating: "夏のセール開催中！全品三十パーセントオフ", count: 6),
        String(repeating: "👩‍👩‍👧‍👦🇫🇷👍🏽é", count: 12),
        "https://example.com/" + String(repeating: "a", count: 120) + " is too long for one line",
        "Prix: 30 € " + String(repeating: "x", count: 900),
        "  leading and trailing spaces  ",
        "tab\there and  double  spaces",
        "looks like =?utf-8?q?an_encoded_word?= but is not",
        "control \u{7} bell and del \u{7F}",
        "",
    ])
    func subjectsFoldAndRoundTrip(_ subject: String) throws {
        let raw = try T.message(subject: subject).render()
        let value = try #require(T.rawField("Subject", in: raw))
        let decoded = checkEncoded(value)
        if subject.hasPrefix(" ") {
            #expect(decoded.trimmingCharacters(in: .whitespaces) == subject.trimmingCharacters(in: .whitespaces))
        } else {
            #expect(decoded == subject)
        }
        for line in headerLines(raw) {
            #expect(line.utf8.count <= 78, "line of \(line.utf8.count): \(line)")
            #expect(!line.allSatisfy { $0 == " " || $0 == "\t" }, "no whitespace-only line")
        }
    }

    @Test func encodedWordsKeepGraphemeClustersWhole() throws {
        let family = "👩‍👩‍👧‍👦"
        let raw = try T.message(subject: String(repeating: family, count: 20)).render()
        let words = T.encodedWords(try #require(T.rawField("Subject", in: raw)))
        #expect(words.count > 1)
        for word in words {
            let text = try #require(T.decodeEncodedWord(word).flatMap { String(validating: $0, as: UTF8.self) })
            #expect(text.allSatisfy { $0 == Character(family) }, "\(word) holds whole families")
        }
    }

    @Test(arguments: [
        ("John Smith", "John Smith <ann@example.com>"),
        ("Smith, John", "\"Smith, John\" <ann@example.com>"),
        ("Bob \"The Builder\" O'Neil", "\"Bob \\\"The Builder\\\" O'Neil\" <ann@example.com>"),
        ("back\\slash", "\"back\\\\slash\" <ann@example.com>"),
        ("J. R. R. Tolkien", "\"J. R. R. Tolkien\" <ann@example.com>"),
        ("two  spaces", "\"two  spaces\" <ann@example.com>"),
        ("ACME <Sales>", "\"ACME <Sales>\" <ann@example.com>"),
        ("Élodie Lefèvre", "=?utf-8?q?=C3=89lodie_Lef=C3=A8vre?= <ann@example.com>"),
        ("", "ann@example.com"),
    ])
    func displayNames(name: String, expected: String) throws {
        let raw = try T.message(to: [T.mailbox("ann@example.com", name)]).render()
        #expect(T.rawField("To", in: raw) == expected)
    }

    @Test func encodedDisplayNamesWithSpecialsRoundTrip() throws {
        for name in ["Lefèvre, Élodie", "Zoë \"Z\" <Admin>", "=?utf-8?q?fake?=", String(repeating: "Ünïcödé ", count: 12)] {
            let raw = try T.message(from: T.mailbox("news@example.com", name)).render()
            let value = try #require(T.rawField("From", in: raw))
            #expect(value.hasSuffix("<news@example.com>"))
            let phrase = String(value.dropLast("<news@example.com>".count))
            #expect(checkEncoded(phrase).trimmingCharacters(in: .whitespacesAndNewlines) == name.trimmingCharacters(in: .whitespaces))
            for line in headerLines(raw) { #expect(line.utf8.count <= 78, "\(line)") }
        }
    }

    @Test func longAddressListsFoldAfterCommas() throws {
        let to = (1...12).map { T.mailbox("person\($0)@example.com", "Person Number \($0)") }
        let raw = try T.message(to: to).render()
        let value = try #require(T.rawField("To", in: raw))
        #expect(value.replacingOccurrences(of: "\r\n", with: "") == to.map { "\($0.name!) <\($0.address.value)>" }.joined(separator: ", "))
        for line in headerLines(raw) { #expect(line.utf8.count <= 78, "\(line)") }
    }

    @Test func internationalDomainIsWrittenInPunycode() throws {
        let message = try T.message(to: [T.mailbox("ann@bücher.de", "Ann")])
        #expect(!message.requiresSMTPUTF8)
        #expect(T.rawField("To", in: try message.render()) == "Ann <ann@xn--bcher-kva.de>")
    }

    @Test func nonASCIILocalPartRequiresSMTPUTF8() throws {
        let message = try T.message(to: [T.mailbox("josé@bücher.de", "José")])
        #expect(message.requiresSMTPUTF8)
        #expect(try message.renderParts().requiresSMTPUTF8)
        let value = try #require(T.rawField("To", in: try message.render()))
        #expect(value.hasSuffix(" <josé@bücher.de>"))
        #expect(checkEncoded(String(value.dropLast(" <josé@bücher.de>".count))) == "José")
        #expect(try !T.message().requiresSMTPUTF8)
    }

    @Test(arguments: ["Bob\r\nBcc: x@y.com", "Bob\nBcc: x@y.com", "Bob\rBcc: x@y.com", "Bob\u{0}"])
    func injectionInDisplayNameIsRefused(_ name: String) {
        #expect(throws: MailError(.lineBreakInHeader(field: "display name"))) { try Mailbox("bob@example.com", name: name) }
    }

    @Test(arguments: ["Hi\r\nBcc: x@y.com", "Hi\nBcc: x@y.com", "Hi\r", "Hi\u{0}there"])
    func injectionInSubjectIsRefused(_ subject: String) {
        #expect(throws: MailError(.lineBreakInHeader(field: "Subject"))) { try T.message(subject: subject) }
    }

    @Test func injectionInExtraHeaderIsRefused() {
        #expect(throws: MailError(.lineBreakInHeader(field: "X-Campaign"))) {
            try T.message(headers: [("X-Campaign", "spring\r\nBcc: x@y.com")])
        }
        for name in ["X-Bad\r\nBcc", "Bad Name", "Bad:Name", "", "Ünicode", String(repeating: "X", count: 77)] {
            #expect(throws: MailError(.invalidHeaderName(name))) { try T.message(headers: [(name, "v")]) }
        }
        for name in ["Subject", "content-type", "FROM", "Message-ID", "MIME-Version"] {
            #expect(throws: MailError(.reservedHeader(name))) { try T.message(headers: [(name, "v")]) }
        }
        let error = #expect(throws: MailError.self) { try T.message(headers: [("X-A", "a\nb")]) }
        #expect(error?.message.contains("line break") == true)
    }

    @Test(arguments: ["a@b\r\nBcc: x@y.com", "<a@example.com>", "no-at-sign", "a b@example.com", "@example.com", "a@", "a@b@c"])
    func invalidMessageIDsAreRefused(_ id: String) {
        #expect(throws: MailError(.invalidMessageID(id))) { try T.message(messageID: id) }
    }

    @Test func listUnsubscribeHeadersAreKeptVerbatim() throws {
        let unsubscribe =
            "<https://t.example.com/u/eyJzIjoxMjM0NTY3ODkwLCJjIjo0Mn0.c2lnbmF0dXJl>, <mailto:unsubscribe@example.com?subject=unsubscribe-123>"
        let raw = try T.message(headers: [
            ("List-Unsubscribe", unsubscribe), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("X-Campaign", "Été 2026"),
        ]).render()
        let value = try #require(T.rawField("List-Unsubscribe", in: raw))
        #expect(value.replacingOccurrences(of: "\r\n", with: "") == unsubscribe)
        #expect(T.rawField("List-Unsubscribe-Post", in: raw) == "List-Unsubscribe=One-Click")
        #expect(checkEncoded(try #require(T.rawField("X-Campaign", in: raw))) == "Été 2026")
    }

    @Test func overlongUnbreakableExtraHeaderIsRefused() {
        let url = "<https://example.com/" + String(repeating: "a", count: 1000) + ">"
        #expect(throws: MailError(.headerTooLong(field: "List-Unsubscribe"))) {
            try T.message(headers: [("List-Unsubscribe", url)]).render()
        }
    }

    @Test(arguments: [
        (1_795_388_339.0, "Sun, 22 Nov 2026 22:58:59 +0000"),
        (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
        (4_102_444_799.5, "Thu, 31 Dec 2099 23:59:59 +0000"),
    ])
    func dates(seconds: Double, expected: String) throws {
        #expect(Message.rfc5322Date(Date(timeIntervalSince1970: seconds)) == expected)
        let raw = try T.message(date: Date(timeIntervalSince1970: seconds)).render()
        #expect(T.rawField("Date", in: raw) == expected)
    }

    @Test func messageIDsAreUniqueAndValid() throws {
        let ids = (0..<10_000).map { _ in Message.makeMessageID(domain: "example.com") }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { Message.isValidMessageID($0) && $0.hasSuffix("@example.com") })
        #expect(Message.makeMessageID(domain: "Bücher.de").hasSuffix("@xn--bcher-kva.de"))
        let message = try T.message(messageID: nil)
        #expect(message.messageID.hasSuffix("@example.com"))
        #expect(T.rawField("Message-ID", in: try message.render()) == "<\(message.messageID)>")
    }
}
