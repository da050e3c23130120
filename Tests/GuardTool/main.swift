// portward-guard-tool: a thin command line over PortwardLinux's BPFGuard, for the guard's
// integration tests (Tests/IntegrationTests/BPFGuardTests.swift), which run it inside a
// throwaway cgroup and namespaces (Tests/IntegrationTests/Support/bpf-box.sh).
//
//   probe                                   "available", or the reason (exit 3)
//   install [--cgroup DIR] [--no-events]    load + attach or take over (default: the cgroup2 mount)
//   set PORTS PROTO [--owner-cgroup DIR] [--uid N] [--report-only] [--netns-cookie N]
//   remove PORTS PROTO [--netns-cookie N]
//   sync [PORTS/PROTO=OWNER...]             replaceEntries: OWNER is uid:N, cgroup:DIR, anyone
//   declare [PORTS/PROTO...]                replaceDeclared (this netns): post_bind reports binds there
//   list | counters | cookie | cgroup-id DIR
//   events [--wait-ms N]                    drain the ring buffer (waits up to N ms for the first)
//   uninstall [--cgroup DIR]                detach + unpin
// Every command takes --pin-dir DIR (default /sys/fs/bpf/portward).
// Exit status: 0 ok, 1 error, 2 usage, 3 the guard is unavailable here.
import Glibc
import PortwardCore
import PortwardLinux

func out(_ text: String) {
    print(text)
    fflush(nil)
}

