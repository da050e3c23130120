// libFuzzer harness for ConfigParser + Configuration.merge + Planner (PortwardCore).
// Not a SwiftPM target: Tests/Fuzz/run.sh compiles it with the PortwardCore sources using
// `swiftc -sanitize=fuzzer,address`. Input: one or more configuration files separated by a
// line `---`; each is parsed, then all are merged and planned against a value derived from
// the input. Invariants checked (a violation traps, which libFuzzer reports as a crash):
// - every diagnostic has line >= 1 and column >= 1 and is a single line;
// - every entry's ports are in 1-65535 and round-trip through the kernel value format;
// - the plan keeps every port of `current` that portward did not own (foreign).

/// A deterministic stand-in for getservbyname(3).
private func resolve(_ name: String, _ proto: TransportProtocol) -> UInt16? {
    switch name {
    case "rsync": return 873
    case "radius": return proto == .udp ? 1812 : nil
    case "zero": return 0
    default: return name.utf8.count % 3 == 0 ? UInt16(truncatingIfNeeded: name.utf8.count &* 977) : nil
    }
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var files: [[UInt8]] = [[]]
    var lineStart = 0
    for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
        if Array(bytes[lineStart..<i]) == Array("---".utf8) { files.append([]) } else { files[files.count - 1] += bytes[lineStart...i] }
        lineStart = i + 1
    }
    files[files.count - 1] += bytes[lineStart...]

    var results: [ConfigParser.Result] = []
    for (n, file) in files.enumerated() {
        let result = ConfigParser.parse(file, file: "/etc/portward/ports.d/\(n).conf", resolveService: resolve)
        for diagnostic in result.diagnostics {
            if let location = diagnostic.location { check(location.line >= 1 && location.column >= 1, "\(diagnostic)") }
            check(!diagnostic.description.contains("\n"), "multi-line diagnostic")
        }
        for parsed in result.entries {
            check(!parsed.entry.ports.isEmpty, "entry without ports")
            check(!parsed.entry.ports.contains(0), "port 0 declared")
            let text = ReservedPortsValue.encode(parsed.entry.ports)
            check((try? ReservedPortsValue.decode(text)) == parsed.entry.ports, "round trip \(text)")
        }
        results.append(result)
    }
    let (configuration, _) = Configuration.merge(results)
    // Plan against a kernel value made of the input's first bytes as ports.
    var current = PortSet()
    for i in stride(from: 0, to: min(bytes.count, 64) - 1, by: 2) {
        current.insert(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
    }
    let plan = Planner.plan(configuration: configuration, current: current, previous: ReservationState(),
                            localPortRange: PortRange(32768, 60999))
    check(current.isSubset(of: plan.target), "a foreign port was dropped")
    check(configuration.declaredPorts.isSubset(of: plan.target), "a declared port is missing")
    return 0
}
