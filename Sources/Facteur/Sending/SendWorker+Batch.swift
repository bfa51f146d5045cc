import Foundation
import Logging
import Mail
import Postgres

extension SendWorker {
    /// One claimed message, rendered and ready for the transport.
    struct Prepared: Sendable {
        var id: Int64
        var attempts: Int
        var bytes: [UInt8]
        var messageID: String
        var recipient: String
        var domain: String
        var requiresSMTPUTF8: Bool
        var envelopeFrom: String
    }

    /// What became of one message.
    enum Outcome: Sendable {
        case sent(id: Int64, reply: String, messageID: String)
        /// `refund`: the attempt did not count (the server was unavailable).
        case retry(id: Int64, reply: String, delay: Double, refund: Bool)
        case failed(id: Int64, reply: String, mailboxUnknown: Bool)
        /// The message could not be built (an address that no longer parses): failed, but not a bounce.
        case unbuildable(id: Int64, reason: String)
        /// Not sent: the campaign was paused or cancelled, or the person became ineligible.
        case released(id: Int64)
    }

    /// Claims and sends one batch of `campaign`; returns how many messages it claimed (0: none due).
    func processBatch(campaign id: Int64) async throws -> Int {
        let prepared = try await composers.prepared(id)
        // A rate-limited campaign goes in batches of a quarter second's worth, so the time between the
        // last check and the send stays short and the rate stays even.
        let limit = prepared.rate.map { min(settings.batchSize, max(1, $0.perSecond / 4)) } ?? settings.batchSize
        let claimed = try await database.pool.query(
            database.sql("messages-claim", id, limit, settings.id, settings.leaseSeconds))
        // Past this, the lease may run out before a message is handed over (a slow server, a busy
        // domain) and another worker may take it: such a message is given back instead of sent.
        let sendBy = ContinuousClock.now + .seconds(settings.leaseSeconds * 0.8)
        guard !claimed.isEmpty else { return 0 }
        var toSend: [(id: Int64, subscriber: Int64, variant: Int?, attempts: Int)] = []
        for row in claimed {
            guard try row.decode(String.self, "status") == "sending" else {
                metrics.skipped.increment()
                continue
            }
            toSend.append(
                (
                    try row.decode(Int64.self, "id"), try row.decode(Int64.self, "subscriber_id"), try row.decode(Int?.self, "variant"),
                    try row.decode(Int.self, "attempts")
                ))
        }
        guard !toSend.isEmpty else { return claimed.count }
        var outcomes: [Outcome] = []
        do {
            var loaded = prepared
            if loaded.awaitsWinner, toSend.contains(where: { $0.variant == nil }) {
                await composers.forget(id)  // the A/B winner may have been chosen since this campaign was loaded
                loaded = try await composers.prepared(id)
            }
            let campaign = loaded
            // Held messages of an A/B test (variant NULL) wait for the winner; should one be claimed
            // before it is chosen, it is given back rather than sent with the campaign's plain subject.
            let held: Set<Int64> = campaign.awaitsWinner ? Set(toSend.filter { $0.variant == nil }.map(\.id)) : []
            outcomes += held.map { .released(id: $0) }
            let rows = try await database.pool.query(database.sql("subscribers-render-context", toSend.map(\.subscriber)))
            var contexts: [Int64: PostgresRow] = [:]
            for row in rows { contexts[try row.decode(Int64.self, "id")] = row }

            // Render in parallel (CPU work, on the cooperative pool's threads).
            let rendered = await withTaskGroup(of: (Int64, Result<Prepared, DeliveryError>?).self) { group in
                for message in toSend where !held.contains(message.id) {
                    let row = contexts[message.subscriber]
                    group.addTask { (message.id, row.map { Self.render(message, row: $0, campaign: campaign) }) }
                }
                var all: [(Int64, Result<Prepared, DeliveryError>?)] = []
                for await result in group { all.append(result) }
                return all
            }
            var ready: [Prepared] = []
            for (messageID, result) in rendered {
                switch result {
                case .success(let message)?: ready.append(message)
                case .failure(let error)?: outcomes.append(.unbuildable(id: messageID, reason: error.reply))
                case nil: outcomes.append(.released(id: messageID))  // erased meanwhile; the next claim skips it
                }
            }
            // The campaign's rate: wait for this batch's slots before the last check, not after it.
            try await campaign.rate?.limiter.wait(for: ready.count)
            // The last check, as late as possible before SMTP: an unsubscribe, bounce or pause that
            // committed since the claim stops the message here.
            let sendable = try await stillSendable(ready.map(\.id))
            let sent = await withTaskGroup(of: Outcome.self) { group in
                for message in ready {
                    guard sendable.contains(message.id) else {
                        outcomes.append(.released(id: message.id))
                        continue
                    }
                    group.addTask { await self.deliver(message, campaign: campaign, sendBy: sendBy) }
                }
                var all: [Outcome] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            outcomes += sent
        } catch {
            // Nothing was handed to SMTP: give every claimed message back.
            let handled = Set(outcomes.map(\.id))
            outcomes += toSend.filter { !handled.contains($0.id) }.map { .released(id: $0.id) }
            try await record(outcomes, campaign: id)
            throw error
        }
        try await record(outcomes, campaign: id)
        return claimed.count
    }

    private static func render(
        _ message: (id: Int64, subscriber: Int64, variant: Int?, attempts: Int), row: PostgresRow, campaign: ComposerCache.Campaign
    ) -> Result<Prepared, DeliveryError> {
        do {
            let email = try row.decode(String.self, "email")
            let to: Mailbox
            do {
                to = try Mailbox(email, name: try row.decode(String.self, "name"))
            } catch {
                return .failure(DeliveryError(.permanent, reply: "the stored address '\(email)' cannot be used: \(error)"))
            }
            let composed = try campaign.composer.compose(messageID: message.id, subscriber: row, variant: message.variant)
            let assembled = try campaign.assembler.assemble(composed, from: campaign.from, replyTo: campaign.replyTo, to: to)
            return .success(
                Prepared(
                    id: message.id, attempts: message.attempts, bytes: assembled.bytes, messageID: assembled.messageID,
                    recipient: to.address.asciiValue, domain: to.address.asciiDomain.lowercased(),
                    requiresSMTPUTF8: assembled.requiresSMTPUTF8, envelopeFrom: campaign.envelopeFrom(message: message.id)))
        } catch {
            return .failure(DeliveryError(.permanent, reply: "the message could not be built: \(error)"))
        }
    }

    private func stillSendable(_ ids: [Int64]) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        var sendable = Set<Int64>()
        for row in try await database.pool.query(database.sql("messages-still-sendable", ids, settings.id)) {
            if try row.decode(Bool.self, "campaign_sending"), try row.decode(String?.self, "reason") == nil {
                sendable.insert(try row.decode(Int64.self, "id"))
            }
        }
        return sendable
    }

