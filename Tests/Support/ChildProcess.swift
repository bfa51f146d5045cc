import Foundation

public enum ExternalTools {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" && $0 != "false" } ?? false }

    /// Tests run when the tool exists; under CI they always run, so a missing tool fails loudly instead of skipping.
    public static func available(_ check: () -> Bool) -> Bool { isCI || check() }

    public static let hasAiosmtpd: Bool = run("python3", ["-c", "import aiosmtpd"]) == 0
    public static let hasOpenSSL: Bool = run("openssl", ["version"]) == 0
    /// Headless Chromium, its WebDriver and Selenium (Debian chromium, chromium-driver; pip selenium).
    public static let hasBrowser: Bool =
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && run("python3", ["-c", "import selenium"]) == 0
    public static let smtpSinkPath: String? = ["/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink", "/usr/libexec/postfix/smtp-sink"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        guard let child = try? ChildProcess(executable, arguments) else { return -1 }
        return child.wait()
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A child process started with posix_spawn. Foundation's `Process` is avoided because its children
/// inherit the test runner's blocked signal mask (so SIGTERM is ignored) and `waitUntilExit` spins.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private var exitStatus: Int32?

    /// - Parameters:
    ///   - environment: variables set over this process's environment.
    ///   - log: a file receiving the child's stdout and stderr (else /dev/null).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], log: String? = nil) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else { throw TestSetupError(description: "cannot start \(executable): error \(status)") }
        self.pid = pid
    }

    public var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = Self.exitCode(status)
            return false
        }
        return true
    }

    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let code = Self.exitCode(status)
        exitStatus = code
        return code
    }

    /// ``wait()`` on a thread of its own, for async tests: a blocked cooperative thread (two on a
    /// two-core machine) stalls every other test.
    public func exited() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.wait()) }
        }
    }

    /// The exit code, or -1 when the process was killed by a signal.
    private static func exitCode(_ status: Int32) -> Int32 { (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1 }

    /// `kill -9`: no chance to clean up, as in a crash.
    public func crash() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        wait()
    }

    /// SIGTERM, then SIGKILL if the process is still there after two seconds.
    public func terminate() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        for _ in 0..<200 where isRunning { usleep(10_000) }
        if isRunning {
            kill(pid, SIGKILL)
            wait()
        }
    }
}
