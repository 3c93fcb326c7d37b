import Foundation
import Testing

extension EndToEnd {
    /// The commands the README and docs show are ones this binary takes: a renamed or removed
    /// option makes this fail, naming the file and the line.
    @Suite("documented commands")
    struct DocsEndToEndTests {
        /// Every `podbench …` line of a shell block in README.md and docs/*.md, with where it is.
        static func documentedCommands() throws -> [(place: String, words: [String])] {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().path
            let docs = try FileManager.default.contentsOfDirectory(atPath: root + "/docs").filter {
                $0.hasSuffix(".md")
            }
            .map { "docs/" + $0 }
            var found: [(String, [String])] = []
            for file in ["README.md"] + docs.sorted() {
                let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
                var inShell = false
                var continued: [String]? = nil
                for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    if line.hasPrefix("```") {
                        inShell = line.hasPrefix("```sh") || line.hasPrefix("```bash") || line.hasPrefix("```console")
                        continue
                    }
                    guard inShell else { continue }
                    var body = line.split(separator: "#", maxSplits: 1).first.map(String.init) ?? ""
                    body = body.trimmingCharacters(in: .whitespaces)
                    if body.hasPrefix("$ ") { body = String(body.dropFirst(2)) }
                    let more = body.hasSuffix("\\")
                    if more { body = String(body.dropLast()) }
                    var words = body.split(separator: " ").map(String.init)
                    if let start = continued {
                        words = start + words
                    } else {
                        while let first = words.first, first == "sudo" || first.contains("=") { words.removeFirst() }
                        guard let first = words.first, first == "podbench" || first.hasSuffix("/podbench") else {
                            continue
                        }
                    }
                    if more {
                        continued = words
                    } else {
                        continued = nil
                        found.append(("\(file):\(n + 1)", Array(words.dropFirst())))
                    }
                }
            }
            return found
        }

        @Test("every option of every documented podbench command is in that command's --help")
        func documentedOptionsExist() throws {
            let commands = try Self.documentedCommands()
            #expect(commands.count >= 20, "only \(commands.count) documented commands found")
            var helps: [[String]: String] = [:]
            for (place, words) in commands {
                // The subcommand path: the words before the first option or argument with a dot, slash or bracket.
                let path = Array(
                    words.prefix { !$0.hasPrefix("-") && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }
                        .prefix(2))
                if helps[path] == nil {
                    let help = try BinaryProcess.run(path + ["--help"], timeout: 60)
                    #expect(help.status == 0, "\(place): podbench \(path.joined(separator: " ")) --help failed")
                    helps[path] = help.stdout + help.stderr
                }
                // After a lone `--` (ab), the options are run's.
                let own = Array(words.prefix { $0 != "--" })
                let passed = Array(words.drop { $0 != "--" }.dropFirst())
                if !passed.isEmpty && helps[["run"]] == nil {
                    let help = try BinaryProcess.run(["run", "--help"], timeout: 60)
                    helps[["run"]] = help.stdout + help.stderr
                }
                for (word, help) in own.map({ ($0, helps[path] ?? "") }) + passed.map({ ($0, helps[["run"]] ?? "") })
                where word.hasPrefix("-") && word.count > 1 && !word.hasPrefix("---") {
                    let option = String(word.split(separator: "=").first ?? "")
                    guard option.range(of: "^--?[a-zA-Z][a-zA-Z0-9-]*$", options: .regularExpression) != nil else {
                        continue
                    }
                    let shown = option.hasPrefix("--") ? help.contains(option) : help.contains(option + ",")
                    #expect(shown, "\(place): \(option) is not an option of that command (podbench --help)")
                }
            }
        }
    }
}