    /// Waits for the domain's limit and a free connection, checks the campaign is still sending, sends.
    /// The check comes after both waits: a pause stops every message not yet on the wire.
    private func deliver(_ message: Prepared, campaign: ComposerCache.Campaign, sendBy: ContinuousClock.Instant) async -> Outcome {
        await domains.acquire(message.domain)
        await connections.acquire(Self.connectionKey)
        let outcome = ContinuousClock.now < sendBy ? await send(message, campaign: campaign) : .released(id: message.id)
        await connections.release(Self.connectionKey)
        await domains.release(message.domain)
        return outcome
    }

    private static let connectionKey = ""

    private func send(_ message: Prepared, campaign: ComposerCache.Campaign) async -> Outcome {
        guard control.isSending(campaign.composer.campaign.id) else { return .released(id: message.id) }
        let started = ContinuousClock.now
        do {
            let reply = try await transport.send(
                message.bytes, from: message.envelopeFrom, to: [message.recipient], requiresSMTPUTF8: message.requiresSMTPUTF8)
            metrics.latency.record(duration: ContinuousClock.now - started)
            return .sent(id: message.id, reply: reply, messageID: message.messageID)
        } catch let error as DeliveryError {
            if error.kind == .permanent { return .failed(id: message.id, reply: error.reply, mailboxUnknown: error.mailboxUnknown) }
            return retryOrFail(message, reply: error.reply, counts: error.countsAsAttempt)
        } catch is CancellationError {
            return .released(id: message.id)  // shutting down: not the message's fault
        } catch {
            return retryOrFail(message, reply: "\(error)", counts: true)
        }
    }

    private func retryOrFail(_ message: Prepared, reply: String, counts: Bool) -> Outcome {
        guard counts else {
            let delay = min(settings.retryMax, settings.retryBase) * Double.random(in: 0.5...1)
            return .retry(id: message.id, reply: reply, delay: delay, refund: true)
        }
        guard message.attempts < settings.maxAttempts else {
            return .failed(id: message.id, reply: "gave up after \(message.attempts) attempts: \(reply)", mailboxUnknown: false)
        }
        let backoff = min(settings.retryMax, settings.retryBase * pow(2, Double(message.attempts - 1)))
        return .retry(id: message.id, reply: reply, delay: backoff * Double.random(in: 0.5...1), refund: false)
    }

