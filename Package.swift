// swift-tools-version:6.1
// Hourmeter: metering, pricing and billing for machines sold as a service.
// Module layout and rules: see DESIGN (shared) and README.md.
import PackageDescription

let package = Package(
    name: "hourmeter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hourmeter", targets: ["hourmeter"]),
    ],
    dependencies: [
        // Hummingbird's default traits pull in swift-configuration, which we do not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The domain: pure, no I/O, no clock.
        .target(
            name: "HourmeterCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Persistence: store protocols, SQLite and PostgreSQL backends, migrations.
        .target(
            name: "HourmeterStore",
            dependencies: [
                "HourmeterCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The HTTP application.
        .target(
            name: "HourmeterServer",
            dependencies: [
                "HourmeterCore",
                "HourmeterStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.copy("openapi.yaml")]
        ),
        // The command line: serve, keys, ledger, bench.
        .executableTarget(
            name: "hourmeter",
            dependencies: [
                "HourmeterCore",
                "HourmeterStore",
                "HourmeterServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "HourmeterCoreTests", dependencies: ["HourmeterCore", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(
            name: "HourmeterStoreTests",
            dependencies: ["HourmeterCore", "HourmeterStore"]
        ),
        .testTarget(
            name: "HourmeterServerTests",
            dependencies: [
                "HourmeterCore", "HourmeterStore", "HourmeterServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
            ]
        ),
    ]
)
