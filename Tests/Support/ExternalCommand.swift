import Foundation

/// Runs the real external tools the tests check our output with (python3's `email` package,
/// dkimpy, the openssl CLI).
public enum ExternalCommand {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `executable`, feeding `input` on stdin; returns stdout. stderr is drained on its own thread
    /// (a chatty child cannot block on a full pipe) and shown when the command fails.
    ///
    /// The wait happens on a thread of its own: tests run on Swift's cooperative pool, two threads
    /// on a two-core machine, and a test blocked there on a child process stalls every other test
    /// (seen in CI as database pools timing out and pauses taking seconds).
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8] = []) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runBlocking(executable, arguments, input: input) })
            }
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let writer = Thread { [input] in
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()  // to EOF before waiting
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failed(
                description: "\(arguments.prefix(2).joined(separator: " ")) exited with \(process.terminationStatus): \(errors.text())")
        }
        return Array(output)
    }

    /// `python3 -c script arguments…` with `input` on stdin; returns stdout as text.
    public static func python(_ script: String, arguments: [String] = [], input: [UInt8] = []) async throws -> String {
        String(decoding: try await run("/usr/bin/env", ["python3", "-c", script] + arguments, input: input), as: UTF8.self)
    }
}

/// Collects a pipe's bytes on a thread of its own.
private final class ErrorCollector: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
