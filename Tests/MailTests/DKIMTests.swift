import Foundation
import TestSupport
import Testing

@testable import Mail

// DKIM signatures are checked by a real, independent verifier: dkimpy (PyPI `dkimpy`, plus
// `pynacl` for Ed25519), with the key record served through its `dnsfunc` hook, no network.
// Keys are made by the `openssl` command line tool at test time.

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("DKIM keys")
struct DKIMKeyTests {
    @Test func rsaPKCS1AndPKCS8() async throws {
        let keys = try await TestKeys.shared.value
        let pkcs8 = try DKIMKey(pem: keys.rsaPKCS8)
        let pkcs1 = try DKIMKey(pem: keys.rsaPKCS1)
        #expect(keys.rsaPKCS8.contains("BEGIN PRIVATE KEY") && keys.rsaPKCS1.contains("BEGIN RSA PRIVATE KEY"))
        for key in [pkcs8, pkcs1] {
            #expect(key.algorithm == .rsaSHA256)
            #expect(key.bits == 2048)
            #expect(key.publicKeyBase64 == keys.rsaPublic)
            #expect(key.dnsRecord == "v=DKIM1; k=rsa; p=\(keys.rsaPublic)")
        }
        // PKCS#1 v1.5 is deterministic (PSS would not be): same input, same signature.
        let data = bytes("from:a@example.com\r\n")
        let signature = try pkcs8.signature(for: data)
        #expect(signature.count == 256)
        #expect(try pkcs1.signature(for: data) == signature)
    }

    @Test func ed25519() async throws {
        let keys = try await TestKeys.shared.value
        let key = try DKIMKey(pem: keys.ed25519)
        #expect(key.algorithm == .ed25519SHA256)
        #expect(key.publicKeyBase64 == keys.ed25519Public)
        #expect(key.dnsRecord == "v=DKIM1; k=ed25519; p=\(keys.ed25519Public)")
        #expect(try key.signature(for: [1, 2, 3]).count == 64)
    }

    @Test func fromFile() async throws {
        let keys = try await TestKeys.shared.value
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dkim-\(UUID().uuidString).pem").path
        try keys.ed25519.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try DKIMKey(pemFile: path).publicKeyBase64 == keys.ed25519Public)
        let missing = #expect(throws: DKIMError.self) { try DKIMKey(pemFile: path + ".missing") }
        #expect(missing?.kind == .invalidKey)
        #expect(missing?.message.contains(".missing") == true)
    }

    @Test func badKeys() async throws {
        let keys = try await TestKeys.shared.value
        let lines = keys.rsaPKCS8.split(separator: "\n")
        let truncated = (lines.prefix(lines.count - 6) + [lines.last!]).joined(separator: "\n")  // base64 lines missing
        let cases: [(String, String)] = [
            ("", "not PEM"),
            ("hello", "not PEM"),
            ("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "no readable private key"),
            (String(truncated), "no readable private key"),
            (keys.publicOnly, "no readable private key"),
            (keys.encrypted, "encrypted"),
            (keys.encryptedPKCS1, "encrypted"),
            (keys.rsa512, "at least 1024"),
            (keys.ecP256, "not supported"),
        ]
        for (pem, fragment) in cases {
            let error = #expect(throws: DKIMError.self) { try DKIMKey(pem: pem) }
            #expect(error?.kind == .invalidKey)
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "no error") lacks '\(fragment)'")
        }
    }
}

