import Foundation

extension SegmentText {
    /// Where a token starts, 1-based.
    struct Position: Sendable, Equatable {
        var line: Int
        var column: Int
    }

    enum Token: Equatable {
        case word(String)
        case string(String)
        case number(Double)
        /// `30d`, `-30d`, `+2w`.
        case duration(String)
        case symbol(String)
        case end

        var description: String {
            switch self {
            case .word(let word): "'\(word)'"
            case .string(let text): "the text \(JSONValue.string(text).jsonText)"
            case .number(let number): "the number \(JSONValue.number(number).jsonText)"
            case .duration(let text): "'\(text)'"
            case .symbol(let symbol): "'\(symbol)'"
            case .end: "the end of the text"
            }
        }
    }

    /// A recursive-descent parser from text to the JSON form, remembering where each condition
    /// began (by its path in the tree) so that later checks can point at it.
    struct Parser {
        private var tokens: [(token: Token, at: Position)] = []
        private var index = 0
        private var lexError: FacteurError?
        /// Open parentheses, `not`s and lists: bounded before the tree's own check, so deep
        /// input cannot exhaust the stack.
        private var depth = 0
        /// Tree path (`and[1].or[0]`) → where that rule starts.
        var positions: [String: Position] = [:]

        init(_ text: String) {
            do {
                tokens = try Self.lex(text)
            } catch let error as FacteurError {
                lexError = error
            } catch {
                lexError = FacteurError(.invalid, "\(error)", field: "text")
            }
        }

        mutating func parseAll() throws -> JSONValue {
            if let lexError { throw lexError }
            guard current != .end else { throw failure("a condition", found: .end) }
            let rule = try parseOr(path: "")
            guard current == .end else { throw failure("'and', 'or' or the end of the text", found: current) }
            return rule
        }

        // MARK: Grammar

        private mutating func parseOr(path: String) throws -> JSONValue {
            let start = here
            var items: [JSONValue] = []
            repeat {
                items.append(try parseAnd(path: "\(Self.key(path, "or"))[\(items.count)]"))
            } while accept(.word("or"))
            return group("or", items, path: path, start: start)
        }

        private mutating func parseAnd(path: String) throws -> JSONValue {
            let start = here
            var items: [JSONValue] = []
            repeat {
                items.append(try parseUnary(path: "\(Self.key(path, "and"))[\(items.count)]"))
            } while accept(.word("and"))
            return group("and", items, path: path, start: start)
        }

        /// One item is itself, at the group's path; several make the group, each at its index.
        private mutating func group(_ kind: String, _ items: [JSONValue], path: String, start: Position) -> JSONValue {
            if items.count == 1 {
                // The lone item takes the group's place: move what was recorded under it.
                let itemPath = "\(Self.key(path, kind))[0]"
                var moved: [String: Position] = [:]
                for (key, position) in positions where key == itemPath || key.hasPrefix(itemPath + ".") {
                    positions[key] = nil
                    let rest = key.dropFirst(itemPath.count)  // "" or ".…"
                    moved[path.isEmpty ? String(rest.dropFirst()) : path + rest] = position
                }
                positions.merge(moved) { $1 }
                return items[0]
            }
            positions[path] = start
            return .object([kind: .array(items)])
        }

        private mutating func parseUnary(path: String) throws -> JSONValue {
            let start = here
            depth += 1
            defer { depth -= 1 }
            guard depth <= SegmentLimits.maxDepth + 1 else {
                throw FacteurError(
                    .invalid, "line \(here.line), column \(here.column): the rule nests deeper than \(SegmentLimits.maxDepth) levels",
                    field: "text")
            }
            if accept(.word("not")) {
                positions[path] = start
                return .object(["not": try parseUnary(path: Self.key(path, "not"))])
            }
            if accept(.symbol("(")) {
                let inner = try parseOr(path: path)
                try expect(.symbol(")"), "')'")
                return inner
            }
            positions[path] = start
            return try parseLeaf()
        }

