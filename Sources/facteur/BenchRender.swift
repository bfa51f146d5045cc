import ArgumentParser
import Facteur
import Foundation
import Mail

/// `facteur bench-render`: the render → links → MIME → DKIM pipeline of a campaign message, timed
/// in memory (no database) on one task, for `bench/render.sh`. Hidden from `--help`.
///
/// Each message goes through what sending does: the subscriber's context dictionary, the parsed
/// `MessageTemplate` (subject, HTML in a layout, text generated from the HTML), click tracking and
/// the open pixel with signed tokens, List-Unsubscribe headers, then `Mail.Message` →
/// `renderParts()` → one `DKIMSigner.signatureHeader` per key → wire bytes, as
/// `MessageAssembler.assemble` does (that method takes a `MessageComposer.Composed`, which has no
/// public initializer, so its three lines are repeated here with the same public calls).
struct BenchRender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-render",
        abstract: "Benchmark message rendering, MIME and DKIM signing in memory (one core).",
        shouldDisplay: false)

    enum DKIMMode: String, ExpressibleByArgument, CaseIterable {
        case none, rsa, all
        case rsaEd25519 = "rsa+ed25519"
    }

    enum LayoutChoice: String, ExpressibleByArgument, CaseIterable {
        case `default`, none
    }

    @Option(help: "Messages per measured mode (distinct subscribers).") var count: Int = 20000
    @Option(help: "Which modes to measure: none, rsa, rsa+ed25519 or all.") var dkim: DKIMMode = .all
    @Option(help: "RSA-2048 private key (PEM); needed unless --dkim none.") var rsaKey: String?
    @Option(help: "Ed25519 private key (PEM); needed for rsa+ed25519 and all.") var ed25519Key: String?
    @Option(help: "Layout from $FACTEUR_HOME/templates/email, or none.") var layout: LayoutChoice = .default
    @Option(help: "Messages rendered before each measurement (default: count/10, 200…2000).") var warmup: Int?
    @Option(help: "Messages in the instrumented per-stage pass (0 skips it).") var stageCount: Int = 5000
    @Option(help: "Write the first fully signed message to this file (for inspection).") var sample: String?
    @Option(help: "Write the benchmark's HTML template and subject to DIR/template.html and DIR/subject.txt, then exit.")
    var writeTemplate: String?

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard stageCount >= 0 else { throw ValidationError("--stage-count cannot be negative") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup cannot be negative") }
        if writeTemplate != nil { return }
        if dkim != .none, rsaKey == nil { throw ValidationError("--dkim \(dkim.rawValue) needs --rsa-key") }
        if dkim == .rsaEd25519 || dkim == .all, ed25519Key == nil {
            throw ValidationError("--dkim \(dkim.rawValue) needs --ed25519-key")
        }
    }

    func run() async throws {
        if let directory = writeTemplate {
            try BenchContent.html().write(toFile: directory + "/template.html", atomically: true, encoding: .utf8)
            try BenchContent.subject.write(toFile: directory + "/subject.txt", atomically: true, encoding: .utf8)
            return
        }
        let home = FacteurHome.fromEnvironment()
        let layouts: EmailLayouts
        switch layout {
        case .none: layouts = .none
        case .default:
            let directory = home.templatesDirectory.appendingPathComponent("email")
            layouts = try await EmailLayouts.load(from: directory)
            guard layouts.names.contains("default") else {
                throw ValidationErrorText("no default.mustache in \(directory.path); set FACTEUR_HOME to the repository")
            }
        }
        let rsa = try rsaKey.map { path throws(DKIMError) in try DKIMKey(pemFile: path) }
        let ed25519 = try ed25519Key.map { path throws(DKIMError) in try DKIMKey(pemFile: path) }
        if let rsa, rsa.algorithm != .rsaSHA256 || rsa.bits != 2048 {
            throw ValidationErrorText("--rsa-key must be an RSA-2048 key, got \(rsa.algorithm.rawValue) \(rsa.bits) bits")
        }
        if let ed25519, ed25519.algorithm != .ed25519SHA256 {
            throw ValidationErrorText("--ed25519-key must be an Ed25519 key")
        }
        let bench = try Bench(layouts: layouts, layoutName: layout == .default ? "default" : nil, count: count)
        try bench.run(
            modes: dkim, rsa: rsa, ed25519: ed25519, warmup: warmup ?? min(2000, max(200, count / 10)), stageCount: stageCount,
            sample: sample)
    }
}

// MARK: - The benchmark

