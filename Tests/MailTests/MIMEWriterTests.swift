import Foundation
import TestSupport
import Testing

@testable import Mail

private typealias T = MIMETestSupport

private func qp(_ text: String, endsWithSoftBreak: Bool = false) -> String {
    String(decoding: QuotedPrintable.encode(Array(text.utf8), endsWithSoftBreak: endsWithSoftBreak), as: UTF8.self)
}

private func body(_ message: [UInt8]) -> String { String(decoding: T.split(message).body, as: UTF8.self) }

/// Checks the line rules of a whole rendered message.
private func checkLines(_ raw: [UInt8], bodyLimit: Int = 78, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(T.isStrictCRLF(raw), "CRLF line breaks only, final CRLF", sourceLocation: sourceLocation)
    let lines = T.lines(raw).dropLast()
    #expect(lines.allSatisfy { $0.count <= 998 }, sourceLocation: sourceLocation)
    let longest = lines.map(\.count).max() ?? 0
    #expect(longest <= bodyLimit, "longest line \(longest)", sourceLocation: sourceLocation)
}

@Suite struct MIMEWriterTests {
    @Test func textOnly() throws {
        let raw = try T.message(text: "Hello Ann,\nSee you soon.\n").render()
        #expect(T.rawField("MIME-Version", in: raw) == "1.0")
        #expect(T.rawField("Content-Type", in: raw) == "text/plain; charset=utf-8")
        #expect(T.rawField("Content-Transfer-Encoding", in: raw) == "7bit")
        #expect(body(raw) == "Hello Ann,\r\nSee you soon.\r\n")
        checkLines(raw)
    }

    @Test func htmlOnly() throws {
        let raw = try T.message(text: nil, html: "<p>Bonjour Élodie</p>").render()
        #expect(T.rawField("Content-Type", in: raw) == "text/html; charset=utf-8")
        #expect(T.rawField("Content-Transfer-Encoding", in: raw) == "quoted-printable")
        // No final line break in the input: a soft break ends the body, adding nothing.
        #expect(body(raw) == "<p>Bonjour =C3=89lodie</p>=\r\n")
        // Short and dense in accents: base64 is smaller, and still ends in CRLF.
        let dense = try T.message(text: nil, html: "<p>Été</p>").render()
        #expect(T.rawField("Content-Transfer-Encoding", in: dense) == "base64")
        #expect(body(dense) == "PHA+w4l0w6k8L3A+\r\n")
    }

    @Test func sevenBitBodyGetsAFinalLineBreak() throws {
        #expect(body(try T.message(text: "no newline").render()) == "no newline\r\n")
        #expect(body(try T.message(text: "").render()) == "")
    }

    @Test func textAndHTMLMakeMultipartAlternativeTextFirst() throws {
        let raw = try T.message(text: "Plain é\n", html: "<p>Rich é</p>\n").render()
        let contentType = try #require(T.rawField("Content-Type", in: raw))
        #expect(contentType.hasPrefix("multipart/alternative;\r\n boundary=\"=_"))
        #expect(T.rawField("Content-Transfer-Encoding", in: raw) == nil)
        let boundary = String(contentType.split(separator: "\"")[1])
        let expected = """
            --\(boundary)\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: quoted-printable\r
            \r
            Plain =C3=A9\r
            \r
            --\(boundary)\r
            Content-Type: text/html; charset=utf-8\r
            Content-Transfer-Encoding: quoted-printable\r
            \r
            <p>Rich =C3=A9</p>\r
            \r
            --\(boundary)--\r

            """
        #expect(body(raw) == expected)
        checkLines(raw)
    }

