import Foundation
import TestSupport
import Testing

@testable import Facteur

// MARK: - Helpers

private enum Outcome: Hashable, CustomStringConvertible {
    case record(CSVRecord)
    case error(CSVError)

    var description: String {
        switch self {
        case .record(let r): return "record(\(r))"
        case .error(let e): return "error(\(e))"
        }
    }
}

private func rec(_ line: Int, _ fields: String...) -> Outcome {
    .record(CSVRecord(line: line, fields: fields))
}

private func err(_ line: Int, _ reason: CSVError.Reason, resume: Int? = nil) -> Outcome {
    .error(CSVError(line: line, reason: reason, resumeLine: resume ?? line + 1))
}

/// Parses `bytes` fed in pieces cut at `cuts` (sorted offsets), draining after every feed.
private func parse(
    _ bytes: [UInt8],
    cuts: [Int] = [],
    maxFieldBytes: Int = 64 * 1024,
    maxFields: Int = 1000
) -> [Outcome] {
    var reader = CSVReader(maxFieldBytes: maxFieldBytes, maxFields: maxFields)
    var out: [Outcome] = []
    var guardCount = 0
    func drain() {
        while true {
            guardCount += 1
            if guardCount > 10 * bytes.count + 100 {
                Issue.record("reader does not make progress")
                return
            }
            do {
                guard let record = try reader.nextRecord() else { return }
                out.append(.record(record))
            } catch {
                out.append(.error(error))
            }
        }
    }
    var start = 0
    for cut in cuts + [bytes.count] {
        reader.feed(bytes[start..<cut])
        drain()
        start = cut
    }
    reader.finish()
    drain()
    #expect(reader.isAtEnd)
    return out
}

private func parse(_ text: String, maxFieldBytes: Int = 64 * 1024, maxFields: Int = 1000) -> [Outcome] {
    parse(Array(text.utf8), maxFieldBytes: maxFieldBytes, maxFields: maxFields)
}

/// Compares long outcome lists, reporting only the first difference.
private func expectSame(
    _ actual: [Outcome], _ expected: [Outcome], _ context: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual != expected else { return }
    let index = (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] } ?? min(actual.count, expected.count)
    let got = index < actual.count ? actual[index].description : "nothing"
    let want = index < expected.count ? expected[index].description : "nothing"
    Issue.record(
        "\(context) outcome #\(index): got \(got), expected \(want) (counts \(actual.count) vs \(expected.count))",
        sourceLocation: sourceLocation)
}

/// Line breaks as the reader counts them: CR, LF, and CRLF as one.
private func lineBreaks(in bytes: ArraySlice<UInt8>) -> Int {
    var count = 0
    var previous: UInt8 = 0
    for b in bytes {
        if b == 0x0D || (b == 0x0A && previous != 0x0D) { count += 1 }
        previous = b
    }
    return count
}

// MARK: - Reader: syntax

