// libFuzzer harness for ReservedPortsValue.decode (the kernel value decoder, PortwardCore).
// Not a SwiftPM target: Tests/Fuzz/run.sh compiles it with the PortwardCore sources using
// `swiftc -sanitize=fuzzer,address`. Invariants (a violation traps):
// - decode never crashes, whatever the bytes;
// - a decoded set re-encodes to a value that decodes to the same set, in the kernel's
//   canonical form (sorted merged ranges, no leading zeros, trailing newline);
// - LocalPortRangeValue.decode returns an ordered range or nil.

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReservedPortsValue(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let set = try? ReservedPortsValue.decode(text) {
        let encoded = ReservedPortsValue.encode(set)
        check(encoded.hasSuffix("\n"), "no trailing newline")
        check((try? ReservedPortsValue.decode(encoded)) == set, "round trip of \(encoded.prefix(200))")
        check(!encoded.utf8.starts(with: "0".utf8) || set.ranges.first?.lower == 0, "leading zero")
    }
    if let range = LocalPortRangeValue.decode(text) { check(range.lower <= range.upper, "reversed range") }
    return 0
}
