import Foundation
import Testing

@testable import Facteur

private let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/bounces")

private func fixture(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: fixtureDirectory.appendingPathComponent(name)))
}

private func report(_ name: String) throws -> BounceReport {
    try BounceReport.parse(fixture(name))
}

private func header(_ report: BounceReport, _ name: String) -> String? {
    report.originalHeaders.first { $0.name.lowercased() == name.lowercased() }?.value
}

private let postfixDiagnostic = "smtp; 550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table"

// MARK: - Real Postfix DSNs (scripts/bounce-fixtures.sh)

@Test func postfix_failure_with_full_original_names_recipient_status_and_message_id() throws {
    let report = try report("postfix-failed-full.eml")
    #expect(report.kind == .delivery)
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "missing@fail.example", originalRecipient: "missing@fail.example", action: "failed",
                status: "5.1.1", diagnosticCode: postfixDiagnostic, remoteMTA: "127.0.0.1")
        ])
    #expect(report.feedbackType == nil)
    #expect(report.originalMessageID == "c17.s4242.1@facteur.test")
    #expect(header(report, "List-Unsubscribe") == "<https://facteur.test/u/c17.s4242>, <mailto:unsubscribe+c17.s4242@facteur.test>")
    #expect(header(report, "Subject") == "Our spring newsletter")
    #expect(report.reportRecipients == ["bounces+c17.s4242@mail.facteur.test"])
    #expect(report.originalMailFrom == "bounces+c17.s4242@mail.facteur.test")
    #expect(report.originalEnvelopeID == "c17-s4242")
}

@Test func postfix_headers_only_return_still_gives_the_original_headers() throws {
    let report = try report("postfix-failed-headers-only.eml")
    #expect(report.recipients.map(\.finalRecipient) == ["nobody@fail.example"])
    #expect(report.recipients.first?.status == "5.1.1")
    #expect(report.originalMessageID == "c17.s4243.1@facteur.test")
    #expect(header(report, "List-Unsubscribe") == "<https://facteur.test/u/c17.s4243>")
    #expect(report.originalHeaders.first?.name == "Return-Path")
    #expect(report.originalHeaders.last?.name == "Content-Type")
    #expect(report.originalEnvelopeID == nil)
}

@Test func postfix_report_with_two_failed_recipients_keeps_the_rewritten_original_address() throws {
    let report = try report("postfix-failed-two-recipients.eml")
    #expect(report.recipients.map(\.finalRecipient) == ["missing@fail.example", "renamed@fail.example"])
    #expect(report.recipients.map(\.originalRecipient) == ["missing@fail.example", "old-address@fail.example"])
    #expect(report.recipients.allSatisfy { $0.action == "failed" && $0.status == "5.1.1" })
    #expect(report.recipients.last?.diagnosticCode == postfixDiagnostic)
    #expect(report.originalMessageID == "c18.multi.1@facteur.test")
    #expect(report.reportRecipients == ["bounces+c18.multi@mail.facteur.test"])
}

@Test func postfix_delay_warning_is_a_delayed_4xx_recipient() throws {
    let report = try report("postfix-delayed.eml")
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "full@delay.example", originalRecipient: "full@delay.example", action: "delayed",
                status: "4.2.2", diagnosticCode: "smtp; 452 4.2.2 Mailbox full, try again later", remoteMTA: "127.0.0.1")
        ])
    #expect(report.originalMessageID == "c19.s7.1@facteur.test")
    #expect(report.originalMailFrom == "bounces+c19.s7@mail.facteur.test")
}

@Test func postfix_smtputf8_bounce_is_a_global_delivery_status() throws {
    let report = try report("postfix-failed-smtputf8.eml")
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "jürgen@fail.example", originalRecipient: "jürgen@fail.example", action: "failed",
                status: "5.6.7",
                diagnosticCode: "X-Postfix; SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]")
        ])
    #expect(report.originalMessageID == "c20.s1.1@facteur.test")
    #expect(header(report, "Subject") == "Grüße")
}

// MARK: - Hand-written reports

@Test func rfc3464_report_with_a_failed_and_a_delayed_recipient() throws {
    let report = try report("rfc3464-multi-recipient.eml")
    #expect(report.kind == .delivery)
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "ghost@example.net", originalRecipient: "Ghost@example.net", action: "failed",
                status: "5.1.1", diagnosticCode: "SMTP; 550 5.1.1 <ghost@example.net>: Recipient address rejected: User unknown",
                remoteMTA: "mx1.example.net"),
            BounceReport.Recipient(
                finalRecipient: "slow@example.com", action: "delayed", status: "4.4.1",
                diagnosticCode: "smtp; 421 4.4.1 Connection timed out", remoteMTA: "mx.example.com"),
        ])
    #expect(report.originalMessageID == "c31.s9001.1776150717@facteur.test")
    // To (with a quoted display name holding a comma), Delivered-To and X-Original-To name one address.
    #expect(report.reportRecipients == ["bounces+c31.s9001@mail.facteur.test"])
    #expect(report.originalMailFrom == nil)
}

