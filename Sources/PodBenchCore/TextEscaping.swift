/// Text that came from a results file, a log, a peer or a command line is written into outputs
/// with a grammar of their own: a terminal (escape sequences), Markdown (headings, tables, links,
/// raw HTML), HTML and SVG, XML (JUnit), CSV (spreadsheet formulas). Anything another container
/// could have written passes through one of these on its way out, so that a case name can never
/// forge a heading, a row, a tag, a colour or a formula.
public enum TextEscaping {
    /// For a terminal or a log line: control characters (C0, DEL, C1, which start escape
    /// sequences or move the cursor) and the Unicode bidirectional overrides (which reorder what
    /// is shown) become `?`; newlines and tabs become spaces.
    public static func terminal(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D: out.append(" ")
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C, 0x2028, 0x2029,
                0xFEFF:
                out.append("?")
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// For Markdown text on one line, a table cell or a list item included: cleaned as for a
    /// terminal (so one line), then backslash-escaped (CommonMark allows it for every ASCII
    /// punctuation mark) wherever a construct could start: always `` \ ` * _ [ ] < > & ! ~ | { } # : @ $ ``
    /// (emphasis, code, links, images, raw HTML, entities, strikethrough, table cells, headings,
    /// autolinks, mentions and GitHub's math); the `.` of `www.` (GFM's autolinks); and a leading `-`, `+`, `=`
    /// or the `.`/`)` after leading digits (lists, setext underlines). Numbers and plain words
    /// read as they are.
    public static func markdown(_ text: String) -> String {
        let characters = Array(terminal(text))
        var out = ""
        var leadingDigits = true
        for (i, character) in characters.enumerated() {
            var escape = "\\`*_[]<>&!~|{}#:@$".contains(character)
            if i == 0 && "-+=".contains(character) { escape = true }
            if leadingDigits && i > 0 && (character == "." || character == ")")
                && (i + 1 == characters.count || characters[i + 1] == " ")
            {
                escape = true
            }
            if character == ".", i >= 3, String(characters[(i - 3)..<i]).lowercased() == "www" { escape = true }
            if !(character.isASCII && character.isNumber) { leadingDigits = false }
            if escape { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// For HTML or SVG text and attribute values: `& < > " '` as references, control characters
    /// removed as for a terminal.
    public static func html(_ text: String) -> String {
        xml(text)
    }

    /// For XML text and attribute values (JUnit): the five references, and characters XML 1.0
    /// does not allow (C0 controls other than tab and newlines, U+FFFE, U+FFFF) replaced by `?`,
    /// so the document stays well-formed.
    public static func xml(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x26: out += "&amp;"
            case 0x3C: out += "&lt;"
            case 0x3E: out += "&gt;"
            case 0x22: out += "&quot;"
            case 0x27: out += "&#39;"
            case 0x09, 0x0A, 0x0D: out.unicodeScalars.append(scalar)
            case 0x00...0x1F, 0x7F...0x9F, 0xFFFE, 0xFFFF, 0x202A...0x202E, 0x2066...0x2069:
                out += "?"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// For one CSV field (RFC 4180): cleaned as for a terminal (line breaks become spaces, so no
    /// field spans lines), quoted when it holds a comma or a quote, with quotes doubled; a field a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
    /// `@`, a tab or a carriage return) gets a leading `'` (OWASP's advice), unless it is a
    /// number, which stays a number.
    public static func csv(_ text: String) -> String {
        var field = terminal(text)  // one physical line per record, whatever a name holds
        if let first = field.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(field) == nil {
            field = "'" + field
        }
        if field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            var quoted = "\""
            for character in field {
                if character == "\"" { quoted.append("\"") }
                quoted.append(character)
            }
            return quoted + "\""
        }
        return field
    }
}
