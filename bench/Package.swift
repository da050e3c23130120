// swift-tools-version:6.1
// The micro benchmarks (ordo-one/benchmark). A separate package so the main build and CI do
// not build the benchmark framework. Run through bench/run.sh, or by hand (as root; the
// socket benchmarks open up to 100,000 sockets and let the watch rewrite the reserved ports,
// so they only run when PORTWARD_BENCH_HOST_NETNS names another netns than their own):
//   cd bench && PORTWARD_BENCH_HOST_NETNS=$(readlink /proc/self/ns/net) unshare -n \
//       sh -c 'ip link set lo up && swift package --scratch-path ../.build-bench benchmark'
import PackageDescription

// A path dependency's package identity is its directory's name ("main", "portward", ...).
let root = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "portward"

let package = Package(
    name: "portward-bench",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .executableTarget(
            name: "PortwardBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PortwardAgent", package: root),
                .product(name: "PortwardCore", package: root),
                .product(name: "PortwardLinux", package: root),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PortwardBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
