import Foundation

/// Where this binary came from, for the results file.
public enum BuildInfo {
    /// The path of the running executable.
    public static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The git commit: `PODBENCH_COMMIT` when set (container images), else the HEAD of the checkout
    /// the binary was built in (found by walking up from the executable), else nil.
    public static func commit() -> String? {
        if let env = ProcessInfo.processInfo.environment["PODBENCH_COMMIT"], !env.isEmpty { return env }
        var dir = URL(fileURLWithPath: executablePath).deletingLastPathComponent()
        for _ in 0..<8 {
            let git = dir.appendingPathComponent(".git")
            if let head = try? String(contentsOf: git.appendingPathComponent("HEAD"), encoding: .utf8) {
                let line = head.trimmingCharacters(in: .whitespacesAndNewlines)
                guard line.hasPrefix("ref: ") else { return line }
                let ref = String(line.dropFirst(5))
                if let id = try? String(contentsOf: git.appendingPathComponent(ref), encoding: .utf8) {
                    return id.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if let packed = try? String(contentsOf: git.appendingPathComponent("packed-refs"), encoding: .utf8) {
                    for entry in packed.split(separator: "\n") where entry.hasSuffix(" " + ref) {
                        return String(entry.prefix(while: { $0 != " " }))
                    }
                }
                return nil
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// UTC now in ISO 8601.
    public static func utcTimestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
