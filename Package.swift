// swift-tools-version: 6.1
import PackageDescription

// Dependencies point down: facteur → FacteurHTTP → Facteur → Postgres, Mail, SMTP → CLibPQ, SwiftNIO.
let package = Package(
    name: "Facteur",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "facteur", targets: ["facteur"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "Mail", targets: ["Mail"]),
        .library(name: "SMTP", targets: ["SMTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "Mail",
            dependencies: ["CLibCrypto", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "SMTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Facteur",
            dependencies: [
                "Postgres", "Mail", "SMTP",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .target(
            name: "FacteurHTTP",
            dependencies: [
                "Facteur", "Mail",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "facteur",
            dependencies: [
                "FacteurHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["Postgres"], path: "Tests/Support", exclude: ["Servers"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "MailTests", dependencies: ["Mail", "TestSupport"]),
        .testTarget(
            name: "SMTPTests",
            dependencies: [
                "SMTP", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(name: "FacteurTestSupport", dependencies: ["Facteur", "TestSupport"], path: "Tests/FacteurSupport"),
        .testTarget(
            name: "FacteurTests",
            dependencies: ["Facteur", "FacteurTestSupport", "SMTP", .product(name: "Logging", package: "swift-log")],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "FacteurHTTPTests",
            dependencies: [
                "FacteurHTTP", "FacteurTestSupport", "Mail",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
