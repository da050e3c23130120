// swift-tools-version:6.0
import PackageDescription
#if canImport(Glibc)
import Glibc
#endif

/// Linker flags for the `portward` binary. With glibc >= 2.36 on the build host (Debian 12,
/// Ubuntu 24.04, Fedora 37 and later), link with the toolchain's lld instead of gold and pack
/// the ~40,000 relative relocations of the PIE binary as DT_RELR: about 0.95 MB less on disk
/// and less dynamic-loader work at every exec. An older glibc's loader would refuse such a
/// binary (it needs the GLIBC_ABI_DT_RELR version), so there the default linker is kept.
let compactRelocations: [String] = {
    #if canImport(Glibc)
    var text = [CChar](repeating: 0, count: 64)   // "glibc 2.36"
    _ = confstr(Int32(_CS_GNU_LIBC_VERSION), &text, text.count)
    let version = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        .split(separator: " ").last?.split(separator: ".").compactMap { Int($0) } ?? []
    if version.count >= 2, (version[0], version[1]) >= (2, 36) {
        return ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]
    }
    #endif
    return []
}()

let package = Package(
    name: "portward",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "portward", targets: ["portward"]),
        // For the benchmark package in bench/ (depends on this package by path).
        .library(name: "PortwardCore", targets: ["PortwardCore"]),
        .library(name: "PortwardLinux", targets: ["PortwardLinux"]),
        .library(name: "PortwardAgent", targets: ["PortwardAgent"]),
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
        // libbpf: loads, pins and attaches the owner guard's BPF programs (Debian libbpf-dev;
        // the binary then needs libbpf1).
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"]), .yum(["libbpf-devel"])]
        ),
        // The BPF programs (C, Sources/PortwardBPF/*.bpf.c), compiled with clang -target bpf
        // by the BPFObjectPlugin at build time and embedded as bytes; no object is committed.
        .target(
            name: "PortwardBPF",
            exclude: ["guard.bpf.c"],
            plugins: ["BPFObjectPlugin"]
        ),
        .plugin(
            name: "BPFObjectPlugin",
            capability: .buildTool(),
            dependencies: ["portward-bpf-embed"]
        ),
        // Build-time helper of BPFObjectPlugin: turns a BPF object into a Swift source.
        .executableTarget(name: "portward-bpf-embed"),
        // Pure: no I/O. Ports, port sets, configuration model and parser, kernel formats,
        // planner, classifier.
        .target(name: "PortwardCore"),
        // Thin adapters over the kernel and libsystemd.
        .target(
            name: "PortwardLinux",
            dependencies: [
                "PortwardCore", "CSystemd", "CLinux", "CLibbpf", "PortwardBPF",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The agent: the daemon and its event loop, the plan+commit transaction, the
        // reporters, and the renderers of check, status and cat-config. One function per
        // command, called by the thin executable below.
        .target(
            name: "PortwardAgent",
            dependencies: [
                "PortwardCore", "PortwardLinux", "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The CLI: @main and the swift-argument-parser commands only.
        .executableTarget(
            name: "portward",
            dependencies: [
                "PortwardAgent", "PortwardCore", "PortwardLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [.unsafeFlags(compactRelocations, .when(platforms: [.linux]))]
        ),
        .testTarget(name: "PortwardCoreTests", dependencies: ["PortwardCore"]),
        .testTarget(name: "PortwardLinuxTests", dependencies: ["PortwardLinux", "PortwardCore", "PortwardBPF"],
                    exclude: ["Support"]),
        .testTarget(name: "PortwardAgentTests", dependencies: ["PortwardAgent", "PortwardLinux", "PortwardCore"],
                    exclude: ["Golden"]),
        // Runs the built binary and real tools; renders and writes metrics files with the
        // library to check them with promtool and node_exporter.
        .testTarget(name: "IntegrationTests", dependencies: ["PortwardCore", "PortwardLinux"], exclude: ["Support", "Golden"]),
        // A command-line front end to the BPF guard's loader (PortwardLinux/BPF), for the
        // guard's integration tests, which run it inside a throwaway cgroup and namespaces.
        .executableTarget(
            name: "portward-guard-tool",
            dependencies: ["PortwardLinux", "PortwardCore"],
            path: "Tests/GuardTool"
        ),
    ],
    swiftLanguageModes: [.v6]
)