    @Test func headerOrderAndRenderParts() throws {
        let message = try T.message(
            replyTo: T.mailbox("reply@example.com"),
            headers: [("List-Unsubscribe", "<https://e.com/u/1>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")],
            text: "a\n", html: "<b>a</b>\n")
        let parts = try message.renderParts()
        #expect(
            parts.headers.map(\.name) == [
                "From", "Reply-To", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
                "MIME-Version", "Content-Type",
            ])
        #expect(parts.headers[0].value == " Example News <news@example.com>")
        #expect(
            parts.headers[9].value == " multipart/alternative;\r\n boundary=\"" + parts.headers[9].value.split(separator: "\"")[1] + "\"")
        // Rendering is deterministic (the boundary derives from the Message-ID).
        #expect(try message.render() == message.render())
        #expect(parts.bytes() == (try message.render()))
        let signed = parts.bytes(prepending: ["DKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc"])
        #expect(signed.starts(with: Array("DKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc\r\nFrom: Example News".utf8)))
        #expect(signed.suffix(parts.body.count).elementsEqual(parts.body))
    }

    @Test func renderPartsHeadersAreWhatDKIMSplitReads() throws {
        let message = try T.message(
            from: T.mailbox("offres@boutique.example.fr", "Boutique Lefèvre — Offres"),
            subject: "Élodie Lefèvre — Offre d'été ☀️ : -30 % sur tout",
            headers: [
                ("List-Unsubscribe", "<https://t.example.com/u/eyJzIjoxMjM0NTY3ODkwfQ.c2ln>, <mailto:u@example.com?subject=u-1>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
            text: "Bonjour\n", html: T.frenchHTML(kilobytes: 2))
        let parts = try message.renderParts()
        let (headers, body) = try DKIMSigner.split(message: try message.render())
        #expect(headers.map(\.name) == parts.headers.map(\.name))
        #expect(headers.map(\.value) == parts.headers.map(\.value))
        #expect(Array(body) == parts.body)
    }

    // MARK: - Transfer encoding choice

    @Test func encodingChoice() throws {
        func cte(_ text: String) throws -> String? { T.rawField("Content-Transfer-Encoding", in: try T.message(text: text).render()) }
        #expect(try cte("Short ASCII lines\nonly.\n") == "7bit")
        #expect(try cte(String(repeating: "a", count: 78) + "\n") == "7bit")
        #expect(try cte(String(repeating: "a", count: 79) + "\n") == "quoted-printable")
        #expect(try cte("Bonjour Élodie, découvrez nos nouveautés de l'été : -30 % sur toute la collection.\n") == "quoted-printable")
        #expect(try cte("Déjà là, été.\n") == "base64", "short and dense in accents: base64 is smaller")
        #expect(try cte("bell \u{7}\n") == "quoted-printable")
        #expect(try cte(String(repeating: "夏のセール開催中！全品三十パーセントオフ。\n", count: 40)) == "base64")
        #expect(try cte(String(repeating: "Распродажа: скидка тридцать процентов на всё. ", count: 20)) == "base64")
    }

    @Test func base64ForMostlyCJKText() throws {
        let text = String(repeating: "夏のセール開催中！全品三十パーセントオフ。\n", count: 40)
        let raw = try T.message(text: text).render()
        let encoded = T.split(raw).body
        let lines = T.lines(encoded).dropLast()
        #expect(lines.dropLast().allSatisfy { $0.count == 76 })
        let decoded = try #require(Data(base64Encoded: Data(encoded), options: .ignoreUnknownCharacters))
        #expect(String(decoding: decoded, as: UTF8.self) == T.canonical(text))
        checkLines(raw)
    }

    @Test func longFrenchHTMLStaysWithinLineLimits() throws {
        let html = T.frenchHTML()
        let raw = try T.message(text: "Bonjour\n", html: html).render()
        checkLines(raw, bodyLimit: 78)
    }

    // MARK: - Quoted-printable

    @Test func quotedPrintableEdgeCases() {
        let a76 = String(repeating: "a", count: 76)
        let a75 = String(repeating: "a", count: 75)
        #expect(qp(a76) == a76, "a line of exactly 76 needs no soft break")
        #expect(qp(a76 + "\r\nb") == a76 + "\r\nb")
        #expect(qp(a76 + "b") == a75 + "=\r\nab")
        #expect(qp(a76, endsWithSoftBreak: true) == a75 + "=\r\na")
        #expect(qp("a=") == "a=3D")
        #expect(qp("=") == "=3D")
        #expect(qp(String(repeating: "a", count: 74) + "=") == String(repeating: "a", count: 74) + "=\r\n=3D")
        #expect(qp(String(repeating: "a", count: 73) + "=") == String(repeating: "a", count: 73) + "=3D")
        #expect(qp("trailing  \r\nspaces \nend ") == "trailing =20\r\nspaces=20\r\nend=20")
        #expect(qp("tab\t\nin\tside") == "tab=09\r\nin\tside")
        #expect(qp("end ", endsWithSoftBreak: true) == "end ")
        #expect(qp("é😀") == "=C3=A9=F0=9F=98=80")
        #expect(qp("a\r\nb\nc\rd\r\r\n") == "a\r\nb\r\nc\r\nd\r\n\r\n")
        #expect(qp("\u{0}\u{7F}~!") == "=00=7F~!")
        #expect(qp("") == "")
        // An escape is never split across a soft break.
        #expect(qp(String(repeating: "a", count: 74) + "é") == String(repeating: "a", count: 74) + "=\r\n=C3=A9")
        #expect(qp(String(repeating: "a", count: 72) + "é") == String(repeating: "a", count: 72) + "=C3=\r\n=A9")
        #expect(qp(String(repeating: "a", count: 70) + "é\n") == String(repeating: "a", count: 70) + "=C3=A9\r\n")
    }

    @Test func quotedPrintableRoundTripsRandomText() throws {
        let pieces = ["a", "b", "Z", " ", "  ", "\t", "=", "é", "€", "😀", "\n", "\r\n", "\r", ".", "From ", "=3D", "~", "\u{0}", "\u{7F}"]
        var rng = SeededRandom(seed: 42)
        for round in 0..<400 {
            var text = ""
            let count = Int(rng.next() % 300)
            for _ in 0..<count {
                let roll = rng.next() % 10
                text += roll < 5 ? String(repeating: "x", count: Int(rng.next() % 90)) : pieces[Int(rng.next() % UInt64(pieces.count))]
            }
            let soft = round % 2 == 1
            let encoded = QuotedPrintable.encode(Array(text.utf8), endsWithSoftBreak: soft)
            let lines = T.lines(encoded)
            for (index, line) in lines.enumerated() {
                let limit = soft && index == lines.count - 1 ? 75 : 76
                #expect(line.count <= limit, "line \(index) of round \(round): \(line.count)")
                if !(soft && index == lines.count - 1) {  // there the caller's "=" follows
                    #expect(line.last != 0x20 && line.last != 0x09, "no trailing whitespace in round \(round)")
                }
                #expect(line.allSatisfy { $0 >= 0x20 && $0 < 0x7F || $0 == 0x09 }, "printable ASCII only")
            }
            let decoded = try #require(T.decodeQuotedPrintable(encoded))
            #expect(decoded == Array(T.canonical(text).utf8), "round \(round)")
        }
    }

    @Test func randomBodiesRenderAndDecode() throws {
        let pieces = ["word ", "  ", "\t", "=", "é", "€", "漢字", "😀", "\n", "\r\n", "\r", "\u{0}", "--=_", ".", "trailing \n"]
        var rng = SeededRandom(seed: 99)
        for round in 0..<200 {
            var text = ""
            for _ in 0..<Int(rng.next() % 200) {
                text +=
                    rng.next() % 3 == 0
                    ? String(repeating: "x", count: Int(rng.next() % 120)) : pieces[Int(rng.next() % UInt64(pieces.count))]
            }
            let raw = try T.message(text: text, html: round % 2 == 0 ? nil : "<p>\(text)</p>").render()
            checkLines(raw, bodyLimit: 998)
            guard round % 2 == 0 else { continue }
            let encoded = T.split(raw).body
            let decoded: [UInt8]
            switch T.rawField("Content-Transfer-Encoding", in: raw) {
            case "7bit":
                #expect(T.lines(encoded).allSatisfy { $0.count <= 78 })
                decoded = encoded
            case "quoted-printable":
                #expect(T.lines(encoded).allSatisfy { $0.count <= 76 })
                decoded = try #require(T.decodeQuotedPrintable(encoded))
            default:
                #expect(T.lines(encoded).allSatisfy { $0.count <= 76 })
                decoded = Array(try #require(Data(base64Encoded: Data(encoded), options: .ignoreUnknownCharacters)))
            }
            var expected = T.canonical(text)
            if !expected.isEmpty && !expected.hasSuffix("\r\n") && T.rawField("Content-Transfer-Encoding", in: raw) == "7bit" {
                expected += "\r\n"
            }
            #expect(String(decoding: decoded, as: UTF8.self) == expected, "round \(round)")
        }
    }

    // MARK: - Boundary

    @Test func boundaryNeverOccursInContent() throws {
        // 7bit parts full of boundary-like text.
        let text = (0..<50).map { "--=_line \($0) =_ =_x ------=_" }.joined(separator: "\n") + "\n"
        let raw = try T.message(text: text, html: "<p>--=_</p>\n").render()
        let contentType = try #require(T.rawField("Content-Type", in: raw))
        let boundary = String(contentType.split(separator: "\"")[1])
        #expect(boundary.hasPrefix("=_") && boundary.count == 26)
        #expect(body(raw).components(separatedBy: boundary).count - 1 == 3)
        #expect(T.rawField("Content-Transfer-Encoding", in: raw) == nil)
    }

    @Test func boundaryCollisionDrawsAgain() throws {
        let placeholder = Array("placeholder".utf8)
        let first = placeholder.withUnsafeBufferPointer {
            MIMEAssembler.makeBoundary(seed: "seed@example.com", avoiding: [BodyEncoder($0)])
        }
        let clashing = Array("text with \(String(decoding: first, as: UTF8.self)) inside\n".utf8)
        let second = clashing.withUnsafeBufferPointer { buffer in
            let encoder = BodyEncoder(buffer)
            #expect(encoder.encoding == .sevenBit)
            return MIMEAssembler.makeBoundary(seed: "seed@example.com", avoiding: [encoder])
        }
        #expect(first != second)
        #expect(!clashing.withUnsafeBufferPointer { MIMEAssembler.contains($0, second) })
    }
}
