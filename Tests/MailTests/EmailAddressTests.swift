import Foundation
import Testing

@testable import Mail

private let local64 = String(repeating: "l", count: 64)
private let label63 = String(repeating: "d", count: 63)
/// 63 + 1 + 63 + 1 + 61 = 189 octets, so local64 + "@" + domain189 = 254.
private let domain189 = "\(label63).\(String(repeating: "e", count: 63)).\(String(repeating: "f", count: 61))"

/// (input, value, asciiValue, isASCII)
private let valid: [(String, String, String, Bool)] = [
    ("user@example.com", "user@example.com", "user@example.com", true),
    ("first.last@example.com", "first.last@example.com", "first.last@example.com", true),
    ("user+tag@example.com", "user+tag@example.com", "user+tag@example.com", true),
    ("User.Name@EXAMPLE.COM", "User.Name@example.com", "User.Name@example.com", true),
    ("  padded@example.com \u{A0}", "padded@example.com", "padded@example.com", true),
    ("a@b.co", "a@b.co", "a@b.co", true),
    ("user@mail.sub.example.co.uk", "user@mail.sub.example.co.uk", "user@mail.sub.example.co.uk", true),
    ("1234567890@123.example.com", "1234567890@123.example.com", "1234567890@123.example.com", true),
    ("o'brien@example.ie", "o'brien@example.ie", "o'brien@example.ie", true),
    (
        "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com",
        "!#$%&'*+-/=?^_`{|}~@example.com", true
    ),
    ("user@my-host.example", "user@my-host.example", "user@my-host.example", true),
    (
        "user@r3---sn-abc.googlevideo.com", "user@r3---sn-abc.googlevideo.com",
        "user@r3---sn-abc.googlevideo.com", true
    ),
    ("josé@exämple.com", "josé@exämple.com", "josé@xn--exmple-cua.com", false),
    ("élodie@exemple.fr", "élodie@exemple.fr", "élodie@exemple.fr", false),
    ("user@Bücher.DE", "user@bücher.de", "user@xn--bcher-kva.de", true),
    ("user@xn--bcher-kva.de", "user@bücher.de", "user@xn--bcher-kva.de", true),
    ("user@例え。テスト", "user@例え.テスト", "user@xn--r8jz45g.xn--zckzah", true),
    ("用户@例子.广告", "用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v", false),
    (
        "пользователь@пример.рф", "пользователь@пример.рф",
        "пользователь@xn--e1afmkfd.xn--p1ai", false
    ),
    ("\(local64)@example.com", "\(local64)@example.com", "\(local64)@example.com", true),
    ("a@\(label63).com", "a@\(label63).com", "a@\(label63).com", true),
    ("\(local64)@\(domain189)", "\(local64)@\(domain189)", "\(local64)@\(domain189)", true),
]

@Test("accepts valid addresses", arguments: valid)
func acceptsValid(input: String, value: String, asciiValue: String, isASCII: Bool) throws {
    let address = try EmailAddress(input)
    #expect(address.value == value)
    #expect(address.description == value)
    #expect(address.asciiValue == asciiValue)
    #expect(address.isASCII == isASCII)
    #expect(address.localPart + "@" + address.domain == value)
    #expect(address.asciiDomain.unicodeScalars.allSatisfy { $0.isASCII })
    #expect(try EmailAddress(address.value) == address, "value re-parses to the same address")
}

