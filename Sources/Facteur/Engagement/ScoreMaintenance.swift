import Logging
import ServiceLifecycle

/// Keeps scores current where events alone cannot: attribute rules against changed attributes
/// (every `attributeInterval`) and decay (the first pass of each UTC day). Any number of
/// processes may run it: decay runs once a day by a guarded update, attribute refreshes write
/// only differences.
public struct ScoreMaintenance: Service {
    let rules: ScoringRules
    let logger: Logger
    let attributeInterval: Duration

    public init(rules: ScoringRules, logger: Logger, attributeInterval: Duration = .seconds(300)) {
        self.rules = rules
        self.logger = logger
        self.attributeInterval = attributeInterval
    }

    public func run() async throws {
        await runPeriodically(every: attributeInterval, logger: logger, failure: "score maintenance failed") {
            let decayed = try await rules.decay()
            if decayed > 0 { logger.info("decayed lead scores", metadata: ["changed": "\(decayed)"]) }
            let refreshed = try await rules.refreshAttributeRules()
            if refreshed > 0 { logger.info("refreshed attribute scores", metadata: ["changed": "\(refreshed)"]) }
        }
    }
}