@Suite("DKIM signing, verified by dkimpy")
struct DKIMSignerTests {
    @Test func rsa() async throws {
        let (signer, record) = try await signers().rsa
        let signed = try signer.sign(message: sampleMessage, timestamp: 1_750_000_000)
        let field = text(Array(signed[..<signed.firstRange(of: bytes("\r\nFrom:"))!.lowerBound]))
        #expect(field.hasPrefix("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=news.example.com;"))
        let tags = tagList(field)
        #expect(Set(tags.keys) == ["v", "a", "c", "d", "s", "t", "h", "bh", "b"])
        #expect(tags["s"] == "rsa2025")
        #expect(tags["t"] == "1750000000")
        #expect(
            tags["h"] == "from:from:to:to:subject:subject:date:message-id:mime-version:content-type:"
                + "list-unsubscribe:list-unsubscribe:list-unsubscribe-post:list-unsubscribe-post:reply-to:reply-to")
        #expect(tags["b"]?.count == 344)
        for line in field.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 78, "line too long: \(line)")
        }
        #expect(try await verify(signed, records: record) == [.pass])
    }

    @Test func ed25519() async throws {
        let (signer, record) = try await signers().ed25519
        let signed = try signer.sign(message: sampleMessage)
        #expect(text(signed).hasPrefix("DKIM-Signature: v=1; a=ed25519-sha256; "))
        #expect(try await verify(signed, records: record) == [.pass])
    }

    @Test func dual() async throws {
        let all = try await signers()
        let signed = try all.rsa.signer.sign(message: all.ed25519.signer.sign(message: sampleMessage))
        #expect(try await verify(signed, records: all.rsa.record.merging(all.ed25519.record) { $1 }) == [.pass, .pass])
        // The same in one call, the body hashed once.
        let once = try DKIMSigner.sign(message: sampleMessage, with: [all.ed25519.signer, all.rsa.signer], timestamp: 1_750_000_000)
        #expect(text(once).hasPrefix("DKIM-Signature: v=1; a=ed25519-sha256;"))
        #expect(try await verify(once, records: all.rsa.record.merging(all.ed25519.record) { $1 }) == [.pass, .pass])
        let twice = try all.ed25519.signer.sign(
            message: all.rsa.signer.sign(message: sampleMessage, timestamp: 1_750_000_000), timestamp: 1_750_000_000)
        #expect(once == twice)
    }

    @Test func signatureHeaderOverParsedFields() async throws {
        let (signer, record) = try await signers().ed25519
        let (headers, body) = try DKIMSigner.split(message: sampleMessage)
        #expect(headers.count == 12)
        #expect(headers[2].name == "Subject" && headers[2].value.contains("\r\n =?utf-8?b?"))
        let field = try signer.signatureHeader(headers: headers, body: Array(body))
        #expect(try await verify(bytes(field + "\r\n") + sampleMessage, records: record) == [.pass])
    }

    @Test func tamperingFails() async throws {
        let all = try await signers()
        let records = all.rsa.record.merging(all.ed25519.record) { $1 }
        let signed = text(try all.rsa.signer.sign(message: all.ed25519.signer.sign(message: sampleMessage)))
        let tampered = [
            signed.replacingOccurrences(of: "Bonjour Jean", with: "Bonsoir Jean"),  // body
            signed.replacingOccurrences(of: "IC0zMCAlIHN1ciB0", with: "IC05MCAlIHN1ciB0"),  // subject: -30 % -> -90 %
            "From: Service client <support@evil.example>\r\n" + signed,  // a second From, over-signed
            "Subject: Your account is suspended\r\n" + signed,  // a second Subject, over-signed
            signed.replacingOccurrences(of: "One-Click", with: "One-click"),  // List-Unsubscribe-Post
        ]
        for message in tampered {
            #expect(try await verify(bytes(message), records: records) == [.fail, .fail])
        }
    }

    @Test func relaxedSurvivesWhitespaceChanges() async throws {
        let (signer, record) = try await signers().rsa
        var message = text(try signer.sign(message: sampleMessage))
        message = message.replacingOccurrences(of: "?=\r\n =?utf-8", with: "?=  \t=?utf-8")  // unfold the subject
        message = message.replacingOccurrences(of: "Bonjour Jean,\r\n", with: "Bonjour  \t Jean,   \r\n")
        message += "\r\n\r\n"
        #expect(try await verify(bytes(message), records: record) == [.pass])
    }

    /// dkimpy always counts an extra From when verifying, so Subject shows the difference.
    @Test func withoutOverSigningAnAddedSubjectGoesUnnoticed() async throws {
        let keys = try await TestKeys.shared.value
        let signer = try DKIMSigner(domain: "news.example.com", selector: "ed", key: DKIMKey(pem: keys.ed25519), overSignedHeaders: [])
        let signed = try signer.sign(message: sampleMessage)
        #expect(text(signed).contains("h=from:to:subject:"))
        let record = ["ed._domainkey.news.example.com": signer.key.dnsRecord]
        #expect(try await verify(bytes("Subject: Your account is suspended\r\n") + signed, records: record) == [.pass])
    }

    @Test func concurrentSigningWithOneKey() async throws {
        let all = try await signers()
        for signer in [all.rsa.signer, all.ed25519.signer] {
            let expected = try signer.sign(message: sampleMessage, timestamp: 1)
            let results = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<32 { group.addTask { try signer.sign(message: sampleMessage, timestamp: 1) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 32 && results.allSatisfy { $0 == expected })
        }
    }

    @Test func rejectedInput() async throws {
        let signer = try await signers().ed25519.signer
        let body: [UInt8] = bytes("hi\r\n")
        let cases: [([(name: String, value: String)], String)] = [
            ([("To", " a@example.com")], "no From"),
            ([("From", " a@example.com\r\nBcc: x@example.com")], "not folding"),
            ([("From", " a@example.com\n")], "not folding"),
            ([("From", " a@example.com\r\n")], "not folding"),
        ]
        for (headers, fragment) in cases {
            let error = #expect(throws: DKIMError.self) { try signer.signatureHeader(headers: headers, body: body) }
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "no error")")
        }
        for raw in ["From: a@example.com\nTo: b@example.com\n\nhi\n", " From: a\r\n\r\n", "From a\r\n\r\n", "From: a"] {
            #expect(throws: DKIMError.self) { try signer.sign(message: bytes(raw)) }
        }
        let key = signer.key
        #expect(throws: DKIMError.self) { try DKIMSigner(domain: "exa mple.com", selector: "s", key: key) }
        #expect(throws: DKIMError.self) { try DKIMSigner(domain: "example.com", selector: "s;x", key: key) }
        #expect(throws: DKIMError.self) { try DKIMSigner(domain: "example.com", selector: "s", key: key, signedHeaders: ["to"]) }
    }

    @Test func headerOnlyMessage() async throws {
        let (signer, record) = try await signers().rsa
        let signed = try signer.sign(message: bytes("From: a@news.example.com\r\nSubject: hi\r\n"))
        #expect(tagList(text(signed))["bh"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        #expect(try await verify(signed, records: record) == [.pass])
    }
}