@Suite struct CSVReaderSyntaxTests {
    @Test func rfc4180Examples() {
        #expect(parse("aaa,bbb,ccc\r\nzzz,yyy,xxx\r\n") == [rec(1, "aaa", "bbb", "ccc"), rec(2, "zzz", "yyy", "xxx")])
        #expect(parse("aaa,bbb,ccc\r\nzzz,yyy,xxx") == [rec(1, "aaa", "bbb", "ccc"), rec(2, "zzz", "yyy", "xxx")])
        #expect(
            parse("field_name,field_name,field_name\r\naaa,bbb,ccc\r\n")
                == [rec(1, "field_name", "field_name", "field_name"), rec(2, "aaa", "bbb", "ccc")])
        #expect(
            parse("\"aaa\",\"bbb\",\"ccc\"\r\nzzz,yyy,xxx")
                == [rec(1, "aaa", "bbb", "ccc"), rec(2, "zzz", "yyy", "xxx")])
        #expect(
            parse("\"aaa\",\"b\r\nbb\",\"ccc\"\r\nzzz,yyy,xxx")
                == [rec(1, "aaa", "b\r\nbb", "ccc"), rec(3, "zzz", "yyy", "xxx")])
        #expect(parse("\"aaa\",\"b\"\"bb\",\"ccc\"") == [rec(1, "aaa", "b\"bb", "ccc")])
    }

    @Test func quotedFields() {
        #expect(parse("\"a,b\",\"c\"\"d\"\"\",\"\"\"\"\n") == [rec(1, "a,b", "c\"d\"", "\"")])
        #expect(parse("\"\"\"quoted\"\"\",x") == [rec(1, "\"quoted\"", "x")])
        // A quote inside an unquoted field is literal; spaces belong to the field.
        #expect(parse("Jane \"JJ\" Doe,x\n") == [rec(1, "Jane \"JJ\" Doe", "x")])
        #expect(parse(" \"a\" , b \n") == [rec(1, " \"a\" ", " b ")])
    }

    @Test func emptyFields() {
        #expect(parse(",,\n") == [rec(1, "", "", "")])
        #expect(parse("a,,b\n") == [rec(1, "a", "", "b")])
        #expect(parse("\"\"\n") == [rec(1, "")])
        #expect(parse("a,\"\"\n") == [rec(1, "a", "")])
        #expect(parse("a,\n") == [rec(1, "a", "")])
        #expect(parse("a,") == [rec(1, "a", "")])
        #expect(parse(",") == [rec(1, "", "")])
        #expect(parse("\"\",\"\"") == [rec(1, "", "")])
    }

    @Test func lineEndings() {
        let expected = [rec(1, "a", "b"), rec(2, "c", "d"), rec(3, "e", "f")]
        #expect(parse("a,b\nc,d\ne,f\n") == expected)
        #expect(parse("a,b\r\nc,d\r\ne,f\r\n") == expected)
        #expect(parse("a,b\rc,d\re,f\r") == expected)
        #expect(parse("a,b\r\nc,d\ne,f\r") == expected)
        #expect(parse("a,b\nc,d\r\ne,f") == expected)
    }

    @Test func blankAndTrailingLinesAreSkippedButCounted() {
        #expect(parse("") == [])
        #expect(parse("\n\r\n\r") == [])
        #expect(parse("a\n") == [rec(1, "a")])
        #expect(parse("a\n\n\n") == [rec(1, "a")])
        #expect(parse("a\r\n\r\n") == [rec(1, "a")])
        #expect(parse("a\r\n\r\nb") == [rec(1, "a"), rec(3, "b")])
        #expect(parse("a\r\rb") == [rec(1, "a"), rec(3, "b")])
        #expect(parse("a\n\r\nb") == [rec(1, "a"), rec(3, "b")])
        #expect(parse("\n\na") == [rec(3, "a")])
    }

    @Test func embeddedNewlinesAdvanceLineNumbers() {
        let text = "id,note\n1,\"x\ny\nz\"\n2,ok\n3,\"p\r\nq\"\r\n4,\"r\rs\"\n5,end"
        #expect(
            parse(text) == [
                rec(1, "id", "note"),
                rec(2, "1", "x\ny\nz"),
                rec(5, "2", "ok"),
                rec(6, "3", "p\r\nq"),
                rec(8, "4", "r\rs"),
                rec(10, "5", "end"),
            ])
        // A quoted field that is only line breaks.
        #expect(parse("\"\n\n\",x\ny") == [rec(1, "\n\n", "x"), rec(4, "y")])
    }

    @Test func byteOrderMark() {
        #expect(parse("\u{FEFF}email,name\nx@y.z,Zoë\n") == [rec(1, "email", "name"), rec(2, "x@y.z", "Zoë")])
        #expect(parse("\u{FEFF}") == [])
        #expect(parse("\u{FEFF}\"q\"") == [rec(1, "q")])
        // Only at the very start: elsewhere it is data.
        #expect(parse("a\n\u{FEFF}b") == [rec(1, "a"), rec(2, "\u{FEFF}b")])
        // Short inputs that are not a BOM.
        #expect(parse("ab") == [rec(1, "ab")])
        #expect(parse("a") == [rec(1, "a")])
        // A truncated BOM is invalid UTF-8.
        #expect(parse([0xEF, 0xBB]) == [err(1, .invalidUTF8)])
    }

    @Test func unicodeFields() {
        #expect(parse("Zoë,日本語,🙂,\"a,é\"\n") == [rec(1, "Zoë", "日本語", "🙂", "a,é")])
    }

    @Test func fieldAccessors() throws {
        var reader = CSVReader()
        reader.feed(Array("a,b,c\n".utf8))
        let record = try #require(try reader.nextRecord())
        #expect(record.count == 3)
        #expect(record[1] == "b")
        #expect(record.fields == ["a", "b", "c"])
        #expect(record.line == 1)
        // No complete record yet, input not finished: nil without being at the end.
        #expect(try reader.nextRecord() == nil)
        #expect(!reader.isAtEnd)
        reader.finish()
        #expect(try reader.nextRecord() == nil)
        #expect(reader.isAtEnd)
    }

    @Test func incompleteLastRecordWaitsForMoreInput() throws {
        var reader = CSVReader()
        reader.feed(Array("a,b\nc,".utf8))
        #expect(try reader.nextRecord() == CSVRecord(line: 1, fields: ["a", "b"]))
        #expect(try reader.nextRecord() == nil)
        reader.feed(Array("d\n".utf8))
        #expect(try reader.nextRecord() == CSVRecord(line: 2, fields: ["c", "d"]))
        #expect(try reader.nextRecord() == nil)
    }
}

