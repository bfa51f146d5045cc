import Crypto
import Foundation

/// Signs and verifies the tokens in every link Facteur puts in an email (preferences, unsubscribe,
/// open pixel, clicks): `<key id>.<payload>.<HMAC-SHA256>`, base64url, no padding.
///
/// Keys rotate: new tokens use the first key; every listed key still verifies, so links in mail
/// already sent keep working until their key is removed. Verification is constant-time and a bad
/// token of any shape is simply `nil` — callers show a page that reveals nothing.
public struct TokenSigner: Sendable {
    /// What a token stands for.
    public enum Purpose: UInt8, Sendable {
        /// A subscriber (preference center, unsubscribe).
        case subscriber = 1
        /// One sent message (open pixel, click tracking, one-click unsubscribe of its topic).
        case message = 2
        /// Double opt-in confirmation of a subscriber.
        case confirmation = 3
        /// A single-use form token (CSRF): subject id, issue time, nonce.
        case form = 4
        /// The unsubscribe link of one sent message. Not `message`: that token is in every tracked
        /// link, which people copy and share; it must not unsubscribe anyone or lead to their page.
        case unsubscribe = 5
    }

    /// A verified token's contents.
    public struct Claims: Sendable, Equatable {
        public var purpose: Purpose
        public var id: Int64
    }

    /// Each key's HMAC with the key already absorbed: a copy per token skips the key schedule
    /// (measured: a fifth of a tracking request's token check).
    private let keys: [(id: String, mac: MACPrototype)]

    /// - Parameter keys: `(key id, secret)` pairs, newest first. Key ids are 1–8 letters or digits.
    public init(keys: [(id: String, secret: String)]) throws {
        guard !keys.isEmpty else { throw FacteurError(.invalid, "at least one signing key is needed") }
        self.keys = try keys.map { pair in
            guard (1...8).contains(pair.id.count), pair.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw FacteurError(.invalid, "key id '\(pair.id)' must be 1 to 8 letters or digits")
            }
            guard pair.secret.utf8.count >= 32 else {
                throw FacteurError(.invalid, "the secret for key '\(pair.id)' must be at least 32 bytes")
            }
            return (pair.id, MACPrototype(key: Array(pair.secret.utf8)))
        }
    }

    /// From `FACTEUR_SECRETS` (`id:secret,id2:secret2`, newest first) or `FACTEUR_SECRET` (key id `k1`).
    public static func fromEnvironment(_ environment: [String: String]) throws -> TokenSigner? {
        if let list = environment["FACTEUR_SECRETS"], !list.isEmpty {
            let pairs = try list.split(separator: ",").map { entry -> (id: String, secret: String) in
                guard let colon = entry.firstIndex(of: ":") else {
                    throw FacteurError(.invalid, "FACTEUR_SECRETS entries look like id:secret")
                }
                return (String(entry[..<colon]), String(entry[entry.index(after: colon)...]))
            }
            return try TokenSigner(keys: pairs)
        }
        if let secret = environment["FACTEUR_SECRET"], !secret.isEmpty {
            return try TokenSigner(keys: [("k1", secret)])
        }
        return nil
    }

    public func sign(_ purpose: Purpose, id: Int64) -> String {
        sign(purpose, values: [UInt64(bitPattern: id)])
    }

    /// A token carrying several numbers (a form token: who, when, a nonce).
    public func sign(_ purpose: Purpose, values: [UInt64]) -> String {
        var payload: [UInt8] = [purpose.rawValue]
        for var value in values {
            repeat {
                payload.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
                value >>= 7
            } while value > 0
        }
        let (keyID, prototype) = keys[0]
        let body = keyID + "." + Base64URL.encode(payload)
        return body + "." + Base64URL.encode(prototype.mac(Array(body.utf8)))
    }

    /// The claims of a genuine token of the expected purpose, else nil.
    public func verify(_ token: String, as purpose: Purpose) -> Claims? {
        guard let values = verify(token, as: purpose, count: 1) else { return nil }
        return Claims(purpose: purpose, id: Int64(bitPattern: values[0]))
    }

    /// The `count` numbers of a genuine token of the expected purpose, else nil.
    public func verify(_ token: String, as purpose: Purpose, count: Int) -> [UInt64]? {
        guard token.utf8.count <= 120 else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let prototype = keys.first(where: { $0.id == parts[0] })?.mac,
            let mac = Base64URL.decode(parts[2]), mac.count == 16,
            let payload = Base64URL.decode(parts[1]), payload.count >= 1 + count
        else { return nil }
        // The signed text is the token up to its last dot: "<key id>.<payload>".
        let expected = prototype.mac(Array(token.utf8[..<parts[2].startIndex].dropLast()))
        guard Self.constantTimeEqual(mac, expected), payload[0] == purpose.rawValue else { return nil }
        var values: [UInt64] = []
        values.reserveCapacity(count)
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for byte in payload.dropFirst() {
            guard values.count < count, shift < 64 else { return nil }
            value |= UInt64(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 {
                values.append(value)
                value = 0
                shift = 0
            }
        }
        // Every number complete, none missing, nothing after the last.
        guard values.count == count, shift == 0 else { return nil }
        return values
    }

    /// HMAC-SHA256 truncated to 128 bits (ample against forgery, short in a URL), from a prototype
    /// that has absorbed its key. The HMAC state is a value: each call works on its own copy, so
    /// sharing the prototype between threads is safe (hence the unchecked Sendable).
    final class MACPrototype: @unchecked Sendable {
        private let prototype: HMAC<SHA256>

        init(key: [UInt8]) { prototype = HMAC<SHA256>(key: SymmetricKey(data: key)) }

        func mac(_ bytes: [UInt8]) -> [UInt8] {
            var hmac = prototype
            hmac.update(data: bytes)
            return Array(hmac.finalize().prefix(16))
        }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Base64url without padding (RFC 4648 §5).
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// By table: Foundation's base64 plus three replacements cost ~70× more per token.
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest > 1 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int(value >> 18)])
            out.append(alphabet[Int(value >> 12 & 63)])
            if rest > 1 { out.append(alphabet[Int(value >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// By table, as `encode`: a token is decoded on every tracked open and click.
    static func decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // A lone 6-bit group is no byte, and unused trailing bits must be zero: only the canonical
        // spelling decodes, so one token cannot have many forms.
        guard bits < 6, buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
