import Foundation
import Synchronization

/// At most `limit` sign-ups per client per hour, counted in this process (a fixed one-hour window
/// per client). A client is an IPv4 address or an IPv6 /64 (one household or server gets a whole
/// /64, and can pick any address in it). Several replicas each count their own: the effective
/// limit is `limit × replicas`, still enough to stop a bot filling the list.
final class SignupRateLimiter: Sendable {
    let limit: Int
    let window: TimeInterval
    /// Clients remembered at most; past it, the windows that are over are forgotten (once a
    /// minute at most), and if a flood of addresses still fills it, every count starts again.
    let capacity: Int
    private struct State {
        var counts: [String: (start: Date, count: Int)] = [:]
        var pruned = Date.distantPast
    }
    private let state = Mutex(State())

    init(limit: Int, window: TimeInterval = 3600, capacity: Int = 100_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    /// Counts one attempt; false when the client is over its limit.
    func allow(_ address: String, now: Date = Date()) -> Bool {
        let client = Self.client(address)
        return state.withLock { state in
            if state.counts.count >= capacity, now.timeIntervalSince(state.pruned) > 60 {
                state.counts = state.counts.filter { now.timeIntervalSince($0.value.start) < window }
                state.pruned = now
                if state.counts.count >= capacity { state.counts = [:] }
            }
            var entry: (start: Date, count: Int) =
                state.counts[client].flatMap { now.timeIntervalSince($0.start) < window ? $0 : nil } ?? (now, 0)
            entry.count += 1
            state.counts[client] = entry
            return entry.count <= limit
        }
    }

    /// An IPv6 address counts by its /64; anything else as it is.
    static func client(_ address: String) -> String {
        var v6 = in6_addr()
        guard address.contains(":"), inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(8).map { String(format: "%02x", $0) }.joined() } + "::/64"
    }
}
