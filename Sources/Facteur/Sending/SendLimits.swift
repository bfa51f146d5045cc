import Foundation

/// Spaces messages evenly to a rate (messages per second): each caller reserves the next free
/// slot and sleeps until it. Bursts are not saved up: an idle minute does not buy a burst later.
actor RateLimiter {
    private let interval: Duration
    private var next: ContinuousClock.Instant = .now

    init(perSecond rate: Int) {
        interval = .nanoseconds(1_000_000_000 / Int64(max(rate, 1)))
    }

    /// Reserves `count` consecutive slots and waits until the last one has come.
    nonisolated func wait(for count: Int) async throws {
        let slot = await reserve(count)
        if slot > .now { try await Task.sleep(until: slot, clock: .continuous) }
    }

    private func reserve(_ count: Int) -> ContinuousClock.Instant {
        let now = ContinuousClock.Instant.now
        let first = max(now, next)
        next = first + interval * count
        return first + interval * (count - 1)
    }
}

/// At most `limit(domain)` messages in flight per recipient domain, so one large provider does
/// not take every connection (and mailbox providers that throttle by concurrency are respected).
actor DomainLimiter {
    private let limits: [String: Int]
    private let defaultLimit: Int?
    private var inFlight: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// - Parameter limits: per domain (lowercased); `defaultLimit` for the others, nil for none.
    init(limits: [String: Int], defaultLimit: Int?) {
        self.limits = limits
        self.defaultLimit = defaultLimit
    }

    private func limit(_ domain: String) -> Int? { limits[domain] ?? defaultLimit }

    func acquire(_ domain: String) async {
        guard let limit = limit(domain) else { return }
        if inFlight[domain, default: 0] < limit {
            inFlight[domain, default: 0] += 1
            return
        }
        // The releasing caller hands its slot over directly, so the count stays right.
        await withCheckedContinuation { waiting[domain, default: []].append($0) }
    }

    func release(_ domain: String) {
        guard limit(domain) != nil else { return }
        if var queue = waiting[domain], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[domain] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            inFlight[domain, default: 1] -= 1
        }
    }

    /// `gmail.com=10,outlook.com=5,*=20` (the `*` entry is the default).
    static func parse(_ text: String) throws -> (limits: [String: Int], defaultLimit: Int?) {
        var limits: [String: Int] = [:]
        var fallback: Int?
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Int(parts[1]), value > 0, !parts[0].isEmpty else {
                throw FacteurError(.invalid, "domain limits look like gmail.com=10,*=20; got '\(entry)'")
            }
            if parts[0] == "*" { fallback = value } else { limits[parts[0].lowercased()] = value }
        }
        return (limits, fallback)
    }
}
