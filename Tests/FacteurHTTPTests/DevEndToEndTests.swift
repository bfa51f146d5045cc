import Facteur
import FacteurTestSupport
import Foundation
import Testing

/// `facteur dev` as a person runs it: its own PostgreSQL, the API, and the worker sending a real
/// campaign through `SMTP_URL` into a real SMTP server.
@Suite(.enabled(if: ExternalTools.available { ExternalTools.hasAiosmtpd }, "needs aiosmtpd (pip install aiosmtpd)"))
struct DevEndToEndTests {
    static func curl(_ arguments: [String]) async throws -> String {
        String(decoding: try await ExternalCommand.run("/usr/bin/env", ["curl", "-sS", "--max-time", "10"] + arguments), as: UTF8.self)
    }

    @Test func facteur_dev_sends_a_campaign_through_smtp_url_end_to_end() async throws {
        let binary = try FacteurBinary.path()
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("facteur-dev-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try ServerProcess.freePort()
        let log = server.directory.appendingPathComponent("dev.log").path
        let dev = try ChildProcess(
            binary, ["dev", "--directory", directory.path],
            environment: [
                "FACTEUR_PORT": "\(port)", "FACTEUR_HOME": testHome.root.path, "SMTP_URL": "smtp://127.0.0.1:\(server.port)",
                "LOG_LEVEL": "info",
            ], log: log)
        defer { dev.terminate() }
        let base = "http://127.0.0.1:\(port)"
        try await WorkerFaultTests.waitUntil("facteur dev answers", timeout: .seconds(120)) {
            guard dev.isRunning else { throw TestSetupError(description: "facteur dev exited: \(WorkerFaultTests.tail(log))") }
            return (try? await Self.curl(["-f", "\(base)/healthz"])) != nil
        }
        let key = try String(contentsOf: directory.appendingPathComponent("api-key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        func post(_ path: String, _ json: String) async throws -> String {
            try await Self.curl([
                "-X", "POST", "\(base)/api\(path)", "-H", "Authorization: Bearer \(key)", "-H", "Content-Type: application/json", "-d",
                json,
            ])
        }
        _ = try await post("/topics", #"{"key": "news", "name": "News"}"#)
        _ = try await post("/subscribers", #"{"email": "elodie@exemple.fr", "name": "Élodie Lefèvre", "topics": ["news"]}"#)
        let template = try await post(
            "/templates", #"{"name": "T", "subject": "x", "layout": "default", "html": "<p>Bonjour {{first_name}}</p>"}"#)
        #expect(template.contains(#""id":1"#), "\(template)")
        let campaign = try await post(
            "/campaigns",
            #"{"name": "C", "template_id": 1, "subject": "Offre d'été pour {{first_name}}", "from_email": "claire@example.com", "topic": "news"}"#
        )
        #expect(campaign.contains(#""status":"draft""#), "\(campaign)")
        #expect(try await post("/campaigns/1/start", "{}").contains(#""queued":1"#))

        try await WorkerFaultTests.waitUntil("the message arrives", timeout: .seconds(30)) {
            try !server.storedMessages().isEmpty
        }
        let message = try #require(try server.storedMessages().first)
        #expect(message.envelope["to"] as? [String] == ["elodie@exemple.fr"])
        let parsed = try await ExternalCommand.python(
            """
            import sys, email, email.policy
            m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
            print(m["subject"]); print(m.get_body(("plain",)).get_content().splitlines()[0])
            """, input: message.bytes)
        #expect(parsed.split(separator: "\n").map(String.init) == ["Offre d'été pour Élodie", "Bonjour Élodie"])
        try await WorkerFaultTests.waitUntil("the campaign is sent", timeout: .seconds(20)) {
            try await Self.curl(["\(base)/api/campaigns/1", "-H", "Authorization: Bearer \(key)"]).contains(#""status":"sent""#)
        }

        kill(dev.pid, SIGTERM)
        try await WorkerFaultTests.waitUntil("facteur dev has stopped", timeout: .seconds(30)) { !dev.isRunning }
        #expect(await dev.exited() == 0, "\(WorkerFaultTests.tail(log))")
    }
}
