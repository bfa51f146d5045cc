import Foundation
import Mustache

/// A campaign's subject, HTML and text, parsed and checked once, then rendered per subscriber.
///
/// Parsing happens when the template is saved (errors come back with line and column) and once per
/// campaign at send time; rendering a message never parses. Subject and text render without HTML
/// escaping; the HTML part escapes `{{var}}` (use `{{{var}}}` for trusted markup).
public struct MessageTemplate: Sendable {
    let subject: MustacheTemplate
    /// A/B test subjects, by variant index.
    let subjectVariants: [MustacheTemplate]
    let html: MustacheTemplate
    let text: MustacheTemplate?
    /// Without a text part of its own: the text template derived once from the HTML, when the
    /// derivation is exact for this template (see `DerivedText`); else each message's HTML is converted.
    let derivedText: MustacheTemplate?
    /// With tracked links and no derived text: the HTML as written, whose links the text part keeps.
    let untrackedHTML: MustacheTemplate?
    let library: MustacheLibrary

    /// Whether the text part comes from a text template derived once (else each message's HTML is converted).
    public var derivesText: Bool { derivedText != nil }

    /// What a message looks like for one subscriber.
    public struct Rendered: Sendable, Equatable {
        public var subject: String
        public var html: String
        public var text: String
    }

    /// Parses and validates. - Throws: `TemplateError` listing every problem with its position.
    /// - Parameters:
    ///   - layout: a layout name under `templates/email/` whose `{{$content}}` block receives `html`.
    ///   - layouts: the loaded layouts and partials.
    ///   - subjectVariants: an A/B test's subjects (`ab.subjects[i]` in errors).
    ///   - trackedLinks: a sending campaign's links (URL → `campaign_links` id). Their hrefs are
    ///     rewritten once, in the template, to `{{{__click_ID}}}`: each message then only supplies
    ///     its click URLs (`clickKey(_:)`) instead of rewriting its HTML. The text part keeps the
    ///     real destinations.
    public init(
        subject: String, subjectVariants: [String] = [], html: String, text: String?, layout: String?, layouts: EmailLayouts,
        variables: TemplateVariables, trackedLinks: [String: Int64] = [:]
    ) throws {
        let partialNames = layouts.names
        var problems = variables.problems(in: subject, part: "subject", partials: [])
        for (index, variant) in subjectVariants.enumerated() {
            problems += variables.problems(in: variant, part: "ab.subjects[\(index)]", partials: [])
        }
        problems += variables.problems(in: html, part: "html", partials: partialNames)
        if let text { problems += variables.problems(in: text, part: "text", partials: partialNames) }
        if let layout, !partialNames.contains(layout) {
            problems.append(.init(part: "layout", line: 1, column: 1, message: "no layout named '\(layout)' in templates/email"))
        }
        if subject.contains("\n") { problems.append(.init(part: "subject", line: 1, column: 1, message: "a subject is one line")) }
        guard problems.isEmpty else { throw TemplateError(problems: problems) }
        func wrapped(_ html: String) -> String { layout.map { "{{<\($0)}}{{$content}}\(html){{/content}}{{/\($0)}}" } ?? html }
        let tracked = trackedLinks.isEmpty ? html : LinkRewriter.rewrite(html, links: trackedLinks) { "{{{\(Self.clickKey($0))}}}" }
        self.subject = try Self.parse("{{% CONTENT_TYPE: TEXT}}" + subject, part: "subject", offset: 0)
        self.subjectVariants = try subjectVariants.enumerated().map {
            try Self.parse("{{% CONTENT_TYPE: TEXT}}" + $1, part: "ab.subjects[\($0)]", offset: 0)
        }
        self.html = try Self.parse(wrapped(tracked), part: "html", offset: 0)
        self.text = try text.map { try Self.parse("{{% CONTENT_TYPE: TEXT}}" + $0, part: "text", offset: 0) }
        self.library = layouts.library
        if text == nil {  // the text part comes from the HTML as written, links untracked
            let untracked = tracked == html ? self.html : try Self.parse(wrapped(html), part: "html", offset: 0)
            derivedText = DerivedText.template(html: html, htmlTemplate: untracked, layout: layout, layouts: layouts)
            untrackedHTML = derivedText == nil && tracked != html ? untracked : nil
        } else {
            derivedText = nil
            untrackedHTML = nil
        }
    }

