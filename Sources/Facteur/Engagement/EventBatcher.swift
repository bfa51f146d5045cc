import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Synchronization

/// Writes events in batches (group commit) and answers each caller once its event is committed.
///
/// A caller's events join the pending queue; a writer takes up to `maxBatch` of them and inserts
/// them in one statement (whose trigger updates engagement and scores). With little traffic an
/// event is written at once, alone; under load events pile up while the writers are busy, so
/// batches grow by themselves and each commit serves many requests. `maxDelay` lets a writer
/// that woke for a small batch wait that long for company.
///
/// A `record` call's events always share one batch, so they commit or fail together.
///
/// Backpressure, never loss: past `capacity` pending events, `record` waits for room instead of
/// queueing more or dropping. A batch that fails for a passing reason (deadlock, a subscriber
/// erased mid-batch, a dropped connection) is retried a few times before its callers see the error.
public final class EventBatcher: Service, Sendable {
    public struct Settings: Sendable {
        public var maxBatch = 1000
        /// 0 by default: measured with bench/track.sh, waiting for company only added latency (the
        /// batches fill by themselves while the writer is busy).
        public var maxDelay: Duration = .zero
        public var capacity = 20_000
        /// Concurrent batch writers (each holds a pool connection while writing). One by default:
        /// measured here, two writers made smaller batches that contend for the same engagement
        /// rows, and 30 % fewer events a second.
        public var writers = 1
        /// An open or click this soon after sending is a scanner's (see RequestClassifier).
        public var machineWindowSeconds = 10.0

        public init() {}

        /// `FACTEUR_EVENT_BATCH`, `FACTEUR_EVENT_BATCH_DELAY_MS`, `FACTEUR_EVENT_QUEUE`,
        /// `FACTEUR_EVENT_WRITERS`, `FACTEUR_MACHINE_WINDOW_SECONDS`.
        public static func fromEnvironment(_ environment: [String: String]) throws -> Settings {
            var settings = Settings()
            func number(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
                try EnvironmentSettings.int(environment, name, range)
            }
            settings.maxBatch = try number("FACTEUR_EVENT_BATCH", 1...10_000) ?? settings.maxBatch
            settings.maxDelay = .milliseconds(try number("FACTEUR_EVENT_BATCH_DELAY_MS", 0...1000) ?? 0)
            settings.capacity = try number("FACTEUR_EVENT_QUEUE", 1...10_000_000) ?? settings.capacity
            settings.writers = try number("FACTEUR_EVENT_WRITERS", 1...64) ?? settings.writers
            settings.machineWindowSeconds = Double(try number("FACTEUR_MACHINE_WINDOW_SECONDS", 0...3600) ?? 10)
            return settings
        }
    }

    private struct Pending {
        var event: EventInput
        var group: Int
        /// The event's place in its `record` call.
        var slot: Int
    }

    /// One `record` call's events: their outcomes fill in as batches commit.
    private struct Group {
        var outcomes: [EventOutcome?]
        var remaining: Int
        var continuation: CheckedContinuation<[EventOutcome], any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var pendingStart = 0
        var groups: [Int: Group] = [:]
        var nextGroup = 0
        /// Writers asleep for want of work.
        var idleWriters: [CheckedContinuation<Void, Never>] = []
        /// Callers waiting for room.
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        var stopped = false

        var pendingCount: Int { pending.count - pendingStart }

        /// Whether `count` more events may queue now. A call larger than the whole capacity
        /// waits only for an empty queue.
        func hasRoom(for count: Int, capacity: Int) -> Bool {
            stopped || pendingCount == 0 || pendingCount + count <= capacity
        }
    }

    private let database: Database
    private let settings: Settings
    private let logger: Logger
    private let state = Mutex(State())
    private let written = Counter(label: "facteur_events_written_total")
    private let batches = Counter(label: "facteur_event_batches_total")
    private let failures = Counter(label: "facteur_event_batch_failures_total")
    private let batchSize = Recorder(label: "facteur_event_batch_size")

    public init(database: Database, settings: Settings = Settings(), logger: Logger) {
        self.database = database
        self.settings = settings
        self.logger = logger
    }