/// (input, expected message)
private let invalid: [(String, String)] = [
    ("", "address is empty"),
    ("   ", "address is empty"),
    ("userexample.com", "missing '@'"),
    ("a@b@example.com", "contains more than one '@'"),
    ("@example.com", "local part before '@' is empty"),
    ("user@", "domain after '@' is empty"),
    (".user@example.com", "local part starts with a dot"),
    ("user.@example.com", "local part ends with a dot"),
    ("us..er@example.com", "local part contains consecutive dots ('..')"),
    ("john doe@example.com", "local part contains a space"),
    ("\"john doe\"@example.com", "quoted local parts (\"...\"@domain) are not supported"),
    ("user(comment)@example.com", "local part contains '('"),
    ("<user@example.com>", "local part contains '<'"),
    ("a\u{202E}b@example.com", "local part contains U+202E"),
    ("a@b.com\r\nBcc: x@y.com", "contains a control character (CR/LF)"),
    ("a@b.com\n", "contains a control character (CR/LF)"),
    ("a@b.com\r", "contains a control character (CR/LF)"),
    ("a\0b@example.com", "contains a control character (NUL)"),
    ("a\tb@example.com", "contains a control character (TAB)"),
    ("a\u{7F}@example.com", "contains a control character (DEL)"),
    ("a\u{85}@example.com", "contains a control character (U+0085)"),
    ("a@example.com\u{2028}", "contains a control character (U+2028)"),
    ("\(local64)l@example.com", "local part is longer than 64 octets (65)"),
    ("\(String(repeating: "é", count: 33))@example.com", "local part is longer than 64 octets (66)"),
    ("a@\(label63)d.com", "domain label 'dddddddddddddddd…' is longer than 63 octets (64)"),
    ("user@localhost", "domain 'localhost' needs a dot"),
    ("user@LOCALHOST", "domain 'localhost' needs a dot"),
    ("user@example.123", "top-level domain '123' is all digits"),
    ("user@1.2.3.4", "top-level domain '4' is all digits"),
    ("user@a_b.com", "domain label 'a_b' contains '_'"),
    ("user@exa mple.com", "domain label 'exa mple' contains a space"),
    ("user@exam☃ple.com", "domain label 'exam☃ple' contains '☃' (U+2603)"),
    ("user@ex\u{202E}am.com", "domain label 'ex<U+202E>am' contains U+202E"),
    ("user@-example.com", "domain label '-example' starts with a hyphen"),
    ("user@example-.com", "domain label 'example-' ends with a hyphen"),
    ("user@-bücher.de", "domain label '-bücher' starts with a hyphen"),
    ("user@.example.com", "domain '.example.com' starts with a dot"),
    ("user@example.com.", "domain 'example.com.' ends with a dot"),
    ("user@example..com", "domain 'example..com' contains consecutive dots"),
    ("user@[1.2.3.4]", "address literal '[1.2.3.4]' is not supported; use a domain name"),
    ("user@[IPv6:::1]", "address literal '[IPv6:::1]' is not supported; use a domain name"),
    ("user@xn--zz.com", "domain label 'xn--zz' is not valid punycode"),
    ("user@xn--abc-.com", "domain label 'xn--abc-' is not valid punycode"),  // decodes to ASCII "abc"
    ("user@xn--bucher-xyd.de", "domain label 'xn--bucher-xyd' is not valid punycode"),  // NFD "bücher"
    ("a@\(String(repeating: "\(label63).", count: 3))\(label63)", "domain is longer than 253 octets (255)"),
    ("\(local64)@\(domain189)f", "address is longer than 254 octets (255)"),
    (String(repeating: "a", count: 2_000) + "@example.com", "address is longer than 254 octets (2012)"),
]

@Test("rejects invalid addresses with a precise message", arguments: invalid)
func rejectsInvalid(input: String, message: String) {
    let error = #expect(throws: EmailAddressError.self) { try EmailAddress(input) }
    #expect(error?.message == message)
    #expect(error?.description == message)
}

@Test func addressLiteralIsNotLowercasedBeforeCheck() throws {
    // The literal is reported as typed, not case-folded.
    let error = try #require(throws: EmailAddressError.self) { try EmailAddress("u@[IPv6:::1]") }
    #expect(error.reason == .addressLiteral("[IPv6:::1]"))
}

@Test func reasonsAreStructured() throws {
    let error = try #require(throws: EmailAddressError.self) { try EmailAddress("user@a_b.com") }
    #expect(error.reason == .labelInvalidCharacter(label: "a_b", character: "_"))
    #expect(error == EmailAddressError(.labelInvalidCharacter(label: "a_b", character: "_")))
}

@Test func normalizationMakesEquivalentFormsEqual() throws {
    let composed = try EmailAddress("josé@bücher.de")
    let decomposed = try EmailAddress("jose\u{301}@BU\u{308}CHER.DE")
    let ace = try EmailAddress("jos\u{E9}@XN--BCHER-KVA.de")
    #expect(composed == decomposed)
    #expect(composed == ace)
    #expect(Set([composed, decomposed, ace]).count == 1)
    #expect(decomposed.localPart.unicodeScalars.count == 4, "local part is NFC")
}

@Test func localPartCaseIsSignificant() throws {
    let upper = try EmailAddress("Ann@example.com")
    let lower = try EmailAddress("ann@EXAMPLE.com")
    #expect(upper.localPart == "Ann")
    #expect(lower.domain == "example.com")
    #expect(upper != lower)
}

@Test func exposesParts() throws {
    let address = try EmailAddress("José.Ñ+news@Exämple.Org")
    #expect(address.localPart == "José.Ñ+news")
    #expect(address.domain == "exämple.org")
    #expect(address.asciiDomain == "xn--exmple-cua.org")
    #expect(address.asciiValue == "José.Ñ+news@xn--exmple-cua.org")
    #expect(!address.isASCII)
}

@Test func codableRoundTripsAsAString() throws {
    let address = try EmailAddress("User@Bücher.de")
    let data = try JSONEncoder().encode([address])
    #expect(String(decoding: data, as: UTF8.self) == #"["User@bücher.de"]"#)
    let decoded = try JSONDecoder().decode([EmailAddress].self, from: data)
    #expect(decoded == [address])
}

@Test("decoding validates", arguments: [#"["not-an-address"]"#, #"["a@b.com\r\nBcc: x@y.com"]"#, "[42]"])
func decodingValidates(json: String) {
    #expect(throws: DecodingError.self) {
        try JSONDecoder().decode([EmailAddress].self, from: Data(json.utf8))
    }
}

@Test func decodingErrorExplainsTheProblem() {
    do {
        _ = try JSONDecoder().decode([EmailAddress].self, from: Data(#"["user@localhost"]"#.utf8))
        Issue.record("expected a DecodingError")
    } catch DecodingError.dataCorrupted(let context) {
        #expect(context.debugDescription == "invalid email address: domain 'localhost' needs a dot")
    } catch {
        Issue.record("unexpected error \(error)")
    }
}
