import Foundation
import Synchronization

/// At most `limit` sign-ups per client address per hour, counted in this process (a fixed
/// one-hour window per address). Several replicas each count their own: the effective limit is
/// `limit × replicas`, still enough to stop a bot filling the list.
final class SignupRateLimiter: Sendable {
    let limit: Int
    let window: TimeInterval
    private let state = Mutex<[String: (start: Date, count: Int)]>([:])

    init(limit: Int, window: TimeInterval = 3600) {
        self.limit = limit
        self.window = window
    }

    /// Counts one attempt; false when the address is over its limit.
    func allow(_ address: String, now: Date = Date()) -> Bool {
        state.withLock { counts in
            if counts.count > 100_000 {
                // Bounded memory under a flood of addresses: forget the windows that are over.
                counts = counts.filter { now.timeIntervalSince($0.value.start) < window }
            }
            var entry: (start: Date, count: Int) =
                counts[address].flatMap { now.timeIntervalSince($0.start) < window ? $0 : nil } ?? (now, 0)
            entry.count += 1
            counts[address] = entry
            return entry.count <= limit
        }
    }
}
