import Facteur
import Foundation
import Mail

/// The benchmark's per-stage breakdown: one instrumented pass with clock reads between steps.
extension Bench {

    /// Per-message microseconds of each step, from an instrumented pass (clock reads between steps).
    struct Stages {
        var context = 0.0, render = 0.0, htmlToText = 0.0, rewrite = 0.0, pixel = 0.0, tokens = 0.0
        var mailbox = 0.0, message = 0.0, renderParts = 0.0, rsa = 0.0, ed25519 = 0.0, wire = 0.0, bodyHash = 0.0, canonical = 0.0
        var count = 0
        var hasRSA = false, hasEd25519 = false
    }

    func stages(count: Int, rsa: DKIMSigner?, ed25519: DKIMSigner?, offset: Int, clicks: Int) throws -> Stages {
        let clock = ContinuousClock()
        var stages = Stages()
        stages.hasRSA = rsa != nil
        stages.hasEd25519 = ed25519 != nil
        var sink = 0
        var totals = [Duration](repeating: .zero, count: 14)
        for _ in 0..<2 {  // the first round warms up; only the second is kept
            totals = [Duration](repeating: .zero, count: 14)
            for index in 0..<count {
                let subscriber = subscribers[(offset + index) % subscribers.count]
                let messageID = 2_000_000 + Int64(offset + index)
                let t0 = clock.now
                let (context, unsubscribe, token) = context(subscriber, messageID: messageID)
                let t1 = clock.now
                let rendered = template.render(context)
                let t2 = clock.now
                let t3 = clock.now
                let html = LinkRewriter.addOpenPixel(rendered.html, url: builder.open(token: token))
                let headers: [(name: String, value: String)] = [
                    ("List-Unsubscribe", "<\(unsubscribe)>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ]
                let t4 = clock.now
                let to = try Mailbox(subscriber.email, name: subscriber.name)
                let t4b = clock.now
                let mail = try Mail.Message(
                    from: from, replyTo: replyTo, to: [to], subject: rendered.subject, date: Date(), messageID: nil,
                    headers: headers, textBody: rendered.text, htmlBody: html)
                let t5 = clock.now
                let parts = try mail.renderParts()
                let t6 = clock.now
                var signatures: [String] = []
                if let rsa { signatures.append(try rsa.signatureHeader(headers: parts.headers, body: parts.body)) }
                let t7 = clock.now
                if let ed25519 { signatures.append(try ed25519.signatureHeader(headers: parts.headers, body: parts.body)) }
                let t8 = clock.now
                sink &+= parts.bytes(prepending: signatures).count
                let t9 = clock.now
                // Outside the pipeline: what the text part and the tokens cost on their own.
                sink &+= HTMLToText.convert(rendered.html).utf8.count
                let t10 = clock.now
                for link in 0..<Int64(clicks) {
                    sink &+= builder.click(token: builder.token(message: messageID), link: link % 20 + 1).utf8.count
                }
                let t11 = clock.now
                if rsa != nil || ed25519 != nil { sink &+= DKIMCanonicalization.relaxedBodyHash(parts.body).count }
                let t12 = clock.now
                if rsa != nil || ed25519 != nil { sink &+= DKIMCanonicalization.relaxedBody(parts.body).count }
                let t13 = clock.now
                let spans = [
                    t1 - t0, t2 - t1, t10 - t9, t3 - t2, t4 - t3, t11 - t10, t4b - t4, t5 - t4b, t6 - t5, t7 - t6, t8 - t7, t9 - t8,
                    t12 - t11,
                    t13 - t12,
                ]
                for (slot, span) in spans.enumerated() {
                    totals[slot] += span
                }
            }
        }
        blackHole(sink)
        let perMessage = totals.map { $0.seconds * 1e6 / Double(count) }
        stages.context = perMessage[0]
        stages.render = perMessage[1]
        stages.htmlToText = perMessage[2]
        stages.rewrite = perMessage[3]
        stages.pixel = perMessage[4]
        stages.tokens = perMessage[5]
        stages.mailbox = perMessage[6]
        stages.message = perMessage[7]
        stages.renderParts = perMessage[8]
        stages.rsa = perMessage[9]
        stages.ed25519 = perMessage[10]
        stages.wire = perMessage[11]
        stages.bodyHash = perMessage[12]
        stages.canonical = perMessage[13]
        stages.count = count
        return stages
    }
}
