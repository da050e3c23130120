/// Where portward's configuration lives (portward.conf(5)).
///
/// The main file is read first, then the drop-ins of all `dropInDirectories`, resolved by
/// `DropIn.resolve` with systemd's rules (systemd src/basic/conf-files.c).
public enum ConfigSearchPath {
    /// The main configuration file.
    public static let mainFile = "/etc/portward/ports.conf"

    /// Drop-in directories, highest precedence first: for one file name, the first
    /// directory holding it wins.
    public static let dropInDirectories = [
        "/etc/portward/ports.d",
        "/run/portward/ports.d",
        "/usr/local/lib/portward/ports.d",
        "/usr/lib/portward/ports.d",
    ]

    /// Suffix a drop-in's name must have.
    public static let dropInSuffix = ".conf"

    /// `directory/name`.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