    /// Renders one message. `context` holds plain values: String, numbers, Bool, arrays and
    /// `[String: Any]` dictionaries (see `MessageContext`). `subjectVariant` picks an A/B subject.
    /// The subject is rendered first: the body sees it as `campaign.subject` (the layout's
    /// `<title>`), as this subscriber gets it rather than as its template.
    public func render(_ context: [String: Any], subjectVariant: Int? = nil) -> Rendered {
        let subjectTemplate = subjectVariant.flatMap { subjectVariants.indices.contains($0) ? subjectVariants[$0] : nil } ?? self.subject
        var subject = subjectTemplate.render(context, library: library)
        if subject.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            subject = String(subject.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
        }
        var context = context
        if var campaign = context["campaign"] as? [String: Any] {
            campaign["subject"] = subject
            context["campaign"] = campaign
        }
        let html = self.html.render(context, library: library)
        let text: String
        if let template = self.text {
            text = template.render(context, library: library)
        } else if let derivedText {
            text = DerivedText.finish(derivedText.render(context, library: library))
        } else if let untrackedHTML {
            text = HTMLToText.convert(untrackedHTML.render(context, library: library))
        } else {
            text = HTMLToText.convert(html)
        }
        return Rendered(subject: subject, html: html, text: text)
    }

    /// The context key of a tracked link's click URL.
    public static func clickKey(_ link: Int64) -> String { "__click_\(link)" }

    private static func parse(_ source: String, part: String, offset: Int) throws -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: source)
        } catch let error as MustacheTemplate.ParserError {
            throw TemplateError(problems: [
                .init(part: part, line: error.context.lineNumber, column: error.context.columnNumber, message: "\(error.error)")
            ])
        }
    }

}

/// A template that cannot be saved, with every problem found.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public var problems: [TemplateVariables.Problem]
    public var description: String { problems.map(\.description).joined(separator: "; ") }
}

/// The layouts and partials of `templates/email/`, loaded once.
public struct EmailLayouts: Sendable {
    public let library: MustacheLibrary
    /// File names without `.mustache`.
    public let names: Set<String>
    /// Their sources, by name, from which a campaign's text part is derived (see `DerivedText`).
    let sources: [String: String]
    /// `{{footer.preferences}}` and `{{footer.unsubscribe}}` by language, from the
    /// `email_footer_*` keys of `templates/strings/<language>.json`.
    let footers: [String: [String: String]]

    public static let none = EmailLayouts(library: MustacheLibrary(), names: [], sources: [:], footers: [:])

    static let englishFooter = ["preferences": "Manage your preferences", "unsubscribe": "Unsubscribe"]

    /// Loads every `*.mustache` under `directory` (a missing directory means no layouts), and the
    /// footer links' words from `strings/` beside it.
    public static func load(from directory: URL) async throws -> EmailLayouts {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return .none }
        var sources: [String: String] = [:]
        for file in files where file.hasSuffix(".mustache") {
            sources[String(file.dropLast(".mustache".count))] = try String(
                contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        }
        var footers: [String: [String: String]] = [:]
        let strings = directory.deletingLastPathComponent().appendingPathComponent("strings")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: strings.path)) ?? [] where file.hasSuffix(".json") {
            let table = try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: strings.appendingPathComponent(file)))
            if let preferences = table?["email_footer_preferences"], let unsubscribe = table?["email_footer_unsubscribe"] {
                footers[String(file.dropLast(".json".count))] = ["preferences": preferences, "unsubscribe": unsubscribe]
            }
        }
        return EmailLayouts(
            library: try await MustacheLibrary(directory: directory.path), names: Set(sources.keys), sources: sources, footers: footers)
    }

    /// The footer words in the subscriber's language (`fr-CA` takes `fr`), else English.
    public func footer(locale: String) -> [String: String] {
        let lowered = locale.lowercased()
        return footers[lowered] ?? footers[String(lowered.prefix { $0 != "-" && $0 != "_" })] ?? footers["en"] ?? Self.englishFooter
    }
}
