/// Paths under an alternate root directory, as `systemd-sysctl --root` uses them.
public enum RootedPath {
    /// `root` + `path`, without a doubled slash: `join("/tmp/r", "/etc/x")` is
    /// `/tmp/r/etc/x`; `join("/", "/etc/x")` is `/etc/x`.
    public static func join(_ root: String, _ path: String) -> String {
        var base = root
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        if base == "/" || base.isEmpty { return path }
        return base + (path.hasPrefix("/") ? path : "/" + path)
    }
}
