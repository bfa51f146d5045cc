import Foundation

extension Message {
    /// A new random Message-ID (without angle brackets) on `domain`, e.g.
    /// `mk3x9q1c.4fjq2m7tq0ac1vd3k8s9hz@example.com`: the time in milliseconds
    /// (base 36) then 120 random bits (base 32), so IDs are unique without coordination.
    /// A non-ASCII domain is written in its `xn--` form.
    public static func makeMessageID(domain: String) -> String {
        var rng = SystemRandomNumberGenerator()
        var id: [UInt8] = []
        id.reserveCapacity(40 + domain.utf8.count)
        var millis = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        var time: [UInt8] = []
        repeat {
            time.append(base36[Int(millis % 36)])
            millis /= 36
        } while millis > 0
        id.append(contentsOf: time.reversed())
        id.append(0x2E)
        for _ in 0..<2 {
            var bits = rng.next()
            for _ in 0..<12 {
                id.append(base32[Int(bits & 31)])
                bits >>= 5
            }
        }
        id.append(0x40)
        if domain.utf8.allSatisfy({ $0 < 0x80 }) {
            id.append(contentsOf: domain.lowercased().utf8)
        } else {
            id.append(contentsOf: ((try? Punycode.toASCII(domain: domain)) ?? domain).utf8)
        }
        return String(decoding: id, as: UTF8.self)
    }

    private static let base36 = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    private static let base32 = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// `date` in RFC 5322 form, in UTC: `Sun, 22 Nov 2026 22:58:59 +0000`.
    public static func rfc5322Date(_ date: Date) -> String {
        String(decoding: rfc5322DateBytes(date), as: UTF8.self)
    }

    static func rfc5322DateBytes(_ date: Date) -> [UInt8] {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = Int(seconds - days * 86400)
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        let weekday = Int(((days % 7) + 11) % 7)  // 0 = Sunday; 1970-01-01 was a Thursday

        var out: [UInt8] = []
        out.reserveCapacity(31)
        out.append(contentsOf: weekdayNames[weekday * 3..<weekday * 3 + 3])
        out.append(contentsOf: ", ".utf8)
        appendTwoDigits(day, to: &out)
        out.append(0x20)
        out.append(contentsOf: monthNames[(month - 1) * 3..<(month - 1) * 3 + 3])
        out.append(0x20)
        out.append(contentsOf: String(year).utf8)
        out.append(0x20)
        appendTwoDigits(secondOfDay / 3600, to: &out)
        out.append(0x3A)
        appendTwoDigits(secondOfDay / 60 % 60, to: &out)
        out.append(0x3A)
        appendTwoDigits(secondOfDay % 60, to: &out)
        out.append(contentsOf: " +0000".utf8)
        return out
    }

    private static let weekdayNames = Array("SunMonTueWedThuFriSat".utf8)
    private static let monthNames = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    private static func appendTwoDigits(_ value: Int, to out: inout [UInt8]) {
        out.append(UInt8(0x30 + value / 10))
        out.append(UInt8(0x30 + value % 10))
    }
}