    /// Records `events` and returns once they are committed, one outcome per event, in order.
    /// Throws when the database could not take them after retries (nothing of the failed batch
    /// was written) or when the batcher has stopped.
    public func record(_ events: [EventInput]) async throws -> [EventOutcome] {
        guard !events.isEmpty else { return [] }
        while true {
            guard !state.withLock({ $0.hasRoom(for: events.count, capacity: settings.capacity) }) else { break }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.hasRoom(for: events.count, capacity: settings.capacity) { return true }
                    state.roomWaiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let (writer, stopped) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
                if state.stopped { return (nil, true) }
                let id = state.nextGroup
                state.nextGroup += 1
                state.groups[id] = Group(
                    outcomes: Array(repeating: nil, count: events.count), remaining: events.count, continuation: continuation)
                for (slot, event) in events.enumerated() { state.pending.append(Pending(event: event, group: id, slot: slot)) }
                return (state.idleWriters.popLast(), false)
            }
            if stopped {
                // A 503 for HTTP callers: another server (or this one, restarted) will take it.
                continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the server is shutting down; try again"))
            }
            writer?.resume()
        }
    }

    /// Records one event.
    public func record(_ event: EventInput) async throws -> EventOutcome {
        try await record([event])[0]
    }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<settings.writers { group.addTask { await self.writeLoop() } }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Stops taking events; writers finish what is pending, then return.
    public func stop() {
        let (writers, waiters) = state.withLock { state in
            state.stopped = true
            defer {
                state.idleWriters = []
                state.roomWaiters = []
            }
            return (state.idleWriters, state.roomWaiters)
        }
        writers.forEach { $0.resume() }
        waiters.forEach { $0.resume() }
    }

    private func writeLoop() async {
        while true {
            let hasWork = await waitForWork()
            guard hasWork else { return }
            if settings.maxDelay > .zero, state.withLock({ $0.pendingCount < settings.maxBatch && !$0.stopped }) {
                try? await Task.sleep(for: settings.maxDelay)
            }
            let batch = takeBatch()
            guard !batch.isEmpty else { continue }
            await write(batch)
        }
    }

    /// Waits until events are pending; false once stopped with nothing left.
    private func waitForWork() async -> Bool {
        while true {
            let ready: Bool? = state.withLock { state in
                if state.pendingCount > 0 { return true }
                return state.stopped ? false : nil
            }
            if let ready { return ready }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.pendingCount > 0 || state.stopped { return true }
                    state.idleWriters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func takeBatch() -> [Pending] {
        let (batch, waiters) = state.withLock { state -> ([Pending], [CheckedContinuation<Void, Never>]) in
            // Whole `record` calls only, so each call's events commit or fail together: stop at
            // the call that would overflow the batch (a call larger than a batch goes alone).
            var end = state.pendingStart
            while end < state.pending.count {
                let group = state.pending[end].group
                var next = end
                while next < state.pending.count && state.pending[next].group == group { next += 1 }
                if end > state.pendingStart && next - state.pendingStart > settings.maxBatch { break }
                end = next
            }
            let batch = Array(state.pending[state.pendingStart..<end])
            state.pendingStart = end
            if state.pendingStart > 4096 && state.pendingStart * 2 > state.pending.count {
                state.pending.removeFirst(state.pendingStart)
                state.pendingStart = 0
            }
            // Room was made: let waiting callers try again.
            let waiters = state.roomWaiters
            state.roomWaiters = []
            return (batch, waiters)
        }
        waiters.forEach { $0.resume() }
        return batch
    }

    private func write(_ batch: [Pending]) async {
        let result = await insert(batch.map(\.event))
        if case .failure = result, Set(batch.map(\.group)).count > 1 {
            // One caller's bad event must not fail the others that shared its batch: each call
            // on its own, so only the faulty one sees the error.
            var start = 0
            while start < batch.count {
                var end = start
                while end < batch.count && batch[end].group == batch[start].group { end += 1 }
                await write(Array(batch[start..<end]))
                start = end
            }
            return
        }
        finish(batch, result)
    }

    /// Inserts, retrying what a retry can cure a few times.
    private func insert(_ events: [EventInput]) async -> Result<[EventOutcome], any Error> {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return .success(
                    try await EventWriter(database: database, machineWindowSeconds: settings.machineWindowSeconds).insert(events))
            } catch let error as PostgresError where attempt < 4 && Self.isPassing(error) {
                logger.warning("event batch failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try? await Task.sleep(for: .milliseconds(50 * attempt * attempt))
            } catch {
                return .failure(error)
            }
        }
    }

    private func finish(_ batch: [Pending], _ result: Result<[EventOutcome], any Error>) {
        switch result {
        case .success:
            batches.increment()
            written.increment(by: batch.count)
            batchSize.record(batch.count)
        case .failure(let error):
            failures.increment()
            logger.error("could not write events", metadata: ["error": "\(error)", "count": "\(batch.count)"])
        }
        let finished = state.withLock { state -> [(CheckedContinuation<[EventOutcome], any Error>, Result<[EventOutcome], any Error>)] in
            var finished: [(CheckedContinuation<[EventOutcome], any Error>, Result<[EventOutcome], any Error>)] = []
            var failedGroups: Set<Int> = []
            for (index, item) in batch.enumerated() {
                guard var group = state.groups[item.group] else { continue }
                switch result {
                case .success(let outcomes):
                    group.outcomes[item.slot] = outcomes[index]
                    group.remaining -= 1
                    if group.remaining == 0 {
                        state.groups[item.group] = nil
                        finished.append((group.continuation, .success(group.outcomes.map { $0 ?? .unmatched })))
                    } else {
                        state.groups[item.group] = group
                    }
                case .failure(let error):
                    guard !failedGroups.contains(item.group) else { continue }
                    failedGroups.insert(item.group)
                    state.groups[item.group] = nil
                    finished.append((group.continuation, .failure(error)))
                }
            }
            return finished
        }
        for (continuation, result) in finished { continuation.resume(with: result) }
    }

    /// Errors a retry can cure: deadlock, serialization, a row erased between lookup and insert,
    /// a lost connection or a busy pool.
    private static func isPassing(_ error: PostgresError) -> Bool {
        if error.code == .connection || error.code == .poolTimeout { return true }
        return ["40P01", "40001", "23503"].contains(error.sqlState ?? "")
    }
}

/// The single statement that writes one batch.
struct EventWriter {
    let database: Database
    let machineWindowSeconds: Double

    func insert(_ events: [EventInput]) async throws -> [EventOutcome] {
        let sql = database.sql(
            "events-insert", events.map(\.type), events.map(\.subscriberID), events.map(\.campaignID), events.map(\.messageID),
            events.map(\.linkID), events.map(\.machine), events.map { $0.device?.rawValue }, events.map(\.client),
            events.map(\.properties), events.map(\.idempotencyKey), events.map(\.occurredAt), machineWindowSeconds)
        let rows = try await database.pool.query(sql)
        var outcomes = [EventOutcome](repeating: .unmatched, count: events.count)
        for row in rows {
            let index = try row.decode(Int.self, "n") - 1
            if let id = try row.decode(Int64?.self, "id") {
                outcomes[index] = .recorded(id: id)
            } else if try row.decode(Bool.self, "duplicate") {
                outcomes[index] = .duplicate
            }
        }
        return outcomes
    }
}
