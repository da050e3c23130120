import Glibc
import PortwardCore

/// The services database (services(5), normally /etc/services) through glibc's NSS
/// `getservbyname_r(3)`.
///
/// Not re-rooted by `--root`: the lookup always uses this host's NSS configuration and
/// /etc/services, whatever alternative root the configuration files are read from.
public enum NetworkServices {
    /// The port (host byte order) of service `name` for `proto`, or nil when the database
    /// has no such entry (or the lookup fails). E.g. `rsync`/tcp is 873 on Debian (netbase).
    public static func port(named name: String, protocol proto: TransportProtocol) -> UInt16? {
        var entry = servent()
        var result: UnsafeMutablePointer<servent>? = nil
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            let status = buffer.withUnsafeMutableBufferPointer { buf in
                getservbyname_r(name, proto.rawValue, &entry, buf.baseAddress!, buf.count, &result)
            }
            if status == ERANGE, buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 2)
                continue
            }
            guard status == 0, let found = result else { return nil }
            // s_port holds the port in network byte order in its low 16 bits.
            return UInt16(bigEndian: UInt16(truncatingIfNeeded: found.pointee.s_port))
        }
    }
}
