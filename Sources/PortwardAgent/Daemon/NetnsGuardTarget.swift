import PortwardCore

/// Another network namespace the owner guard covers (`NetnsFollower.guardTargets`): the
/// owners map gets keys with its cookie for the entries that select it, and a denial
/// carrying that cookie is reported with its name.
struct NetnsGuardTarget: Hashable {
    /// The namespace's cookie (`SO_NETNS_COOKIE`, `bpf_get_netns_cookie`).
    let cookie: UInt64
    /// Its inode (`net:[INODE]` in the journal and status).
    let identity: NetnsIdentity
    /// Its first `ip netns` name, else the path it was reached by.
    let name: String
    /// The entries that select it (`Configuration.scoped(to:)`).
    let configuration: Configuration
    /// Reached through a folder only root writes (/run/netns, Docker's): such namespaces get
    /// the guard's map slots before those any user can make (/run/user/UID/netns, or held
    /// only by processes).
    var inRootFolder = false
}
