import Facteur
import FacteurHTTP
import FacteurTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Mail
import NIOCore
import Prometheus
import Testing

/// A client for the real router on a fresh database, with a valid API key.
struct API: Sendable {
    let client: any TestClientProtocol
    let key: String
    let database: Database

    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let text: String

        /// The body as JSON (fails the test if it is not JSON).
        var json: JSONValue {
            get throws { try JSONValue.parse(Data(text.utf8)) }
        }

        /// `error.field` / `error.message` / `error.code` of an error body.
        func error(_ key: String) throws -> String? {
            guard case .object(let root) = try json, case .object(let error)? = root["error"], case .string(let value)? = error[key] else {
                return nil
            }
            return value
        }

        /// A top-level or nested (`a.b`) string/number value.
        func value(_ path: String) throws -> JSONValue? {
            var current = try json
            for part in path.split(separator: ".") {
                guard case .object(let object) = current, let next = object[String(part)] else { return nil }
                current = next
            }
            return current
        }
    }

    func send(
        _ method: HTTPRequest.Method, _ uri: String, json body: String? = nil, csv: String? = nil, key: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        headers[.authorization] = "Bearer \(key ?? self.key)"
        var buffer: ByteBuffer?
        if let body {
            headers[.contentType] = headers[.contentType] ?? "application/json"
            buffer = ByteBuffer(string: body)
        }
        if let csv {
            headers[.contentType] = "text/csv"
            buffer = ByteBuffer(string: csv)
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: buffer) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    /// Posts an HTML form (`application/x-www-form-urlencoded`), as a browser would: no API key.
    func form(
        _ uri: String, _ fields: [(String, String)], headers extra: HTTPFields = [:],
        contentType: String = "application/x-www-form-urlencoded"
    ) async throws -> Reply {
        var headers = extra
        headers[.contentType] = contentType
        let body = fields.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    /// A public page, as a browser asks for it: no API key.
    func page(_ uri: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await client.execute(uri: uri, method: .get, headers: headers, body: nil) { response in
            Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The value of the `index`th hidden `csrf` field of a page.
    static func csrf(_ html: String, index: Int = 0) -> String? {
        let regex = try! NSRegularExpression(pattern: #"name="csrf" value="([^"]+)""#)
        let matches = regex.matches(in: html, range: NSRange(html.startIndex..., in: html))
        guard index < matches.count, let range = Range(matches[index].range(at: 1), in: html) else { return nil }
        return String(html[range])
    }

    /// The hidden `shown` and `was` fields of a preference page (the topics it listed, those ticked),
    /// which a browser posts with the form.
    static func topicFields(_ html: String) -> [(String, String)] {
        let regex = try! NSRegularExpression(pattern: #"<input type="hidden" name="(shown|was)" value="([^"]+)">"#)
        return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { match in
            (String(html[Range(match.range(at: 1), in: html)!]), String(html[Range(match.range(at: 2), in: html)!]))
        }
    }

    /// Rows in a table, to prove that a refused request wrote nothing.
    func count(_ table: String) async throws -> Int {
        try await database.pool.query("SELECT count(*) AS n FROM \(identifier: table)")[0].decode(Int.self, "n")
    }
}

/// Runs `body` against the real router, a fresh migrated database and a new API key.
func withAPI(
    assembler: MessageAssembler = MessageAssembler(signers: []), transport: (any MailTransport)? = nil, signupLimit: Int = 100,
    _ body: @Sendable (API) async throws -> Void
) async throws {
    try await withFacteurDatabase { database in
        let key = try await APIKeys(database: database).create(name: "tests").secret
        let layouts = try await EmailLayouts.load(from: testHome.templatesDirectory.appendingPathComponent("email"))
        let events = EventBatcher(database: database, logger: Logger(label: "test-events"))
        let router = buildRouter(
            HTTPDependencies(
                database: database, home: testHome, metrics: PrometheusCollectorRegistry(), layouts: layouts, links: testLinks,
                assembler: assembler, transport: transport, events: events, classifier: try RequestClassifier(),
                trustForwarded: true, pages: try await PageTemplates.load(from: testHome.templatesDirectory),
                systemFrom: try Mailbox("news@mail.example.test", name: "Example News"), signupLimit: signupLimit))
        let app = Application(router: router)
        // The router test client runs no services: the batcher's writers run beside it.
        let writers = Task { try await events.run() }
        do {
            try await app.test(.router) { client in
                try await body(API(client: client, key: key, database: database))
            }
        } catch {
            events.stop()
            _ = await writers.result
            throw error
        }
        events.stop()
        _ = await writers.result
    }
}

/// Links as a server at https://mail.example.test with a fixed test secret would build them.
let testLinks = LinkBuilder(
    baseURL: "https://mail.example.test", signer: try! TokenSigner(keys: [("t1", String(repeating: "s", count: 32))]),
    unsubscribeMailbox: "unsubscribe@mail.example.test")
