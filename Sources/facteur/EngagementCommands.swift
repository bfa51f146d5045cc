import ArgumentParser
import Facteur
import Foundation

/// `facteur bounces import DIR`: applies the bounce and complaint reports of a Maildir.
struct BouncesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bounces", abstract: "Apply bounce (DSN) and complaint (ARF) reports.", subcommands: [ImportMaildir.self])

    struct ImportMaildir: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Apply every report of a Maildir (new/ and cur/); processed files in new/ move to cur/ marked seen.",
            discussion: "Importing a report twice changes nothing. Files that are not DSN or ARF reports are listed and left in place.")
        @Argument(help: "The Maildir (with new/ and cur/), or a folder of .eml files.") var directory: String
        @Flag(help: "Leave files where they are (do not move new/ to cur/).") var keepFiles = false

        func run() async throws {
            let environment = Environment()
            let root = URL(fileURLWithPath: directory)
            let files = try Self.reportFiles(in: root)
            guard !files.isEmpty else {
                throw ValidationErrorText("no report files in \(directory) (a Maildir's new/ and cur/, or the folder itself)")
            }
            let settings = try BounceProcessor.Settings.fromEnvironment(environment.values)
            try await withDatabase { database in
                let processor = BounceProcessor(database: database, signer: try environment.linkBuilder().signer, settings: settings)
                var outcomes: [String: Int] = [:]
                var unreadable: [(String, String)] = []
                for file in files {
                    do {
                        let results = try await processor.process(raw: Array(try Data(contentsOf: file)))
                        for result in results { outcomes[result.outcome, default: 0] += 1 }
                        if !keepFiles { Self.markSeen(file) }
                    } catch let error as FacteurError {
                        unreadable.append((file.lastPathComponent, error.message))
                    }
                }
                print(
                    "\(files.count) files: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
                for (name, reason) in unreadable { print("not a report: \(name): \(reason)") }
            }
        }

        static func reportFiles(in root: URL) throws -> [URL] {
            let manager = FileManager.default
            var files: [URL] = []
            // A Maildir: new/ and cur/ (tmp/ holds deliveries in progress); else a plain folder.
            let maildir = [root.appendingPathComponent("new"), root.appendingPathComponent("cur")].filter {
                var isDirectory: ObjCBool = false
                return manager.fileExists(atPath: $0.path, isDirectory: &isDirectory) && isDirectory.boolValue
            }
            for folder in maildir.isEmpty ? [root] : maildir {
                guard let names = try? manager.contentsOfDirectory(atPath: folder.path) else { continue }
                for name in names.sorted() where !name.hasPrefix(".") {
                    var isDirectory: ObjCBool = false
                    let url = folder.appendingPathComponent(name)
                    if manager.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(url) }
                }
            }
            return files
        }

        /// Maildir delivery convention: a read message moves from new/ to cur/ with the S flag.
        static func markSeen(_ file: URL) {
            guard file.deletingLastPathComponent().lastPathComponent == "new" else { return }
            let cur = file.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("cur")
            let name = file.lastPathComponent.contains(":2,") ? file.lastPathComponent : file.lastPathComponent + ":2,S"
            try? FileManager.default.moveItem(at: file, to: cur.appendingPathComponent(name))
        }
    }
}

/// `facteur engagement rebuild`.
struct EngagementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engagement", abstract: "The per-subscriber engagement rollup.", subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every subscriber's engagement from the events kept (event writes wait meanwhile).")

        func run() async throws {
            try await withDatabase { database in
                let started = ContinuousClock.now
                let rows = try await Engagement(database: database).rebuild()
                print("rebuilt engagement of \(rows) subscribers in \(ContinuousClock.now - started)")
            }
        }
    }
}

/// `facteur scores rebuild`.
struct ScoresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scores", abstract: "Lead scores.", subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every lead score from the rules, the events kept and the attributes (scoring waits meanwhile).")

        func run() async throws {
            try await withDatabase { database in
                let started = ContinuousClock.now
                let changed = try await ScoringRules(database: database).rebuild()
                print("rebuilt lead scores in \(ContinuousClock.now - started): \(changed) changed")
            }
        }
    }
}
