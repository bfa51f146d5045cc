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

    static func encode(_ message: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Encoded {
        let cr: UInt8 = 0x0D
        let lf: UInt8 = 0x0A
        let dot = UInt8(ascii: ".")
        var out = allocator.buffer(capacity: message.count + message.count / 32 + 5)
        var atLineStart = true
        var messageSize = 0
        var eightBit = false
        var index = 0
        while index < message.count {
            let byte = message[index]
            if byte >= 0x80 { eightBit = true }
            if byte == cr || byte == lf {
                // CRLF, bare LF and bare CR all become one CRLF: servers must not see bare CR or LF.
                if byte == cr && index + 1 < message.count && message[index + 1] == lf { index += 1 }
                out.writeBytes([cr, lf])
                messageSize += 2
                atLineStart = true
            } else {
                if atLineStart && byte == dot { out.writeInteger(dot) }
                out.writeInteger(byte)
                messageSize += 1
                atLineStart = false
            }
            index += 1
        }
        if !atLineStart {
            out.writeBytes([cr, lf])
            messageSize += 2
        }
        out.writeString(".\r\n")
        return Encoded(bytes: out, messageSize: messageSize, hasEightBitData: eightBit)
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
