import Logging
import SMTP
import Testing

@testable import Facteur

/// What the worker makes of each SMTP failure: retry or fail, count the attempt or not, suppress or not.
@Suite("SMTP failures as the worker sees them")
struct DeliveryClassificationTests {
    static let logger = Logger(label: "test")

    static func rejected(_ code: Int, _ enhanced: (Int, Int, Int)?, phase: SMTPPhase, scope: SMTPError.Scope = .message) -> DeliveryError {
        let reply = SMTPReply(
            code: code, enhancedCode: enhanced.map { SMTPEnhancedStatusCode(statusClass: $0.0, subject: $0.1, detail: $0.2) },
            lines: ["refused"])
        let error = SMTPError(
            kind: .rejected, phase: phase, scope: scope, isTransient: code < 500, reply: reply, message: "refused")
        return SMTPMailTransport.classify(error, logger: logger)
    }

    @Test func an_unknown_mailbox_at_rcpt_fails_the_message_and_suppresses_the_address() {
        let error = Self.rejected(550, (5, 1, 1), phase: .rcptTo)
        #expect(error.kind == .permanent && error.mailboxUnknown && error.countsAsAttempt)
        #expect(error.reply.contains("550"))
    }

    @Test func other_permanent_refusals_fail_the_message_without_suppressing() {
        for error in [Self.rejected(550, (5, 7, 1), phase: .rcptTo), Self.rejected(554, (5, 6, 0), phase: .dataTermination)] {
            #expect(error.kind == .permanent && !error.mailboxUnknown)
        }
        #expect(!Self.rejected(550, nil, phase: .rcptTo).mailboxUnknown, "no enhanced status: not proof the mailbox is gone")
    }

    @Test func greylisting_is_retried_and_counts_as_an_attempt() {
        let error = Self.rejected(450, (4, 2, 0), phase: .rcptTo)
        #expect(error.kind == .transient && error.countsAsAttempt)
    }

    @Test func a_refused_sender_or_a_server_problem_never_uses_up_the_recipients_attempts() {
        // 553 5.1.8 at MAIL FROM is about our sender domain, not the recipient: no failure, no suppression.
        let sender = Self.rejected(553, (5, 1, 8), phase: .mailFrom)
        #expect(sender.kind == .transient && !sender.countsAsAttempt && !sender.mailboxUnknown)
        let auth = Self.rejected(535, (5, 7, 8), phase: .authentication, scope: .configuration)
        #expect(auth.kind == .transient && !auth.countsAsAttempt)
        let lost = SMTPMailTransport.classify(
            SMTPError(kind: .connectFailed, phase: .connect, scope: .connection, isTransient: true, message: "connection refused"),
            logger: Self.logger)
        #expect(lost.kind == .transient && !lost.countsAsAttempt && lost.reply.contains("connection refused"))
    }

    @Test func a_nul_byte_in_a_reply_cannot_make_results_unwritable() {
        #expect(DeliveryError(.transient, reply: "bad\u{0}reply").reply == "badreply")
    }
}