// MARK: - Fixtures

/// A campaign-like message: RFC 2047 subject and name, folded fields, an unsigned field,
/// multipart/alternative with quoted-printable parts.
private let sampleMessage = bytes(
    [
        "From: =?utf-8?q?=C3=89lodie_Lef=C3=A8vre?= <elodie@news.example.com>",
        "To: Jean Dupont <jean.dupont@example.org>",
        "Subject: =?utf-8?b?T2ZmcmUgZOKAmcOpdMOpIOKAlCBqdXNxdeKAmcOgIC0zMCAlIHN1ciB0?=",
        " =?utf-8?b?b3V0IGxlIGNhdGFsb2d1ZQ==?=",
        "Date: Tue, 03 Jun 2025 09:30:00 +0200",
        "Message-ID: <20250603073000.7f3a9c@news.example.com>",
        "MIME-Version: 1.0",
        "Reply-To: support@example.com",
        "List-Unsubscribe: <https://news.example.com/u/eyJzIjoxMjM0NX0.c2lnbmF0dXJl>,",
        "\t<mailto:unsubscribe+12345@news.example.com>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-Campaign:   42",
        "Feedback-ID: 42:campaign:facteur",
        "Content-Type: multipart/alternative;",
        " boundary=\"=_facteur_7f3a9c\"",
        "",
        "--=_facteur_7f3a9c",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Bonjour Jean,",
        "",
        "L=E2=80=99=C3=A9t=C3=A9 arrive : profitez de -30 % sur tout le catalogue ju=",
        "squ=E2=80=99au 30 juin. Les frais de port sont offerts d=C3=A8s 50 =E2=82=",
        "=AC d=E2=80=99achat.",
        "",
        "--=_facteur_7f3a9c",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body><p>Bonjour Jean,</p><p>L=E2=80=99=C3=A9t=C3=A9 arrive&nbsp;: <a h=",
        "ref=3D\"https://news.example.com/t/c/abc/1\">-30 %</a></p></body></html>",
        "--=_facteur_7f3a9c--",
        "",
    ].joined(separator: "\r\n"))

private struct TestKeys: Sendable {
    var rsaPKCS8 = "", rsaPKCS1 = "", ed25519 = "", encrypted = "", encryptedPKCS1 = "", rsa512 = "", ecP256 = "", publicOnly = ""
    /// Public keys as the openssl tool writes them, independently of ``DKIMKey``.
    var rsaPublic = "", ed25519Public = ""

    static let shared = Task<TestKeys, any Error> { try await TestKeys() }

