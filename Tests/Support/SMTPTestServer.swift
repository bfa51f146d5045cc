import Foundation

/// A server started as a child process; ``stop()`` must be called (use `defer`), it kills by PID.
public final class ServerProcess: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int
    public let directory: URL

    private init(process: ChildProcess, port: Int, directory: URL) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    public static func makeTemporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The aiosmtpd-based server in `Servers/`, found next to this source file.
    public static func aiosmtpd(_ arguments: [String] = [], directory: URL? = nil) async throws -> ServerProcess {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Servers/smtp_test_server.py")
        let directory = try directory ?? makeTemporaryDirectory()
        let portFile = directory.appendingPathComponent("port")
        let process = try ChildProcess("python3", [script.path, "--port-file", portFile.path, "--mail-dir", directory.path] + arguments)
        for _ in 0..<200 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return ServerProcess(process: process, port: port, directory: directory)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        try? FileManager.default.removeItem(at: directory)
        throw TestSetupError(description: "aiosmtpd test server did not start (is aiosmtpd installed? pip install aiosmtpd)")
    }

    /// Postfix's smtp-sink on a free port; `options` are smtp-sink flags such as `["-r", "RCPT"]`.
    public static func smtpSink(_ options: [String] = []) async throws -> ServerProcess {
        guard let sink = ExternalTools.smtpSinkPath else {
            throw TestSetupError(description: "smtp-sink not found (apt-get install postfix)")
        }
        let directory = try makeTemporaryDirectory()
        for _ in 0..<5 {
            let port = try freePort()
            // As root smtp-sink refuses to run without dropping privileges.
            let user = getuid() == 0 ? ["-u", "nobody"] : []
            let process = try ChildProcess(sink, user + options + ["127.0.0.1:\(port)", "64"])
            for _ in 0..<100 where process.isRunning {
                if canConnect(port: port) { return ServerProcess(process: process, port: port, directory: directory) }
                try await Task.sleep(for: .milliseconds(30))
            }
            process.terminate()
        }
        throw TestSetupError(description: "smtp-sink did not start")
    }

    public func stop() {
        process.terminate()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Messages stored by the aiosmtpd server, in arrival order.
    public func storedMessages() throws -> [(bytes: [UInt8], envelope: [String: Any])] {
        var result: [(bytes: [UInt8], envelope: [String: Any])] = []
        var index = 1
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(index).eml").path) {
            let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent("\(index).eml")))
            let json = try Data(contentsOf: directory.appendingPathComponent("\(index).json"))
            result.append((bytes, try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]))
            index += 1
        }
        return result
    }

    /// The addresses refused with 550 5.1.1, once per refusal.
    public func refusedAddresses() -> [String] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("refused.txt"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    public var connectionCount: Int {
        (try? String(contentsOf: directory.appendingPathComponent("connections.txt"), encoding: .utf8)).flatMap { Int($0) } ?? 0
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestSetupError(description: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI.
public struct TestCertificate {
    public let directory: URL
    public var certificatePath: String { directory.appendingPathComponent("cert.pem").path }
    public var keyPath: String { directory.appendingPathComponent("key.pem").path }

    public static func make() throws -> TestCertificate {
        let directory = try ServerProcess.makeTemporaryDirectory()
        let status = ExternalTools.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", directory.appendingPathComponent("key.pem").path,
                "-out", directory.appendingPathComponent("cert.pem").path,
            ])
        guard status == 0 else { throw TestSetupError(description: "openssl could not create a test certificate") }
        return TestCertificate(directory: directory)
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