    /// Writes a batch's outcomes in one transaction. A database that is down (restarting) is
    /// waited for: the results are what prevents a message from being sent twice, so they are
    /// kept and written as soon as the database answers, for up to half a lease.
    func record(_ outcomes: [Outcome], campaign: Int64) async throws {
        var sent: (ids: [Int64], replies: [String], messageIDs: [String]) = ([], [], [])
        var retry: (ids: [Int64], replies: [String], delays: [String], refunds: [String]) = ([], [], [], [])
        var failed: (ids: [Int64], replies: [String], kinds: [String]) = ([], [], [])
        var released: [Int64] = []
        for outcome in outcomes {
            switch outcome {
            case .sent(let id, let reply, let messageID):
                sent.ids.append(id)
                sent.replies.append(reply)
                sent.messageIDs.append(messageID)
            case .retry(let id, let reply, let delay, let refund):
                retry.ids.append(id)
                retry.replies.append(reply)
                retry.delays.append(String(delay))
                retry.refunds.append(refund ? "true" : "false")
            case .failed(let id, let reply, let mailboxUnknown):
                failed.ids.append(id)
                failed.replies.append(reply)
                failed.kinds.append(mailboxUnknown ? "hard" : "failed")
            case .unbuildable(let id, let reason):
                failed.ids.append(id)
                failed.replies.append(reason)
                failed.kinds.append("unbuildable")
            case .released(let id):
                released.append(id)
            }
        }
        let worker = settings.id
        let deadline = ContinuousClock.now + .seconds(settings.leaseSeconds / 2)
        var pause = Duration.milliseconds(100)
        while true {
            do {
                try await database.pool.withTransaction { tx in
                    if !sent.ids.isEmpty {
                        try await tx.execute(database.sql("messages-sent", sent.ids, sent.replies, sent.messageIDs, worker))
                    }
                    if !retry.ids.isEmpty {
                        try await tx.execute(database.sql("messages-retry", retry.ids, retry.replies, retry.delays, retry.refunds, worker))
                    }
                    if !failed.ids.isEmpty {
                        try await tx.execute(database.sql("messages-failed", failed.ids, failed.replies, failed.kinds, worker))
                    }
                    if !released.isEmpty { try await tx.execute(database.sql("messages-release", released, worker)) }
                }
                break
            } catch {
                // A database that is away (restarting, unreachable) is waited for, and a statement that
                // lost a race (a deadlock with an erasure, a person erased meanwhile) is tried again: the
                // statements are guarded by status and lease, and left unwritten the messages would be
                // sent again once their lease ends. Any other error would fail the same way again.
                guard Self.isUnavailable(error) || Self.lostARace(error), ContinuousClock.now < deadline else { throw error }
                logger.warning(
                    "could not record send results; retrying", metadata: ["campaign": "\(campaign)", "error": "\(error)"])
                await Self.sleepEvenIfCancelled(pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
        metrics.sent.increment(by: sent.ids.count)
        metrics.retried.increment(by: retry.ids.count)
        metrics.failed.increment(by: failed.ids.count)
        metrics.released.increment(by: released.count)
    }
}

extension SendWorker {
    /// The database is away rather than refusing the statement: worth waiting for.
    static func isUnavailable(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        if error.code == .connection || error.code == .poolTimeout { return true }
        // 57P: the server is shutting down or starting up; 08: connection exceptions.
        return error.code == .server && (error.sqlState?.hasPrefix("57P") == true || error.sqlState?.hasPrefix("08") == true)
    }

    /// Deadlock, serialization failure, or a row referenced by the statement deleted meanwhile:
    /// the same statement may well succeed a moment later.
    static func lostARace(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError, error.code == .server else { return false }
        return ["40P01", "40001", "23503"].contains(error.sqlState ?? "")
    }

    /// Results must be written even while the task is being cancelled (a test stopping a worker):
    /// `Task.sleep` would return at once and make this a busy loop.
    static func sleepEvenIfCancelled(_ duration: Duration) async {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { done.resume() }
        }
    }
}

extension SendWorker.Outcome {
    var id: Int64 {
        switch self {
        case .sent(let id, _, _), .retry(let id, _, _, _), .failed(let id, _, _), .unbuildable(let id, _), .released(let id): id
        }
    }
}
