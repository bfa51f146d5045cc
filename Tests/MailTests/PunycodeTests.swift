import Testing

@testable import Mail

/// RFC 3492 section 7.1 sample strings (A–S, except H which needs case flags)
/// plus a few everyday IDN labels, as (Unicode, Punycode without prefix).
private let samples: [(String, String)] = [
    ("ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"),  // (A) Arabic
    ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),  // (B) Chinese simplified
    ("他們爲什麽不說中文", "ihqwctvzc91f659drss3x8bo0yb"),  // (C) Chinese traditional
    ("Pro\u{10D}prost\u{11B}nemluv\u{ED}\u{10D}esky", "Proprostnemluvesky-uyb24dma41a"),  // (D) Czech
    ("למההםפשוטלאמדבריםעברית", "4dbcagdahymbxekheh6e0a7fei0b"),  // (E) Hebrew
    (
        "\u{92F}\u{939}\u{932}\u{94B}\u{917}\u{939}\u{93F}\u{928}\u{94D}\u{926}\u{940}\u{915}\u{94D}"
            + "\u{92F}\u{94B}\u{902}\u{928}\u{939}\u{940}\u{902}\u{92C}\u{94B}\u{932}\u{938}\u{915}"
            + "\u{924}\u{947}\u{939}\u{948}\u{902}",
        "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd"
    ),  // (F) Hindi
    ("なぜみんな日本語を話してくれないのか", "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa"),  // (G) Japanese
    ("почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),  // (I) Russian
    (
        "Porqu\u{E9}nopuedensimplementehablarenEspa\u{F1}ol",
        "PorqunopuedensimplementehablarenEspaol-fmd56a"
    ),  // (J) Spanish
    (
        "T\u{1EA1}isaoh\u{1ECD}kh\u{F4}ngth\u{1EC3}ch\u{1EC9}n\u{F3}iti\u{1EBF}ngVi\u{1EC7}t",
        "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g"
    ),  // (K) Vietnamese
    ("3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),  // (L)
    ("安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"),  // (M)
    ("Hello-Another-Way-それぞれの場所", "Hello-Another-Way--fc4qua05auwb3674vfr0b"),  // (N)
    ("ひとつ屋根の下2", "2-u9tlzr9756bt3uc0v"),  // (O)
    ("MajiでKoiする5秒前", "MajiKoi5-783gue6qz075azm5e"),  // (P)
    ("パフィーdeルンバ", "de-jg4avhby1noc0d"),  // (Q)
    ("そのスピードで", "d9juau41awczczp"),  // (R)
    ("-> $1.00 <-", "-> $1.00 <--"),  // (S) all basic code points
    ("bücher", "bcher-kva"),
    ("münchen", "mnchen-3ya"),
    ("ñ", "ida"),
    ("españa", "espaa-rta"),
    ("exämple", "exmple-cua"),
    ("例え", "r8jz45g"),
    ("テスト", "zckzah"),
    ("日本", "wgv71a"),
    ("пример", "e1afmkfd"),
    ("straße", "strae-oqa"),
]

@Test("encode matches RFC 3492 / known Punycode", arguments: samples)
func encodeSample(unicode: String, punycode: String) {
    #expect(Punycode.encode(unicode) == punycode)
}

@Test("decode matches RFC 3492 / known Punycode", arguments: samples)
func decodeSample(unicode: String, punycode: String) throws {
    let decoded = try #require(Punycode.decode(punycode))
    #expect(Array(decoded.unicodeScalars) == Array(unicode.unicodeScalars), "same code points")
    #expect(Punycode.decode(punycode.uppercased())?.lowercased() == unicode.lowercased())
}

@Test func decodeIgnoresMixedCaseAnnotation() {
    // The RFC's Russian sample carries an uppercase "D" as a case flag.
    #expect(Punycode.decode("b1abfaaepdrnnbgefbaDotcwatmq2g4l") == "почемужеонинеговорятпорусски")
}

@Test(
    "round trip",
    arguments: [
        "", "a", "ascii-only", "ü", "Ünïcödé", "😀 emoji", "ß∂ƒ©", "a-b-c-ü", "𝔘𝔫𝔦",
    ])
func roundTrip(_ text: String) throws {
    let encoded = try #require(Punycode.encode(text))
    #expect(encoded.unicodeScalars.allSatisfy { $0.isASCII })
    #expect(Punycode.decode(encoded) == text)
}

@Test(
    "decode rejects malformed input",
    arguments: [
        "bcher-k", "zz", "ab-c!", "-abc", "ü", "99999999999", "999999999999999999",
    ])
func decodeRejects(_ encoded: String) {
    #expect(Punycode.decode(encoded) == nil)
}

@Test(
    "toASCII converts each label",
    arguments: [
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("bu\u{308}cher.de", "xn--bcher-kva.de"),  // NFD input is NFC-normalized first
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ("例え。テスト", "xn--r8jz45g.xn--zckzah"),  // ideographic full stop
        ("mail.MÜNCHEN.de", "mail.xn--mnchen-3ya.de"),
        ("EXAMPLE.COM", "example.com"),
    ])
func toASCII(domain: String, expected: String) throws {
    #expect(try Punycode.toASCII(domain: domain) == expected)
}

@Test(
    "toASCII rejects empty labels",
    arguments: [
        ("", "domain is empty"),
        ("a..b", "domain 'a..b' has an empty label"),
        ("example.com.", "domain 'example.com.' has an empty label"),
    ])
func toASCIIRejects(domain: String, message: String) {
    #expect(throws: PunycodeError(message)) { try Punycode.toASCII(domain: domain) }
}

@Test func toUnicodeDecodesACELabels() {
    #expect(Punycode.toUnicode(domain: "xn--bcher-kva.Example") == "bücher.example")
    #expect(Punycode.toUnicode(domain: "XN--R8JZ45G.xn--zckzah") == "例え.テスト")
    #expect(Punycode.toUnicode(domain: "xn--!!.com") == "xn--!!.com")  // invalid left alone
}
