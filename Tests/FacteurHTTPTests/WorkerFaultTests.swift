import Facteur
import FacteurTestSupport
import Foundation
import Logging
import Postgres
import Testing

/// The worker under the failures production brings, against real processes: an SMTP server
/// that fails at random, a worker killed with SIGKILL, a PostgreSQL restart, an unsubscribe
/// in the middle of a send.
@Suite(.enabled(if: ExternalTools.available { ExternalTools.hasAiosmtpd }, "needs aiosmtpd (pip install aiosmtpd)"))
struct WorkerFaultTests {
    static let logger = Logger(label: "test")

    /// Who received what, from the files the aiosmtpd server writes.
    static func receipts(_ server: ServerProcess) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for message in try server.storedMessages() {
            for address in message.envelope["to"] as? [String] ?? [] { counts[address, default: 0] += 1 }
        }
        return counts
    }

    static func statuses(_ pool: PostgresPool) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await pool.query("SELECT status, count(*) AS n FROM messages GROUP BY status") {
            counts[try row.decode(String.self, "status")] = try row.decode(Int.self, "n")
        }
        return counts
    }

    /// Polls until `done` holds, failing the test after `timeout`.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(90), _ done: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !done() {
            guard ContinuousClock.now < deadline else { throw TestSetupError(description: "timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The environment of a `facteur worker` process on the test database `pool` uses, sending to
    /// the SMTP server on `smtpPort`; `extra` adds or overrides settings.
    static func workerEnvironment(_ pool: PostgresPool, smtpPort: Int, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "DATABASE_URL": TestServer.connectionString(database: pool.configuration.database ?? ""),
            "FACTEUR_HOME": testHome.root.path, "FACTEUR_SECRET": String(repeating: "s", count: 32),
            "SMTP_URL": "smtp://127.0.0.1:\(smtpPort)", "FACTEUR_WORKER_PORT": "0", "LOG_LEVEL": "info",
        ].merging(extra) { $1 }
    }

    static func finished(_ pool: PostgresPool) async throws -> Bool {
        let counts = try await statuses(pool)
        return (counts["queued"] ?? 0) + (counts["sending"] ?? 0) == 0
    }

    @Test func a_flaky_server_gets_every_good_message_once_and_the_unknown_mailbox_is_suppressed_without_retry() async throws {
        // 15 % of RCPTs get a 451 or a 421 that closes the connection; 7.5 % of DATAs are dropped unanswered.
        let server = try await ServerProcess.aiosmtpd(["--chaos", "0.15", "--seed", "7"])
        defer { server.stop() }
        try await SendWorkerTests.withCampaign(people: 200, others: ["hard-nobody@example.com"]) { setup in
            let transport = try SMTPMailTransport(url: "smtp://127.0.0.1:\(server.port)?max_connections=4", logger: Self.logger)
            let worker = try setup.worker(transport: transport) {
                $0.retryBase = 0.02
                $0.maxAttempts = 40
            }
            let pool = setup.api.database.pool
            try await Self.waitUntil("every message is sent or failed") {
                try await worker.sendDue()
                return try await Self.finished(pool)
            }
            await transport.close()

            let receipts = try Self.receipts(server)
            let good = Set((0..<200).map { "p\($0)@example.com" })
            #expect(Set(receipts.keys) == good, "every good address, and only those")
            #expect(receipts.values.allSatisfy { $0 == 1 }, "nobody twice: a dropped DATA was not stored")
            #expect(try await Self.statuses(pool) == ["sent": 200, "failed": 1])
            let retried = try await pool.query("SELECT count(*) AS n FROM messages WHERE attempts > 1")[0].decode(Int.self, "n")
            #expect(retried > 10, "the server's failures were retried (\(retried) messages)")

            let hard = try await pool.query(
                """
                SELECT m.smtp_reply, s.status,
                       EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email AND x.reason = 'hard_bounce') AS suppressed,
                       (SELECT properties->>'kind' FROM events e WHERE e.message_id = m.id AND e.type = 'bounce') AS bounce
                  FROM messages m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = 'hard-nobody@example.com'
                """)[0]
            #expect(server.refusedAddresses() == ["hard-nobody@example.com"], "refused once, never retried after the 5.1.1")
            #expect(try hard.decode(String.self, "smtp_reply").contains("5.1.1"))
            #expect(try hard.decode(String.self, "status") == "bounced")
            #expect(try hard.decode(Bool.self, "suppressed"))
            #expect(try hard.decode(String?.self, "bounce") == "hard")
        }
    }

    @Test func a_worker_killed_mid_campaign_loses_nothing_and_repeats_at_most_its_in_flight_window() async throws {
        let binary = try FacteurBinary.path()
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let people = 1200
        try await SendWorkerTests.withCampaign(people: people) { setup in
            let pool = setup.api.database.pool
            let (lanes, batch) = (2, 20)
            let environment = Self.workerEnvironment(
                pool, smtpPort: server.port,
                [
                    "SMTP_URL": "smtp://127.0.0.1:\(server.port)?max_connections=4", "FACTEUR_LEASE_SECONDS": "10",
                    "FACTEUR_WORKER_LANES": "\(lanes)", "FACTEUR_WORKER_BATCH": "\(batch)",
                ])
            let log = server.directory.appendingPathComponent("worker.log").path
            let first = try ChildProcess(binary, ["worker"], environment: environment, log: log)
            defer { first.terminate() }
            try await Self.waitUntil("the first worker has sent 300") {
                guard first.isRunning else { throw TestSetupError(description: "the worker exited: \(Self.tail(log))") }
                return try await Self.statuses(pool)["sent", default: 0] >= 300
            }
            first.crash()
            let sentBeforeCrash = try await Self.statuses(pool)["sent", default: 0]
            #expect(sentBeforeCrash < people, "the crash came mid-campaign")

            let second = try ChildProcess(binary, ["worker"], environment: environment, log: log)
            defer { second.terminate() }
            try await Self.waitUntil("the second worker has finished the campaign") {
                guard second.isRunning else { throw TestSetupError(description: "the worker exited: \(Self.tail(log))") }
                return try await Self.finished(pool)
            }
            second.terminate()

            #expect(try await Self.statuses(pool) == ["sent": people])
            let receipts = try Self.receipts(server)
            #expect(receipts.count == people, "every address received the campaign")
            let duplicates = receipts.values.reduce(0, +) - receipts.count
            #expect(duplicates <= lanes * batch, "\(duplicates) duplicates; at most the \(lanes * batch) messages in flight")
        }
    }

    @Test func a_postgresql_restart_during_a_send_needs_no_operator() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        let cluster = try LocalCluster(
            directory: TestServer.repositoryRoot.appendingPathComponent(".facteur/test-worker-restart-pg").path, settings: ["fsync": "off"])
        _ = try cluster.start()
        defer { try? cluster.stop() }
        let admin = PostgresPool(configuration: cluster.configuration(), maxConnections: 1)
        try await admin.execute("DROP DATABASE IF EXISTS facteur WITH (FORCE)")
        try await admin.execute("CREATE DATABASE facteur")
        await admin.close()
        let pool = PostgresPool(configuration: cluster.configuration(database: "facteur"), maxConnections: 6, acquireTimeout: .seconds(30))
        try await Migrator(directory: testHome.migrationsDirectory).migrate(pool)
        let database = Database(pool: pool, queries: try QueryCatalog(directory: testHome.queriesDirectory))
        let people = 600
        try await pool.execute(
            """
            INSERT INTO subscribers (email, name, status) SELECT 'p' || g || '@example.com', 'Person', 'active' FROM generate_series(0, 599) g
            """)
        try await pool.execute("INSERT INTO templates (name, subject, html) VALUES ('t', 'Hi', '<p>Hello {{email}}</p>')")
        try await pool.execute(
            "INSERT INTO campaigns (name, subject, from_email, template_id) VALUES ('c', 'Hello {{email}}', 'from@example.com', 1)")
        let campaigns = Campaigns(database: database, templates: Templates(database: database, layouts: .none))
        #expect(try await campaigns.start(id: 1).queued == people)

        let transport = try SMTPMailTransport(url: "smtp://127.0.0.1:\(server.port)?max_connections=4", logger: Self.logger)
        var settings = SendWorkerSettings(id: "restart")
        settings.retryBase = 0.05
        settings.leaseSeconds = 20
        let worker = SendWorker(
            database: database, transport: transport, links: testLinks, assembler: MessageAssembler(signers: []), layouts: .none,
            settings: settings, logger: Self.logger)
        let running = Task { try await worker.run() }
        try await Self.waitUntil("100 are sent") { try await Self.statuses(pool)["sent", default: 0] >= 100 }
        try cluster.stop()
        try await Task.sleep(for: .seconds(1))
        _ = try cluster.start()
        try await Self.waitUntil("the campaign is finished") { try await Self.finished(pool) }
        running.cancel()
        _ = try? await running.value
        await transport.close()

        #expect(try await Self.statuses(pool) == ["sent": people])
        let receipts = try Self.receipts(server)
        #expect(receipts.count == people)
        let duplicates = receipts.values.reduce(0, +) - receipts.count
        #expect(duplicates <= settings.lanes * settings.batchSize)
        await pool.close()
    }

    @Test func people_who_unsubscribe_during_a_send_get_nothing_more() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        // 20 messages a second: the 100 messages take five seconds.
        try await SendWorkerTests.withCampaign(people: 100, extra: #""rate_limit": 20"#) { setup in
            let pool = setup.api.database.pool
            // Ten people whose messages come last: held back until they have unsubscribed, then due
            // while the campaign is still sending (a fixed delay raced the unsubscribes on a busy machine).
            let late = (90..<100).map { "p\($0)@example.com" }
            let due: (_ inSeconds: Int) async throws -> Void = { seconds in
                try await pool.execute(
                    """
                    UPDATE messages m SET next_attempt_at = now() + \(seconds) * interval '1 second'
                      FROM subscribers s WHERE s.id = m.subscriber_id AND s.email = ANY(\(late))
                    """)
            }
            try await due(3600)
            let transport = try SMTPMailTransport(url: "smtp://127.0.0.1:\(server.port)?max_connections=2", logger: Self.logger)
            let worker = try setup.worker(transport: transport)
            let running = Task { try await worker.run() }
            try await Self.waitUntil("20 are sent") { try await Self.statuses(pool)["sent", default: 0] >= 20 }
            for email in late {
                let reply = try await setup.api.send(.put, "/api/subscribers/\(email)/topics", json: #"{"news": "unsubscribed"}"#)
                #expect(reply.status == .ok, "\(reply.text)")
            }
            #expect(try await Self.statuses(pool)["sent", default: 0] < 90, "the campaign is still sending")
            try await due(0)
            try await Self.waitUntil("the campaign is finished") { try await Self.finished(pool) }
            running.cancel()
            _ = try? await running.value
            await transport.close()

            let receipts = try Self.receipts(server)
            #expect(receipts.count == 90)
            #expect(late.allSatisfy { receipts[$0] == nil }, "nobody who unsubscribed got the campaign")
            #expect(try await Self.statuses(pool) == ["sent": 90, "skipped": 10])
        }
    }

    static func tail(_ path: String) -> String {
        String((try? String(contentsOfFile: path, encoding: .utf8))?.suffix(2000) ?? "")
    }
}

