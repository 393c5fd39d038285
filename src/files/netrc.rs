//! The netrc editor: our `machine HOST login aws password TOKEN` line in a block at the start of the file (so it
//! comes before any `default` entry); every other byte (entries, comments, macdefs) kept.

use std::fmt;
use std::path::Path;

use super::block::{self, Place};
use crate::{Error, Result};

/// The user name CodeArtifact takes with a token.
pub const LOGIN: &str = "aws";

/// One netrc entry as pip's, uv's and Poetry's readers see it; `machine` is `None` for `default`.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub machine: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

/// Splits netrc text into tokens as Python's `netrc` does: whitespace-separated, `"quoted"` with `\` escapes,
/// `#` starting a token comments out the rest of the line, a `macdef` body runs to the next empty line.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let mut tok = String::new();
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                tok.push(chars[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                tok.push(chars[i]);
                i += 1;
            }
        }
        let was_macdef = out.last().is_some_and(|t| t == "macdef");
        out.push(tok);
        if was_macdef {
            // The body: from the next line to the first empty line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            i += 1;
            while i < chars.len() {
                let start = i;
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                let line: String = chars[start..i].iter().collect();
                i += 1;
                if line.trim_end_matches('\r').is_empty() {
                    break;
                }
            }
        }
    }
    out
}

/// The entries of a netrc file, in order.
pub fn entries(text: &str) -> Vec<Entry> {
    let toks = tokens(text);
    let mut out: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match toks[i].as_str() {
            "machine" | "default" => {
                let machine = if toks[i] == "machine" {
                    i += 1;
                    toks.get(i).cloned()
                } else {
                    None
                };
                out.push(Entry {
                    machine,
                    login: None,
                    password: None,
                });
            }
            key @ ("login" | "password" | "account") => {
                i += 1;
                let value = toks.get(i).cloned();
                if let Some(e) = out.last_mut() {
                    match key {
                        "login" => e.login = value,
                        "password" => e.password = value,
                        _ => {}
                    }
                }
            }
            "macdef" => i += 1,
            _ => {}
        }
        i += 1;
    }
    out
}

/// Our entry's line for `host`.
fn line(host: &str, token: &str) -> String {
    format!("machine {host} login {LOGIN} password {token}")
}

fn check_value(path: &Path, what: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '#' || c == '\\')
    {
        return Err(Error::config(
            path,
            format!("the {what} cannot be written to a netrc file (empty, or has blanks, quotes, # or \\)"),
            "use --token-store url",
        ));
    }
    Ok(())
}

/// `text` with our entry for `host` (a bare host name: netrc readers match no port). Refused when the file has
/// its own entry for that host: which of two entries a reader takes differs between readers.
pub fn set(path: &Path, text: &str, host: &str, token: &str) -> Result<String> {
    check_value(path, "host name", host)?;
    check_value(path, "token", token)?;
    let (theirs, _) = block::remove(text);
    if entries(&theirs)
        .iter()
        .any(|e| e.machine.as_deref() == Some(host))
    {
        return Err(Error::config(
            path,
            format!("already has an entry for {host}, and netrc readers differ on which of two they take"),
            format!("remove the `machine {host}` entry from {}, or use --token-store url", path.display()),
        ));
    }
    Ok(block::put(
        text,
        &[line(host, token)],
        "CodeArtifact token (ca-login logout removes it)",
        Place::Start,
    ))
}

/// `text` without our entry, and whether there was one.
pub fn remove(text: &str) -> (String, bool) {
    block::remove(text)
}

/// The host of our entry, if the file holds one.
pub fn our_host(text: &str) -> Option<String> {
    let lines = block::lines(text)?;
    entries(&lines.join("\n"))
        .into_iter()
        .find_map(|e| e.machine)
}

/// The credentials a reader finds for `host`: the first matching `machine`, else `default` (curl and uv take
/// the first; our entry comes first, so Python's reader agrees when there is only ours).
pub fn lookup(text: &str, host: &str) -> Option<Entry> {
    let all = entries(text);
    all.iter()
        .find(|e| e.machine.as_deref() == Some(host))
        .or_else(|| all.iter().find(|e| e.machine.is_none()))
        .cloned()
}

/// `text` for a dry-run preview: every password (ours and the user's) shown as `****`.
pub fn preview(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        if mask_next && !word.is_empty() {
            out.push_str("****");
            out.push_str(&piece[word.len()..]);
            mask_next = false;
            continue;
        }
        if word == "password" {
            mask_next = true;
        }
        out.push_str(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "d-111122223333.d.codeartifact.us-west-2.amazonaws.com";

    fn p() -> &'static Path {
        Path::new("/tmp/netrc")
    }

    #[test]
    fn set_puts_our_entry_before_default_and_keeps_comments_and_macdefs() {
        let original = "# mine\nmachine other.example login u password p\n\nmacdef init\nmachine fake\n\ndefault login anonymous password x\r\n";
        let out = set(p(), original, HOST, "tok.en-1").expect("set");
        assert!(out.ends_with(original));
        let e = lookup(&out, HOST).expect("entry");
        assert_eq!(
            (e.login.as_deref(), e.password.as_deref()),
            (Some("aws"), Some("tok.en-1"))
        );
        let machines: Vec<_> = entries(&out).into_iter().map(|e| e.machine).collect();
        assert_eq!(
            machines,
            vec![Some(HOST.to_string()), Some("other.example".into()), None]
        );
        assert_eq!(our_host(&out).as_deref(), Some(HOST));
    }

    #[test]
    fn remove_gives_back_the_original_bytes_for_crlf_and_no_final_newline() {
        for original in [
            "",
            "machine a login b password c",
            "machine a\r\n  login b\r\n  password c\r\n",
        ] {
            let once = set(p(), original, HOST, "t1").expect("set");
            let twice = set(p(), &once, HOST, "t2").expect("renew");
            assert_eq!(
                lookup(&twice, HOST).and_then(|e| e.password).as_deref(),
                Some("t2")
            );
            assert_eq!(remove(&twice), (original.to_string(), true));
        }
    }

    #[test]
    fn set_refuses_when_the_user_has_an_entry_for_the_host_or_the_token_has_blanks() {
        let theirs = format!("machine {HOST} login me password mine\n");
        let err = set(p(), &theirs, HOST, "t")
            .expect_err("theirs")
            .to_string();
        assert!(
            err.contains("already has an entry") && err.contains("hint:"),
            "{err}"
        );
        assert!(!err.contains("mine"));
        assert!(set(p(), "", HOST, "a b").is_err());
    }

    #[test]
    fn preview_masks_every_password_and_debug_never_shows_one() {
        let out = set(
            p(),
            "machine a login b password keep\n",
            HOST,
            "secret-token",
        )
        .expect("set");
        let shown = preview(&out);
        assert!(
            !shown.contains("secret-token") && shown.contains("password ****"),
            "{shown}"
        );
        assert!(!shown.contains("keep") && shown.contains("machine a login b password ****\n"));
        let dbg = format!("{:?}", lookup(&out, HOST));
        assert!(!dbg.contains("secret-token"), "{dbg}");
    }
}