/// One in-memory campaign: template, tracked links, sender, signers and N subscribers.
struct Bench {
    let template: MessageTemplate
    let links: [String: Int64]
    let builder: LinkBuilder
    let from: Mailbox
    let replyTo: Mailbox
    let subscribers: [BenchSubscriber]
    let htmlSize: Int
    let layoutName: String?
    static let domain = "maison-lumiere.example.fr"

    init(layouts: EmailLayouts, layoutName: String?, count: Int) throws {
        let html = BenchContent.html()
        htmlSize = html.utf8.count
        self.layoutName = layoutName
        // As at send start: every literal href of the template gets a campaign_links id, and the
        // template's hrefs point at the click URLs each message supplies.
        var links: [String: Int64] = [:]
        for (index, url) in LinkRewriter.trackableLinks(in: html).enumerated() { links[url] = Int64(index + 1) }
        self.links = links
        template = try MessageTemplate(
            subject: BenchContent.subject, html: html, text: nil, layout: layoutName, layouts: layouts,
            variables: .forMessages(customFields: ["city", "plan", "points"]), trackedLinks: links)
        let signer = try TokenSigner(keys: [("k2025", "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz")])
        builder = LinkBuilder(baseURL: "https://news.\(Self.domain)", signer: signer)
        from = try Mailbox("bonjour@\(Self.domain)", name: "Maison Lumière — Élodie")
        replyTo = try Mailbox("service-client@\(Self.domain)", name: "Service client Maison Lumière")
        subscribers = (0..<count).map(BenchSubscriber.make)
    }

    // MARK: Pipeline

    /// What `MessageComposer.compose` builds from a subscriber row, from memory instead.
    /// Returns the context and the unsubscribe URL (also in the context, as `unsubscribe_url`).
    func context(_ subscriber: BenchSubscriber, messageID: Int64) -> (context: [String: Any], unsubscribe: String, token: String) {
        var context: [String: Any] = [
            "subscriber_id": subscriber.id, "email": subscriber.email, "name": subscriber.name, "locale": subscriber.locale,
            "score": subscriber.score, "status": "active",
        ]
        let parts = subscriber.name.split(separator: " ", maxSplits: 1).map(String.init)
        if let first = parts.first, !first.isEmpty { context["first_name"] = first }
        if parts.count > 1 { context["last_name"] = parts[1] }
        if let zone = subscriber.timezone { context["timezone"] = zone }
        let attributes: [String: Any] = ["city": subscriber.city, "plan": subscriber.plan, "points": subscriber.points]
        for (key, value) in attributes where context[key] == nil { context[key] = value }
        context["attributes"] = attributes
        if let company = subscriber.company {
            context["company"] = ["name": company, "domain": subscriber.companyDomain ?? "", "industry": "Commerce de détail"]
        }
        context["campaign"] = ["id": Int64(42), "name": "Soldes d'été 2025", "subject": BenchContent.subject]
        context["topic"] = ["key": "offres", "name": "Offres et promotions", "description": "Nos soldes et ventes privées"]
        let token = builder.token(message: messageID)
        let unsubscribe = builder.unsubscribe(token: builder.unsubscribeToken(message: messageID))
        context["unsubscribe_url"] = unsubscribe
        context["preferences_url"] = builder.preferences(subscriber: subscriber.id)
        context["view_in_browser_url"] = builder.viewInBrowser(token: token)
        for id in links.values { context[MessageTemplate.clickKey(id)] = builder.click(token: token, link: id) }
        return (context, unsubscribe, token)
    }

