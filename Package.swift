// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "portward",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "portward", targets: ["portward"]),
        // For the benchmark package in bench/ (depends on this package by path).
        .library(name: "PortwardCore", targets: ["PortwardCore"]),
        .library(name: "PortwardLinux", targets: ["PortwardLinux"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // libsystemd: sd_notify, sd_journal_sendv, sd_pid_get_unit.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"]), .yum(["systemd-devel"])]
        ),
        // Linux UAPI headers (netlink, sock_diag, inet_diag) and the glibc calls the Glibc
        // module does not export (signalfd, inotify).
        .systemLibrary(name: "CLinux"),
        // Pure: no I/O. Ports, port sets, configuration model and parser, kernel formats,
        // planner, classifier.
        .target(name: "PortwardCore"),
        // Thin adapters over the kernel and libsystemd.
        .target(
            name: "PortwardLinux",
            dependencies: [
                "PortwardCore", "CSystemd", "CLinux",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "portward",
            dependencies: [
                "PortwardCore", "PortwardLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PortwardCoreTests", dependencies: ["PortwardCore"]),
        .testTarget(name: "PortwardLinuxTests", dependencies: ["PortwardLinux", "PortwardCore"]),
        .testTarget(name: "IntegrationTests", exclude: ["Support"]),
    ],
    swiftLanguageModes: [.v6]
)
