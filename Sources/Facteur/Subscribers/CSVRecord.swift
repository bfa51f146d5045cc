import Foundation

// MARK: - Record

/// One parsed CSV record (row).
public struct CSVRecord: Sendable, Hashable, CustomStringConvertible {
    /// 1-based physical line on which the record starts. The header is line 1.
    /// Blank lines and newlines inside quoted fields are counted, so this is the
    /// line number a user sees in a text editor.
    public let line: Int

    /// The field values, with quotes removed and `""` unescaped.
    public let fields: [String]

    public init(line: Int, fields: [String]) {
        self.line = line
        self.fields = fields
    }

    /// Number of fields in the record.
    public var count: Int { fields.count }

    /// The field at `index`. Traps when out of range, like an array.
    public subscript(index: Int) -> String { fields[index] }

    public var description: String { "line \(line): \(fields)" }
}

// MARK: - Error

/// A malformed record. `description` reads like `line 17: unterminated quoted field`.
public struct CSVError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// A quoted field was still open at the end of the input.
        case unterminatedQuotedField
        /// A closing quote was followed by something other than `,`, `"`, a line break or the end.
        case unexpectedCharacterAfterClosingQuote
        /// A field had more than `limit` bytes (measured on the raw bytes between the
        /// delimiters, or between the quotes for a quoted field, so `""` counts as 2).
        case fieldTooLong(limit: Int)
        /// A record had more than `limit` fields.
        case tooManyFields(limit: Int)
        /// A field was not valid UTF-8.
        case invalidUTF8
        /// Reading the underlying file failed (only from `CSVReader.records(atPath:)`).
        case readFailed(String)
    }

    /// 1-based physical line on which the malformed record starts.
    public let line: Int
    public let reason: Reason
    /// Physical line at which the reader resumes after this error
    /// (see "Error recovery" on `CSVReader`). Usually `line + 1`.
    public let resumeLine: Int

    public init(line: Int, reason: Reason, resumeLine: Int) {
        self.line = line
        self.reason = reason
        self.resumeLine = resumeLine
    }

    /// The reason in plain English, without the line number.
    public var message: String {
        switch reason {
        case .unterminatedQuotedField: return "unterminated quoted field"
        case .unexpectedCharacterAfterClosingQuote: return "unexpected character after closing quote"
        case .fieldTooLong(let limit): return "field longer than \(limit) bytes"
        case .tooManyFields(let limit): return "more than \(limit) fields"
        case .invalidUTF8: return "not valid UTF-8"
        case .readFailed(let why): return "could not read file: \(why)"
        }
    }

    public var description: String {
        if resumeLine > line + 1 {
            return "line \(line): \(message) (resuming at line \(resumeLine))"
        }
        return "line \(line): \(message)"
    }
}

// MARK: - Reader
