import ArgumentParser

@main
struct Portward: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Host-wide port reservation agent.")
}
