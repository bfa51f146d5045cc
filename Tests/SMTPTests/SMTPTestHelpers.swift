import Foundation
import NIOCore
import Testing

@testable import SMTP

/// Parses a raw server transcript into replies, so tests read like the wire protocol.
func replies(_ raw: String) -> [SMTPReply] {
    var decoder = SMTPReplyDecoder()
    decoder.append(ByteBuffer(string: raw))
    var result: [SMTPReply] = []
    while let reply = try! decoder.next() { result.append(reply) }
    return result
}

func reply(_ raw: String) -> SMTPReply {
    let parsed = replies(raw.utf8.last == UInt8(ascii: "\n") ? raw : raw + "\r\n")
    precondition(parsed.count == 1, "expected exactly one reply in \(raw)")
    return parsed[0]
}
