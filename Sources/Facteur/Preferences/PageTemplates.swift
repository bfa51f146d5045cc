import Foundation
import Mustache

/// The public pages (`templates/pages/*.mustache`), the system emails (`templates/system/`) and
/// their text in every language (`templates/strings/<language>.json`).
///
/// No page text lives in Swift: a template shows `{{{t.save}}}`, and each language's file gives it.
/// Strings are trusted like the templates (the operator writes both), so templates use the
/// triple mustache and they are not escaped again; the page data a string fills in is escaped.
/// A string may use the page's data itself (`"Paused until {{paused_until_text}}"`). Adding a
/// language is adding a strings file; every file must have every key English has (checked at load).
public struct PageTemplates: Sendable {
    let pages: MustacheLibrary
    let system: MustacheLibrary
    /// Language → key → text.
    let strings: [String: [String: String]]
    /// The strings that use the page's data, parsed once: language → key → template.
    let templated: [String: [String: MustacheTemplate]]
    /// The languages with a strings file, English first.
    public let languages: [String]

    public static let fallback = "en"

    /// Loads `templates/pages`, `templates/system` and `templates/strings` under `directory`.
    public static func load(from directory: URL) async throws -> PageTemplates {
        let stringsDirectory = directory.appendingPathComponent("strings")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: stringsDirectory.path)) ?? []
        var strings: [String: [String: String]] = [:]
        for file in files where file.hasSuffix(".json") {
            let data = try Data(contentsOf: stringsDirectory.appendingPathComponent(file))
            guard let table = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw FacteurError(.invalid, "templates/strings/\(file) must be a JSON object of strings")
            }
            strings[String(file.dropLast(".json".count))] = table
        }
        guard let english = strings[fallback] else {
            throw FacteurError(.invalid, "templates/strings/en.json is missing: English is every page's fallback")
        }
        for (language, table) in strings.sorted(by: { $0.key < $1.key }) {
            let missing = Set(english.keys).subtracting(table.keys).sorted()
            guard missing.isEmpty else {
                throw FacteurError(.invalid, "templates/strings/\(language).json lacks \(missing.joined(separator: ", "))")
            }
        }
        var templated: [String: [String: MustacheTemplate]] = [:]
        for (language, table) in strings {
            for (key, text) in table where text.contains("{{") {
                do {
                    templated[language, default: [:]][key] = try MustacheTemplate(string: text)
                } catch {
                    throw FacteurError(.invalid, "templates/strings/\(language).json: '\(key)' is not a valid template: \(error)")
                }
            }
        }
        return PageTemplates(
            pages: try await MustacheLibrary(directory: directory.appendingPathComponent("pages").path),
            system: try await MustacheLibrary(directory: directory.appendingPathComponent("system").path), strings: strings,
            templated: templated, languages: [fallback] + strings.keys.filter { $0 != fallback }.sorted())
    }

    /// The first supported language among `choices` (an explicit choice, then the person's locale,
    /// `fr-CA` counting as `fr`), else the best of `Accept-Language`, else English.
    public func language(choices: [String?], acceptLanguage: String?) -> String {
        for choice in choices {
            if let choice, let supported = supported(choice) { return supported }
        }
        if let header = acceptLanguage {
            let ranked = header.split(separator: ",").compactMap { item -> (String, Double)? in
                let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let tag = parts.first, !tag.isEmpty else { return nil }
                var quality = 1.0
                for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                    quality = Double(parameter.dropFirst(2)) ?? 0
                }
                return (tag, quality)
            }
            // A stable sort: equal qualities keep the header's order.
            for (tag, quality) in ranked.enumerated().sorted(by: { ($0.element.1, -$0.offset) > ($1.element.1, -$1.offset) })
                .map(\.element) where quality > 0
            {
                if let supported = supported(tag) { return supported }
            }
        }
        return Self.fallback
    }

    private func supported(_ tag: String) -> String? {
        let lowered = tag.lowercased()
        if strings[lowered] != nil { return lowered }
        let base = String(lowered.prefix { $0 != "-" && $0 != "_" })
        return strings[base] != nil ? base : nil
    }

    /// One string in `language`, with `data` filled in.
    public func string(_ key: String, language: String, data: [String: Any] = [:]) -> String {
        table(language, data: data).child(named: key) as? String ?? key
    }

    /// `{{t.key}}` in a template: the strings of one language, each filled in only when used.
    struct StringTable: MustacheParent {
        let plain: [String: String]
        let templated: [String: MustacheTemplate]
        let data: [String: Any]

        func child(named key: String) -> Any? {
            if let template = templated[key] { return template.render(data) }
            return plain[key]
        }
    }

    func table(_ language: String, data: [String: Any]) -> StringTable {
        let known = strings[language] != nil ? language : Self.fallback
        return StringTable(plain: strings[known] ?? [:], templated: templated[known] ?? [:], data: data)
    }

    /// The language switch: each language's own name, and whether it is the current one.
    func switcher(_ current: String) -> [[String: Any]] {
        languages.map { ["code": $0, "name": strings[$0]?["language_name"] ?? $0, "current": $0 == current] }
    }

    /// Renders `templates/pages/<name>.mustache`.
    public func page(_ name: String, language: String, data: [String: Any]) -> String {
        var context = data
        let strings = table(language, data: data)
        context["t"] = strings
        context["lang"] = language
        context["languages"] = switcher(language)
        if context["title"] == nil { context["title"] = strings.child(named: "\(name)_title") }
        return pages.render(context, withTemplate: name) ?? ""
    }

    /// Renders `templates/system/<name>.mustache` (an email's HTML).
    public func systemEmail(_ name: String, language: String, data: [String: Any]) -> String {
        var context = data
        context["t"] = table(language, data: data)
        context["lang"] = language
        return system.render(context, withTemplate: name) ?? ""
    }

    /// Whether `templates/pages/<name>.mustache` exists (checked at start for the pages the routes use).
    public func hasPage(_ name: String) -> Bool { pages.getTemplate(named: name) != nil }
    public func hasSystemEmail(_ name: String) -> Bool { system.getTemplate(named: name) != nil }
}
