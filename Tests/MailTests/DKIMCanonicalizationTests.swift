import Foundation
import TestSupport
import Testing

@testable import Mail

// Relaxed canonicalization (RFC 6376 §3.4.4) against dkimpy's, and against a reference written
// from the RFC's words, on hand-picked and random bodies.

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("DKIM relaxed canonicalization")
struct DKIMCanonicalizationTests {
    /// RFC 6376 §3.4.5: the example message and its two relaxed forms.
    @Test func rfc6376Example() throws {
        let message = bytes("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n")
        // "B : Y" uses the obsolete space before the colon, which `split` refuses, so the
        // fields are given as they would be parsed.
        let headers = [("A", " X"), ("B ", " Y\t\r\n\tZ  ")]
        let canonical = headers.flatMap { DKIMCanonicalization.relaxedHeader(name: $0.0, value: $0.1) + bytes("\r\n") }
        #expect(text(canonical) == "a:X\r\nb:Y Z\r\n")
        let body = Array(message[message.firstRange(of: bytes("\r\n\r\n"))!.upperBound...])
        #expect(text(DKIMCanonicalization.relaxedBody(body)) == " C\r\nD E\r\n")
    }

    @Test(arguments: [
        ("", ""),  // empty body: zero bytes, not CRLF (CRLF is the *simple* algorithm's)
        ("\r\n", ""),
        ("\r\n\r\n \t\r\n", ""),
        ("abc", "abc\r\n"),  // no final CRLF: one is added
        ("abc \t ", "abc\r\n"),
        ("a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"),  // inner empty lines stay
        ("  lead\t\ttab  \r\n", " lead tab\r\n"),
        ("x\r\n \r\n\t\r\ny", "x\r\n\r\n\r\ny\r\n"),  // blank lines before content become empty lines
        ("bare\nlf\rcr\r\n", "bare\nlf\rcr\r\n"),  // only CRLF ends a line
        ("=C3=A9t=C3=A9=20\r\n", "=C3=A9t=C3=A9=20\r\n"),
    ])
    func body(input: String, expected: String) {
        #expect(text(DKIMCanonicalization.relaxedBody(bytes(input))) == expected)
    }

    @Test func emptyBodyHash() {
        // The well-known bh= of every relaxed signature over an empty body.
        let hash = Data(DKIMCanonicalization.relaxedBodyHash([UInt8]())).base64EncodedString()
        #expect(hash == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        #expect(DKIMCanonicalization.relaxedBodyHash(bytes("\r\n\r\n")) == DKIMCanonicalization.relaxedBodyHash([UInt8]()))
    }

    @Test func headers() {
        let cases: [(String, String, String)] = [
            ("Subject", " =?utf-8?b?T2ZmcmUg?=\r\n =?utf-8?b?b3V0?=", "subject:=?utf-8?b?T2ZmcmUg?= =?utf-8?b?b3V0?="),
            (
                "LIST-Unsubscribe", "\t<https://x.example/u/1>,\r\n\t <mailto:u@x.example> \t",
                "list-unsubscribe:<https://x.example/u/1>, <mailto:u@x.example>"
            ),
            ("X-Empty", "", "x-empty:"),
            ("X-Blank", "  \t ", "x-blank:"),
            ("To", "a  \t b", "to:a b"),
        ]
        for (name, value, expected) in cases {
            #expect(text(DKIMCanonicalization.relaxedHeader(name: name, value: value)) == expected)
        }
    }

    /// The same bodies and fields through dkimpy's own relaxed canonicalization.
    @Test func agreesWithDkimpy() async throws {
        let bodies = ["", "\r\n", "abc", "a \t b  \r\n\r\n", " C \r\nD \t E\r\n\r\n\r\n", "x\r\n\t\r\n\r\ny \r\n \r\n", "é  ü\r\n"]
        let script = """
            import sys, json
            from dkim.canonicalization import Relaxed
            for body in json.loads(sys.stdin.read()):
                print(Relaxed.canonicalize_body(body.encode()).hex())
            """
        let input = try JSONEncoder().encode(bodies)
        let output = try await ExternalCommand.python(script, input: Array(input))
        let expected = bodies.map { DKIMCanonicalization.relaxedBody(bytes($0)).map { String(format: "%02x", $0) }.joined() }
        #expect(output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) == expected)
    }
}

/// Random bodies from an alphabet rich in whitespace and line-break pieces, so that
/// the word-at-a-time fast path and its fallbacks are all exercised.
private func randomBodies(count: Int, seed: UInt64, endWithCRLF: Bool) -> [[UInt8]] {
    var random = SeededRandom(seed: seed)
    func next() -> UInt64 { random.next() }
    let pieces: [[UInt8]] = [
        bytes("a"), bytes("b"), bytes("word"), bytes("=20"), bytes(" "), bytes(" "), bytes("  "), bytes("\t"),
        bytes("\r\n"), bytes("\r\n"), bytes("\r"), bytes("\n"), bytes("é"), bytes("abcdefghijkl"), bytes("x y z w v"),
    ]
    return (0..<count).map { _ in
        var body: [UInt8] = []
        for _ in 0..<Int(next() % 60) { body += pieces[Int(next() % UInt64(pieces.count))] }
        if endWithCRLF { body += bytes("\r\n") }
        return body
    }
}

/// RFC 6376 §3.4.4 written as plainly as possible, to check the fast implementation.
private func referenceRelaxedBody(_ body: [UInt8]) -> [UInt8] {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    var i = 0
    while i < body.count {
        if body[i] == 0x0D && i + 1 < body.count && body[i + 1] == 0x0A {
            lines.append(current)
            current = []
            i += 2
        } else {
            current.append(body[i])
            i += 1
        }
    }
    if !current.isEmpty { lines.append(current) }
    var canonical = lines.map { line -> [UInt8] in
        var out: [UInt8] = []
        for byte in line {
            let isWSP = byte == 0x20 || byte == 0x09
            if isWSP && (out.last == 0x20) { continue }
            out.append(isWSP ? 0x20 : byte)
        }
        while out.last == 0x20 { out.removeLast() }
        return out
    }
    while canonical.last?.isEmpty == true { canonical.removeLast() }
    return canonical.flatMap { $0 + [0x0D, 0x0A] }
}

extension DKIMCanonicalizationTests {
    @Test func randomBodiesMatchReference() {
        for body in randomBodies(count: 3000, seed: 42, endWithCRLF: false) {
            #expect(DKIMCanonicalization.relaxedBody(body) == referenceRelaxedBody(body), "\(text(body).debugDescription)")
        }
    }

    /// dkimpy differs from RFC 6376 only for a last line without CRLF that ends in WSP
    /// (it keeps that WSP), so these bodies all end with CRLF.
    @Test func randomBodiesMatchDkimpy() async throws {
        let bodies = randomBodies(count: 400, seed: 7, endWithCRLF: true)
        let script = """
            import sys
            from dkim.canonicalization import Relaxed
            for line in sys.stdin.read().split():
                print(Relaxed.canonicalize_body(bytes.fromhex(line)).hex())
            """
        let hex = { (b: [UInt8]) in b.map { String(format: "%02x", $0) }.joined() }
        let output = try await ExternalCommand.python(script, input: bytes(bodies.map { hex($0) + "\n" }.joined()))
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(lines == bodies.map { hex(DKIMCanonicalization.relaxedBody($0)) })
    }
}
