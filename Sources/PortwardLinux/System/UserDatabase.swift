import Glibc
import PortwardCore

/// The user database (passwd(5) through NSS) via `getpwnam_r(3)`.
public enum UserDatabase {
    /// The uid of user `name`, or nil when there is no such user (or the lookup fails).
    public static func uid(named name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        let suggested = sysconf(Int32(_SC_GETPW_R_SIZE_MAX))
        var buffer = [CChar](repeating: 0, count: suggested > 0 ? suggested : 16 * 1024)
        while true {
            let status = buffer.withUnsafeMutableBufferPointer { buf in
                getpwnam_r(name, &entry, buf.baseAddress!, buf.count, &result)
            }
            if status == ERANGE, buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 2)
                continue
            }
            guard status == 0, let found = result else { return nil }
            return found.pointee.pw_uid
        }
    }

    /// The uid a `user:` owner stands for: the number itself, or the named user's uid
    /// (nil when unknown).
    public static func uid(for user: Owner.UserReference) -> UInt32? {
        switch user {
        case .uid(let uid): uid
        case .name(let name): uid(named: name)
        }
    }
}

extension UserDatabase {
    /// The uid of every `user:NAME` owner of `configuration` that NSS knows.
    public static func uids(of configuration: Configuration) -> [String: UInt32] {
        var uids: [String: UInt32] = [:]
        for entry in configuration.entries {
            if case .user(.name(let name)) = entry.owner, let uid = uid(named: name) {
                uids[name] = uid
            }
        }
        return uids
    }
}