    private init() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-dkim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func openssl(_ arguments: String...) async throws -> [UInt8] {
            try await ExternalCommand.run("/usr/bin/env", ["openssl"] + arguments)
        }
        func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

        _ = try await openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path("rsa.pem"))
        _ = try await openssl("pkey", "-in", path("rsa.pem"), "-traditional", "-out", path("rsa1.pem"))
        _ = try await openssl("genpkey", "-algorithm", "ed25519", "-out", path("ed.pem"))
        _ = try await openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512", "-out", path("rsa512.pem"))
        _ = try await openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("ec.pem"))
        _ = try await openssl("pkey", "-in", path("ed.pem"), "-aes256", "-passout", "pass:secret", "-out", path("enc.pem"))
        _ = try await openssl(
            "pkey", "-in", path("rsa.pem"), "-traditional", "-aes256", "-passout", "pass:secret", "-out", path("enc1.pem"))
        _ = try await openssl("pkey", "-in", path("rsa.pem"), "-pubout", "-out", path("pub.pem"))
        rsaPKCS8 = try read("rsa.pem")
        rsaPKCS1 = try read("rsa1.pem")
        ed25519 = try read("ed.pem")
        encrypted = try read("enc.pem")
        encryptedPKCS1 = try read("enc1.pem")
        rsa512 = try read("rsa512.pem")
        ecP256 = try read("ec.pem")
        publicOnly = try read("pub.pem")
        rsaPublic = Data(try await openssl("pkey", "-in", path("rsa.pem"), "-pubout", "-outform", "DER")).base64EncodedString()
        // An Ed25519 SubjectPublicKeyInfo is a 12-byte prefix and the raw 32-byte key.
        ed25519Public = Data(try await openssl("pkey", "-in", path("ed.pem"), "-pubout", "-outform", "DER").suffix(32))
            .base64EncodedString()
    }
}

private struct Signers {
    var rsa: (signer: DKIMSigner, record: [String: String])
    var ed25519: (signer: DKIMSigner, record: [String: String])
}

private func signers() async throws -> Signers {
    let keys = try await TestKeys.shared.value
    let rsa = try DKIMSigner(domain: "news.example.com", selector: "rsa2025", key: DKIMKey(pem: keys.rsaPKCS8))
    let ed = try DKIMSigner(domain: "news.example.com", selector: "ed2025", key: DKIMKey(pem: keys.ed25519))
    return Signers(
        rsa: (rsa, ["rsa2025._domainkey.news.example.com": "v=DKIM1; k=rsa; p=\(keys.rsaPublic)"]),
        ed25519: (ed, ["ed2025._domainkey.news.example.com": "v=DKIM1; k=ed25519; p=\(keys.ed25519Public)"]))
}

/// The tags of the first field of `message` (a DKIM-Signature), whitespace and folding removed.
private func tagList(_ message: String) -> [String: String] {
    let lines = message.components(separatedBy: "\r\n")
    let field = ([lines[0]] + lines.dropFirst().prefix { $0.hasPrefix(" ") || $0.hasPrefix("\t") }).joined()
    let value = field.drop { $0 != ":" }.dropFirst().filter { !" \t".contains($0) }
    let tags = value.split(separator: ";").map { (String($0.prefix { $0 != "=" }), String($0.drop { $0 != "=" }.dropFirst())) }
    return Dictionary(tags) { first, _ in first }
}

private enum Verdict: String, Decodable { case pass, fail }

/// dkimpy's verdict on every DKIM-Signature of `message`, top first.
private func verify(_ message: [UInt8], records: [String: String]) async throws -> [Verdict] {
    let script = """
        import sys, json, dkim
        records = json.loads(sys.argv[1])
        def dnsfunc(name, timeout=5):
            return records[name.decode().rstrip('.')].encode()
        message = sys.stdin.buffer.read()
        count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b'dkim-signature')
        def verdict(i):
            try:
                return "pass" if dkim.DKIM(message).verify(idx=i, dnsfunc=dnsfunc) else "fail"
            except dkim.ValidationError:
                return "fail"
        print(json.dumps([verdict(i) for i in range(count)]))
        """
    let output = try await ExternalCommand.python(
        script, arguments: [String(decoding: try JSONEncoder().encode(records), as: UTF8.self)], input: message)
    return try JSONDecoder().decode([Verdict].self, from: Data(output.utf8))
}