// MARK: - Reader: errors and recovery

@Suite struct CSVReaderErrorTests {
    @Test func unexpectedCharacterAfterClosingQuote() {
        #expect(
            parse("a,b\n1,\"x\"y,2\n3,4\n")
                == [rec(1, "a", "b"), err(2, .unexpectedCharacterAfterClosingQuote), rec(3, "3", "4")])
        #expect(parse("\"x\" ,y\nz") == [err(1, .unexpectedCharacterAfterClosingQuote), rec(2, "z")])
    }

    @Test func unterminatedQuoteCostsOnlyItsLine() {
        #expect(
            parse("a,b\n1,\"open\n3,4\n5,6\n")
                == [rec(1, "a", "b"), err(2, .unterminatedQuotedField), rec(3, "3", "4"), rec(4, "5", "6")])
        #expect(parse("\"") == [err(1, .unterminatedQuotedField)])
        #expect(parse("x\n\"abc") == [rec(1, "x"), err(2, .unterminatedQuotedField)])
    }

    @Test func fieldTooLong() {
        #expect(
            parse("abcd,e\nabcde,f\ng\n", maxFieldBytes: 4)
                == [rec(1, "abcd", "e"), err(2, .fieldTooLong(limit: 4)), rec(3, "g")])
        #expect(
            parse("\"abcd\"\n\"abcde\"\nx", maxFieldBytes: 4)
                == [rec(1, "abcd"), err(2, .fieldTooLong(limit: 4)), rec(3, "x")])
        // The limit is on raw bytes: "" counts as two.
        #expect(parse("\"a\"\"b\"", maxFieldBytes: 4) == [rec(1, "a\"b")])
        #expect(parse("\"ab\"\"c\"", maxFieldBytes: 4) == [err(1, .fieldTooLong(limit: 4))])
        #expect(parse("\"abc\"\"\"", maxFieldBytes: 4) == [err(1, .fieldTooLong(limit: 4))])
        // A runaway quote is cut off by the limit, then only its line is dropped.
        #expect(
            parse("1,\"runaway\n2,b\n3,c\n4,d\n", maxFieldBytes: 8)
                == [err(1, .fieldTooLong(limit: 8)), rec(2, "2", "b"), rec(3, "3", "c"), rec(4, "4", "d")])
    }

    @Test func tooManyFields() {
        #expect(
            parse("a,b,c\na,b,c,d\ne\n", maxFields: 3)
                == [rec(1, "a", "b", "c"), err(2, .tooManyFields(limit: 3)), rec(3, "e")])
        #expect(parse("\"a\",\"b\",\"c\",\"d\"\ne", maxFields: 3) == [err(1, .tooManyFields(limit: 3)), rec(2, "e")])
    }

    @Test func invalidUTF8DropsExactlyTheRecord() {
        #expect(
            parse(Array("ok\n".utf8) + [0xFF] + Array(",x\nnext\n".utf8))
                == [rec(1, "ok"), err(2, .invalidUTF8), rec(3, "next")])
        // Multi-line record: the whole record is dropped, parsing resumes after it.
        #expect(
            parse(Array("\"a\n".utf8) + [0xC0, 0x80] + Array("\"\nz\n".utf8))
                == [err(1, .invalidUTF8, resume: 3), rec(3, "z")])
        for bad: [UInt8] in [
            [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xF4, 0x90, 0x80, 0x80],
        ] {
            #expect(parse(bad + [0x0A, 0x61]) == [err(1, .invalidUTF8), rec(2, "a")])
        }
    }

    @Test func utf8ValidatorAgreesWithStandardLibrary() {
        guard #available(macOS 15, *) else { return }  // String(validating:as:)
        var rng = SeededRandom(seed: 42)
        let interesting: [UInt8] = [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
            0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ]
        for _ in 0..<200_000 {
            let length = Int.random(in: 0...12, using: &rng)
            let bytes = (0..<length).map { _ in interesting.randomElement(using: &rng)! }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            let actual = bytes.withUnsafeBufferPointer { CSVReader.isValidUTF8($0) }
            #expect(actual == expected, "\(bytes.map { String($0, radix: 16) })")
            if actual != expected { return }
        }
        let text = Array("plain ascii that is longer than eight bytes, then é 日本 🙂 and more ascii".utf8)
        #expect(text.withUnsafeBufferPointer { CSVReader.isValidUTF8($0) })
    }

    @Test func errorDescriptions() {
        #expect(
            CSVError(line: 17, reason: .unterminatedQuotedField, resumeLine: 18).description
                == "line 17: unterminated quoted field")
        #expect(
            CSVError(line: 9, reason: .unexpectedCharacterAfterClosingQuote, resumeLine: 10).description
                == "line 9: unexpected character after closing quote")
        #expect(
            CSVError(line: 3, reason: .fieldTooLong(limit: 65536), resumeLine: 4).description
                == "line 3: field longer than 65536 bytes")
        #expect(CSVError(line: 5, reason: .invalidUTF8, resumeLine: 6).description == "line 5: not valid UTF-8")
        #expect(
            CSVError(line: 2, reason: .tooManyFields(limit: 1000), resumeLine: 6).description
                == "line 2: more than 1000 fields (resuming at line 6)")
    }

    /// Overlapping multi-line errors: each rewinds while the rescan budget allows.
    @Test func overlappingErrorsRewindWithinBudget() {
        // Line 1's quoted field swallows "\n2," and fails at `y` (line 2); the reader rewinds to
        // line 2, whose quote then runs to the end; it rewinds again to line 3.
        #expect(
            parse("1,\"x\n2,\"y\n3,z\n4,w\n") == [
                err(1, .unexpectedCharacterAfterClosingQuote),
                err(2, .unterminatedQuotedField),
                rec(3, "3", "z"),
                rec(4, "4", "w"),
            ])
    }

    /// When every line start opens a quoted field that runs to the same far error, rewinding
    /// from each line would be quadratic: once the budget is spent, the reader skips to the
    /// end of the line where the error is.
    @Test func rewindBudgetExhausted() {
        let text = "\"aaaa\n" + String(repeating: "x\",\"aaaa\n", count: 5) + "x\"q\nok\n"
        #expect(
            parse(text) == [
                err(1, .unexpectedCharacterAfterClosingQuote),
                err(2, .unexpectedCharacterAfterClosingQuote, resume: 8),
                rec(8, "ok"),
            ])
    }

    /// Hostile input (every line opens a quote) stays linear and the reader keeps going.
    @Test func manyRunawayQuotesStayLinear() {
        let lines = 20_000
        var bytes: [UInt8] = []
        for _ in 0..<lines { bytes += Array("\"x\n".utf8) }
        bytes += Array("last,row\n".utf8)
        let clock = ContinuousClock()
        var outcomes: [Outcome] = []
        let elapsed = clock.measure {
            outcomes = parse(bytes, cuts: stride(from: 4096, to: bytes.count, by: 4096).map { $0 }, maxFieldBytes: 1024)
        }
        #expect(elapsed < .seconds(5))
        #expect(outcomes.last == rec(lines + 1, "last", "row"))
        #expect(outcomes.dropLast().allSatisfy { if case .error = $0 { true } else { false } })
    }

    @Test func recoveryAfterErrorsKeepsLineNumbers() {
        let text = "h1,h2\nok,1\n\"bad\"x,2\nok,3\n\"multi\nline\",4\nbad\"\"\",\"x\"\"y\n"
        #expect(
            parse(text) == [
                rec(1, "h1", "h2"),
                rec(2, "ok", "1"),
                err(3, .unexpectedCharacterAfterClosingQuote),
                rec(4, "ok", "3"),
                rec(5, "multi\nline", "4"),
                err(7, .unterminatedQuotedField),
            ])
    }
}

