import Foundation
import PodBenchCore
import Testing

@Suite("Escaping text that came from elsewhere")
struct TextEscapingTests {
    static let hostile = "a|b\n## h <script>&\"'`*_[x](http://e) \u{1B}[31m\u{7}\u{9B}\u{202E}\r=1"

    @Test("terminal: no control character, escape sequence or bidi override survives")
    func terminal() {
        let out = TextEscaping.terminal(Self.hostile)
        #expect(out.unicodeScalars.allSatisfy { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) })
        #expect(!out.unicodeScalars.contains("\u{202E}"))
        #expect(out.contains("a|b ## h"))
        #expect(TextEscaping.terminal("tcp pingpong 64KiB hop=relay") == "tcp pingpong 64KiB hop=relay")
    }

    @Test("Markdown: every punctuation mark escaped, one line, plain words untouched")
    func markdown() {
        let out = TextEscaping.markdown(Self.hostile)
        // A `](` only with its bracket escaped (a literal bracket, no link).
        #expect(!out.contains("\n") && !out.replacingOccurrences(of: "\\](", with: "").contains("]("))
        #expect(!out.contains("##"))
        // Every character that could start a construct is escaped where it appears.
        let characters = Array(out)
        for (i, c) in characters.enumerated() where "<>[]#|`*_&!:".contains(c) {
            #expect(i > 0 && characters[i - 1] == "\\", "\(c) at \(i) in \(out)")
        }
        #expect(out.contains("a\\|b"))
        #expect(TextEscaping.markdown("tcp pingpong 64KiB") == "tcp pingpong 64KiB")
        #expect(TextEscaping.markdown("hop=relay") == "hop=relay")
        #expect(
            TextEscaping.markdown("1.5µs") == "1.5µs" && TextEscaping.markdown("(no calibrate)") == "(no calibrate)")
        #expect(TextEscaping.markdown("1. item") == "1\\. item" && TextEscaping.markdown("- x") == "\\- x")
        #expect(TextEscaping.markdown("see www.evil.example") == "see www\\.evil.example")
        // GitHub renders $…$ as math: a dollar is escaped too.
        #expect(TextEscaping.markdown("$x^2$") == "\\$x^2\\$")
    }

    @Test("XML and HTML: the five references, and no character XML 1.0 forbids")
    func xml() {
        let out = TextEscaping.xml(Self.hostile)
        #expect(!out.contains("<") && !out.contains(">") && !out.contains("\"") && !out.contains("'"))
        #expect(out.contains("&lt;script&gt;&amp;&quot;&#39;"))
        #expect(out.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\n" || $0 == "\r" || $0 == "\t" })
        #expect(TextEscaping.html("a & b") == "a &amp; b")
    }

    @Test("CSV: formulas defused, fields with commas, quotes or newlines quoted; numbers stay numbers")
    func csv() {
        #expect(TextEscaping.csv("=HYPERLINK(\"http://e\")") == "\"'=HYPERLINK(\"\"http://e\"\")\"")
        #expect(TextEscaping.csv("@SUM(A1)") == "'@SUM(A1)")
        #expect(TextEscaping.csv("+1") == "+1")
        #expect(TextEscaping.csv("-0.5") == "-0.5")
        #expect(TextEscaping.csv("-x") == "'-x")
        #expect(TextEscaping.csv("a,b") == "\"a,b\"")
        #expect(TextEscaping.csv("line\nbreak") == "line break")
        #expect(TextEscaping.csv("tcp") == "tcp")
    }
}
