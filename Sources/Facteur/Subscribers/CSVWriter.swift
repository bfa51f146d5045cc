/// Writes RFC 4180 CSV: `,` between fields, CRLF after every record.
///
/// A field is quoted when it contains `,`, `"`, CR or LF, or starts or ends with a space;
/// quotes inside it are doubled. A record made of one empty field is written `""` so that
/// it is not mistaken for a blank line (which `CSVReader` skips); a record with no fields
/// is written as a bare CRLF, which reads back as nothing.
///
/// Formula injection: a spreadsheet (Excel, LibreOffice, Google Sheets) opening the export
/// treats a cell starting with `=`, `+`, `-` or `@` as a formula, and TAB or CR at the start
/// can be used to smuggle one in. With `neutralizeFormulas: true` every field starting with
/// one of `= + - @ TAB CR` gets a `'` prefix, which the spreadsheet shows as text instead of
/// evaluating. The field is then quoted as usual if needed. Enable it for exports meant to be
/// opened by people in spreadsheets; leave it off for machine-to-machine CSV, because it
/// changes the data (`-5` becomes `'-5`, `+33 6 12` becomes `'+33 6 12`) and `CSVReader`
/// does not strip the prefix.
public struct CSVWriter: Sendable {
    public var neutralizeFormulas: Bool

    public init(neutralizeFormulas: Bool = false) {
        self.neutralizeFormulas = neutralizeFormulas
    }

    /// Appends one record, terminated by CRLF, to `buffer`.
    public func appendRecord<Fields: Sequence>(_ fields: Fields, to buffer: inout [UInt8])
    where Fields.Element: StringProtocol {
        var count = 0
        var lastWasEmpty = false
        for field in fields {
            if count > 0 { buffer.append(0x2C) }
            count += 1
            lastWasEmpty = field.utf8.isEmpty
            Self.appendField(field, neutralizeFormulas: neutralizeFormulas, to: &buffer)
        }
        if count == 1 && lastWasEmpty {
            buffer.append(0x22)
            buffer.append(0x22)
        }
        buffer.append(0x0D)
        buffer.append(0x0A)
    }

    /// Returns one record, terminated by CRLF, as bytes.
    public func record<Fields: Sequence>(_ fields: Fields) -> [UInt8] where Fields.Element: StringProtocol {
        var buffer: [UInt8] = []
        appendRecord(fields, to: &buffer)
        return buffer
    }

    /// The field as it appears in CSV output: quoted and escaped if needed.
    public static func escape(_ field: some StringProtocol, neutralizeFormulas: Bool = false) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(field.utf8.count + 2)
        appendField(field, neutralizeFormulas: neutralizeFormulas, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private static func appendField(_ field: some StringProtocol, neutralizeFormulas: Bool, to buffer: inout [UInt8]) {
        let utf8 = field.utf8
        guard let first = utf8.first else { return }
        let prefix =
            neutralizeFormulas
            && (first == 0x3D || first == 0x2B || first == 0x2D || first == 0x40 || first == 0x09 || first == 0x0D)
        var needsQuotes = !prefix && first == 0x20
        var last = first
        for b in utf8 {
            if b == 0x2C || b == 0x22 || b == 0x0D || b == 0x0A { needsQuotes = true }
            last = b
        }
        if last == 0x20 { needsQuotes = true }
        if !needsQuotes {
            if prefix { buffer.append(0x27) }
            buffer.append(contentsOf: utf8)
            return
        }
        buffer.append(0x22)
        if prefix { buffer.append(0x27) }
        for b in utf8 {
            buffer.append(b)
            if b == 0x22 { buffer.append(0x22) }
        }
        buffer.append(0x22)
    }
}
