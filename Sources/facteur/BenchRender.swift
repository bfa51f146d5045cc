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

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard stageCount >= 0 else { throw ValidationError("--stage-count cannot be negative") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup cannot be negative") }
        if dkim != .none, rsaKey == nil { throw ValidationError("--dkim \(dkim.rawValue) needs --rsa-key") }
        if dkim == .rsaEd25519 || dkim == .all, ed25519Key == nil {
            throw ValidationError("--dkim \(dkim.rawValue) needs --ed25519-key")
        }
    }

    func run() async throws {
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
private struct Bench {
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
        template = try MessageTemplate(
            subject: BenchContent.subject, html: html, text: nil, layout: layoutName, layouts: layouts,
            variables: .forMessages(customFields: ["city", "plan", "points"]))
        // As at send start: every literal href of the template gets a campaign_links id.
        var links: [String: Int64] = [:]
        for (index, url) in LinkRewriter.trackableLinks(in: html).enumerated() { links[url] = Int64(index + 1) }
        self.links = links
        let signer = try TokenSigner(keys: [("k2025", "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz")])
        builder = LinkBuilder(baseURL: "https://news.\(Self.domain)", signer: signer)
        from = try Mailbox("bonjour@\(Self.domain)", name: "Maison Lumière — Élodie")
        replyTo = try Mailbox("service-client@\(Self.domain)", name: "Service client Maison Lumière")
        subscribers = (0..<count).map(BenchSubscriber.make)
    }

    // MARK: Pipeline

    /// What `MessageComposer.compose` builds from a subscriber row, from memory instead.
    /// Returns the context and the unsubscribe URL (also in the context, as `unsubscribe_url`).
    func context(_ subscriber: BenchSubscriber, messageID: Int64) -> (context: [String: Any], unsubscribe: String) {
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
        let unsubscribe = builder.unsubscribe(message: messageID)
        context["unsubscribe_url"] = unsubscribe
        context["preferences_url"] = builder.preferences(subscriber: subscriber.id)
        context["view_in_browser_url"] = builder.viewInBrowser(message: messageID)
        return (context, unsubscribe)
    }

    /// One message, start to finish, as the sender does it.
    func message(_ index: Int, signers: [DKIMSigner]) throws -> [UInt8] {
        let subscriber = subscribers[index % subscribers.count]
        let messageID = 1_000_000 + Int64(index)
        let (context, unsubscribe) = context(subscriber, messageID: messageID)
        let rendered = template.render(context)
        let token = builder.signer.sign(.message, id: messageID)
        var html = LinkRewriter.rewrite(rendered.html, links: links) { builder.click(token: token, link: $0) }
        html = LinkRewriter.addOpenPixel(html, url: builder.open(message: messageID))
        let headers: [(name: String, value: String)] = [
            ("List-Unsubscribe", "<\(unsubscribe)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
        // MessageAssembler.assemble:
        let mail = try Mail.Message(
            from: from, replyTo: replyTo, to: [try Mailbox(subscriber.email, name: subscriber.name)], subject: rendered.subject,
            date: Date(), messageID: nil, headers: headers, textBody: rendered.text, htmlBody: html)
        let parts = try mail.renderParts()
        let signatures = try signers.map { signer throws(DKIMError) in
            try signer.signatureHeader(headers: parts.headers, body: parts.body)
        }
        return parts.bytes(prepending: signatures)
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

    // MARK: Stages

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
                let (context, unsubscribe) = context(subscriber, messageID: messageID)
                let t1 = clock.now
                let rendered = template.render(context)
                let t2 = clock.now
                let token = builder.signer.sign(.message, id: messageID)
                var html = LinkRewriter.rewrite(rendered.html, links: links) { builder.click(token: token, link: $0) }
                let t3 = clock.now
                html = LinkRewriter.addOpenPixel(html, url: builder.open(message: messageID))
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
                for link in 0..<Int64(clicks) { sink &+= builder.click(message: messageID, link: link % 20 + 1).utf8.count }
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
            row("context dictionary (+ 3 URL tokens)", stages.context)
            row("template.render (Mustache + subject + HTML→text)", stages.render)
            row("  of which HTML→text (HTMLToText.convert, re-timed)", stages.htmlToText, share: true)
            row("  so Mustache HTML + subject ≈", stages.render - stages.htmlToText, share: true)
            row("LinkRewriter.rewrite (\(clicks) hrefs, \(links.count) links)", stages.rewrite)
            row("  of which \(clicks) × LinkBuilder.click (re-timed)", stages.tokens)
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
private struct BenchSubscriber {
    var id: Int64
    var email: String
    var name: String
    var locale: String
    var timezone: String?
    var score: Double
    var city: String
    var plan: String
    var points: Int64
    var company: String?
    var companyDomain: String?

    static let firstNames = [
        "Élodie", "Camille", "Léa", "Chloé", "Inès", "Manon", "Zoé", "Jeanne", "Louise", "Agathe", "Maëlle", "Noémie",
        "Hélène", "Béatrice", "Amélie", "Lucas", "Théo", "Hugo", "Mathéo", "Raphaël", "Gabriel", "Jérôme", "François",
        "Benoît", "Loïc", "Anaïs", "Clément", "Étienne", "Sébastien", "Aurélien", "Céline", "Margaux",
    ]
    static let lastNames = [
        "Lefèvre", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
        "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier",
        "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
        "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
    ]
    static let cities = ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes", "Strasbourg", "Montpellier"]
    static let domains = ["gmail.com", "orange.fr", "free.fr", "laposte.net", "outlook.fr", "yahoo.fr", "sfr.fr", "proton.me"]
    static let plans = ["découverte", "essentiel", "premium"]
    static let companies = ["Atelier Dumas", "Boulangerie Roux", "Cabinet Mercier & Associés", "Éditions du Lac", "Garage Leroy"]

    static func make(_ index: Int) -> BenchSubscriber {
        let first = firstNames[index % firstNames.count]
        let last = lastNames[(index / firstNames.count) % lastNames.count]
        let local = "\(ascii(first)).\(ascii(last)).\(index)"
        let company = index % 3 == 0 ? companies[index % companies.count] : nil
        return BenchSubscriber(
            id: Int64(index + 1), email: "\(local)@\(domains[index % domains.count])", name: "\(first) \(last)",
            locale: index % 7 == 0 ? "en" : "fr", timezone: index % 2 == 0 ? "Europe/Paris" : nil,
            score: Double(index % 100) / 10, city: cities[index % cities.count], plan: plans[index % plans.count],
            points: Int64((index * 37) % 5000), company: company,
            companyDomain: company.map { _ in "entreprise\(index % 50).fr" })
    }

    static func ascii(_ text: String) -> String {
        text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
    }
}

// MARK: - The template

/// A realistic ~30 KB French newsletter: inline-styled tables, 12 product cards, an article, shop
/// locations and social links — 20 distinct `https://` links, several used twice (image + title).
private enum BenchContent {
    static let subject = "{{first_name}}, offre d'été ☀️ : -30 % sur tout"
    static let site = "https://www.maison-lumiere.example.fr"
    static let utm = "utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=soldes-ete-2025"
    static let cdn = "https://cdn.maison-lumiere.example.fr/img/2025/ete"

    static let products: [(slug: String, name: String, price: String, was: String, text: String)] = [
        (
            "lampe-corail", "Lampe à poser Corail", "62,30 €", "89,00 €",
            "Céramique émaillée à la main dans notre atelier de Limoges, abat-jour en lin lavé. Une lumière douce et chaude pour vos soirées d'été sur la terrasse ou au salon."
        ),
        (
            "suspension-rotin", "Suspension Rotin Naturel", "104,30 €", "149,00 €",
            "Tressée par des artisans, elle projette de jolies ombres graphiques au plafond. Diamètre 45 cm, câble textile écru de 1,5 m, ampoule E27 non fournie."
        ),
        (
            "guirlande-guinguette", "Guirlande Guinguette 10 m", "34,30 €", "49,00 €",
            "Dix mètres de lumière pour vos dîners entre amis : 15 ampoules LED à filament, étanche IP65, raccordable jusqu'à trois guirlandes. Idéale pour les pergolas."
        ),
        (
            "lanterne-solaire", "Lanterne solaire Méditerranée", "27,93 €", "39,90 €",
            "Aucune prise, aucun câble : le panneau intégré se recharge la journée et s'allume seul à la tombée de la nuit. Autonomie de huit heures, verre recyclé."
        ),
        (
            "applique-laiton", "Applique murale Laiton brossé", "83,30 €", "119,00 €",
            "Un bras articulé orientable à 180° et une finition laiton brossé qui se patine joliment avec le temps. Parfaite au-dessus d'une tête de lit ou d'un fauteuil."
        ),
        (
            "lampadaire-arc", "Lampadaire Arc Scandinave", "174,30 €", "249,00 €",
            "Pied en chêne massif certifié FSC, arc en acier thermolaqué noir mat, variateur au pied. Il éclaire la table basse sans encombrer le salon."
        ),
        (
            "bougie-figuier", "Bougie parfumée Figuier", "20,30 €", "29,00 €",
            "Cire végétale de colza, mèche en coton, 45 heures de combustion. Notes de feuille de figuier, de lait d'amande et de bois de cèdre, coulée en Provence."
        ),
        (
            "lampe-baladeuse", "Lampe baladeuse rechargeable", "48,30 €", "69,00 €",
            "Rechargeable en USB-C, trois intensités, poignée en cuir végétal. Elle vous suit du jardin à la chambre, et jusque sous la tente cet été."
        ),
        (
            "spot-jardin", "Lot de 4 spots de jardin", "55,93 €", "79,90 €",
            "Aluminium anodisé, piquet inclus, lumière blanc chaud 2700 K. Mettez en valeur un olivier, une allée ou la façade de la maison en quelques minutes."
        ),
        (
            "abat-jour-lin", "Abat-jour Lin lavé terracotta", "31,50 €", "45,00 €",
            "Lin lavé teint dans la masse, couleur terracotta, armature en métal doré. Compatible avec la plupart de nos pieds de lampe, quatre tailles disponibles."
        ),
        (
            "veilleuse-lune", "Veilleuse Lune en verre soufflé", "24,43 €", "34,90 €",
            "Soufflée à la bouche, chaque pièce est unique. Minuterie de 30 minutes, lumière ambrée qui rassure les plus petits sans gêner leur sommeil."
        ),
        (
            "plafonnier-opaline", "Plafonnier Opaline 1930", "97,30 €", "139,00 €",
            "Réédition d'un modèle Art déco : globe en opaline blanche, monture en laiton patiné. Diffuse une lumière homogène dans l'entrée ou le couloir."
        ),
    ]

    static let paragraphs = [
        "Cet été, nous avons voulu faire simple : une seule remise, sur tout le catalogue, sans code ni minimum d'achat. Les prix affichés sur le site tiennent déjà compte de la réduction, et la livraison reste offerte dès 49 € en France métropolitaine, en Belgique et au Luxembourg.",
        "Nos ateliers de Limoges et de Nantes tournent à plein régime depuis le printemps pour préparer ces soldes. Chaque lampe est contrôlée à la main avant de partir : nous vérifions le câblage, la stabilité du pied et la finition de l'abat-jour, puis nous l'emballons dans du carton recyclé, sans plastique.",
        "Vous hésitez entre deux modèles ? Nos conseillers répondent par téléphone du lundi au samedi, de 9 h à 19 h, et par messagerie sur le site. Ils peuvent aussi vous envoyer des photos prises en situation, avec la lumière du soir, pour vous aider à choisir la bonne teinte et la bonne hauteur.",
        "Le retour est gratuit pendant 60 jours : si la lampe ne trouve pas sa place chez vous, déposez-la dans l'un des 6 000 points relais partenaires et nous vous remboursons sous cinq jours ouvrés. Les articles soldés bénéficient exactement des mêmes garanties que le reste de la collection.",
        "Pour une terrasse réussie, pensez en trois couches : une lumière d'ambiance en hauteur (guirlande ou suspension), une lumière d'accent au sol pour les plantes, et une lumière de table, portable, pour le dîner. Évitez les blancs froids au-dessus de 3000 K, qui écrasent les couleurs et attirent davantage les insectes.",
        "Nos ampoules LED à filament consomment jusqu'à 85 % d'énergie en moins qu'une ampoule à incandescence pour un rendu quasiment identique. Toutes sont garanties trois ans et compatibles avec nos variateurs ; les modèles solaires, eux, n'ont besoin que de quelques heures de soleil pour tenir toute la soirée.",
    ]

    static let stores: [(city: String, address: String, slug: String)] = [
        ("Paris 11e", "42, rue de la Roquette", "paris-roquette"),
        ("Lyon", "7, quai Saint-Antoine", "lyon-saint-antoine"),
        ("Nantes", "18, rue Kervégan", "nantes-kervegan"),
    ]

    static func link(_ path: String) -> String { "\(site)/\(path)?\(utm)" }

    static func html() -> String {
        var out = ""
        out.reserveCapacity(34_000)
        out += """
            <style>
            @media only screen and (max-width: 620px) {
              .produit { width: 100% !important; display: block !important; }
              .colonne { width: 100% !important; display: block !important; padding: 0 0 16px 0 !important; }
              .titre { font-size: 26px !important; line-height: 32px !important; }
            }
            </style>
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">
            <tr><td style="padding:0 0 12px 0;font-size:12px;color:#71717a;text-align:center;">
            Vous ne voyez pas bien ce message ? <a href="{{view_in_browser_url}}" style="color:#71717a;text-decoration:underline;">Ouvrez-le dans votre navigateur</a>.
            </td></tr>
            <tr><td align="center" style="padding:8px 0 24px 0;">
            <a href="\(link(""))" style="text-decoration:none;"><img src="\(cdn)/logo-maison-lumiere@2x.png" width="180" height="48" alt="Maison Lumière" style="display:block;border:0;outline:none;width:180px;height:48px;"></a>
            </td></tr>
            <tr><td style="padding:0;">
            <a href="\(link("soldes-ete"))" style="text-decoration:none;"><img src="\(cdn)/bandeau-soldes-ete-1200x600.jpg" width="536" alt="Soldes d'été : -30 % sur tout le site" style="display:block;border:0;width:100%;max-width:536px;height:auto;border-radius:6px;"></a>
            </td></tr>
            <tr><td class="titre" style="padding:28px 0 8px 0;font-family:Georgia,'Times New Roman',serif;font-size:32px;line-height:38px;color:#7c2d12;text-align:center;">
            Bonjour {{first_name}}{{^first_name}}chère cliente, cher client{{/first_name}}, l'été s'allume !
            </td></tr>
            <tr><td style="padding:0 0 20px 0;font-size:16px;line-height:26px;color:#3f3f46;text-align:center;">
            Jusqu'au 31 août, profitez de <strong>-30 % sur tout le catalogue</strong> : lampes, suspensions, guirlandes, bougies et luminaires d'extérieur. {{#company}}Offre également valable pour les commandes professionnelles de {{company.name}}.{{/company}}
            </td></tr>
            <tr><td align="center" style="padding:0 0 32px 0;">
            <table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td style="background:#c2410c;border-radius:999px;">
            <a href="\(link("soldes-ete"))" style="display:inline-block;padding:14px 32px;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:999px;">Je découvre les soldes</a>
            </td></tr></table>
            </td></tr>
            <tr><td style="padding:0 0 24px 0;font-size:14px;line-height:22px;color:#52525b;background:#fff7ed;border-radius:6px;">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td style="padding:16px 20px;">
            Votre compte fidélité <strong>{{plan}}</strong> affiche <strong>{{points}} points</strong> : ils se cumulent avec la remise d'été sur votre prochaine commande à {{attributes.city}} ou en ligne.
            </td></tr></table>
            </td></tr>

            """
        // Product cards, two per row.
        for pair in stride(from: 0, to: products.count, by: 2) {
            out += """
                <tr><td style="padding:0 0 24px 0;">
                <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>

                """
            for product in products[pair..<min(pair + 2, products.count)] {
                let url = link("produits/\(product.slug)")
                out += """
                    <td class="produit" width="50%" valign="top" style="padding:0 8px;">
                    <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border:1px solid #e4e4e7;border-radius:6px;">
                    <tr><td style="padding:0;"><a href="\(url)" style="text-decoration:none;"><img src="\(cdn)/produits/\(product.slug)-520x520.jpg" width="252" alt="\(product.name)" style="display:block;border:0;width:100%;height:auto;border-radius:6px 6px 0 0;"></a></td></tr>
                    <tr><td style="padding:14px 16px 4px 16px;font-family:Georgia,'Times New Roman',serif;font-size:18px;line-height:24px;color:#18181b;">
                    <a href="\(url)" style="color:#18181b;text-decoration:none;">\(product.name)</a>
                    </td></tr>
                    <tr><td style="padding:0 16px 8px 16px;font-size:15px;line-height:22px;">
                    <span style="color:#c2410c;font-weight:bold;">\(product.price)</span> <span style="color:#a1a1aa;text-decoration:line-through;font-size:13px;">\(product.was)</span>
                    </td></tr>
                    <tr><td style="padding:0 16px 16px 16px;font-size:13px;line-height:20px;color:#52525b;">\(product.text)</td></tr>
                    </table>
                    </td>

                    """
            }
            out += "</tr></table>\n</td></tr>\n"
        }
        // The article, then shops and help.
        out += """
            <tr><td style="padding:8px 0 16px 0;font-family:Georgia,'Times New Roman',serif;font-size:24px;line-height:30px;color:#7c2d12;">Le carnet : bien éclairer sa terrasse</td></tr>

            """
        var paragraph = 0
        func addParagraph() {
            out +=
                "<tr><td style=\"padding:0 0 16px 0;font-size:15px;line-height:24px;color:#3f3f46;\">"
                + paragraphs[paragraph % paragraphs.count] + "</td></tr>\n"
            paragraph += 1
        }
        for _ in 0..<3 { addParagraph() }
        out += """
            <tr><td style="padding:0 0 28px 0;font-size:15px;"><a href="\(link("carnet/eclairer-sa-terrasse"))" style="color:#c2410c;font-weight:bold;">Lire l'article complet →</a></td></tr>
            <tr><td style="padding:0 0 24px 0;">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>

            """
        for store in stores {
            out += """
                <td class="colonne" width="33%" valign="top" style="padding:0 6px;font-size:13px;line-height:20px;color:#52525b;">
                <strong style="color:#18181b;">\(store.city)</strong><br>\(store.address)<br>Ouvert du mardi au samedi, 10 h – 19 h<br>
                <a href="\(link("magasins/\(store.slug)"))" style="color:#c2410c;">Itinéraire et horaires</a>
                </td>

                """
        }
        out += """
            </tr></table>
            </td></tr>
            <tr><td style="padding:0 0 24px 0;font-size:13px;line-height:20px;color:#71717a;text-align:center;">
            Livraison offerte dès 49 € · Retours gratuits sous 60 jours · <a href="https://aide.maison-lumiere.example.fr/livraison-et-retours?\(utm)" style="color:#71717a;">Aide et contact</a>
            </td></tr>
            <tr><td align="center" style="padding:0 0 24px 0;">
            <a href="https://www.instagram.com/maisonlumiere.paris/" style="text-decoration:none;"><img src="\(cdn)/icones/instagram.png" width="28" height="28" alt="Instagram" style="border:0;"></a>
            </td></tr>

            """
        // Editorial tips until the HTML reaches 30 KB, then the closing notes.
        out += """
            <tr><td style="padding:8px 0 16px 0;font-family:Georgia,'Times New Roman',serif;font-size:20px;line-height:26px;color:#7c2d12;">Nos conseils de l'été</td></tr>

            """
        let closing = """
            <tr><td style="padding:8px 0 0 0;font-size:12px;line-height:18px;color:#a1a1aa;">
            Cet e-mail a été envoyé à {{email}}. Offre valable du 1er juillet au 31 août 2025 dans la limite des stocks disponibles, non cumulable avec d'autres codes promotionnels. Prix indiqués TTC. Maison Lumière SAS, 42 rue de la Roquette, 75011 Paris — RCS Paris 812 345 678.
            </td></tr>
            </table>

            """
        while out.utf8.count + closing.utf8.count < 30_000 { addParagraph() }
        out += closing
        return out
    }
}

// MARK: - Helpers

extension Duration {
    fileprivate var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// Keeps a computed value alive so the optimizer cannot drop the work behind it.
@inline(never) private func blackHole(_ value: Int) {
    if value == Int.min { print("") }
}

private func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return value < 0 ? "-" + out : out
}

private func fixed(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
private func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