// MARK: - Reader: chunk boundaries

@Suite struct CSVReaderChunkingTests {
    static let corpus: [(String, [UInt8], Int, Int)] = {
        var inputs: [(String, [UInt8], Int, Int)] = []
        func add(_ name: String, _ text: String, maxFieldBytes: Int = 64 * 1024, maxFields: Int = 1000) {
            inputs.append((name, Array(text.utf8), maxFieldBytes, maxFields))
        }
        add("rfc", "aaa,\"b\r\nbb\",\"c\"\"cc\"\r\nzzz,yyy,xxx\r\n")
        add("bom", "\u{FEFF}a,b\r\n\"\"\r\n\r\nc")
        add("mixed endings", "a\rb\r\n\r\nc\n\nd,\"e\r\"\r\n\"f\n\",g\r")
        add("empty", ",,\n,\"\",\n\"\"")
        add("unicode", "Zoë,\"日本,語\"\r\n🙂,\"\"\"é\"\"\"\n")
        add("errors", "1,\"x\"y,2\n3,4\n\"open\n5,6\r\n\"unterminated")
        add("second rewind", "1,\"x\n2,\"y\n3,z\n4,w\n")
        add("budget", "\"aa\n" + String(repeating: "x\",\"a\n", count: 3) + "x\"q\nok")
        add("too long", "abcd,\"ef\"\"g\"\nabcdef,x\n\"abc\ndef\",y\n\"ab\"\"c\"\nok", maxFieldBytes: 4)
        add("too many", "a,b\na,b,c\n\"a\",\"b\",\"c\"\r\nd", maxFields: 2)
        inputs.append(
            (
                "invalid utf8", Array("a\n\"".utf8) + [0xE2, 0x82] + Array("\n\",x\r\nok\n".utf8) + [0xF0, 0x9F, 0x99, 0x82], 64 * 1024,
                1000
            ))
        inputs.append(("partial bom", [0xEF, 0xBB, 0x0A, 0x61], 64 * 1024, 1000))
        return inputs
    }()