        private mutating func parseLeaf() throws -> JSONValue {
            guard case .word(let word) = current else { throw failure("a condition", found: current) }
            advance()
            switch word {
            case "field":
                return try condition("field", name: try identifier("a field name"))
            case "company":
                return try condition("company", name: try identifier("a company field"))
            case "topic":
                var object: [String: JSONValue] = ["topic": .string(try text("the topic's key in quotes"))]
                for state in SegmentRule.TopicState.allCases where accept(.word(state.rawValue)) {
                    object["state"] = .string(state.rawValue)
                    break
                }
                return .object(object)
            case "segment":
                return .object(["segment": try number("a segment id")])
            case "device", "client":
                var object: [String: JSONValue] = [
                    word: .string(word == "device" ? try identifier("a device class") : try text("a mail client in quotes"))
                ]
                while true {
                    if accept(.word("mostly")) {
                        object["mostly"] = .bool(true)
                    } else if let window = try window() {
                        object["within"] = window
                    } else {
                        break
                    }
                }
                return .object(object)
            case "event":
                return try event()
            default:
                if let kind = SegmentRule.Activity.Kind(rawValue: word) { return try activity(kind) }
                return try condition("field", name: word)
            }
        }

        private mutating func activity(_ kind: SegmentRule.Activity.Kind) throws -> JSONValue {
            var object: [String: JSONValue] = ["activity": .string(kind.rawValue)]
            while true {
                if accept(.word("campaign")) {
                    object["campaign"] = try number("a campaign id")
                } else if accept(.word("last")) {
                    object["last_campaigns"] = try number("how many campaigns")
                    try expect(.word("campaigns"), "'campaigns'")
                } else if accept(.word("link")) {
                    object["link"] = .string(try text("the link's URL in quotes"))
                } else if accept(.word("including")) {
                    try expect(.word("machines"), "'machines'")
                    object["machine"] = .bool(true)
                } else if let count = try count() {
                    object["count"] = count
                } else if let window = try window() {
                    object["within"] = window
                } else {
                    return .object(object)
                }
            }
        }

        private mutating func event() throws -> JSONValue {
            let name: String
            if case .string(let quoted) = current {
                advance()
                name = quoted
            } else {
                name = try identifier("the event's name")
            }
            var object: [String: JSONValue] = ["event": .string(name)]
            while true {
                if accept(.word("where")) {
                    var filters: [JSONValue] = []
                    repeat {
                        let property = try propertyName()
                        let (op, value) = try comparison()
                        var filter: [String: JSONValue] = ["property": .string(property), "op": .string(op)]
                        if let value { filter["value"] = value }
                        filters.append(.object(filter))
                    } while accept(.symbol(","))
                    object["where"] = .array(filters)
                } else if let count = try count() {
                    object["count"] = count
                } else if let window = try window() {
                    object["within"] = window
                } else if case .word(let fn) = current, SegmentRule.Aggregate.Function(rawValue: fn) != nil, next == .symbol("(") {
                    advance()
                    advance()
                    let property = try propertyName()
                    try expect(.symbol(")"), "')'")
                    let (op, value) = try comparison()
                    var aggregate: [String: JSONValue] = ["fn": .string(fn), "property": .string(property), "op": .string(op)]
                    if let value { aggregate["value"] = value }
                    object["aggregate"] = .object(aggregate)
                } else {
                    return .object(object)
                }
            }
        }

        private mutating func condition(_ kind: String, name: String) throws -> JSONValue {
            let (op, value) = try comparison()
            var object: [String: JSONValue] = [kind: .string(name), "op": .string(op)]
            if let value { object["value"] = value }
            return .object(object)
        }

