import Foundation
import NIOPosix

/// Where finished messages go: an SMTP server (the send-worker issue) or a folder of `.eml` files.
public protocol MailTransport: Sendable {
    /// Hands one message over; returns what identifies it there (a queue id, a file name).
    func send(_ message: [UInt8], from: String, to recipients: [String], requiresSMTPUTF8: Bool) async throws -> String

    /// How many sends it can really carry at once (an SMTP pool's connections), nil for no limit.
    /// The worker starts no more than this, so its last look at the campaign's state comes right
    /// before the message goes out, not before a wait in the transport's queue.
    var concurrentSends: Int? { get }
}

extension MailTransport {
    public var concurrentSends: Int? { nil }
}

/// Writes each message as an `.eml` file, for `facteur dev` without `SMTP_URL` and for tests.
/// Files are written under a temporary name and renamed, so a reader never sees half a message.
public struct OutboxTransport: MailTransport {
    public let directory: URL

    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
    }

    public func send(_ message: [UInt8], from: String, to recipients: [String], requiresSMTPUTF8: Bool) async throws -> String {
        // File writes block: they run on NIO's thread pool, not on Swift's cooperative threads.
        try await NIOThreadPool.singleton.runIfActive { try write(message, from: from, to: recipients) }
    }

    private func write(_ message: [UInt8], from: String, to recipients: [String]) throws -> String {
        let stamp = Int(Date().timeIntervalSince1970 * 1000)
        let name = "\(stamp)-\(UUID().uuidString.prefix(8).lowercased()).eml"
        let temporary = directory.appendingPathComponent("." + name)
        // The envelope goes in front as Return-Path/X-Envelope-To, as a local delivery agent would.
        var bytes = Array("Return-Path: <\(from)>\r\nX-Envelope-To: \(recipients.joined(separator: ", "))\r\n".utf8)
        bytes += message
        try Data(bytes).write(to: temporary)
        guard rename(temporary.path, directory.appendingPathComponent(name).path) == 0 else {
            throw FacteurError(.conflict, "cannot move \(name) into the outbox: errno \(errno)")
        }
        return name
    }
}

/// A transport holding connections that should be closed politely (SMTP's QUIT) at shutdown.
public protocol ClosableTransport: MailTransport {
    func close() async
}
