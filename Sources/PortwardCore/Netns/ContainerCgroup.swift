/// The container or pod a process belongs to, read from its cgroup v2 path (the `0::PATH`
/// line of `/proc/PID/cgroup`). Recognises the conventions of the common runtimes with
/// the systemd and cgroupfs drivers:
/// - docker: `.../docker-ID.scope`, `/docker/ID`
/// - podman: `.../libpod-ID.scope` (`libpod-conmon-ID.scope` is podman's monitor, not the
///   container), `/libpod_parent/libpod-ID`
/// - containerd: `.../cri-containerd-ID.scope`; CRI-O: `.../crio-ID.scope`
/// - Kubernetes pods: a `kubepods...-pod<UID>.slice` component (systemd driver, `_` in the
///   UID stands for `-`) or `/kubepods/<qos>/pod<UID>/ID` (cgroupfs driver)
/// - systemd-nspawn: `/machine.slice/systemd-nspawn@NAME.service` or
///   `/machine.slice/machine-NAME.scope` (NAME unescaped from `\xNN`)
/// IDs are 64 lowercase hex digits; anything else yields nil.
public enum ContainerCgroup {
    /// The owner named by `path`, or nil.
    public static func owner(cgroupPath path: String) -> NetnsOwner? {
        let components = path.split(separator: "/").map(String.init)
        var pod: String?
        var container: (runtime: String, id: String)?
        var machine: String?
        for (index, component) in components.enumerated() {
            if let uid = podUID(component) { pod = uid }
            if let found = containerID(component, parent: index > 0 ? components[index - 1] : nil) {
                container = found
            }
            if index > 0, components[index - 1] == "machine.slice" {
                if let name = strip(component, prefix: "systemd-nspawn@", suffix: ".service")
                    ?? strip(component, prefix: "machine-", suffix: ".scope") {
                    machine = unescape(name)
                }
            }
        }
        if let container { return NetnsOwner(runtime: container.runtime, container: container.id, pod: pod) }
        if let pod { return NetnsOwner(runtime: "kubernetes", container: nil, pod: pod) }
        if let machine { return NetnsOwner(runtime: "nspawn", container: machine) }
        return nil
    }

    /// The `0::PATH` line of a `/proc/PID/cgroup` text (cgroup v2), or nil.
    public static func unifiedPath(procCgroup text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    private static func containerID(_ component: String, parent: String?) -> (runtime: String, id: String)? {
        for (prefix, runtime) in [("cri-containerd-", "containerd"), ("crio-", "cri-o"),
                                  ("docker-", "docker"), ("libpod-", "podman")] {
            if let id = strip(component, prefix: prefix, suffix: ".scope"), isID(id) { return (runtime, id) }
        }
        if isID(component), let parent {
            if parent == "docker" { return ("docker", component) }
            if parent.hasPrefix("pod") { return ("kubernetes", component) }
        }
        if parent == "libpod_parent", let id = strip(component, prefix: "libpod-", suffix: ""), isID(id) {
            return ("podman", id)
        }
        return nil
    }

    private static func podUID(_ component: String) -> String? {
        // systemd driver: kubepods-burstable-pod1234_5678.slice
        if component.hasPrefix("kubepods"), component.hasSuffix(".slice"),
           let last = component.dropLast(".slice".count).split(separator: "-").last,
           last.hasPrefix("pod"), last.count > 3 {
            return last.dropFirst(3).replacingUnderscores()
        }
        // cgroupfs driver: /kubepods/burstable/pod1234-5678
        if component.hasPrefix("pod"), component.count > 3,
           component.dropFirst(3).allSatisfy({ $0.isHexDigit || $0 == "-" }) {
            return String(component.dropFirst(3))
        }
        return nil
    }

    private static func strip(_ text: String, prefix: String, suffix: String) -> String? {
        guard text.hasPrefix(prefix), text.hasSuffix(suffix), text.count > prefix.count + suffix.count else { return nil }
        return String(text.dropFirst(prefix.count).dropLast(suffix.count))
    }

    private static func isID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// systemd's unit-name escaping: `\xNN` is the byte NN (`-` in a machine name is `\x2d`).
    private static func unescape(_ text: String) -> String {
        var bytes: [UInt8] = []
        let u = Array(text.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count, u[i + 1] == UInt8(ascii: "x"),
               let byte = UInt8(String(decoding: u[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                bytes.append(byte)
                i += 4
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension Substring {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
