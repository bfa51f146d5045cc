import Foundation
import Testing

@testable import Facteur

private func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

private func crlf(_ text: String) -> [UInt8] {
    bytes(text.replacingOccurrences(of: "\n", with: "\r\n"))
}

// MARK: - Header block

@Test func headers_unfold_and_look_up_case_insensitively_with_lf_or_crlf() throws {
    let text = "Subject: one\n two\n\tthree\nX-Empty:\nsubject : again\n\nbody line\n"
    for input in [bytes(text), crlf(text)] {
        let (headers, body) = try MIMEReader.readHeaders(input[...])
        #expect(headers.fields.map(\.name) == ["Subject", "X-Empty", "subject"])
        #expect(headers.first("subject") == "one two three")
        #expect(headers.all("subject") == ["one two three", "again"])
        #expect(headers.first("x-empty") == "")
        #expect(String(decoding: body, as: UTF8.self).hasPrefix("body line"))
    }
}

@Test func headers_without_final_newline_or_body_are_read() throws {
    let (headers, body) = try MIMEReader.readHeaders(bytes("To: a@example.net\nFrom: b@example.net")[...])
    #expect(headers.first("from") == "b@example.net")
    #expect(body.isEmpty)
}

@Test func eight_bit_header_bytes_are_kept() throws {
    let input: [UInt8] =
        bytes("Subject: caf") + [0xE9] + bytes(" cr") + [0xC3, 0xA8] + bytes("me\nX-UTF8: cr") + [0xC3, 0xA8]
        + bytes("me\n\n")
    let (headers, _) = try MIMEReader.readHeaders(input[...])
    // Not UTF-8 as a whole, so read as Latin-1: the UTF-8 pair shows as two characters, but no byte is lost.
    #expect(headers.first("subject") == "caf\u{E9} cr\u{C3}\u{A8}me")
    #expect(Array(headers.fields[0].rawValue) == [0x20, 0x63, 0x61, 0x66, 0xE9, 0x20, 0x63, 0x72, 0xC3, 0xA8, 0x6D, 0x65])
    #expect(headers.first("x-utf8") == "crème")
}

@Test func mbox_from_line_is_skipped_and_a_non_header_line_starts_the_body() throws {
    let (headers, body) = try MIMEReader.readHeaders(
        bytes("From MAILER-DAEMON Tue Apr 14 09:12:03 2026\nTo: a@b\nnot a header\nX: y\n")[...])
    #expect(headers.fields.map(\.name) == ["To"])
    #expect(String(decoding: body, as: UTF8.self) == "not a header\nX: y\n")
}

@Test func only_field_lines_are_held_to_the_length_limit() throws {
    let longBody = String(repeating: "A", count: 100_000)
    let (headers, body) = try MIMEReader.readHeaders(bytes("To: a@b\n\(longBody)\n")[...])
    #expect(headers.first("to") == "a@b")
    #expect(body.count == 100_001)
    #expect(throws: FacteurError.self) { try MIMEReader.readHeaders(bytes("To: a@b\n \(longBody)\n")[...]) }
}

@Test func field_groups_are_separated_by_blank_or_whitespace_lines() throws {
    let text = "\n\nA: 1\nB: 2\n   \nC: 3\n  folded\ngarbage line\n  stray continuation\n\n\nD: 4"
    let groups = try MIMEReader.readFieldGroups(bytes(text)[...])
    #expect(groups.map { $0.fields.map(\.name) } == [["A", "B"], ["C"], ["D"]])
    #expect(groups[1].first("c") == "3 folded")
}

// MARK: - Content-Type

