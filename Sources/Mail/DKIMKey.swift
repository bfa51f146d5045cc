import CLibCrypto
import Crypto
import Foundation

/// A DKIM private key, parsed once and reused for every signature.
///
/// - RSA (`a=rsa-sha256`): PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`)
///   PEM, at least 1024 bits (RFC 8301; use 2048). Signing is RSASSA-PKCS1-v1_5 with
///   SHA-256 through OpenSSL's libcrypto, about twice swift-crypto's RSA rate.
/// - Ed25519 (`a=ed25519-sha256`, RFC 8463): PKCS#8 PEM as written by
///   `openssl genpkey -algorithm ed25519`. The 32-byte seed is taken out of the key by
///   OpenSSL and signing is done by swift-crypto, about three times OpenSSL's rate.
///
/// Encrypted PEM keys are refused (no passphrase prompt is ever shown).
///
/// Thread safety: the key never changes after `init`. Every RSA signature uses its own
/// `EVP_MD_CTX`, and OpenSSL allows one `EVP_PKEY` to be used by many threads at once as
/// long as nobody modifies it, so one `DKIMKey` may sign from any number of tasks at once.
public final class DKIMKey: @unchecked Sendable {
    /// The DKIM signing algorithm (`a=` tag) a key makes signatures with.
    public enum Algorithm: String, Sendable, Hashable {
        case rsaSHA256 = "rsa-sha256"
        case ed25519SHA256 = "ed25519-sha256"

        /// The `k=` value of the DNS key record.
        public var keyType: String { self == .rsaSHA256 ? "rsa" : "ed25519" }
    }

    private enum Backend {
        case rsa(OpaquePointer)  // EVP_PKEY*, owned, freed in deinit
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    private let backend: Backend
    /// `rsa-sha256` or `ed25519-sha256`, from the key's type.
    public let algorithm: Algorithm
    /// Key size in bits (RSA modulus size; 256 for Ed25519).
    public let bits: Int
    /// The `p=` value to publish: base64 of the DER SubjectPublicKeyInfo for RSA, of the
    /// raw 32-byte public key for Ed25519.
    public let publicKeyBase64: String

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    public var dnsRecord: String { "v=DKIM1; k=\(algorithm.keyType); p=\(publicKeyBase64)" }

    /// Reads a PEM private key file (see the type's documentation for the formats).
    public convenience init(pemFile path: String) throws(DKIMError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DKIMError(.invalidKey, "cannot read DKIM key file \(path): \(error.localizedDescription)")
        }
        try self.init(pem: String(decoding: data, as: UTF8.self), source: "DKIM key file \(path)")
    }

    /// Parses a PEM private key (see the type's documentation for the formats).
    public convenience init(pem: String) throws(DKIMError) {
        try self.init(pem: pem, source: "the DKIM key")
    }

    /// An Ed25519 key from swift-crypto.
    public init(ed25519 key: Curve25519.Signing.PrivateKey) {
        backend = .ed25519(key)
        algorithm = .ed25519SHA256
        bits = 256
        publicKeyBase64 = key.publicKey.rawRepresentation.base64EncodedString()
    }

