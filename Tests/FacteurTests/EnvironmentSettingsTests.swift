import Testing

@testable import Facteur

@Suite("Settings from the environment")
struct EnvironmentSettingsTests {
    @Test func numbers_out_of_range_or_malformed_are_refused_by_name_and_empty_means_default() throws {
        for raw in ["0", "65", "abc", "1.5", " 3"] {
            #expect {
                _ = try EventBatcher.Settings.fromEnvironment(["FACTEUR_EVENT_WRITERS": raw])
            } throws: { error in
                (error as? FacteurError)?.message.hasPrefix("FACTEUR_EVENT_WRITERS must be a whole number from 1 to 64") == true
            }
        }
        #expect(try EventBatcher.Settings.fromEnvironment(["FACTEUR_EVENT_WRITERS": ""]).writers == 1)
        #expect(try EventBatcher.Settings.fromEnvironment(["FACTEUR_EVENT_WRITERS": "3"]).writers == 3)
        #expect(throws: FacteurError.self) { try BounceProcessor.Settings.fromEnvironment(["FACTEUR_SOFT_BOUNCE_DAYS": "400"]) }
        #expect(try BounceProcessor.Settings.fromEnvironment(["FACTEUR_SOFT_BOUNCE_LIMIT": "5"]).softBounceLimit == 5)
        #expect(throws: FacteurError.self) { try SendWorkerSettings.fromEnvironment(["FACTEUR_LEASE_SECONDS": "5"]) }
        #expect(throws: FacteurError.self) { try RequestClassifier.fromEnvironment(["FACTEUR_MACHINE_NETWORKS": "10.0.0.0/33"]) }
    }
}