    @Test(arguments: 0..<corpus.count)
    func everySplitGivesTheSameOutput(index: Int) {
        let (name, bytes, maxFieldBytes, maxFields) = Self.corpus[index]
        let whole = parse(bytes, maxFieldBytes: maxFieldBytes, maxFields: maxFields)
        #expect(!whole.isEmpty, "\(name)")
        // One cut at every offset.
        for cut in 0...bytes.count {
            let split = parse(bytes, cuts: [cut], maxFieldBytes: maxFieldBytes, maxFields: maxFields)
            #expect(split == whole, "\(name): cut at \(cut)")
            if split != whole { return }
        }
        // Two cuts at every pair of offsets.
        for a in 0...bytes.count {
            for b in a...bytes.count {
                let split = parse(bytes, cuts: [a, b], maxFieldBytes: maxFieldBytes, maxFields: maxFields)
                #expect(split == whole, "\(name): cuts at \(a), \(b)")
                if split != whole { return }
            }
        }
        // One byte at a time.
        let single = parse(bytes, cuts: Array(0...bytes.count), maxFieldBytes: maxFieldBytes, maxFields: maxFields)
        #expect(single == whole, "\(name): byte by byte")
    }

    @Test func expectedOutputOfTheErrorCorpus() {
        let bytes = Array("1,\"x\"y,2\n3,4\n\"open\n5,6\r\n\"unterminated".utf8)
        #expect(
            parse(bytes) == [
                err(1, .unexpectedCharacterAfterClosingQuote),
                rec(2, "3", "4"),
                err(3, .unexpectedCharacterAfterClosingQuote),
                rec(4, "5", "6"),
                err(5, .unterminatedQuotedField),
            ])
    }

    @Test func randomChunkingOfALargerInput() {
        var rng = SeededRandom(seed: 7)
        var writer: [UInt8] = []
        let csv = CSVWriter()
        for i in 0..<2000 {
            csv.appendRecord(["user\(i)@example.com", i % 7 == 0 ? "Multi\nLine" : "Jane \"JJ\" Doe", "\(i)", "Acme, Inc"], to: &writer)
            if i % 100 == 0 { writer += Array("bad\"x\",\"oops\"x\n".utf8) }
        }
        let whole = parse(writer)
        for _ in 0..<20 {
            var cuts: [Int] = []
            var offset = 0
            while true {
                offset += Int.random(in: 1...300, using: &rng)
                if offset >= writer.count { break }
                cuts.append(offset)
            }
            expectSame(parse(writer, cuts: cuts), whole, "random cuts")
        }
    }
}

