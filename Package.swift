// swift-tools-version: 6.1
import PackageDescription

// C shims only compile what Glibc does not export (eventfd, affinity, the global-executor
// hook, liburing's inline helpers, libunwind). Everything else is Swift.
let package = Package(
    name: "swift-miniss",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Miniss", targets: ["Miniss"]),
        .library(name: "MinissHTTP", targets: ["MinissHTTP"]),
        .library(name: "MinissModelCheck", targets: ["MinissModelCheck"]),
        .library(name: "MinissSimulator", targets: ["MinissSimulator"]),
        .executable(name: "miniss-demo", targets: ["miniss-demo"]),
        .executable(name: "miniss-bench", targets: ["miniss-bench"]),
        .executable(name: "http-echo", targets: ["http-echo"]),
        .executable(name: "miniss-check", targets: ["miniss-check"]),
        .executable(name: "miniss-sim", targets: ["miniss-sim"]),
    ],
    dependencies: [
        // Command-line parsing for the executables (http-echo, and the simulator's CLI).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .target(
            name: "CMinissLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "CMinissUring",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "CMinissUnwind",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("unwind")]
        ),
        .target(
            name: "Miniss",
            dependencies: ["CMinissLinux", "CMinissUring", "CMinissUnwind"],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                // Nonisolated async functions run on the caller's executor instead of hopping
                // to the generic one: no executor switch (and preference check) per call.
                .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            ]
        ),
        .executableTarget(
            name: "miniss-demo",
            dependencies: ["Miniss"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "miniss-bench",
            dependencies: ["Miniss", "MinissSimulator", "CMinissLinux", "CMinissUring"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "MinissTests",
            dependencies: ["Miniss"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The parser and writer use nothing from Miniss; the echo server does.
        .target(name: "MinissHTTP", dependencies: ["Miniss"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(
            name: "http-echo",
            dependencies: ["Miniss", "MinissHTTP", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Model checkers for the SPSC ring and the timer wheel (they drive the real code through
        // its seams; planted bugs exist only in debug builds).
        .target(name: "MinissModelCheck", dependencies: ["Miniss"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(
            name: "miniss-check",
            dependencies: [
                "Miniss", "MinissHTTP", "MinissModelCheck", "MinissSimulator", "CMinissLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The deterministic simulator: N virtual shards on one thread, seeded schedules.
        .target(
            name: "MinissSimulator", dependencies: ["Miniss", "MinissHTTP", "CMinissLinux"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        // The simulator's command line: sweep scenarios over seeds, replay one with its trace.
        .executableTarget(
            name: "miniss-sim",
            dependencies: [
                "Miniss", "MinissSimulator", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/miniss-sim",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "MinissSimulatorTests",
            dependencies: ["MinissSimulator", "Miniss"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "MinissModelCheckTests",
            dependencies: ["MinissModelCheck", "Miniss"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "MinissHTTPTests",
            dependencies: ["MinissHTTP", "Miniss"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
