import ArgumentParser
import Facteur
import Foundation
import Logging

/// `facteur campaign …`: the campaign API from the command line.
struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Create, preview, test, start and follow campaigns.",
        subcommands: [Create.self, Preview.self, Test.self, Start.self, Pause.self, Resume.self, Cancel.self, Status.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a draft from a JSON file (the API's POST /api/campaigns body).")
        @Option(help: "The JSON file; - for standard input.") var file: String

        func run() async throws {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            try await withCampaigns { campaigns, _ in
                let campaign = try await campaigns.create(try JSONValue.parse(data))
                print("Created campaign \(campaign.id) (\(campaign.status.rawValue)): \(campaign.name)")
            }
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the signed MIME message one subscriber would get.")
        @Argument var id: Int64
        @Option(help: "Subscriber id or email.") var subscriber: String

        func run() async throws {
            try await withCampaigns { campaigns, parts in
                let preview = try await campaigns.preview(
                    id: id, subscriber: subscriber, layouts: parts.layouts, builder: try parts.environment.linkBuilder(),
                    assembler: parts.assembler)
                FileHandle.standardOutput.write(Data(preview.raw))
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a [Test] copy to a few addresses through FACTEUR_OUTBOX.")
        @Argument var id: Int64
        @Option(name: .customLong("to"), help: "A recipient (repeatable).") var recipients: [String]
        @Option(help: "Render as this subscriber (id or email).") var subscriber: String?

        func run() async throws {
            try await withCampaigns { campaigns, parts in
                guard let folder = parts.environment.string("FACTEUR_OUTBOX") else {
                    throw ValidationErrorText("set FACTEUR_OUTBOX to a folder for .eml files (SMTP arrives with the worker)")
                }
                var body: [String: JSONValue] = ["to": .array(recipients.map { .string($0) })]
                if let subscriber { body["subscriber"] = .string(subscriber) }
                let report = try await campaigns.testSend(
                    id: id, .object(body), layouts: parts.layouts, builder: try parts.environment.linkBuilder(), assembler: parts.assembler,
                    transport: try OutboxTransport(directory: URL(fileURLWithPath: folder)))
                print("Sent \(report.sent) test message(s): \(report.deliveries.joined(separator: ", "))")
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start sending: queue the audience and wake the workers.")
        @Argument var id: Int64
        func run() async throws {
            try await withCampaigns { campaigns, _ in
                let report = try await campaigns.start(id: id)
                print("Campaign \(id) is sending: \(report.queued) messages queued, \(report.links) links tracked.")
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        @Argument var id: Int64
        func run() async throws {
            try await withCampaigns { c, _ in print("Campaign \(id) is \(try await c.pause(id: id).status.rawValue).") }
        }
    }

    struct Resume: AsyncParsableCommand {
        @Argument var id: Int64
        func run() async throws {
            try await withCampaigns { c, _ in print("Campaign \(id) is \(try await c.resume(id: id).status.rawValue).") }
        }
    }

    struct Cancel: AsyncParsableCommand {
        @Argument var id: Int64
        func run() async throws {
            try await withCampaigns { c, _ in print("Campaign \(id) is \(try await c.cancel(id: id).status.rawValue).") }
        }
    }

    struct Status: AsyncParsableCommand {
        /// `sending [#########.....] 61% 6100/10000 · 812.5/s · ETA 4m48s · queued 3900, sent 6080, skipped 20`
        static func line(_ progress: Campaigns.Progress) -> String {
            let width = 30
            let filled = progress.total == 0 ? 0 : width * progress.done / progress.total
            var line =
                "\(progress.status.rawValue) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))]"
            if progress.total > 0 { line += " \(100 * progress.done / progress.total)% \(progress.done)/\(progress.total)" }
            if progress.rate > 0 { line += " · \(progress.rate)/s" }
            if let eta = progress.etaSeconds { line += " · ETA \(eta / 60)m\(String(format: "%02d", eta % 60))s" }
            let counts = progress.counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            if !counts.isEmpty { line += " · " + counts.joined(separator: ", ") }
            return line
        }

        static let configuration = CommandConfiguration(abstract: "Show the status and message counts; --follow redraws until it ends.")
        @Argument var id: Int64
        @Flag(help: "Keep redrawing a progress bar every second until the campaign stops sending.") var follow = false

        func run() async throws {
            try await withCampaigns { campaigns, _ in
                repeat {
                    let progress = try await campaigns.progress(id: id)
                    FileHandle.standardOutput.write(Data((follow ? "\r\(Self.line(progress))\u{1B}[K" : Self.line(progress) + "\n").utf8))
                    guard follow, progress.status == .sending || progress.status == .scheduled else { break }
                    try await Task.sleep(for: .seconds(1))
                } while true
                if follow { print() }
            }
        }
    }
}

/// What campaign commands share, read from the environment once.
struct CampaignParts {
    let environment: Environment
    let layouts: EmailLayouts
    let assembler: MessageAssembler
}

/// Opens the database and hands a `Campaigns` service to `body`.
func withCampaigns(_ body: (Campaigns, CampaignParts) async throws -> Void) async throws {
    let environment = Environment()
    try await withDatabase { database in
        let layouts = try await EmailLayouts.load(from: environment.home.templatesDirectory.appendingPathComponent("email"))
        let parts = CampaignParts(
            environment: environment, layouts: layouts,
            assembler: MessageAssembler(signers: try MessageAssembler.signers(fromEnvironment: environment.values)))
        try await body(Campaigns(database: database, templates: Templates(database: database, layouts: layouts)), parts)
    }
}
