import Foundation

private let LF: UInt8 = 0x0A
private let CR: UInt8 = 0x0D
private let QUOTE: UInt8 = 0x22
private let COMMA: UInt8 = 0x2C

/// A pull-based, streaming RFC 4180 CSV parser over bytes that arrive in chunks.
///
///     var reader = CSVReader()
///     while let chunk = try source.read(256 * 1024) {   // any byte source
///         reader.feed(chunk)
///         while true {
///             do { guard let record = try reader.nextRecord() else { break }; use(record) }
///             catch { report(error) }          // e.g. "line 17: unterminated quoted field"
///         }
///     }
///     reader.finish()
///     // ... drain nextRecord() once more the same way; after finish(), nil means end of input.
///
/// `nextRecord()` returns `nil` when no complete record is buffered: before `finish()` that
/// means "feed more bytes"; after `finish()` it means the input is exhausted (`isAtEnd`).
/// Output (records and errors) does not depend on how the input is split into chunks.
///
/// Syntax accepted:
/// - `,` delimiter; fields may be quoted with `"`, a quote inside a quoted field is written `""`.
///   Quoted fields may contain `,`, CR and LF, which are kept verbatim.
/// - Line endings CRLF, LF or a lone CR, mixed freely. The last record needs no line ending.
/// - A UTF-8 byte order mark at the very start is skipped.
/// - Completely empty lines (including a trailing one) are skipped: they produce no record,
///   but they do count for line numbers. A record with one empty field must be written `""`.
/// - A `"` inside an unquoted field (`Jane "JJ" Doe`) is taken literally. Spaces are part of
///   the field; a quoted field must be followed directly by `,`, a line break or the end.
/// - Every field must be valid UTF-8.
///
/// Error recovery: each error is thrown once, from `nextRecord()`, and the reader is then ready
/// to continue; call `nextRecord()` again to get the following records.
/// - Invalid UTF-8 is found once the record is complete: that one record is dropped and parsing
///   resumes right after it.
/// - Syntax and limit errors (unterminated quote, character after closing quote, field too long,
///   too many fields): the reader goes back to the start of the bad record, drops that record's
///   first physical line and resumes at the start of the next physical line (`error.line + 1`).
///   So a stray opening quote on line 5 costs only line 5; if the bad record really was a
///   multi-line quoted record, its continuation lines are then parsed as records of their own.
/// - To keep the work linear on hostile input, rewinds have a budget: in total they may re-read
///   no more bytes than the input holds up to the furthest error seen so far. When a rewind
///   would overspend it (only possible with many overlapping multi-line errors), the reader
///   instead drops everything up to the end of the physical line on which the error was
///   detected. `CSVError.resumeLine` tells where parsing resumes; `description` mentions it
///   when whole lines were skipped.
/// - An unterminated quote is only certain at the end of the input, but `maxFieldBytes` bounds
///   how far the reader looks (and buffers) before it reports `fieldTooLong` instead.
public struct CSVReader: Sendable {
    /// Largest allowed field, in raw bytes.
    public let maxFieldBytes: Int
    /// Largest allowed number of fields in one record.
    public let maxFields: Int

    private enum State: UInt8 {
        case recordStart, fieldStart, unquoted, quoted, afterQuote, skipLine
    }

    /// A field's raw content, as offsets from `recordStart`.
    private struct Span {
        var start: Int
        var end: Int
        var escaped: Bool
    }

    private var buffer: [UInt8] = []
    private var pos = 0  // next byte to examine
    private var state: State = .recordStart
    private var recordStart = 0  // buffer index of the record being parsed
    private var fieldStart = 0  // buffer index of the field content being parsed
    private var fieldEscaped = false  // current quoted field contains ""
    private var spans: [Span] = []
    private var line = 1  // physical line of buffer[pos]
    private var recordLine = 1
    private var pendingLF = false  // last line break was a CR: an LF right after it belongs to it
    private var bomChecked = false
    private var finished = false
    private var frontier = 0  // furthest error position so far
    private var rescanBudget = 0  // bytes rewinds may still re-read
    private var scratch: [UInt8] = []

    public init(maxFieldBytes: Int = 64 * 1024, maxFields: Int = 1000) {
        precondition(maxFieldBytes > 0 && maxFields > 0, "CSVReader limits must be positive")
        self.maxFieldBytes = min(maxFieldBytes, Int(Int32.max))
        self.maxFields = maxFields
        spans.reserveCapacity(min(maxFields, 64))
    }

    /// True once `finish()` was called and every record and error has been returned.
    public var isAtEnd: Bool {
        finished && state == .recordStart && pos == buffer.count
    }