    /// One message, start to finish, as the sender does it.
    func message(_ index: Int, signers: [DKIMSigner]) throws -> [UInt8] {
        let subscriber = subscribers[index % subscribers.count]
        let messageID = 1_000_000 + Int64(index)
        let (context, unsubscribe, token) = context(subscriber, messageID: messageID)
        let rendered = template.render(context)
        let html = LinkRewriter.addOpenPixel(rendered.html, url: builder.open(token: token))
        let headers: [(name: String, value: String)] = [
            ("List-Unsubscribe", "<\(unsubscribe)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        // MessageAssembler.assemble:
        let mail = try Mail.Message(
            from: from, replyTo: replyTo, to: [try Mailbox(subscriber.email, name: subscriber.name)], subject: rendered.subject,
            date: Date(), messageID: nil, headers: headers, textBody: rendered.text, htmlBody: html)
        let parts = try mail.renderParts()
        return parts.bytes(prepending: try DKIMSigner.signatureHeaders(headers: parts.headers, body: parts.body[...], signers: signers))
    }

    struct Measurement {
        var name: String
        var count: Int
        var seconds: Double
        var bytes: Int
        var rate: Double { Double(count) / seconds }
        var microseconds: Double { seconds * 1e6 / Double(count) }
        var averageSize: Double { Double(bytes) / Double(count) }
    }

    func measure(_ name: String, signers: [DKIMSigner], warmup: Int, offset: Int) throws -> Measurement {
        var sink = 0
        for index in 0..<warmup { sink &+= try message(offset + index, signers: signers).count }
        let clock = ContinuousClock()
        var bytes = 0
        let start = clock.now
        for index in 0..<subscribers.count { bytes &+= try message(offset + index, signers: signers).count }
        let seconds = (clock.now - start).seconds
        blackHole(sink)
        return Measurement(name: name, count: subscribers.count, seconds: seconds, bytes: bytes)
    }

    /// `DKIMKey.signature(for:)` on a 32-byte input, `count` times: the backend's raw rate.
    func rawSign(_ key: DKIMKey, count: Int, warmup: Int) throws -> Double {
        let input = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var sink = 0
        for _ in 0..<warmup { sink &+= try key.signature(for: input).count }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count { sink &+= try key.signature(for: input).count }
        let seconds = (clock.now - start).seconds
        blackHole(sink)
        return Double(count) / seconds
    }

    // MARK: Run and report

    func run(
        modes: BenchRender.DKIMMode, rsa: DKIMKey?, ed25519: DKIMKey?, warmup: Int, stageCount: Int, sample: String?
    ) throws {
        let rsaSigner = try rsa.map { key throws(DKIMError) in try DKIMSigner(domain: Self.domain, selector: "rsa2025", key: key) }
        let edSigner = try ed25519.map { key throws(DKIMError) in
            try DKIMSigner(domain: Self.domain, selector: "ed2025", key: key)
        }
        let count = subscribers.count

        // Sanity: one message of the heaviest mode, checked and optionally written out.
        let fullSigners = [rsaSigner, modes == .rsa ? nil : edSigner].compactMap { $0 }
        let first = try message(0, signers: fullSigners)
        let firstText = String(decoding: first, as: UTF8.self)
        let clicks = firstText.components(separatedBy: "/t/c/").count - 1
        let tracked = LinkRewriter.trackableLinks(in: BenchContent.html()).count
        if let sample { try Data(first).write(to: URL(fileURLWithPath: sample)) }

        print("Facteur bench-render — \(grouped(count)) distinct subscribers per mode, one task, sequential")
        print(
            "template: \(grouped(htmlSize)) B HTML, \(tracked) distinct https links (\(clicks) tracked hrefs in the HTML part),"
                + " layout \(layoutName.map { "\"\($0)\"" } ?? "none"), text generated from HTML")
        print("subject:  \(BenchContent.subject)")
        print("warm-up:  \(grouped(warmup)) messages before each measurement; clock: ContinuousClock")
        print("")

        var results: [Measurement] = []
        var offset = 0
        if modes == .none || modes == .all {
            results.append(try measure("no DKIM", signers: [], warmup: warmup, offset: offset))
            offset += count
        }
        var rsaResult: Measurement?
        if let rsaSigner, modes != .none {
            let measured = try measure("RSA-2048", signers: [rsaSigner], warmup: warmup, offset: offset)
            results.append(measured)
            rsaResult = measured
            offset += count
        }
        if let rsaSigner, let edSigner, modes == .rsaEd25519 || modes == .all {
            results.append(try measure("RSA-2048 + Ed25519", signers: [rsaSigner, edSigner], warmup: warmup, offset: offset))
            offset += count
        }
        var rawRSA: Double?
        var rawEd: Double?
        if let rsa { rawRSA = try rawSign(rsa, count: count, warmup: min(warmup, 500)) }
        if let ed25519, modes == .rsaEd25519 || modes == .all { rawEd = try rawSign(ed25519, count: count, warmup: warmup) }

        print(pad("mode", 24) + lpad("msgs/s", 12) + lpad("µs/msg", 10) + lpad("avg size", 14))
        print(String(repeating: "-", count: 60))
        for result in results {
            print(
                pad(result.name, 24) + lpad(grouped(Int(result.rate.rounded())), 12) + lpad(fixed(result.microseconds, 1), 10)
                    + lpad(grouped(Int(result.averageSize.rounded())) + " B", 14))
        }
        if let rawRSA {
            print(
                pad("raw RSA-2048 sign", 24) + lpad(grouped(Int(rawRSA.rounded())), 12) + lpad(fixed(1e6 / rawRSA, 1), 10)
                    + "    signs/s, OpenSSL libcrypto EVP, PKCS#1 v1.5, 32-byte input")
        }
        if let rawEd {
            print(
                pad("raw Ed25519 sign", 24) + lpad(grouped(Int(rawEd.rounded())), 12) + lpad(fixed(1e6 / rawEd, 1), 10)
                    + "    signs/s, swift-crypto, 32-byte input")
        }
        var ratio: Double?
        if let rsaResult, let rawRSA {
            ratio = rsaResult.rate / rawRSA
            print("")
            print(
                "ratio RSA msgs/s ÷ raw RSA signs/s: \(fixed(ratio!, 3))  (non-signing share of an RSA message: \(fixed((1 - ratio!) * 100, 1)) %)"
            )
        }

        print("")
        print("Goals (issue 3, per core)")
        let plain = results.first { $0.name == "no DKIM" }
        goal("without DKIM ≥ 20,000 msg/s", plain.map { grouped(Int($0.rate.rounded())) }, plain.map { $0.rate >= 20000 })
        goal("RSA ≥ 0.8 × raw RSA sign rate", ratio.map { fixed($0, 3) }, ratio.map { $0 >= 0.8 })
        goal("RSA ≥ 2,800 msg/s", rsaResult.map { grouped(Int($0.rate.rounded())) }, rsaResult.map { $0.rate >= 2800 })

        if stageCount > 0 {
            let n = min(stageCount, count)
            let stages = try stages(
                count: n, rsa: modes == .none ? nil : rsaSigner, ed25519: modes == .rsa || modes == .none ? nil : edSigner,
                offset: offset, clicks: clicks)
            print("")
            print("Per-stage cost, µs per message (instrumented pass of \(grouped(n)) messages after as many warm-up):")
            let total =
                stages.context + stages.render + stages.rewrite + stages.pixel + stages.mailbox + stages.message + stages.renderParts
                + stages.rsa
                + stages.ed25519 + stages.wire
            let plainTotal = total - stages.rsa - stages.ed25519
            func row(_ name: String, _ value: Double, share: Bool = true) {
                let percent = share ? lpad(fixed(value / plainTotal * 100, 1) + " %", 9) : ""
                print("  " + pad(name, 54) + lpad(fixed(value, 2), 9) + percent)
            }
            row("context dictionary (+ tokens, \(links.count) click URLs)", stages.context)
            if template.derivesText {
                row("template.render (Mustache HTML + subject + derived text)", stages.render)
                row("  HTML→text per message, not run (re-timed for reference)", stages.htmlToText, share: false)
            } else {
                row("template.render (Mustache + subject + HTML→text)", stages.render)
                row("  of which HTML→text (HTMLToText.convert, re-timed)", stages.htmlToText, share: true)
                row("  so Mustache HTML + subject ≈", stages.render - stages.htmlToText, share: true)
            }
            row("link rewriting: none per message (\(clicks) hrefs placed in the template)", stages.rewrite)
            row("  \(clicks) × LinkBuilder.click, for reference (re-timed)", stages.tokens, share: false)
            row("addOpenPixel + open token + List-Unsubscribe", stages.pixel)
            row("To mailbox (EmailAddress parsing)", stages.mailbox)
            row("Mail.Message init (validation, Message-ID)", stages.message)
            row("renderParts (headers, QP/base64, multipart)", stages.renderParts)
            row("wire bytes (bytes(prepending:))", stages.wire)
            row("total without DKIM", plainTotal)
            print("    → \(grouped(Int((1e6 / plainTotal).rounded()))) msg/s if nothing else ran")
            if stages.hasRSA || stages.hasEd25519 {
                row("DKIM relaxed body hash, once (re-timed)", stages.bodyHash, share: false)
                row("  of which relaxed canonicalization (re-timed)", stages.canonical, share: false)
            }
            if stages.hasRSA {
                row("DKIM RSA-2048 signatureHeader", stages.rsa, share: false)
                if let rawRSA {
                    row("  of which raw RSA sign (1 / raw rate)", 1e6 / rawRSA, share: false)
                    row("  so body hash + headers + field ≈", stages.rsa - 1e6 / rawRSA, share: false)
                }
            }
            if stages.hasEd25519 { row("DKIM Ed25519 signatureHeader", stages.ed25519, share: false) }
            print("  (% = share of the no-DKIM total; re-timed rows also appear inside their parent row)")
        }
    }

    func goal(_ name: String, _ value: String?, _ met: Bool?) {
        let verdict = met.map { $0 ? "PASS" : "MISS" } ?? "n/a (not measured)"
        print("  " + pad(name, 34) + lpad(value ?? "—", 10) + "   " + verdict)
    }
}

/// A subscriber as the render context sees it.
