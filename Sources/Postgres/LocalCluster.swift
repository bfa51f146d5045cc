import Foundation
import Logging

/// A private PostgreSQL cluster run from the system's `initdb` and `pg_ctl`, for `facteur dev` and tests.
///
/// It listens on a unix socket only (no TCP port to collide with), creates itself on first use and
/// is reused afterwards. PostgreSQL refuses to run as root, so as root the server runs as the
/// `postgres` user; if that user cannot reach the requested directory (a checkout under `/root`),
/// the cluster moves to `/var/tmp/facteur-<id>` and `directory` says where it went.
public struct LocalCluster: Sendable {
    /// Where the cluster lives: `data/` (PGDATA), `postgres.log`, and usually the socket.
    public let directory: String
    /// The directory holding the `.s.PGSQL.5432` socket.
    public let socketDirectory: String
    /// Extra `postgres -c` settings (tests turn fsync off).
    public let settings: [String: String]
    private let binaries: String
    private let runAsPostgres: Bool

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Prepares (but does not start) a cluster in `requestedDirectory`.
    public init(directory requestedDirectory: String, settings: [String: String] = [:]) throws {
        let absolute = URL(fileURLWithPath: requestedDirectory).standardizedFileURL.path
        binaries = try Self.findBinaries()
        runAsPostgres = geteuid() == 0
        self.settings = settings
        var directory = absolute
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if runAsPostgres, !Self.postgresCanReach(directory) {
            directory = "/var/tmp/facteur-" + Self.shortHash(absolute)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        self.directory = directory
        // A unix socket path must fit in 108 bytes.
        socketDirectory = directory.utf8.count > 80 ? "/tmp/facteur-sock-" + Self.shortHash(directory) : directory
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if runAsPostgres {
            try Self.run(["/bin/chown", "postgres:postgres", directory, socketDirectory])
        }
    }

    /// The superuser connection to database `database` (default `postgres`).
    public func configuration(database: String = "postgres") -> PostgresConfiguration {
        .socket(directory: socketDirectory, user: "postgres", database: database)
    }

    private var dataDirectory: String { directory + "/data" }

    /// Creates the cluster if it does not exist and starts it if it is not running. Safe to call from
    /// several processes at once (a file lock serializes them).
    /// - Returns: true if this call created the cluster.
    @discardableResult
    public func start(logger: Logger? = nil) throws -> Bool {
        try withFileLock {
            var created = false
            if !FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") {
                logger?.info("creating PostgreSQL cluster", metadata: ["directory": "\(directory)"])
                try asPostgres(["initdb", "-D", dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
                created = true
            }
            if (try? asPostgres(["pg_ctl", "-D", dataDirectory, "status"])) == nil {
                var options = "-c listen_addresses='' -c unix_socket_directories='\(socketDirectory)'"
                for (key, value) in settings.sorted(by: { $0.key < $1.key }) { options += " -c \(key)=\(value)" }
                try asPostgres(["pg_ctl", "-D", dataDirectory, "-l", directory + "/postgres.log", "-w", "-t", "60", "-o", options, "start"])
                logger?.info("started PostgreSQL", metadata: ["socket": "\(socketDirectory)"])
            }
            return created
        }
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is kept).
    public func stop() throws {
        try asPostgres(["pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// Whether the server answers.
    public var isRunning: Bool { (try? asPostgres(["pg_ctl", "-D", dataDirectory, "status"])) != nil }

    private func asPostgres(_ arguments: [String]) throws {
        var command = arguments
        command[0] = binaries + "/" + command[0]
        if runAsPostgres { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
        try Self.run(command)
    }

    private func withFileLock<T>(_ body: () throws -> T) throws -> T {
        let path = directory + ".lock"
        let descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw Failure(description: "cannot open lock file \(path)") }
        defer { close(descriptor) }
        flock(descriptor, LOCK_EX)
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    /// Runs a command and returns its output. Uses `posix_spawn` + `waitpid` with output to a
    /// temporary file: `pg_ctl start` leaves the server holding inherited descriptors (a pipe would
    /// never reach EOF), and Foundation's `Process` has been seen to miss the child's exit here.
    @discardableResult
    static func run(_ command: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "facteur-cmd-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, command[0], &actions, nil, arguments, environ)
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(command[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            throw Failure(description: "\(command.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    /// `initdb`'s directory: beside it on PATH, else the newest under `/usr/lib/postgresql`.
    static func findBinaries() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for entry in path.split(separator: ":") {
            let candidate = String(entry)
            if FileManager.default.isExecutableFile(atPath: candidate + "/initdb"),
                FileManager.default.isExecutableFile(atPath: candidate + "/pg_ctl")
            {
                return candidate
            }
        }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let candidate = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: candidate + "/initdb") { return candidate }
        }
        throw Failure(
            description:
                "PostgreSQL's initdb was not found on PATH or under /usr/lib/postgresql; install it (Debian: apt-get install postgresql)")
    }

    private static func postgresCanReach(_ directory: String) -> Bool {
        (try? run(["/usr/sbin/runuser", "-u", "postgres", "--", "test", "-x", directory])) != nil
    }

    static func shortHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 36)
    }
}
