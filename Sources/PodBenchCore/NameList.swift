/// Comma-separated lists of names from a closed set, as options take them (`tcp,uds`).
public enum NameList {
    /// Parses `text` into values of `T` by raw value, keeping the user's order and dropping
    /// repeats.
    /// - Parameter what: the kind of name, for the error ("transport", "workload").
    /// - Throws: `.invalidConfiguration` naming the unknown name and the known ones.
    public static func parse<T: CaseIterable & RawRepresentable & Equatable>(_ text: String, what: String) throws -> [T]
    where T.RawValue == String {
        var values: [T] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(part).trimmingSpaces()
            guard let value = T(rawValue: name) else {
                let known = T.allCases.map(\.rawValue).joined(separator: ", ")
                throw PodBenchError(.invalidConfiguration, "unknown \(what) '\(name)': pick from \(known)")
            }
            if !values.contains(value) { values.append(value) }
        }
        return values
    }
}
