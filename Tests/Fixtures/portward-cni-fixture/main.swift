// Test fixture: portward's CNI plugin entry point (`CNIMain.run`) as a standalone
// executable, so the tests can call it the way a runtime does, in a chain with Debian's
// reference plugins. The ports come from PORTWARD_TEST_POD_PORTS (kernel key syntax, e.g.
// `8080-8081,9100`) until the real binary takes them from the configuration's pod scope.
import Glibc
import PortwardCore
import PortwardLinux

var environment: [String: String] = [:]
var cursor = environ
while let entry = cursor.pointee {
    let text = String(cString: entry)
    if let eq = text.firstIndex(of: "=") {
        environment[String(text[..<eq])] = String(text[text.index(after: eq)...])
    }
    cursor += 1
}
let ports = (try? ReservedPortsValue.decode(environment["PORTWARD_TEST_POD_PORTS"] ?? "")) ?? PortSet()
exit(CNIMain.run(ports: ports, environment: environment))