func fail(_ text: String, status: Int32 = 1) -> Never {
    let bytes = Array("portward-guard-tool: \(text)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var options: [String: String] = [:]
var flags: Set<String> = []
var positional: [String] = []
var index = 0
while index < arguments.count {
    let argument = arguments[index]
    if argument == "--report-only" || argument == "--no-events" || argument == "--with-bound" {
        flags.insert(argument)
    } else if argument.hasPrefix("--") {
        guard index + 1 < arguments.count else { fail("\(argument) needs a value", status: 2) }
        options[argument] = arguments[index + 1]
        index += 1
    } else {
        positional.append(argument)
    }
    index += 1
}
guard let command = positional.first else { fail("usage: portward-guard-tool COMMAND ...", status: 2) }
let pinDirectory = options["--pin-dir"] ?? BPFGuard.defaultPinDirectory

func ports(_ text: String) -> PortRange {
    let parts = text.split(separator: "-").map { UInt16($0) }
    guard parts.count == 1 || parts.count == 2, let lower = parts.first ?? nil, let upper = parts.last ?? nil, lower <= upper else {
        fail("bad port range \(text)", status: 2)
    }
    return PortRange(lower, upper)
}

func transport(_ text: String) -> TransportProtocol {
    guard let value = TransportProtocol(rawValue: text) else { fail("bad protocol \(text)", status: 2) }
    return value
}

@MainActor func cookie() throws(BPFGuardError) -> UInt64 {
    if let text = options["--netns-cookie"] {
        guard let value = UInt64(text) else { fail("bad cookie \(text)", status: 2) }
        return value
    }
    return try NetnsCookie.current()
}

@MainActor func defaultCgroup() -> String {
    if let dir = options["--cgroup"] { return dir }
    guard let mount = CgroupV2.mountPoint() else { fail("no cgroup2 mount", status: 3) }
    return mount
}

do throws(BPFGuardError) {
    switch command {
    case "probe":
        if let error = BPFGuard.probe(pinDirectory: pinDirectory) { fail(error.description, status: 3) }
        out("available")
    case "install":
        let guardian = try BPFGuard.install(cgroup: defaultCgroup(), pinDirectory: pinDirectory, events: !flags.contains("--no-events"))
        let installation = guardian.installation!
        out("installed cgroup=\(installation.cgroup) events=\(installation.events ? "yes" : "no (\(installation.eventsUnavailable ?? "?"))") took-over=\(installation.tookOver ? "yes" : "no") replaced=\(installation.replaced)")
    case "declare":
        let netns = try cookie()
        var declared: [DeclaredPortsKey: PortSet] = [:]
        for spec in positional.dropFirst() {
            let parts = spec.split(separator: "/").map(String.init)
            guard parts.count == 2 else { fail("bad entry \(spec): PORTS/PROTO", status: 2) }
            declared[DeclaredPortsKey(netnsCookie: netns, transport: transport(parts[1])), default: PortSet()].insert(ports(parts[0]))
        }
        try BPFGuard.openPinned(pinDirectory: pinDirectory).replaceDeclared(declared)
    case "set":
        guard positional.count == 3 else { fail("usage: set PORTS PROTO [--owner-cgroup DIR] [--uid N] [--report-only]", status: 2) }
        var owner = GuardOwner(reportOnly: flags.contains("--report-only"))
        if let dir = options["--owner-cgroup"] { owner.cgroupID = try CgroupV2.id(ofDirectory: dir) }
        if let uid = options["--uid"] {
            guard let value = UInt32(uid) else { fail("bad uid \(uid)", status: 2) }
            owner.uid = value
        }
        try BPFGuard.openPinned(pinDirectory: pinDirectory)
            .setOwner(owner, netnsCookie: try cookie(), transport: transport(positional[2]), ports: ports(positional[1]))
    case "remove":
        guard positional.count == 3 else { fail("usage: remove PORTS PROTO", status: 2) }
        try BPFGuard.openPinned(pinDirectory: pinDirectory)
            .removeOwner(netnsCookie: try cookie(), transport: transport(positional[2]), ports: ports(positional[1]))
    case "sync":
        let netns = try cookie()
        var desired: [GuardKey: GuardOwner] = [:]
        for spec in positional.dropFirst() {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            let where_ = parts[0].split(separator: "/").map(String.init)
            guard parts.count == 2, where_.count == 2 else { fail("bad entry \(spec): PORTS/PROTO=OWNER", status: 2) }
            var owner = GuardOwner()
            if parts[1].hasPrefix("uid:") {
                guard let uid = UInt32(parts[1].dropFirst(4)) else { fail("bad uid in \(spec)", status: 2) }
                owner.uid = uid
            } else if parts[1].hasPrefix("cgroup:") {
                owner.cgroupID = try CgroupV2.id(ofDirectory: String(parts[1].dropFirst(7)))
            } else if parts[1] != "anyone" {
                fail("bad owner in \(spec)", status: 2)
            }
            let range = ports(where_[0])
            for port in range.lower...range.upper { desired[GuardKey(netnsCookie: netns, transport: transport(where_[1]), port: port)] = owner }
        }
        let result = try BPFGuard.openPinned(pinDirectory: pinDirectory).replaceEntries(with: desired)
        out("written=\(result.written) removed=\(result.removed)")
    case "list":
        let entries = try BPFGuard.openPinned(pinDirectory: pinDirectory).entries()
        for (key, owner) in entries.sorted(by: { ($0.key.port, $0.key.transport) < ($1.key.port, $1.key.transport) }) {
            out("\(key.port)/\(key.transport.rawValue) netns=\(key.netnsCookie) \(owner)")
        }
    case "counters":
        let counters = try BPFGuard.openPinned(pinDirectory: pinDirectory).counters()
        out("denied=\(counters.denied) reported=\(counters.reported) dropped=\(counters.eventsDropped)" + (flags.contains("--with-bound") ? " bound=\(counters.bound)" : ""))
    case "events":
        let reader = try BPFGuard.openPinned(pinDirectory: pinDirectory).eventReader()
        var events = try reader.drain()
        if events.isEmpty, let wait = options["--wait-ms"].flatMap({ Int32($0) }) {
            events = try reader.poll(timeoutMilliseconds: wait)
        }
        for event in events {
            switch event {
            case .denial(let record), .bound(let record):
                let kind = if case .bound = event { "bound" } else { record.allowed ? "reported" : "denied" }
                out("\(kind) port=\(record.key.port) proto=\(record.key.transport.rawValue) family=\(record.family) pid=\(record.pid) uid=\(record.uid) cgroup=\(record.cgroupID) netns=\(record.key.netnsCookie) comm=\(record.command ?? "?")")
            case .sysctlWrite(let write):
                out("sysctl key=\(write.key.name) pid=\(write.pid) uid=\(write.uid) cgroup=\(write.cgroupID) netns-inode=\(write.netnsInode.map(String.init) ?? "?") comm=\(write.command ?? "?")")
            }
        }
    case "uninstall":
        let detached = try BPFGuard.uninstall(cgroup: defaultCgroup(), pinDirectory: pinDirectory)
        out("detached \(detached)")
    case "cookie":
        out(String(try NetnsCookie.current()))
    case "cgroup-id":
        guard positional.count == 2 else { fail("usage: cgroup-id DIR", status: 2) }
        out(String(try CgroupV2.id(ofDirectory: positional[1])))
    default:
        fail("unknown command \(command)", status: 2)
    }
} catch {
    fail(error.description, status: error.unavailability == nil ? 1 : 3)
}