    /// The physical line the reader has reached (useful to report an I/O error).
    public var currentLine: Int { line }

    /// Appends the next chunk of input. Must not be called after `finish()`.
    public mutating func feed(_ chunk: some Collection<UInt8>) {
        precondition(!finished, "CSVReader.feed(_:) called after finish()")
        compact()
        buffer.append(contentsOf: chunk)
    }

    /// Marks the end of the input: the last record may lack a line ending.
    public mutating func finish() {
        finished = true
    }

    /// Drops the bytes no longer needed, keeping the record in progress.
    private mutating func compact() {
        let keep = (state == .recordStart || state == .skipLine) ? pos : recordStart
        guard keep > 0 else { return }
        if keep >= buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else {
            buffer.removeSubrange(0..<keep)
        }
        pos -= keep
        recordStart -= keep
        fieldStart -= keep
        frontier -= keep
    }

    /// Returns the next complete record, or `nil` if more input is needed (before `finish()`)
    /// or the input is exhausted (after `finish()`). Throws for a malformed record; the reader
    /// has then already resynchronized and the next call continues with the following records.
    public mutating func nextRecord() throws(CSVError) -> CSVRecord? {
        let bytes = buffer  // a reference, not a copy: keeps `self` free to mutate below
        return try bytes.withUnsafeBufferPointer { (p) throws(CSVError) -> CSVRecord? in
            try parse(p)
        }
    }

    // The state machine. Invariant: every exit stores the scan position in `pos`.
    private mutating func parse(_ p: UnsafeBufferPointer<UInt8>) throws(CSVError) -> CSVRecord? {
        let n = p.count
        var i = pos

        if !bomChecked {
            if n - i < 3 && !finished { return nil }
            if n - i >= 3 && p[i] == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF { i += 3 }
            bomChecked = true
            pos = i
        }

        while true {
            switch state {
            case .skipLine:
                while i < n && p[i] != LF && p[i] != CR { i += 1 }
                if i == n {
                    pos = i
                    if finished { state = .recordStart }
                    return nil
                }
                pendingLF = p[i] == CR
                line += 1
                i += 1
                state = .recordStart

            case .recordStart:
                if i == n {
                    pos = i
                    return nil
                }
                let b = p[i]
                if pendingLF {
                    pendingLF = false
                    if b == LF {
                        i += 1
                        continue
                    }
                }
                if b == LF {
                    line += 1
                    i += 1
                    continue
                }  // blank line
                if b == CR {
                    line += 1
                    pendingLF = true
                    i += 1
                    continue
                }  // blank line
                recordStart = i
                recordLine = line
                spans.removeAll(keepingCapacity: true)
                state = .fieldStart

            case .fieldStart:
                if i == n {
                    pos = i
                    if !finished { return nil }
                    // "a,b," at end of input: the last field is empty.
                    spans.append(Span(start: i - recordStart, end: i - recordStart, escaped: false))
                    state = .recordStart
                    return try makeRecord(p, atEnd: true)
                }
                if p[i] == QUOTE {
                    i += 1
                    fieldStart = i
                    fieldEscaped = false
                    state = .quoted
                } else {
                    fieldStart = i
                    state = .unquoted
                }

            case .unquoted:
                let limit = fieldStart + maxFieldBytes
                let stop = min(n, limit)
                while i < stop {
                    let b = p[i]
                    if b > COMMA {
                        i += 1
                        continue
                    }  // fast path: every special byte is <= ','
                    if b == COMMA || b == LF || b == CR { break }
                    i += 1
                }
                if i == n {
                    pos = i
                    if !finished { return nil }
                    spans.append(Span(start: fieldStart - recordStart, end: i - recordStart, escaped: false))
                    state = .recordStart
                    return try makeRecord(p, atEnd: true)
                }
                let b = p[i]
                guard b == COMMA || b == LF || b == CR else {
                    throw fail(.fieldTooLong(limit: maxFieldBytes), p, at: i)  // i == limit
                }
                spans.append(Span(start: fieldStart - recordStart, end: i - recordStart, escaped: false))
                if b == COMMA {
                    if spans.count >= maxFields { throw fail(.tooManyFields(limit: maxFields), p, at: i) }
                    i += 1
                    state = .fieldStart
                } else {
                    i += 1
                    line += 1
                    pendingLF = b == CR
                    pos = i
                    state = .recordStart
                    return try makeRecord(p)
                }

            case .quoted:
                let limit = fieldStart + maxFieldBytes
                if i > limit { throw fail(.fieldTooLong(limit: maxFieldBytes), p, at: i) }  // after ""
                let stop = min(n, limit)
                var l = line
                while i < stop {
                    let b = p[i]
                    if b > QUOTE {
                        i += 1
                        continue
                    }
                    if b == QUOTE { break }
                    if b == LF {
                        if p[i - 1] != CR { l += 1 }  // p[i - 1] is at worst the opening quote
                    } else if b == CR {
                        l += 1
                    }
                    i += 1
                }
                line = l
                if i < n {
                    guard p[i] == QUOTE else {
                        throw fail(.fieldTooLong(limit: maxFieldBytes), p, at: i)  // i == limit
                    }
                    i += 1
                    state = .afterQuote
                    continue
                }
                if !finished {
                    pos = i
                    return nil
                }
                throw fail(.unterminatedQuotedField, p, at: i)

            case .afterQuote:
                if i == n {
                    pos = i
                    if !finished { return nil }
                    spans.append(Span(start: fieldStart - recordStart, end: i - 1 - recordStart, escaped: fieldEscaped))
                    state = .recordStart
                    return try makeRecord(p, atEnd: true)
                }
                let b = p[i]
                if b == QUOTE {
                    fieldEscaped = true
                    i += 1
                    state = .quoted
                    continue
                }
                guard b == COMMA || b == LF || b == CR else {
                    throw fail(.unexpectedCharacterAfterClosingQuote, p, at: i)
                }
                spans.append(Span(start: fieldStart - recordStart, end: i - 1 - recordStart, escaped: fieldEscaped))
                if b == COMMA {
                    if spans.count >= maxFields { throw fail(.tooManyFields(limit: maxFields), p, at: i) }
                    i += 1
                    state = .fieldStart
                } else {
                    i += 1
                    line += 1
                    pendingLF = b == CR
                    pos = i
                    state = .recordStart
                    return try makeRecord(p)
                }
            }
        }
    }