@Test func content_type_parses_type_and_parameters() throws {
    let type = try #require(
        MIMEReader.parseContentType(#"Multipart/REPORT (a comment); Report-Type="delivery-status"; boundary="a;b \"c\"""#))
    #expect(type.mimeType == "multipart/report")
    #expect(type.parameters == ["report-type": "delivery-status", "boundary": #"a;b "c""#])
}

@Test func content_type_accepts_unquoted_specials_and_spaces_around_equals() throws {
    let type = try #require(MIMEReader.parseContentType("multipart/alternative;\tboundary = ----=_Part_12/3 ; charset=utf-8"))
    #expect(type.parameters["boundary"] == "----=_Part_12/3")
    #expect(type.parameters["charset"] == "utf-8")
}

@Test(arguments: ["", "text", "/plain", "text/", "; boundary=x"])
func content_type_without_type_and_subtype_is_nil(value: String) {
    #expect(MIMEReader.parseContentType(value) == nil)
}

// MARK: - Multipart

@Test func multipart_drops_preamble_and_epilogue_and_the_break_before_delimiters() {
    let body = crlf("preamble\n--abc\npart one\n--abcd is not a delimiter\n--abc  \t\n\npart two\n\n--abc--\nepilogue\n--abc\nnot a part\n")
    let parts = MIMEReader.splitMultipart(body[...], boundary: "abc", limit: 10)
    #expect(parts.map { String(decoding: $0, as: UTF8.self) } == ["part one\r\n--abcd is not a delimiter", "\r\npart two\r\n"])
}

@Test func multipart_without_close_delimiter_runs_to_the_end() {
    let parts = MIMEReader.splitMultipart(bytes("--x\nfirst\n--x\nsecond\n")[...], boundary: "x", limit: 10)
    #expect(parts.map { String(decoding: $0, as: UTF8.self) } == ["first", "second\n"])
}

@Test func nested_multipart_is_read_into_a_tree() throws {
    let message = try MIMEReader.parseMessage(
        bytes(
            """
            Content-Type: multipart/mixed; boundary=outer

            --outer
            Content-Type: multipart/alternative; boundary=inner

            --inner
            Content-Type: text/plain

            plain
            --inner
            Content-Type: text/html

            <p>html</p>
            --inner--
            --outer
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: base64

            aGk=
            --outer--
            """))
    #expect(message.parts.map(\.contentType.mimeType) == ["multipart/alternative", "application/octet-stream"])
    #expect(message.parts[0].parts.map(\.contentType.mimeType) == ["text/plain", "text/html"])
    #expect(String(decoding: message.parts[0].parts[1].body, as: UTF8.self) == "<p>html</p>")
    #expect(message.parts[1].decodedBody == bytes("hi"))
}

@Test func digest_parts_default_to_message_rfc822() throws {
    let message = try MIMEReader.parseMessage(bytes("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: x\n\nbody\n--d--\n"))
    #expect(message.parts.map(\.contentType.mimeType) == ["message/rfc822"])
}

/// `levels` multiparts, each the only part of the one above.
private func nested(_ levels: Int) -> [UInt8] {
    var text = ""
    for level in 0..<levels {
        text += (level == 0 ? "" : "--b\(level - 1)\n") + "Content-Type: multipart/mixed; boundary=b\(level)\n\n"
    }
    return bytes(text + "--b\(levels - 1)\nContent-Type: text/plain\n\nleaf\n")
}

@Test func nesting_is_allowed_down_to_ten_levels_and_refused_below() throws {
    var entity = try MIMEReader.parseMessage(nested(10))
    var depth = 0
    while let child = entity.parts.first {
        entity = child
        depth += 1
    }
    #expect(depth == 10)
    #expect(String(decoding: entity.body, as: UTF8.self) == "leaf\n")
    let error = #expect(throws: FacteurError.self) { try MIMEReader.parseMessage(nested(11)) }
    #expect(error?.message == "MIME parts are nested more than 10 levels deep")
}

@Test func five_hundred_parts_are_allowed() throws {
    let parts = String(repeating: "--p\n\nx\n", count: 500)
    #expect(try MIMEReader.parseMessage(bytes("Content-Type: multipart/mixed; boundary=p\n\n\(parts)--p--\n")).parts.count == 500)
}

// MARK: - Content-Transfer-Encoding

@Test func base64_ignores_whitespace_and_garbage_lines() {
    let body = bytes("SGVs bG8s\r\n  IHdv\tcmxk\n-- this line is not base64 --\n\nIQ==\n")
    #expect(MIMEReader.decode(body[...], transferEncoding: " Base64 ") == bytes("Hello, world!"))
}

@Test func base64_handles_padding_missing_padding_and_concatenated_chunks() {
    #expect(MIMEReader.decodeBase64(bytes("YQ==")[...]) == bytes("a"))
    #expect(MIMEReader.decodeBase64(bytes("YWI")[...]) == bytes("ab"))
    #expect(MIMEReader.decodeBase64(bytes("YQ==YWI=YWJj")[...]) == bytes("aababc"))
    #expect(MIMEReader.decodeBase64(bytes("")[...]).isEmpty)
}

@Test func quoted_printable_decodes_escapes_and_soft_breaks() {
    let body = crlf("caf=C3=A9 =3d=3D equal=\nsign  \nstray = and =ZZ stay=  \nend")
    #expect(MIMEReader.decode(body[...], transferEncoding: "Quoted-Printable") == crlf("café == equalsign\nstray = and =ZZ stayend"))
}

@Test(arguments: [nil, "7bit", "8bit", "binary", "x-unknown"])
func other_encodings_pass_bytes_through(encoding: String?) {
    let body: [UInt8] = [0x41, 0xFF, 0x0D, 0x0A, 0x3D, 0x41]
    #expect(MIMEReader.decode(body[...], transferEncoding: encoding) == body)
}