/// The `facteur` executable built beside the test bundle (`swift build --build-tests` builds it).
enum FacteurBinary {
    static func path() throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("facteur").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSetupError(description: "no facteur executable beside \(directory.path): run `swift build --build-tests` first")
    }
}

@Suite(.enabled(if: ExternalTools.available { ExternalTools.hasAiosmtpd }, "needs aiosmtpd (pip install aiosmtpd)"))
struct WorkerControlTests {
    @Test func a_pause_stops_sending_within_a_second_and_resume_finishes_the_campaign() async throws {
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        // 40 messages a second: 200 messages take five seconds.
        try await SendWorkerTests.withCampaign(people: 200, extra: #""rate_limit": 40"#) { setup in
            let pool = setup.api.database.pool
            let transport = try SMTPMailTransport(url: "smtp://127.0.0.1:\(server.port)?max_connections=2", logger: WorkerFaultTests.logger)
            var settings = SendWorkerSettings(id: "control")
            settings.retryBase = 0.05
            let worker = SendWorker(
                database: setup.api.database, transport: transport, links: testLinks, assembler: MessageAssembler(signers: []),
                layouts: .none, settings: settings, logger: WorkerFaultTests.logger,
                listener: PostgresListener(configuration: pool.configuration, channels: [Campaigns.channel]))
            let running = Task { try await worker.run() }
            try await WorkerFaultTests.waitUntil("40 are sent") { try await WorkerFaultTests.statuses(pool)["sent", default: 0] >= 40 }
            #expect(try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/pause").status == .ok)
            // What the SMTP server received, not the statuses: those are written a batch at a time,
            // after the messages already on the wire at the pause come back.
            try await Task.sleep(for: .seconds(1))
            let afterOneSecond = try WorkerFaultTests.receipts(server).count
            try await Task.sleep(for: .seconds(1.5))
            let later = try WorkerFaultTests.receipts(server).count
            #expect(afterOneSecond == later, "nothing reaches the server more than a second after the pause")
            #expect(later < 200)
            try await WorkerFaultTests.waitUntil("claimed messages are given back") {
                try await WorkerFaultTests.statuses(pool)["sending", default: 0] == 0
            }
            #expect(try await WorkerFaultTests.statuses(pool)["sent", default: 0] == later, "every message received is recorded as sent")

            #expect(try await setup.api.send(.post, "/api/campaigns/\(setup.campaign)/resume").status == .ok)
            try await WorkerFaultTests.waitUntil("the campaign is finished") { try await WorkerFaultTests.finished(pool) }
            running.cancel()
            _ = try? await running.value
            await transport.close()
            #expect(try await WorkerFaultTests.statuses(pool) == ["sent": 200])
            let receipts = try WorkerFaultTests.receipts(server)
            #expect(receipts.count == 200 && receipts.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func sigterm_finishes_what_is_in_flight_gives_back_the_rest_and_metrics_count_it() async throws {
        let binary = try FacteurBinary.path()
        let server = try await ServerProcess.aiosmtpd()
        defer { server.stop() }
        try await SendWorkerTests.withCampaign(people: 300, extra: #""rate_limit": 50"#) { setup in
            let pool = setup.api.database.pool
            let port = try ServerProcess.freePort()
            let log = server.directory.appendingPathComponent("worker.log").path
            let worker = try ChildProcess(
                binary, ["worker"],
                environment: WorkerFaultTests.workerEnvironment(pool, smtpPort: server.port, ["FACTEUR_WORKER_PORT": "\(port)"]), log: log)
            defer { worker.terminate() }
            try await WorkerFaultTests.waitUntil("50 are sent") {
                guard worker.isRunning else { throw TestSetupError(description: "the worker exited: \(WorkerFaultTests.tail(log))") }
                return try await WorkerFaultTests.statuses(pool)["sent", default: 0] >= 50
            }
            let metrics = String(
                decoding: try await ExternalCommand.run("/usr/bin/env", ["curl", "-sf", "http://127.0.0.1:\(port)/metrics"]), as: UTF8.self)
            #expect(metrics.contains(#"facteur_messages_total{outcome="sent"}"#), "\(metrics.prefix(500))")
            #expect(metrics.contains("facteur_smtp_send_seconds"))
            #expect(metrics.contains("facteur_queue_depth"))

            kill(worker.pid, SIGTERM)
            try await WorkerFaultTests.waitUntil("the worker has exited", timeout: .seconds(10)) { !worker.isRunning }
            #expect(await worker.exited() == 0, "a clean exit: \(WorkerFaultTests.tail(log))")
            let counts = try await WorkerFaultTests.statuses(pool)
            #expect(counts["sending", default: 0] == 0, "nothing is left claimed")
            #expect(counts["sent", default: 0] + counts["queued", default: 0] == 300)
            let receipts = try WorkerFaultTests.receipts(server)
            #expect(receipts.count == counts["sent"], "what the database calls sent is what the server received")
            #expect(receipts.values.allSatisfy { $0 == 1 })
        }
    }
}

@Suite("Send worker during an SMTP outage")
struct SMTPOutageTests {
    @Test func an_unreachable_server_delays_messages_without_using_up_their_attempts() async throws {
        // A port where nothing listens: every connection is refused.
        let port = try ServerProcess.freePort()
        try await SendWorkerTests.withCampaign(people: 5) { setup in
            let transport = try SMTPMailTransport(url: "smtp://127.0.0.1:\(port)?timeout=2", logger: WorkerFaultTests.logger)
            let worker = try setup.worker(transport: transport) {
                $0.maxAttempts = 1
                $0.retryBase = 60
            }
            #expect(try await worker.sendDue() == 5)
            await transport.close()
            let rows = try await setup.api.database.pool.query(
                "SELECT status, attempts, smtp_reply, next_attempt_at > now() AS later FROM messages")
            for row in rows {
                #expect(try row.decode(String.self, "status") == "queued", "an outage fails nothing, even with one attempt allowed")
                #expect(try row.decode(Int.self, "attempts") == 0)
                #expect(try row.decode(Bool.self, "later"))
                #expect(try row.decode(String?.self, "smtp_reply")?.isEmpty == false)
            }
        }
    }
}
