/// Numbers read from the environment, with an error that names the variable and its range.
/// Unset or empty means "use the default" (`nil`): compose files pass empty strings for unset.
public enum EnvironmentSettings {
    public static func int(_ environment: [String: String], _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let raw = environment[name], !raw.isEmpty else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw FacteurError(.invalid, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return value
    }

    public static func double(_ environment: [String: String], _ name: String, _ range: ClosedRange<Double>) throws -> Double? {
        guard let raw = environment[name], !raw.isEmpty else { return nil }
        guard let value = Double(raw), range.contains(value) else {
            throw FacteurError(.invalid, "\(name) must be a number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return value
    }
}
