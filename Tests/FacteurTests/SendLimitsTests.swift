import Foundation
import Synchronization
import Testing

@testable import Facteur

/// Messages in flight per domain now, and the most seen at once.
final class InFlight: Sendable {
    private let counts = Mutex<(now: [String: Int], peak: [String: Int])>(([:], [:]))
    func enter(_ domain: String) {
        counts.withLock {
            $0.now[domain, default: 0] += 1
            $0.peak[domain] = max($0.peak[domain, default: 0], $0.now[domain]!)
        }
    }
    func leave(_ domain: String) { counts.withLock { $0.now[domain]! -= 1 } }
    var peak: [String: Int] { counts.withLock { $0.peak } }
}

@Suite("Send limits")
struct SendLimitsTests {
    @Test func a_domain_never_has_more_messages_in_flight_than_its_limit() async {
        let limiter = DomainLimiter(limits: ["gmail.com": 2], defaultLimit: 3)
        let counts = InFlight()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<24 {
                let domain = ["gmail.com", "example.org", "example.net"][index % 3]
                group.addTask {
                    await limiter.acquire(domain)
                    counts.enter(domain)
                    try? await Task.sleep(for: .milliseconds(20))
                    counts.leave(domain)
                    await limiter.release(domain)
                }
            }
        }
        #expect(counts.peak == ["gmail.com": 2, "example.org": 3, "example.net": 3])
    }

    @Test func a_rate_limiter_spaces_batches_evenly() async throws {
        let limiter = RateLimiter(perSecond: 100)
        let start = ContinuousClock.now
        for _ in 0..<5 { try await limiter.wait(for: 10) }
        let elapsed = ContinuousClock.now - start
        // 50 slots at 10 ms: the last batch's last slot comes 490 ms after the first, never sooner
        // (on a loaded machine it can come later; the limit is a ceiling on the rate).
        #expect(elapsed >= .milliseconds(480), "\(elapsed)")
    }

    @Test func bad_worker_settings_are_refused_with_the_variable_named() {
        for (key, value) in [
            ("FACTEUR_WORKER_LANES", "0"), ("FACTEUR_WORKER_BATCH", "many"), ("FACTEUR_LEASE_SECONDS", "1"),
            ("FACTEUR_MAX_ATTEMPTS", "-3"), ("FACTEUR_DOMAIN_LIMITS", "gmail.com:10"), ("FACTEUR_DOMAIN_LIMITS", "*=0"),
        ] {
            let error = #expect(throws: FacteurError.self) { try SendWorkerSettings.fromEnvironment([key: value]) }
            #expect(error?.message.contains(key == "FACTEUR_DOMAIN_LIMITS" ? "gmail.com=10" : key) == true, "\(key)=\(value)")
        }
        let settings = try? SendWorkerSettings.fromEnvironment(["FACTEUR_DOMAIN_LIMITS": "Gmail.com=5, *=20", "FACTEUR_WORKER_LANES": "3"])
        #expect(settings?.domainLimits == ["gmail.com": 5])
        #expect(settings?.defaultDomainLimit == 20)
        #expect(settings?.lanes == 3)
    }
}