@Test func exchange_report_with_base64_parts() throws {
    let report = try report("exchange-base64.eml")
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "departed@corp.example.com", action: "failed", status: "5.1.10",
                diagnosticCode: "smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
        ])
    #expect(report.originalMessageID == "c32.s77.1776248430@facteur.test")
    #expect(
        header(report, "Received")
            == "from mx.facteur.test (198.51.100.7) by EX01.corp.example.com with Microsoft SMTP Server id 15.2.1544.4; "
            + "Wed, 15 Apr 2026 10:20:31 +0000")
    #expect(report.reportRecipients == ["bounces+c32.s77@mail.facteur.test"])
}

@Test func global_delivery_status_decodes_utf8_addresses() throws {
    let report = try report("global-dsn.eml")
    #expect(
        report.recipients == [
            BounceReport.Recipient(
                finalRecipient: "françoise@exemple.fr", originalRecipient: "françoise@exemple.fr", action: "failed",
                status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 <françoise@exemple.fr>: boîte inconnue",
                remoteMTA: "boîte.exemple.fr")
        ])
    #expect(report.originalMessageID == "c33.s5.1776341107@facteur.test")
    #expect(header(report, "To") == "françoise@exemple.fr")
}

@Test func arf_abuse_report_names_complainer_sender_and_message_id() throws {
    let report = try report("arf-abuse.eml")
    #expect(report.kind == .complaint)
    #expect(report.feedbackType == "abuse")
    #expect(report.recipients == [BounceReport.Recipient(finalRecipient: "reader@isp.example", action: "complained", status: "")])
    #expect(report.originalMailFrom == "bounces+c34.s12@mail.facteur.test")
    #expect(report.originalMessageID == "c34.s12.1776412719@facteur.test")
    #expect(header(report, "List-Unsubscribe") == "<https://facteur.test/u/c34.s12>")
    #expect(report.reportRecipients == ["abuse@facteur.test", "fbl+c34@mail.facteur.test"])
}

@Test func arf_nested_in_multipart_mixed_is_found() throws {
    let report = try report("arf-in-mixed.eml")
    #expect(report.kind == .complaint)
    #expect(report.feedbackType == "fraud")
    #expect(report.recipients.map(\.finalRecipient) == ["someone@mailbox.example", "other@mailbox.example"])
    #expect(report.originalMailFrom == "bounces+c35.s3@mail.facteur.test")
    // This reporter left the angle brackets off.
    #expect(report.originalMessageID == "c35.s3.1776540000@facteur.test")
    #expect(report.reportRecipients == ["postmaster@facteur.test", "bounces+c35.s3@mail.facteur.test"])
}

@Test func report_is_equal_to_itself_and_differs_by_original_headers() throws {
    let first = try report("arf-abuse.eml")
    var second = try report("arf-abuse.eml")
    #expect(first == second)
    second.originalHeaders[0].value = "changed"
    #expect(first != second)
}

// MARK: - Bad input

@Test(arguments: [
    ("bad-not-mime.eml", "not a MIME message: it has no Content-Type header"),
    ("bad-mixed-without-report.eml", "expected multipart/report, found multipart/mixed without a multipart/report part"),
    ("bad-report-without-recipients.eml", "the delivery-status part has no per-recipient group"),
    ("bad-garbage-status.eml", "recipient 1 has a malformed Status '550 user unknown'"),
    ("bad-truncated-boundary.eml", "the multipart/report has no message/delivery-status part"),
    ("bad-report-type-mdn.eml", "unsupported report-type 'disposition-notification'"),
])
func bad_fixture_is_invalid_with_a_message_naming_the_problem(name: String, message: String) throws {
    let bytes = try fixture(name)
    let error = #expect(throws: FacteurError.self) { try BounceReport.parse(bytes) }
    #expect(error?.kind == .invalid)
    #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
}

/// A delivery-status report around `status` (the body of its message/delivery-status part), with LF line ends.
private func deliveryReport(status: String, reportType: String = "delivery-status") -> [UInt8] {
    Array(
        """
        From: MAILER-DAEMON@relay.example.org
        To: bounces+c40@mail.facteur.test
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=\(reportType); boundary="b"

        --b
        Content-Type: message/delivery-status

        \(status)
        --b--

        """.utf8)
}