// MARK: - Reading a file

@Suite struct CSVFileTests {
    @Test func readsAFileInChunks() throws {
        var bytes: [UInt8] = Array("\u{FEFF}email,name\r\n".utf8)
        for i in 0..<5000 {
            bytes += Array("u\(i)@example.com,\"Name, \(i)\"\r\n".utf8)
            if i == 2500 { bytes += Array("broken,\"x\"y\r\n".utf8) }
        }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("csvreader-test-\(UUID().uuidString).csv").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }

        var fromFile: [Outcome] = []
        for result in try CSVReader.records(atPath: path, chunkSize: 1000) {
            switch result {
            case .success(let record): fromFile.append(.record(record))
            case .failure(let error): fromFile.append(.error(error))
            }
        }
        expectSame(fromFile, parse(bytes), "file")
        #expect(fromFile.count == 5002)
        #expect(fromFile[2502] == err(2503, .unexpectedCharacterAfterClosingQuote))
    }

    @Test func missingFileThrows() {
        #expect(throws: (any Error).self) {
            _ = try CSVReader.records(atPath: "/nonexistent/dir/file.csv")
        }
    }
}

// MARK: - Writer

@Suite struct CSVWriterTests {
    @Test func escaping() {
        #expect(CSVWriter.escape("plain") == "plain")
        #expect(CSVWriter.escape("") == "")
        #expect(CSVWriter.escape("a,b") == "\"a,b\"")
        #expect(CSVWriter.escape("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVWriter.escape("line\nbreak") == "\"line\nbreak\"")
        #expect(CSVWriter.escape("cr\rx") == "\"cr\rx\"")
        #expect(CSVWriter.escape(" lead") == "\" lead\"")
        #expect(CSVWriter.escape("trail ") == "\"trail \"")
        #expect(CSVWriter.escape(" ") == "\" \"")
        #expect(CSVWriter.escape("in side") == "in side")
        #expect(CSVWriter.escape("Zoë 🙂") == "Zoë 🙂")
        #expect(CSVWriter.escape("=1+1") == "=1+1")
    }

