import ArgumentParser
import Facteur
import Foundation

/// `facteur import FILE`: CSV import with a progress bar and a report of bad rows.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import subscribers from a CSV file (header: email, name, status, locale, timezone, topics, custom fields).")

    @Argument(help: "The CSV file.") var file: String
    @Option(name: .customLong("topic"), help: "Subscribe every imported row to this topic key (repeatable).") var topics: [String] = []
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "No progress bar.") var quiet = false

    func run() async throws {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw ValidationErrorText("cannot open \(file)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let bar = ProgressBar(total: size, enabled: !quiet && isatty(2) == 1)
        let started = ContinuousClock.now
        try await withDatabase { database in
            let report = try await SubscriberImporter(database: database).run(
                topics: topics, progress: { bytes, rows in bar.update(bytes, rows: rows) }
            ) {
                let data = try handle.read(upToCount: 1 << 20) ?? Data()
                return data.isEmpty ? nil : [UInt8](data)
            }
            bar.finish()
            let seconds =
                Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(
                    "Imported \(file) in \(String(format: "%.2f", seconds)) s: \(report.inserted) new, \(report.updated) updated, \(report.failed) refused."
                )
                for failure in report.failures.prefix(50) {
                    print("  line \(failure.index)\(failure.field.map { " (\($0))" } ?? ""): \(failure.message)")
                }
                if report.failed > 50 { print("  … and \(report.failed - 50) more (use --json for the first 1000)") }
            }
        }
    }
}

/// `facteur export`: every subscriber as CSV on standard output.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export subscribers as CSV to standard output.")
    @Flag(help: "Prefix cells that start with = + - @ with ' so spreadsheets do not run them.") var spreadsheet = false

    func run() async throws {
        try await withDatabase { database in
            _ = try await SubscriberExporter(database: database).export(forSpreadsheets: spreadsheet) { bytes in
                FileHandle.standardOutput.write(Data(bytes))
            }
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: @unchecked Sendable {
    // Updated from the single importing task.
    private let total: Int
    private let enabled: Bool
    private var lastDrawn = ContinuousClock.now

    init(total: Int, enabled: Bool) {
        self.total = max(total, 1)
        self.enabled = enabled
    }

    func update(_ done: Int, rows: Int) {
        guard enabled, ContinuousClock.now - lastDrawn > .milliseconds(100) else { return }
        lastDrawn = ContinuousClock.now
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let line =
            "\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(Int(fraction * 100))%  \(rows) rows"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