        /// An operator and its value (none for `exists`).
        private mutating func comparison() throws -> (String, JSONValue?) {
            let symbols = ["=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"]
            if case .symbol(let symbol) = current, let op = symbols[symbol] {
                advance()
                return (op, try value())
            }
            if accept(.word("in")) { return ("in", try value()) }
            if accept(.word("contains")) { return ("contains", try value()) }
            if accept(.word("exists")) { return ("exists", nil) }
            if accept(.word("starts")) {
                try expect(.word("with"), "'with'")
                return ("starts_with", try value())
            }
            if accept(.word("ends")) {
                try expect(.word("with"), "'with'")
                return ("ends_with", try value())
            }
            if accept(.word("between")) {
                let low = try value()
                try expect(.word("and"), "'and' between the two bounds")
                return ("between", .array([low, try value()]))
            }
            if accept(.word("not")) {
                if accept(.word("in")) { return ("not_in", try value()) }
                if accept(.word("exists")) { return ("not_exists", nil) }
                throw failure("'in' or 'exists' after 'not'", found: current)
            }
            throw failure(
                "an operator (= != > >= < <= in, not in, contains, starts with, ends with, between, exists, not exists)", found: current)
        }

        private mutating func value() throws -> JSONValue {
            switch current {
            case .string(let text):
                advance()
                return .string(text)
            case .number(let number):
                advance()
                return .number(number)
            case .duration(let text) where text.first == "-" || text.first == "+":
                advance()
                return .string(text)
            case .word("true"):
                advance()
                return .bool(true)
            case .word("false"):
                advance()
                return .bool(false)
            case .symbol("["):
                guard depth < SegmentLimits.maxDepth * 2 else { throw failure("a value, not lists nested this deep", found: current) }
                depth += 1
                defer { depth -= 1 }
                advance()
                var items: [JSONValue] = []
                if !accept(.symbol("]")) {
                    repeat { items.append(try value()) } while accept(.symbol(","))
                    try expect(.symbol("]"), "',' or ']'")
                }
                return .array(items)
            default:
                throw failure("a value (a text in quotes, a number, true, false, a list or a relative date such as -30d)", found: current)
            }
        }

        private mutating func count() throws -> JSONValue? {
            guard accept(.word("count")) else { return nil }
            let symbols = ["=": "eq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"]
            if case .symbol(let symbol) = current, let op = symbols[symbol] {
                advance()
                return .object([op: try number("a count")])
            }
            if accept(.word("between")) {
                let low = try number("a count")
                try expect(.word("and"), "'and' between the two bounds")
                return .object(["between": .array([low, try number("a count")])])
            }
            throw failure("= > >= < <= or between after 'count'", found: current)
        }

        private mutating func window() throws -> JSONValue? {
            if accept(.word("within")) {
                guard case .duration(let text) = current, text.first != "-", text.first != "+" else {
                    throw failure("a duration such as 24h, 30d, 2w or 1y", found: current)
                }
                advance()
                return .string(text)
            }
            var range: [String: JSONValue] = [:]
            if accept(.word("from")) { range["from"] = .string(try text("a date in quotes")) }
            if accept(.word("to")) { range["to"] = .string(try text("a date in quotes")) }
            return range.isEmpty ? nil : .object(range)
        }

        // MARK: Tokens

        private var current: Token { tokens[index].token }
        private var next: Token { index + 1 < tokens.count ? tokens[index + 1].token : .end }
        private var here: Position { tokens[index].at }

        private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

        private mutating func accept(_ token: Token) -> Bool {
            guard current == token else { return false }
            advance()
            return true
        }

        private mutating func expect(_ token: Token, _ what: String) throws {
            guard accept(token) else { throw failure(what, found: current) }
        }

        private mutating func identifier(_ what: String) throws -> String {
            guard case .word(let word) = current else { throw failure(what, found: current) }
            advance()
            return word
        }

        private mutating func propertyName() throws -> String {
            if case .string(let text) = current {
                advance()
                return text
            }
            return try identifier("a property name")
        }

        private mutating func text(_ what: String) throws -> String {
            guard case .string(let text) = current else { throw failure(what, found: current) }
            advance()
            return text
        }

        private mutating func number(_ what: String) throws -> JSONValue {
            guard case .number(let number) = current else { throw failure(what, found: current) }
            advance()
            return .number(number)
        }

        private func failure(_ expected: String, found: Token) -> FacteurError {
            FacteurError(
                .invalid, "line \(here.line), column \(here.column): expected \(expected), found \(found.description)", field: "text")
        }

        static func key(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    }
}
