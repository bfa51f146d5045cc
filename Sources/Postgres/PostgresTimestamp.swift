import Foundation

/// Formats and parses PostgreSQL's ISO text form of timestamps without `DateFormatter`,
/// which is slow and locale-sensitive. Connections run with `TimeZone=UTC`.
enum PostgresTimestamp {
    /// `2026-11-22 22:58:59.123456+00`
    static func format(_ date: Date) -> String {
        let totalMicros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard totalMicros.isFinite, abs(totalMicros) < 2.5e17 else {
            return totalMicros < 0 ? "-infinity" : "infinity"
        }
        let micros = Int64(totalMicros)
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + " "
        text += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if fraction != 0 { text += "." + pad(fraction, 6) }
        return text + "+00"
    }

    /// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff][±HH[:MM[:SS]]]]`; returns nil for anything else.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Date? {
        var cursor = Cursor(bytes: bytes)
        guard let year = cursor.number(digits: 4), cursor.take("-"),
            let month = cursor.number(digits: 2), cursor.take("-"),
            let day = cursor.number(digits: 2)
        else { return nil }
        var seconds = days(fromCivil: year, month, day) * 86_400
        var micros: Int64 = 0
        if cursor.take(" ") || cursor.take("T") {
            guard let hour = cursor.number(digits: 2), cursor.take(":"),
                let minute = cursor.number(digits: 2), cursor.take(":"),
                let second = cursor.number(digits: 2)
            else { return nil }
            seconds += hour * 3600 + minute * 60 + second
            if cursor.take(".") {
                var scale: Int64 = 100_000
                while let digit = cursor.digit() {
                    micros += digit * scale
                    scale /= 10
                }
            }
            if let sign = cursor.sign() {
                guard let offsetHours = cursor.number(digits: 2) else { return nil }
                var offset = offsetHours * 3600
                if cursor.take(":"), let offsetMinutes = cursor.number(digits: 2) {
                    offset += offsetMinutes * 60
                    if cursor.take(":"), let offsetSeconds = cursor.number(digits: 2) { offset += offsetSeconds }
                }
                seconds -= sign * offset
            }
        }
        guard cursor.atEnd else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    // Days since 1970-01-01 ↔ proleptic Gregorian date (H. Hinnant's algorithms).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromCivil year0: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let year = month <= 2 ? year0 - 1 : year0
        let era = (year >= 0 ? year : year - 399) / 400
        let yoe = year - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        var atEnd: Bool { index == bytes.count }

        mutating func take(_ char: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(char.value) else { return false }
            index += 1
            return true
        }

        mutating func digit() -> Int64? {
            guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
            defer { index += 1 }
            return Int64(bytes[index] - 48)
        }

        mutating func number(digits: Int) -> Int64? {
            var value: Int64 = 0
            for _ in 0..<digits {
                guard let d = digit() else { return nil }
                value = value * 10 + d
            }
            return value
        }

        mutating func sign() -> Int64? {
            if take("+") { return 1 }
            if take("-") { return -1 }
            return nil
        }
    }
}
