/// Builds the value of one header field token by token, folding at whitespace so that
/// lines stay within 78 octets where possible and never exceed 998.
struct HeaderFieldWriter {
    static let softLimit = 78
    static let hardLimit = 998

    /// The value bytes (without the leading `name: `).
    private(set) var value: [UInt8] = []
    /// Octets on the current line, counting `name: ` on the first line.
    private(set) var column: Int
    private let field: String

    init(name: String) {
        field = name
        column = name.utf8.count + 2
        value.reserveCapacity(80)
    }

    var isEmpty: Bool { value.isEmpty }

    /// Room left on the current line before the soft limit.
    var remaining: Int { Self.softLimit - column }

    /// Appends `token` after the whitespace `space`. The first token of a value goes on
    /// the first line whatever its length (folding right after the colon would add a
    /// leading space to the value). Later tokens move to a new line when they would
    /// pass the soft limit; `space` then starts the continuation line.
    mutating func append<T: Collection<UInt8>, S: Collection<UInt8>>(
        _ token: T, after space: S
    ) throws(MailError) {
        if value.isEmpty {
            // The separator after the colon is written by `append(name:value:to:)`;
            // extra leading whitespace of the original value is kept.
            value.append(contentsOf: space)
            column += space.count
        } else if column + space.count + token.count > Self.softLimit, !space.isEmpty {
            fold()
            value.append(contentsOf: space)
            column = space.count
        } else {
            value.append(contentsOf: space)
            column += space.count
        }
        value.append(contentsOf: token)
        column += token.count
        guard column <= Self.hardLimit else { throw MailError(.headerTooLong(field: field)) }
    }

    /// Appends a byte that must stick to the previous token (e.g. the `,` between addresses).
    mutating func glue(_ byte: UInt8) throws(MailError) {
        value.append(byte)
        column += 1
        guard column <= Self.hardLimit else { throw MailError(.headerTooLong(field: field)) }
    }

    /// Starts a continuation line; the caller appends whitespace next.
    mutating func fold() {
        value.append(0x0D)
        value.append(0x0A)
        column = 0
    }

    /// Writes a complete field: `name: value` CRLF (`name:` CRLF when the value is empty).
    static func append<N: Collection<UInt8>, V: Collection<UInt8>>(name: N, value: V, to out: inout [UInt8]) {
        out.append(contentsOf: name)
        out.append(0x3A)
        if !value.isEmpty {
            out.append(0x20)
            out.append(contentsOf: value)
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}

extension HeaderFieldWriter {
    /// Appends an unstructured value (RFC 5322 §3.2.5), e.g. Subject: words are split at
    /// spaces and tabs, runs of words that need it become encoded-words, the rest is
    /// written as is.
    ///
    /// - Parameter encodeLongWords: encode words too long for a 78-octet line (Subject);
    ///   when `false` (extra headers, possibly structured), such words are kept verbatim
    ///   up to the 998-octet limit.
    mutating func appendUnstructured(_ text: String, encodeLongWords: Bool) throws(MailError) {
        let bytes = Array(text.utf8)
        let n = bytes.count
        var i = 0
        // Pending run of words that need encoding: [runStart, runEnd) and its leading space.
        var runStart = -1
        var runEnd = 0
        var runSpace = 0..<0
        while i < n {
            let spaceStart = i
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            let space = spaceStart..<i
            if i == n {  // trailing whitespace
                if runStart >= 0 {
                    try appendEncoded(bytes[runStart..<runEnd], after: bytes[runSpace])
                    runStart = -1
                }
                for b in bytes[space] { try glue(b) }  // never folded: a line may not be only spaces
                break
            }
            let wordStart = i
            while i < n, bytes[i] != 0x20, bytes[i] != 0x09 { i += 1 }
            let word = bytes[wordStart..<i]
            let encode =
                HeaderEncoding.needsEncoding(word)
                || (encodeLongWords && word.count > Self.softLimit - 1)
            if encode {
                if runStart < 0 {
                    runStart = wordStart
                    runSpace = space
                }
                runEnd = i
                continue
            }
            if runStart >= 0 {
                try appendEncoded(bytes[runStart..<runEnd], after: bytes[runSpace])
                runStart = -1
            }
            try append(word, after: bytes[space])
        }
        if runStart >= 0 { try appendEncoded(bytes[runStart..<runEnd], after: bytes[runSpace]) }
    }

    /// Appends `text` as a sequence of RFC 2047 encoded-words (`=?utf-8?q?…?=` or
    /// `=?utf-8?b?…?=`, whichever is shorter for each word), each at most 75 octets,
    /// split only between characters, separated by folding whitespace (which decoders
    /// drop between encoded-words).
    ///
    /// - Parameter phrase: a display name. It is written as one encoded-word whenever
    ///   it fits one (moving to a new line if needed), because some readers (Python's
    ///   `email` among them) keep the whitespace between encoded-words of a phrase;
    ///   a longer name is split right after spaces where possible.
    mutating func appendEncoded(
        _ text: ArraySlice<UInt8>, after space: ArraySlice<UInt8>, phrase: Bool = false
    ) throws(MailError) {
        let maxPayload = HeaderEncoding.maxEncodedPayload
        var start = text.startIndex
        var first = true
        var word: [UInt8] = []
        word.reserveCapacity(75)
        while start < text.endIndex {
            let spaceCount = first ? space.count : 1
            let canFold = !(value.isEmpty && first)
            // Fill the rest of this line if a useful chunk fits, otherwise the next line.
            var room = remaining - spaceCount - HeaderEncoding.encodedWordOverhead
            var chunk: (range: Range<Int>, useB: Bool, length: Int)? = nil
            if phrase && first {
                let whole = HeaderEncoding.nextChunk(text, from: start, end: text.endIndex, capacity: maxPayload)
                if whole.range.upperBound == text.endIndex && (canFold || whole.length <= room) { chunk = whole }
            }
            if chunk == nil {
                if room < 16 && canFold { room = maxPayload }
                room = max(16, min(room, maxPayload))
                chunk = HeaderEncoding.nextChunk(
                    text, from: start, end: text.endIndex, capacity: room, preferAfterSpace: phrase)
            }
            guard let chunk else { break }
            word.removeAll(keepingCapacity: true)
            HeaderEncoding.appendEncodedWord(text, chunk.range, useB: chunk.useB, to: &word)
            if first {
                try append(word, after: space)
            } else {
                try append(word, after: CollectionOfOne(0x20))
            }
            first = false
            start = chunk.range.upperBound
        }
    }
}