private func expectInvalid(_ bytes: [UInt8], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: FacteurError.self, sourceLocation: sourceLocation) { try BounceReport.parse(bytes) }
    #expect(error?.kind == .invalid, sourceLocation: sourceLocation)
    #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")", sourceLocation: sourceLocation)
}

@Test func recipient_group_without_a_required_field_is_invalid() {
    let perMessage = "Reporting-MTA: dns; relay.example.org\n\n"
    expectInvalid(
        deliveryReport(status: perMessage + "Final-Recipient: rfc822; a@example.net\nStatus: 5.1.1\n"),
        "recipient 1 in the delivery-status part has no Action field")
    expectInvalid(
        deliveryReport(status: perMessage + "Final-Recipient: rfc822; a@example.net\nAction: failed\n"),
        "recipient 1 in the delivery-status part has no Status field")
    let second = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n\nAction: failed\nStatus: 5.1.1\n"
    expectInvalid(deliveryReport(status: perMessage + second), "recipient 2 in the delivery-status part has no Final-Recipient field")
}

@Test(arguments: ["3.1.1", "5.1", "5.1.1.1", "5.a.1", "5.1.1000", "five", ""])
func status_that_is_not_class_subject_detail_is_rejected(status: String) {
    let group = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: \(status)\n"
    let expected = status.isEmpty ? "has no Status field" : "malformed Status '\(status)'"
    expectInvalid(deliveryReport(status: "Reporting-MTA: dns; r\n\n" + group), expected)
}

@Test func sloppy_status_action_and_missing_per_message_group_are_accepted() throws {
    let group = "FINAL-RECIPIENT:rfc822;<A.User@Example.NET>\nACTION:  FAILED  \nSTATUS: 5.2.2   (mailbox full; over quota)\n"
    let report = try BounceReport.parse(deliveryReport(status: group))
    #expect(report.recipients == [BounceReport.Recipient(finalRecipient: "A.User@example.net", action: "failed", status: "5.2.2")])
}

@Test func feedback_report_without_feedback_type_is_invalid() {
    let bytes = Array(
        """
        Content-Type: multipart/report; report-type=feedback-report; boundary=f

        --f
        Content-Type: message/feedback-report

        User-Agent: Fbl/1
        Version: 1
        --f--

        """.utf8)
    expectInvalid(bytes, "the feedback-report part has no Feedback-Type field")
}

@Test func input_without_headers_or_boundary_is_invalid() {
    expectInvalid(Array("just some text, no header fields\n".utf8), "not a MIME message: it does not start with header fields")
    expectInvalid([], "not a MIME message")
    expectInvalid(Array("Content-Type: multipart/report; report-type=delivery-status\n\nbody\n".utf8), "has no boundary parameter")
}

@Test func input_over_10_MiB_is_too_large() {
    let bytes = [UInt8](repeating: UInt8(ascii: "a"), count: BounceReport.maxBytes + 1)
    expectInvalid(bytes, "the report is too large: 10485761 bytes")
}

@Test func nesting_bomb_of_3000_levels_is_refused() {
    var text = "Content-Type: multipart/mixed; boundary=b0\n\n"
    for level in 1...3000 {
        text += "--b\(level - 1)\nContent-Type: multipart/mixed; boundary=b\(level)\n\n"
    }
    expectInvalid(Array(text.utf8), "MIME parts are nested more than 10 levels deep")
}

@Test func huge_header_line_is_refused() {
    let subject = String(repeating: "x", count: 1 << 20)
    expectInvalid(Array("Subject: \(subject)\nContent-Type: text/plain\n\nhi\n".utf8), "a header line is longer than 65536 bytes")
}

@Test func too_many_parts_are_refused() {
    let parts = String(repeating: "--p\nContent-Type: text/plain\n\nx\n", count: 501)
    expectInvalid(Array("Content-Type: multipart/mixed; boundary=p\n\n\(parts)--p--\n".utf8), "more than 500 MIME parts")
}

@Test func missing_close_delimiter_is_tolerated() throws {
    var bytes = deliveryReport(status: "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n")
    bytes.removeLast("--b--\n".utf8.count)
    #expect(try BounceReport.parse(bytes).recipients.map(\.status) == ["5.1.1"])
}

@Test func report_type_is_read_case_insensitively_and_inferred_when_missing() throws {
    let group = "Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n"
    #expect(try BounceReport.parse(deliveryReport(status: group, reportType: "Delivery-Status")).kind == .delivery)
    let withoutType = String(decoding: deliveryReport(status: group), as: UTF8.self)
        .replacingOccurrences(of: "report-type=delivery-status; ", with: "")
    #expect(try BounceReport.parse(Array(withoutType.utf8)).recipients.map(\.action) == ["delivered"])
}
