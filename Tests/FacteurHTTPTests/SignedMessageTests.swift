import Facteur
import FacteurTestSupport
import Foundation
import Hummingbird
import Mail
import Testing

@Suite("A campaign message, end to end")
struct SignedMessageTests {
    /// RSA-2048 and Ed25519 keys made by the openssl CLI, with their DNS records.
    static func makeSigners() async throws -> (signers: [DKIMSigner], records: [String: String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rsa = directory.appendingPathComponent("rsa.pem").path
        let ed = directory.appendingPathComponent("ed.pem").path
        _ = try await ExternalCommand.run(
            "/usr/bin/env", ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa])
        _ = try await ExternalCommand.run("/usr/bin/env", ["openssl", "genpkey", "-algorithm", "ed25519", "-out", ed])
        let signers = try MessageAssembler.signers(fromEnvironment: ["FACTEUR_DKIM": "rsa2026:example.com:\(rsa), ed2026:example.com:\(ed)"]
        )
        var records: [String: String] = [:]
        for signer in signers { records["\(signer.selector)._domainkey.\(signer.domain)."] = signer.key.dnsRecord }
        return (signers, records)
    }

    @Test func a_french_campaign_parses_in_python_and_both_dkim_signatures_verify_with_dkimpy() async throws {
        let (signers, records) = try await Self.makeSigners()
        try await withAPI(assembler: MessageAssembler(signers: signers)) { api in
            _ = try await api.send(.post, "/api/topics", json: #"{"key": "news", "name": "News"}"#)
            let template = try await api.send(
                .post, "/api/templates",
                json:
                    #"{"name": "Été", "subject": "x", "html": "<p>Bonjour {{first_name}}, découvrez <a href=\"https://example.com/offre\">l'offre d'été</a> ☀️</p>", "layout": "default"}"#
            )
            guard case .number(let templateID)? = try template.value("id") else { return }
            let campaign = try await api.send(
                .post, "/api/campaigns",
                json:
                    #"{"name": "Été", "template_id": \#(Int(templateID)), "subject": "{{first_name}}, offre d'été ☀️ : -30 % sur tout", "from_name": "Claire — Équipe", "from_email": "claire@example.com", "topic": "news"}"#
            )
            guard case .number(let campaignID)? = try campaign.value("id") else { return }
            _ = try await api.send(
                .post, "/api/subscribers",
                json: #"{"email": "elodie@exemple.fr", "name": "Élodie Lefèvre", "locale": "fr", "topics": ["news"]}"#)
            _ = try await api.send(.post, "/api/campaigns/\(Int(campaignID))/start")
            let preview = try await api.send(.get, "/api/campaigns/\(Int(campaignID))/preview?subscriber=elodie@exemple.fr")
            #expect(preview.status == .ok, "\(preview.text)")
            guard case .string(let raw)? = try preview.value("raw") else { return }

            let script = """
                import sys, json, email, email.policy, dkim
                data = sys.stdin.buffer.read()
                records = json.loads(sys.argv[1])
                message = email.message_from_bytes(data, policy=email.policy.default)
                html = message.get_body(('html',)).get_content()
                text = message.get_body(('plain',)).get_content()
                def dns(name, timeout=5):
                    name = name.decode() if isinstance(name, bytes) else name
                    return records.get(name, "").encode()
                d = dkim.DKIM(data)
                verdicts = [d.verify(idx=i, dnsfunc=dns) for i in range(2)]
                print(json.dumps({"subject": message["subject"], "from": str(message["from"]), "to": str(message["to"]),
                    "unsubscribe": message["list-unsubscribe"], "post": message["list-unsubscribe-post"],
                    "html_has_greeting": "Bonjour Élodie" in html, "text_has_link": "l'offre d'été (https://example.com/offre)" in text,
                    "french_footer": "Gérer vos préférences" in html and "Se désabonner (https://mail.example.test/u/" in text,
                    "dkim": verdicts, "crlf": b"\\n" not in data.replace(b"\\r\\n", b""),
                    "longest": max(len(line) for line in data.split(b"\\r\\n"))}))
                """
            let output = try await ExternalCommand.python(
                script, arguments: [String(decoding: try JSONEncoder().encode(records), as: UTF8.self)], input: Array(raw.utf8))
            struct Parsed: Decodable {
                let subject, from, to, unsubscribe, post: String
                let html_has_greeting, text_has_link, french_footer, crlf: Bool
                let dkim: [Bool]
                let longest: Int
            }
            let parsed = try JSONDecoder().decode(Parsed.self, from: Data(output.utf8))
            #expect(parsed.subject == "Élodie, offre d'été ☀️ : -30 % sur tout")
            #expect(parsed.from == "Claire — Équipe <claire@example.com>")
            #expect(parsed.to == "Élodie Lefèvre <elodie@exemple.fr>")
            #expect(parsed.unsubscribe.hasPrefix("<https://mail.example.test/u/t1."))
            // The one-click URL first (RFC 8058), then mailto: with the same token in the subject.
            let urlToken = parsed.unsubscribe.dropFirst("<https://mail.example.test/u/".count).prefix { $0 != ">" }
            #expect(parsed.unsubscribe.hasSuffix(", <mailto:unsubscribe@mail.example.test?subject=unsubscribe%20\(urlToken)>"))
            #expect(parsed.post == "List-Unsubscribe=One-Click")
            #expect(parsed.html_has_greeting)
            #expect(parsed.text_has_link)
            #expect(parsed.french_footer, "the default layout's footer is in the subscriber's language")
            #expect(parsed.dkim == [true, true], "dkimpy must verify both the RSA and the Ed25519 signature")
            #expect(parsed.crlf)
            #expect(parsed.longest <= 998)
        }
    }

    @Test func a_bad_dkim_setting_is_refused_with_a_clear_message() {
        #expect(throws: FacteurError.self) { try MessageAssembler.signers(fromEnvironment: ["FACTEUR_DKIM": "only-two:parts"]) }
        let missing = #expect(throws: FacteurError.self) {
            try MessageAssembler.signers(fromEnvironment: ["FACTEUR_DKIM": "s1:example.com:/nonexistent/key.pem"])
        }
        #expect(missing?.message.contains("s1:example.com") == true)
    }
}

@Suite("Test sends")
struct TestSendTests {
    @Test func a_test_send_lands_in_the_outbox_marked_as_a_test_and_bad_input_sends_nothing() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-outbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outbox = try OutboxTransport(directory: folder)
        try await withAPI(transport: outbox) { api in
            let body = try await CampaignAPITests.prepare(api)
            let created = try await api.send(.post, "/api/campaigns", json: body)
            guard case .number(let id)? = try created.value("id") else { return }
            for (bad, field) in [
                (#"{"to": []}"#, "to"), (#"{"to": ["nope"]}"#, "to[0]"),
                (#"{"to": ["a@example.com"], "subscriber": "ghost@example.com"}"#, ""),
            ] {
                let reply = try await api.send(.post, "/api/campaigns/\(Int(id))/test", json: bad)
                #expect(reply.status == (field.isEmpty ? .notFound : .unprocessableContent), "\(bad): \(reply.text)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
            let sent = try await api.send(.post, "/api/campaigns/\(Int(id))/test", json: #"{"to": ["qa@example.com", "Boss@Example.com"]}"#)
            #expect(sent.status == .ok, "\(sent.text)")
            #expect(try sent.value("sent") == .number(2))
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".eml") }
            #expect(files.count == 2)
            let output = try await ExternalCommand.python(
                """
                import sys, email, email.policy, json
                print(json.dumps(sorted([str(email.message_from_binary_file(open(p, 'rb'), policy=email.policy.default)['subject']) for p in sys.argv[1:]])))
                """, arguments: files.map { folder.appendingPathComponent($0).path })
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == #"["[Test] Bonjour ", "[Test] Bonjour "]"#)
            #expect(try await api.count("messages") == 0, "a test send queues nothing")
        }
        try await withAPI { api in
            let body = try await CampaignAPITests.prepare(api)
            let created = try await api.send(.post, "/api/campaigns", json: body)
            guard case .number(let id)? = try created.value("id") else { return }
            #expect(
                try await api.send(.post, "/api/campaigns/\(Int(id))/test", json: #"{"to": ["qa@example.com"]}"#).status
                    == .serviceUnavailable)
        }
    }
}
