// The BPF programs of portward, compiled from source at build time.
//
// `guard.bpf.c` (cgroup/bind4, cgroup/bind6: the owner guard, docs/guard.md) is compiled by
// the BPFObjectPlugin build-tool plugin with clang -target bpf; the plugin's generated
// `guard.bpf.swift` defines `BPFObject_guard.bytes`, the ELF object that
// Sources/PortwardLinux/BPF/BPFGuard.swift hands to libbpf's bpf_object__open_mem.
// No compiled object is kept in the repository.

/// The embedded BPF objects.
package enum PortwardBPFObjects {
    /// The owner guard (`guard.bpf.c`): an ELF BPF object with BTF, a few tens of KB.
    package static var ownerGuard: [UInt8] { BPFObject_guard.bytes }
}
