import Foundation
import TestSupport
import Testing

@testable import Mail

private typealias T = MIMETestSupport

/// Parses each file with Python's `email` package (policy.default) and prints, as one
/// JSON list, what a mail client would see, plus line checks on the raw bytes.
private let parserScript = #"""
    import email, email.policy, json, sys

    def text(value):
        # Raw UTF-8 in headers (SMTPUTF8 addresses) arrives as surrogate escapes.
        return None if value is None else str(value).encode("utf-8", "surrogateescape").decode("utf-8")

    def mailboxes(header):
        return [] if header is None else [[text(a.display_name), text(a.addr_spec)] for a in header.addresses]

    results = []
    for path in sys.argv[1:]:
        data = open(path, "rb").read()
        msg = email.message_from_bytes(data, policy=email.policy.default)
        lines = data.split(b"\r\n")
        defects = [repr(d) for d in msg.defects]
        for name, value in msg.items():
            defects += [name + ": " + repr(d) for d in getattr(value, "defects", ())]
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            defects += [repr(d) for d in part.defects]
            parts.append({
                "type": part.get_content_type(),
                "charset": part.get_content_charset(),
                "cte": part.get("Content-Transfer-Encoding"),
                "content": part.get_content(),
            })
        results.append({
            "subject": text(msg["subject"]),
            "from": mailboxes(msg["from"]),
            "replyTo": mailboxes(msg["reply-to"]),
            "to": mailboxes(msg["to"]),
            "messageID": msg["message-id"],
            "date": msg["date"].datetime.isoformat() if msg["date"] else None,
            "contentType": msg.get_content_type(),
            "headers": {k: text(v) for k, v in msg.items()},
            "parts": parts,
            "defects": defects,
            "allCRLF": b"\r\n".join(lines) == data and b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"") and data.endswith(b"\r\n"),
            "maxLine": max(len(l) for l in lines),
        })
    print(json.dumps(results))
    """#

private struct Parsed: Decodable {
    struct Part: Decodable {
        let type: String
        let charset: String?
        let cte: String?
        let content: String
    }
    let subject: String?
    let from: [[String]]
    let replyTo: [[String]]
    let to: [[String]]
    let messageID: String?
    let date: String?
    let contentType: String
    let headers: [String: String]
    let parts: [Part]
    let defects: [String]
    let allCRLF: Bool
    let maxLine: Int
}

/// Runs Python over the rendered messages (one process for all of them).
private func parseWithPython(_ messages: [[UInt8]]) async throws -> [Parsed] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mime-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var paths: [String] = []
    for (index, message) in messages.enumerated() {
        let url = directory.appendingPathComponent("\(index).eml")
        try Data(message).write(to: url)
        paths.append(url.path)
    }
    let output = try await ExternalCommand.python(parserScript, arguments: paths)
    return try JSONDecoder().decode([Parsed].self, from: Data(output.utf8))
}

private struct Case {
    let message: Message
    /// Longest line allowed in the whole message.
    let lineLimit: Int
}

private func makeCases() throws -> [Case] {
    let french = "Élodie Lefèvre — Offre d'été ☀️ : -30 % sur tout"
    let longLine = String(repeating: "Une très longue ligne sans retour, avec des accents é à ç et des signes = ; ", count: 12)
    let text =
        "Bonjour Élodie,\n\n" + longLine + "\n\nLigne avec espaces finaux   \nTabulation\t\n= au début\nÀ bientôt ☀️\n"
        + String(repeating: "x", count: 76) + "\n" + String(repeating: "y", count: 77) + "\n.\nFrom here\n"
    let html = T.frenchHTML()
    let frenchFrom = try Mailbox("offres@boutique.example.fr", name: "Boutique Lefèvre — Offres")
    let elodie = try Mailbox("elodie@example.com", name: "Élodie Lefèvre")
    var cases: [Case] = []
    func add(_ message: Message, lineLimit: Int = 78) { cases.append(Case(message: message, lineLimit: lineLimit)) }

    add(
        try Message(
            from: frenchFrom, replyTo: try Mailbox("reponses@boutique.example.fr", name: "Service client, Boutique"),
            to: [elodie], subject: french, date: Date(timeIntervalSince1970: 1_795_388_339),
            headers: [
                (
                    "List-Unsubscribe",
                    "<https://t.example.com/u/eyJzIjoxMjM0NTY3ODkwfQ.c2ln>, <mailto:unsubscribe@boutique.example.fr?subject=unsub-1234567890>"
                ),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("X-Campaign", "Été 2026 — soldes"),
            ],
            textBody: text, htmlBody: html))
    add(try T.message(subject: "Plain ASCII subject", text: "Just ASCII.\nShort lines.\n"))
    add(try T.message(to: [elodie], subject: "HTML seulement", text: nil, html: "<p>Chère Élodie,</p>\n<p>" + longLine + "</p>"))
    add(
        try T.message(
            subject: "夏のセール開催中！全品三十パーセントオフ、送料無料キャンペーンも実施中です",
            text: String(repeating: "夏のセール開催中！全品三十パーセントオフ。\n", count: 60), html: "<p>" + String(repeating: "限定", count: 500) + "</p>"))
    add(
        try T.message(
            from: try Mailbox("news@example.com", name: "Smith, John \"Johnny\" <CEO>"),
            to: [
                try Mailbox("a@example.com", name: "Lefèvre, Élodie"), try Mailbox("b@bücher.de", name: "Bücher GmbH"),
                try Mailbox("c@example.com", name: "J. R. R. Tolkien"), try Mailbox("d@example.com"),
                try Mailbox("e@example.com", name: "back\\slash \"quote\""),
            ],
            subject: String(repeating: "Long subject with many words that must be folded ", count: 5) + "— fin",
            text: "Text without final newline — é", html: nil))
    add(
        try T.message(
            to: [try Mailbox("josé@example.com", name: "José")], subject: "SMTPUTF8 👍🏽 👩‍👩‍👧‍👦 🇫🇷",
            text: "Hola José\r\nWindows line breaks\r\nand a bare CR\rhere\n", html: "<b>é</b>"))
    add(try T.message(subject: "looks like =?utf-8?q?an_encoded_word?= and a\ttab", text: "=?utf-8?q?body?=\n", html: ""))
    return cases
}

@Suite struct PythonEmailParserTests {
    @Test func pythonParsesEveryMessageBackExactly() async throws {
        let cases = try makeCases()
        let parsed = try await parseWithPython(cases.map { try $0.message.render() })
        try #require(parsed.count == cases.count)
        for (testCase, result) in zip(cases, parsed) {
            let message = testCase.message
            // Python's parser reads raw UTF-8 headers (SMTPUTF8, RFC 6532) with defects
            // but the right values; anything else is a real defect.
            let defects = result.defects.filter {
                !(message.requiresSMTPUTF8 && ($0.contains("NonASCIILocalPartDefect") || $0.contains("UndecodableBytesDefect")))
            }
            #expect(defects.isEmpty, "defects: \(defects)")
            #expect(result.allCRLF)
            #expect(result.maxLine <= testCase.lineLimit, "max line \(result.maxLine)")
            #expect(result.subject == message.subject)
            func pairs(_ boxes: [Mailbox]) -> [[String]] {
                boxes.map { [$0.name ?? "", $0.address.isASCII ? $0.address.asciiValue : $0.address.value] }
            }
            #expect(result.from == pairs([message.from]))
            #expect(result.replyTo == pairs(message.replyTo.map { [$0] } ?? []))
            #expect(result.to == pairs(message.to))
            #expect(result.messageID == "<\(message.messageID)>")
            #expect(result.date == "2026-11-22T22:58:59+00:00")
            for (name, value) in message.headers { #expect(result.headers[name] == value) }

            let expectedParts = [message.textBody.map { ("text/plain", $0) }, message.htmlBody.map { ("text/html", $0) }]
                .compactMap { $0 }
            #expect(result.contentType == (expectedParts.count == 2 ? "multipart/alternative" : expectedParts[0].0))
            try #require(result.parts.count == expectedParts.count)
            for (part, (type, content)) in zip(result.parts, expectedParts) {
                #expect(part.type == type)
                #expect(part.charset == "utf-8")
                var expected = T.canonical(content)
                // A 7bit single part gains the final line break a message must end with.
                if expectedParts.count == 1, part.cte == "7bit", !expected.isEmpty, !expected.hasSuffix("\r\n") { expected += "\r\n" }
                #expect(part.content == expected, "\(type) (\(part.cte ?? "?")) differs")
            }
        }
        // The French campaign: both parts quoted-printable, the CJK one base64.
        #expect(parsed[0].parts.map(\.cte) == ["quoted-printable", "quoted-printable"])
        #expect(parsed[1].parts.map(\.cte) == ["7bit"])
        #expect(parsed[3].parts.map(\.cte) == ["base64", "base64"])
    }

    @Test func pythonDecodesRandomSubjectsAndNames() async throws {
        let alphabet = Array("aZ09 ,.;:\"\\()<>@[]=?_-'éÉàçœ€—☀️😀👍🏽👩‍👩‍👧‍👦漢字カナ한국어\t")
        /// Python's display names turn whitespace runs into one space, and keep the space
        /// between encoded-words (RFC 2047 drops it), so names are built to fit one
        /// encoded-word, with single spaces.
        func pythonSafeName(_ raw: String) -> String {
            var name = ""
            for c in raw where name.utf8.count + String(c).utf8.count <= 40 {
                if c == "\t" || c == " " {
                    if !name.isEmpty && name.last != " " { name.append(" ") }
                } else {
                    name.append(c)
                }
            }
            name = name.trimmingCharacters(in: .whitespaces)
            return name.isEmpty ? "x" : name
        }
        var rng = SeededRandom(seed: 7)
        var messages: [Message] = []
        for _ in 0..<60 {
            func randomText(_ maxLength: Int) -> String {
                var s = ""
                for _ in 0..<(1 + Int(rng.next() % UInt64(maxLength))) { s.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                return s.trimmingCharacters(in: .whitespaces)
            }
            let name = pythonSafeName(randomText(40))
            let subject = randomText(200)
            messages.append(
                try T.message(
                    from: try Mailbox("sender@example.com", name: name),
                    subject: subject.isEmpty ? "x" : subject, text: "x\n"))
        }
        let parsed = try await parseWithPython(messages.map { try $0.render() })
        for (message, result) in zip(messages, parsed) {
            #expect(result.subject == message.subject)
            #expect(result.from.first?.first == message.from.name)
            #expect(result.defects.isEmpty, "defects: \(result.defects) for \(message.subject)")
            #expect(result.maxLine <= 78)
        }
    }
}