    @Test func formulaNeutralization() {
        func n(_ s: String) -> String { CSVWriter.escape(s, neutralizeFormulas: true) }
        #expect(n("=SUM(A1:A9)") == "'=SUM(A1:A9)")
        #expect(n("+33 6 12") == "'+33 6 12")
        #expect(n("-5") == "'-5")
        #expect(n("@cmd") == "'@cmd")
        #expect(n("\tx") == "'\tx")
        #expect(n("\rx") == "\"'\rx\"")
        #expect(n("=HYPERLINK(\"http://x\",\"y\")") == "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")
        #expect(n("=a ") == "\"'=a \"")
        #expect(n(" =1") == "\" =1\"")
        #expect(n("a=b") == "a=b")
        #expect(n("") == "")
        var buffer: [UInt8] = []
        CSVWriter(neutralizeFormulas: true).appendRecord(["=1", "ok"], to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "'=1,ok\r\n")
    }

    @Test func records() {
        let writer = CSVWriter()
        var buffer: [UInt8] = []
        writer.appendRecord(["a", "b,c", ""], to: &buffer)
        writer.appendRecord([""], to: &buffer)
        writer.appendRecord(["x"[...], "y z"[...]], to: &buffer)
        writer.appendRecord([String](), to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "a,\"b,c\",\r\n\"\"\r\nx,y z\r\n\r\n")
        #expect(parse(buffer) == [rec(1, "a", "b,c", ""), rec(2, ""), rec(3, "x", "y z")])
        #expect(writer.record(["1", "2"]) == Array("1,2\r\n".utf8))
    }

    @Test func roundTripOfRandomFields() {
        var rng = SeededRandom(seed: 2024)
        let pieces = ["a", "Z", "0", " ", ",", "\"", "\r", "\n", "\r\n", "é", "日本", "🙂", "'", "=", "\t", "\u{FEFF}", "ab cd"]
        var records: [[String]] = []
        for _ in 0..<3000 {
            let count = Int.random(in: 1...6, using: &rng)
            records.append(
                (0..<count).map { _ in
                    (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
                })
        }
        let writer = CSVWriter()
        var buffer: [UInt8] = []
        var starts: [Int] = []
        for record in records {
            starts.append(buffer.count)
            writer.appendRecord(record, to: &buffer)
        }
        var expected: [Outcome] = []
        var line = 1
        for (index, fields) in records.enumerated() {
            expected.append(.record(CSVRecord(line: line, fields: fields)))
            let end = index + 1 < starts.count ? starts[index + 1] : buffer.count
            line += lineBreaks(in: buffer[starts[index]..<end])
        }
        expectSame(parse(buffer), expected, "one chunk")
        var cuts: [Int] = []
        var offset = 0
        while true {
            offset += Int.random(in: 1...97, using: &rng)
            if offset >= buffer.count { break }
            cuts.append(offset)
        }
        expectSame(parse(buffer, cuts: cuts), expected, "random cuts")
        // escape() agrees with appendRecord() for single fields.
        for record in records.prefix(200) {
            let joined = record.map { CSVWriter.escape($0) }.joined(separator: ",")
            let written = String(decoding: writer.record(record), as: UTF8.self)
            if record == [""] {
                #expect(written == "\"\"\r\n")
            } else {
                #expect(written == joined + "\r\n")
            }
        }
    }
}
