import Foundation
import Testing

@testable import Facteur

@Suite("Signed link tokens")
struct TokenSignerTests {
    static let old = String(repeating: "o", count: 32)
    static let new = String(repeating: "n", count: 40)

    @Test(arguments: [Int64(1), 127, 128, 300, 1 << 40, Int64.max])
    func tokens_round_trip(id: Int64) throws {
        let signer = try TokenSigner(keys: [("k2", Self.new)])
        let token = signer.sign(.message, id: id)
        #expect(signer.verify(token, as: .message) == .init(purpose: .message, id: id))
        #expect(signer.verify(token, as: .subscriber) == nil, "a message token must not open the preference center")
        #expect(token.count < 60)
    }

    @Test func every_single_character_change_is_refused() throws {
        let signer = try TokenSigner(keys: [("k1", Self.new)])
        let token = signer.sign(.subscriber, id: 4242)
        var chars = Array(token)
        for index in chars.indices {
            let original = chars[index]
            for replacement in ["A", "b", "0", "-", "_", "."] where Character(replacement) != original {
                chars[index] = Character(replacement)
                #expect(signer.verify(String(chars), as: .subscriber) == nil, "accepted a token changed at \(index)")
            }
            chars[index] = original
        }
        for cut in 1..<token.count {
            #expect(signer.verify(String(token.prefix(cut)), as: .subscriber) == nil)
        }
        for junk in [
            "", ".", "..", "k1..", "k1.AQ.", "x.y.z", String(repeating: "a", count: 500), "k1.AQ.AAAAAAAAAAAAAAAAAAAAAA", "ünï.cødé.✓",
        ] {
            #expect(signer.verify(junk, as: .subscriber) == nil)
        }
    }

    @Test func rotation_keeps_old_links_working_and_signs_with_the_newest_key() throws {
        let before = try TokenSigner(keys: [("k1", Self.old)])
        let oldToken = before.sign(.subscriber, id: 9)
        let rotated = try TokenSigner(keys: [("k2", Self.new), ("k1", Self.old)])
        #expect(rotated.verify(oldToken, as: .subscriber)?.id == 9)
        #expect(rotated.sign(.subscriber, id: 9).hasPrefix("k2."))
        let retired = try TokenSigner(keys: [("k2", Self.new)])
        #expect(retired.verify(oldToken, as: .subscriber) == nil)
    }

    @Test func weak_or_malformed_keys_are_refused() {
        #expect(throws: FacteurError.self) { try TokenSigner(keys: [("k1", "short")]) }
        #expect(throws: FacteurError.self) { try TokenSigner(keys: [("bad id!", Self.new)]) }
        #expect(throws: FacteurError.self) { try TokenSigner(keys: []) }
        #expect(throws: FacteurError.self) { try TokenSigner.fromEnvironment(["FACTEUR_SECRETS": "nocolon"]) }
        #expect((try? TokenSigner.fromEnvironment([:])) == nil)
    }

    @Test func base64url_round_trips_and_refuses_every_non_canonical_spelling() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64URL.encode(bytes)
            #expect(Base64URL.decode(Substring(text)) == bytes)
        }
        // "AB" would decode to the byte 0x00 with a stray 1 in the unused bits; "A" is no byte at all.
        for bad in ["AB", "A", "AAAAA", "AA==", "AA+/", "A A", "é"] { #expect(Base64URL.decode(Substring(bad)) == nil, "\(bad)") }
        #expect(Base64URL.decode("AA") == [0])
    }
}

@Suite("Form tokens")
struct FormTokenTests {
    let signer = try! TokenSigner(keys: [("k1", String(repeating: "s", count: 32))])

    @Test func several_numbers_round_trip_and_the_count_must_match() {
        let values: [UInt64] = [0, 127, 128, UInt64(Int64.max), .max]
        let token = signer.sign(.form, values: values)
        #expect(signer.verify(token, as: .form, count: 5) == values)
        #expect(signer.verify(token, as: .form, count: 4) == nil)
        #expect(signer.verify(token, as: .form, count: 6) == nil)
        #expect(signer.verify(token, as: .subscriber) == nil)
        #expect(signer.verify(signer.sign(.subscriber, id: 7), as: .form, count: 1) == nil, "purposes never mix")
    }

    @Test func a_form_token_names_its_subject_and_expires() throws {
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = { @Sendable [now] in now }
        let forms = FormTokens(signer: signer, lifetime: 3600, clock: clock)
        let token = forms.issue(for: 42)
        #expect(try forms.verify(token, for: 42).subject == 42)
        #expect(throws: FacteurError.self) { try forms.verify(token, for: 43) }
        #expect(throws: FacteurError.self) { try forms.verify(nil, for: 42) }
        #expect(throws: FacteurError.self) { try forms.verify(String(token.dropLast()), for: 42) }
        now = now.addingTimeInterval(3601)
        let later = FormTokens(signer: signer, lifetime: 3600, clock: { @Sendable [now] in now })
        let error = #expect(throws: FacteurError.self) { try later.verify(token, for: 42) }
        #expect(error?.message.contains("expired") == true)
        #expect(error?.kind == .forbidden)
    }
}