    /// Resynchronizes after a syntax or limit error detected at `errorPos` (the first byte not
    /// yet consumed) and returns the error to throw. See "Error recovery" above.
    private mutating func fail(_ reason: CSVError.Reason, _ p: UnsafeBufferPointer<UInt8>, at errorPos: Int) -> CSVError {
        let n = p.count
        if errorPos > frontier {
            rescanBudget += errorPos - frontier
            frontier = errorPos
        }
        // Rewind: drop only the first physical line of the bad record...
        var k = recordStart
        while k < n && p[k] != LF && p[k] != CR { k += 1 }
        let cost = k < errorPos ? errorPos - (k + 1) : 0
        if cost <= rescanBudget {
            rescanBudget -= cost
            line = recordLine
        } else {
            // ...unless that would re-read too much: then drop through the end of the line
            // on which the error was found (`line` is that line).
            k = errorPos
            while k < n && p[k] != LF && p[k] != CR { k += 1 }
        }
        let resumeLine = line + 1
        if k < n {
            line += 1
            pendingLF = p[k] == CR
            pos = k + 1
            state = .recordStart
        } else {
            pos = n
            state = finished ? .recordStart : .skipLine
        }
        return CSVError(line: recordLine, reason: reason, resumeLine: resumeLine)
    }

    /// Builds the record from `spans`. The caller has already moved past the record, so an
    /// invalid-UTF-8 error simply drops it.
    private mutating func makeRecord(_ p: UnsafeBufferPointer<UInt8>, atEnd: Bool = false) throws(CSVError) -> CSVRecord {
        let base = p.baseAddress! + recordStart
        // Separators and quotes are ASCII, so the record is valid UTF-8 exactly when every field is.
        guard Self.isValidUTF8(UnsafeBufferPointer(start: base, count: spans[spans.count - 1].end)) else {
            // `line` is already past the record's line break, unless it ended at end of input.
            throw CSVError(line: recordLine, reason: .invalidUTF8, resumeLine: atEnd ? line + 1 : line)
        }
        var fields: [String] = []
        fields.reserveCapacity(spans.count)
        for span in spans {
            let raw = UnsafeBufferPointer(start: base + span.start, count: span.end - span.start)
            if span.escaped {
                scratch.removeAll(keepingCapacity: true)
                var j = 0
                while j < raw.count {
                    let b = raw[j]
                    scratch.append(b)
                    j += b == QUOTE ? 2 : 1  // inside quotes a quote always comes doubled
                }
                fields.append(scratch.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) })
            } else {
                fields.append(String(decoding: raw, as: UTF8.self))
            }
        }
        return CSVRecord(line: recordLine, fields: fields)
    }
}
