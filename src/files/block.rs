//! The block ca-login adds to a user's file: whole lines between a `# ca-login: begin` and a `# ca-login: end`
//! line, placed at the start or the end of the file. Removing it gives back the original bytes: the block uses
//! the file's own line ends, and when the file had no final line end the begin marker says so
//! (`# ca-login: begin +eol`) and the line end added before it goes with the block.

/// First line of every block we add.
pub const BEGIN: &str = "# ca-login: begin";
/// Last line of every block we add.
pub const END: &str = "# ca-login: end";
const ADDED_EOL: &str = " +eol";

/// The line end a file uses: that of its first line, `\n` for an empty or one-line file.
pub fn eol_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Where a block sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Start,
    End,
}

/// Renders `lines` as a block with the file's line ends, `note` on the begin line.
fn render(lines: &[String], note: &str, eol: &str, added_eol: bool) -> String {
    let mut out = String::new();
    out.push_str(BEGIN);
    if added_eol {
        out.push_str(ADDED_EOL);
    }
    if !note.is_empty() {
        out.push(' ');
        out.push_str(note);
    }
    out.push_str(eol);
    for line in lines {
        out.push_str(line);
        out.push_str(eol);
    }
    out.push_str(END);
    out.push_str(eol);
    out
}

/// The byte range of our block in `text` (including a line end we added before it), if there is one.
pub fn find(text: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    let mut start = None;
    let mut added_eol = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if start.is_none() && bare.starts_with(BEGIN) {
            added_eol = bare[BEGIN.len()..].starts_with(ADDED_EOL);
            start = Some(offset);
        } else if start.is_some() && bare == END {
            let mut begin = start.unwrap_or(offset);
            if added_eol {
                let eol = if text[..begin].ends_with("\r\n") {
                    2
                } else {
                    1
                };
                begin = begin.saturating_sub(eol);
            }
            return Some(begin..offset + line.len());
        }
        offset += line.len();
    }
    None
}

/// `text` without our block.
pub fn remove(text: &str) -> (String, bool) {
    match find(text) {
        Some(range) => {
            let mut out = String::with_capacity(text.len());
            out.push_str(&text[..range.start]);
            out.push_str(&text[range.end..]);
            (out, true)
        }
        None => (text.to_string(), false),
    }
}

/// `text` with our block (replacing the one already there) holding `lines`.
pub fn put(text: &str, lines: &[String], note: &str, place: Place) -> String {
    let (base, _) = remove(text);
    let eol = eol_of(&base);
    match place {
        Place::Start => render(lines, note, eol, false) + &base,
        Place::End => {
            let added = !base.is_empty() && !base.ends_with('\n');
            let mut out = base.clone();
            if added {
                out.push_str(eol);
            }
            out.push_str(&render(lines, note, eol, added));
            out
        }
    }
}

/// The lines of our block, without the markers and line ends.
pub fn lines(text: &str) -> Option<Vec<&str>> {
    let range = find(text)?;
    let inner: Vec<&str> = text[range]
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !l.starts_with(BEGIN))
        .collect();
    Some(inner[1..inner.len().saturating_sub(1)].to_vec())
}

/// Marks lines we insert inside the user's own content (an INI value's continuation, a key in their section):
/// `INDENT# ca-login: N added below`, then the N lines.
const INSERTED: &str = "# ca-login: ";
const INSERTED_TAIL: &str = " added below";

/// The marker line for `n` inserted lines, indented like them. `added_eol`: the line before had no line end and
/// we added one; removing the lines takes it too.
pub fn inserted_marker(indent: &str, n: usize, added_eol: bool) -> String {
    let plus = if added_eol { ADDED_EOL } else { "" };
    format!("{indent}{INSERTED}{n}{INSERTED_TAIL}{plus}")
}

/// `text` without the lines we inserted (and their markers), and whether there were any.
pub fn remove_inserted(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut skip = 0usize;
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let bare = line.trim_end_matches(['\n', '\r']).trim_start();
        let (bare, added_eol) = match bare.strip_suffix(ADDED_EOL) {
            Some(b) => (b, true),
            None => (bare, false),
        };
        let count = bare
            .strip_prefix(INSERTED)
            .and_then(|r| r.strip_suffix(INSERTED_TAIL))
            .and_then(|n| n.parse::<usize>().ok());
        match count {
            Some(n) => {
                skip = n;
                found = true;
                if added_eol {
                    let eol = if out.ends_with("\r\n") {
                        2
                    } else {
                        usize::from(out.ends_with('\n'))
                    };
                    out.truncate(out.len() - eol);
                }
            }
            None => out.push_str(line),
        }
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn block_at_the_end_of_a_file_without_final_newline_removes_to_the_original_bytes() {
        for original in [
            "",
            "a = 1",
            "a = 1\n",
            "a = 1\r\nb = 2",
            "a = 1\r\nb = 2\r\n",
        ] {
            let with = put(original, &l(&["x = 1"]), "note", Place::End);
            assert!(with.contains("x = 1"));
            assert_eq!(remove(&with), (original.to_string(), true), "{original:?}");
        }
    }

    #[test]
    fn block_at_the_start_uses_the_files_line_ends_and_removes_to_the_original_bytes() {
        let original = "a\r\nb";
        let with = put(original, &l(&["x"]), "", Place::Start);
        assert_eq!(with, "# ca-login: begin\r\nx\r\n# ca-login: end\r\na\r\nb");
        assert_eq!(remove(&with).0, original);
    }

    #[test]
    fn putting_again_replaces_the_block_and_lines_reads_it_back() {
        let once = put("a\n", &l(&["x = 1"]), "", Place::End);
        let twice = put(&once, &l(&["x = 2", "y = 3"]), "", Place::End);
        assert_eq!(lines(&twice), Some(vec!["x = 2", "y = 3"]));
        assert_eq!(remove(&twice).0, "a\n");
        assert_eq!(remove("a\n"), ("a\n".to_string(), false));
    }

    #[test]
    fn inserted_lines_go_with_their_marker() {
        let original = "[a]\nk = v\n  w\n[b]\n";
        let with = format!(
            "[a]\nk = v\n  w\n{}\n  x\n[b]\n",
            inserted_marker("  ", 1, false)
        );
        assert_eq!(remove_inserted(&with), (original.to_string(), true));
        assert_eq!(remove_inserted(original), (original.to_string(), false));
    }

    #[test]
    fn inserted_lines_after_a_last_line_without_line_end_take_the_added_one_too() {
        let with = format!("k = v\r\n{}\r\n  x", inserted_marker("  ", 1, true));
        assert_eq!(remove_inserted(&with), ("k = v".to_string(), true));
    }
}
