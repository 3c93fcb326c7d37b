import PodBenchTransports

/// Hop endpoints written as the command line writes them, in tests: `"tcp:127.0.0.1:9000"`.
/// A literal that does not parse stops the test run (it is the test's own mistake).
extension HopEndpoint: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) {
        do {
            try self.init(parsing: text)
        } catch {
            preconditionFailure("not a hop endpoint: \(text): \(error)")
        }
    }
}
