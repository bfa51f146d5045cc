import NIOCore

/// A command the client sends. Addresses inside are validated before a command is built (see
/// ``SMTPEnvelope``), so encoding cannot fail.
enum SMTPCommand: Sendable, Hashable {
    case ehlo(String)
    case helo(String)
    case startTLS
    /// `AUTH PLAIN` with the RFC 4954 initial response, saving one round trip.
    case authPlain(username: String, password: String)
    case authLogin
    /// A base64 line answering a 334 challenge.
    case authResponse([UInt8])
    case mailFrom(String, parameters: [String])
    case rcptTo(String)
    case data
    /// An already dot-stuffed body including the terminating `.CRLF` (see ``SMTPMessageBody``).
    case messageBody(ByteBuffer)
    case rset
    case quit

    func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .ehlo(let name): buffer.writeString("EHLO \(name)\r\n")
        case .helo(let name): buffer.writeString("HELO \(name)\r\n")
        case .startTLS: buffer.writeString("STARTTLS\r\n")
        case .authPlain(let username, let password):
            let token = Base64.encode([0] + Array(username.utf8) + [0] + Array(password.utf8))
            buffer.writeString("AUTH PLAIN \(token)\r\n")
        case .authLogin: buffer.writeString("AUTH LOGIN\r\n")
        case .authResponse(let bytes): buffer.writeString("\(Base64.encode(bytes))\r\n")
        case .mailFrom(let address, let parameters):
            buffer.writeString("MAIL FROM:<\(address)>")
            for parameter in parameters { buffer.writeString(" \(parameter)") }
            buffer.writeString("\r\n")
        case .rcptTo(let address): buffer.writeString("RCPT TO:<\(address)>\r\n")
        case .data: buffer.writeString("DATA\r\n")
        case .messageBody(var body): buffer.writeBuffer(&body)
        case .rset: buffer.writeString("RSET\r\n")
        case .quit: buffer.writeString("QUIT\r\n")
        }
    }
}

/// Validation that keeps caller-supplied addresses from smuggling extra commands into the session.
enum SMTPAddress {
    static func validate(_ address: String, phase: SMTPPhase, allowEmpty: Bool) throws(SMTPError) {
        if address.isEmpty && !allowEmpty {
            throw invalid("empty address", phase: phase)
        }
        for byte in address.utf8
        where byte == 0x0D || byte == 0x0A || byte == 0x00 || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") {
            throw invalid("address \(String(reflecting: address)) contains a forbidden character (CR, LF, NUL, < or >)", phase: phase)
        }
    }

    static func isASCII(_ address: String) -> Bool { address.utf8.allSatisfy { $0 < 0x80 } }

    private static func invalid(_ message: String, phase: SMTPPhase) -> SMTPError {
        SMTPError(kind: .invalidAddress, phase: phase, scope: .message, isTransient: false, message: message)
    }
}

/// Turns a message into the bytes sent after `354`: line endings normalised to CRLF, lines starting
/// with `.` doubled (RFC 5321 §4.5.2), a final CRLF guaranteed, and the `.CRLF` terminator appended.
enum SMTPMessageBody {
    struct Encoded {
        var bytes: ByteBuffer
        /// Size of the message as the server will store it (without stuffing and terminator), for `SIZE=`.
        var messageSize: Int
        var hasEightBitData: Bool
    }

    /// Copies line by line: each line's bytes go into the buffer in one write (a byte-at-a-time
    /// `writeInteger` made this the costliest step of sending a 48 KB message).
    static func encode(_ message: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Encoded {
        let cr: UInt8 = 0x0D
        let lf: UInt8 = 0x0A
        let dot = UInt8(ascii: ".")
        var out = allocator.buffer(capacity: message.count + message.count / 32 + 5)
        var messageSize = 0
        var highBits: UInt8 = 0
        var endsAtLineStart = true
        message.withUnsafeBufferPointer { bytes in
            let count = bytes.count
            var index = 0
            while index < count {
                // One line: up to the next CR or LF.
                var end = index
                while end < count {
                    let byte = bytes[end]
                    if byte == cr || byte == lf { break }
                    highBits |= byte
                    end += 1
                }
                if end > index {
                    if bytes[index] == dot { out.writeInteger(dot) }  // dot-stuffing (RFC 5321 §4.5.2)
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[index..<end]))
                    messageSize += end - index
                    endsAtLineStart = false
                }
                guard end < count else { break }
                // CRLF, bare LF and bare CR all become one CRLF: servers must not see bare CR or LF.
                if bytes[end] == cr && end + 1 < count && bytes[end + 1] == lf { end += 1 }
                out.writeInteger(UInt16(cr) << 8 | UInt16(lf))
                messageSize += 2
                endsAtLineStart = true
                index = end + 1
            }
        }
        if !endsAtLineStart {
            out.writeInteger(UInt16(cr) << 8 | UInt16(lf))
            messageSize += 2
        }
        out.writeString(".\r\n")
        return Encoded(bytes: out, messageSize: messageSize, hasEightBitData: highBits >= 0x80)
    }
}

/// Minimal RFC 4648 base64 encoder for AUTH, avoiding a Foundation dependency in the protocol core.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