    private init(pem: String, source: String) throws(DKIMError) {
        guard pem.contains("-----BEGIN") else {
            throw DKIMError(.invalidKey, "\(source) is not PEM: no '-----BEGIN ...-----' line")
        }
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.contains("Proc-Type: 4,ENCRYPTED") {
            throw DKIMError(.invalidKey, "\(source) holds an encrypted private key; give an unencrypted PEM key")
        }
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            // A callback that supplies no passphrase: OpenSSL must never prompt on a terminal.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let pkey = parsed else {
            throw DKIMError(.invalidKey, "\(source) holds no readable private key (\(Self.openSSLErrors()))")
        }
        ERR_clear_error()  // decoders that were tried and did not match may have left errors
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA:
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= 1024 else {
                EVP_PKEY_free(pkey)
                throw DKIMError(.invalidKey, "\(source): RSA key of \(bits) bits; DKIM needs at least 1024 (use 2048)")
            }
            guard let spki = Self.publicKeyDER(pkey) else {
                EVP_PKEY_free(pkey)
                throw DKIMError(.invalidKey, "\(source): cannot encode the public key (\(Self.openSSLErrors()))")
            }
            backend = .rsa(pkey)
            algorithm = .rsaSHA256
            self.bits = bits
            publicKeyBase64 = Data(spki).base64EncodedString()
        case EVP_PKEY_ED25519:
            defer { EVP_PKEY_free(pkey) }
            var seed = [UInt8](repeating: 0, count: 32)
            var length = seed.count
            guard EVP_PKEY_get_raw_private_key(pkey, &seed, &length) == 1, length == 32,
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
            else {
                throw DKIMError(.invalidKey, "\(source): cannot read the Ed25519 private key (\(Self.openSSLErrors()))")
            }
            seed.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }  // best effort: drop our copy of the seed
            backend = .ed25519(key)
            algorithm = .ed25519SHA256
            bits = 256
            publicKeyBase64 = key.publicKey.rawRepresentation.base64EncodedString()
        case let id:
            EVP_PKEY_free(pkey)
            let name =
                id == EVP_PKEY_RSA_PSS
                ? "RSA-PSS (cannot make PKCS#1 v1.5 signatures)" : OBJ_nid2sn(id).map { String(cString: $0) } ?? "type \(id)"
            throw DKIMError(.invalidKey, "\(source): \(name) keys are not supported; use RSA or Ed25519")
        }
    }

    deinit {
        if case .rsa(let pkey) = backend { EVP_PKEY_free(pkey) }
    }

    /// Signs `data` as DKIM does: RSASSA-PKCS1-v1_5 over SHA-256(`data`) for RSA;
    /// PureEdDSA Ed25519 over the 32-byte SHA-256(`data`) for Ed25519 (RFC 8463 §3).
    public func signature(for data: [UInt8]) throws(DKIMError) -> [UInt8] {
        switch backend {
        case .ed25519(let key):
            do {
                return Array(try key.signature(for: Array(SHA256.hash(data: data))))
            } catch {
                throw DKIMError(.signingFailed, "Ed25519 signing failed: \(error)")
            }
        case .rsa(let pkey):
            return try Self.rsaSign(pkey, data)
        }
    }

    private static func rsaSign(_ pkey: OpaquePointer, _ data: [UInt8]) throws(DKIMError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw DKIMError(.signingFailed, "out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var pctx: OpaquePointer?
        guard EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nil, pkey) == 1,
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
        else {
            throw DKIMError(.signingFailed, "RSA signing setup failed (\(Self.openSSLErrors()))")
        }
        var signature = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(pkey)))
        var length = signature.count
        let status = data.withUnsafeBufferPointer { input in
            EVP_DigestSign(ctx, &signature, &length, input.baseAddress, input.count)
        }
        guard status == 1 else { throw DKIMError(.signingFailed, "RSA signing failed (\(Self.openSSLErrors()))") }
        if length < signature.count { signature.removeLast(signature.count - length) }
        return signature
    }

    private static func publicKeyDER(_ pkey: OpaquePointer) -> [UInt8]? {
        let length = i2d_PUBKEY(pkey, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(pkey, &cursor)
        }
        return written == length ? der : nil
    }

    /// Drains this thread's OpenSSL error queue into one line.
    private static func openSSLErrors() -> String {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "no OpenSSL error reported" : messages.joined(separator: "; ")
    }
}

/// Why a DKIM key could not be loaded or a message could not be signed.
/// ``message`` (also ``description``) says what is wrong in plain English.
public struct DKIMError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The key file or PEM text is unreadable, of an unsupported type or too small.
        case invalidKey
        /// Domain, selector or header list of a ``DKIMSigner`` is unusable.
        case invalidConfiguration
        /// The message cannot be signed as given (no From, malformed header, bare LF …).
        case invalidMessage
        /// The crypto library failed.
        case signingFailed
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
