//! Secrets: a type whose `Debug` and `Display` print masked, and URL masking (the one masking function).

use std::fmt;

/// A CodeArtifact token (or a URL that embeds one). Printing it shows `****`; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The clear text, for the one place that must write it (pip's config file, an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Mask the userinfo of every URL in `text`, wherever it sits: one URL, a list separated by spaces, commas or
/// newlines, an INI file's `extra-index-url` lines, `PIP_EXTRA_INDEX_URL` with several token URLs, a proxy
/// (`http://user:pass@proxy:3128`, also without a scheme: `user:pass@proxy:3128`), an error message.
/// `https://aws:TOKEN@host/` -> `https://aws:****@host/`; a user without a password (`https://TOKEN@host/`) is
/// masked whole. Never returns a password; text without userinfo comes back unchanged. The one masking function:
/// every text we print goes through it, so it also shows control characters as escapes ([`printable`]).
pub fn mask_url(text: &str) -> String {
    if !text.contains('@') {
        return printable(text);
    }
    printable(&mask_bare_userinfo(&mask_scheme_urls(text)))
}

/// `text` with every control character but a line end (`\n`, `\r\n`) and a tab, and every bidirectional-formatting
/// character, shown as an escape (`\u{1b}`): a file of someone else's (a notebook user's pip.conf that root's
/// `login --user --dry-run` previews) cannot rewrite the terminal or log it is printed to. Other text is unchanged.
pub fn printable(text: &str) -> String {
    let odd = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(odd) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            out.push(c);
        } else if odd(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where a URL's authority (`user:pass@host:port`) ends in running text.
fn ends_authority(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\')
}

/// Where a `user:pass` written without a scheme starts (scanning back from its `@`).
fn starts_bare_userinfo(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | '@' | '"' | '\'' | '<' | '>' | '`' | '(' | '\\')
}

fn masked_userinfo(userinfo: &str) -> String {
    match userinfo.find(':') {
        Some(colon) => format!("{}:****", &userinfo[..colon]),
        None => "****".to_string(),
    }
}

/// Every `SCHEME://userinfo@host`: the userinfo ends at the last `@` before the authority ends (a password
/// holding an unencoded `@` is masked whole).
fn mask_scheme_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(i) = text[search..].find("://") {
        let start = search + i + 3;
        let rest = &text[start..];
        let len = rest.find(ends_authority).unwrap_or(rest.len());
        if let Some(at) = rest[..len].rfind('@') {
            if at > 0 {
                out.push_str(&text[copied..start]);
                out.push_str(&masked_userinfo(&rest[..at]));
                copied = start + at;
            }
        }
        search = start + len;
    }
    out.push_str(&text[copied..]);
    out
}

/// `user:pass@host` without a scheme (`HTTPS_PROXY=user:pass@proxy:3128`): a `:` before an `@` that a host
/// follows. Already masked userinfo (`aws:****@`) is left as it is.
fn mask_bare_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (first_at, _) in text.match_indices('@') {
        if first_at < copied {
            continue;
        }
        // A password holding an unencoded '@': the userinfo ends at the last '@' before the authority ends.
        let tail = &text[first_at + 1..];
        let seg = tail.find(ends_authority).unwrap_or(tail.len());
        let at = tail[..seg]
            .rfind('@')
            .map_or(first_at, |i| first_at + 1 + i);
        let host_follows = text[at + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '[');
        let before = &text[copied..first_at];
        let start = before.rfind(starts_bare_userinfo).map_or(copied, |i| {
            copied + i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let candidate = &text[start..first_at];
        let Some(colon) = candidate.find(':') else {
            continue;
        };
        let password = &candidate[colon + 1..];
        if !host_follows || password.is_empty() || password == "****" {
            continue;
        }
        out.push_str(&text[copied..start + colon + 1]);
        out.push_str("****");
        copied = at;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether `url` is a CodeArtifact pip index URL carrying a token (`aws:TOKEN@…/pypi/…/simple/`), whoever wrote
/// it (we, or `aws codeartifact login`). Such a URL is never stored, restored or shown.
pub fn carries_codeartifact_token(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    parsed.username() == "aws"
        && parsed.password().is_some_and(|p| !p.is_empty())
        && parsed.path().contains("/pypi/")
        && parsed.path().trim_end_matches('/').ends_with("/simple")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_text_shows_control_and_bidi_characters_as_escapes_and_keeps_line_ends_and_tabs() {
        let text =
            "[global]\r\ntimeout = 5\u{1b}]0;owned\u{7}\u{1b}[2J\n\tx = \u{202e}y\rz\u{9b}\u{7f}\n";
        assert_eq!(
            mask_url(text),
            "[global]\r\ntimeout = 5\\u{1b}]0;owned\\u{7}\\u{1b}[2J\n\tx = \\u{202e}y\\u{d}z\\u{9b}\\u{7f}\n"
        );
        assert_eq!(
            mask_url("index-url = https://aws:tok@h/\u{1b}[2J"),
            "index-url = https://aws:****@h/\\u{1b}[2J"
        );
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
    }

    #[test]
    fn secret_debug_and_display_are_masked() {
        let s = Secret::new("eyJ2ZXIiOjEsImlzdSI6MTY.secret-token");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert!(!format!("{s:#?}").contains("secret-token"));
        assert_eq!(s.expose(), "eyJ2ZXIiOjEsImlzdSI6MTY.secret-token");
    }

    #[test]
    fn codeartifact_token_urls_are_recognised() {
        assert!(carries_codeartifact_token(
            "https://aws:tok@d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/"
        ));
        assert!(carries_codeartifact_token(
            "http://aws:tok@127.0.0.1:8080/pypi/isolatedsm/simple/"
        ));
        assert!(!carries_codeartifact_token(
            "https://user:pw@mirror.example/simple/"
        ));
        assert!(!carries_codeartifact_token(
            "https://d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/"
        ));
        assert!(!carries_codeartifact_token("not a url"));
    }

    #[test]
    fn mask_url_hides_password_only() {
        assert_eq!(
            mask_url(
                "https://aws:tok.en-_x@d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/"
            ),
            "https://aws:****@d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/"
        );
        assert_eq!(
            mask_url("https://host/pypi/r/simple/"),
            "https://host/pypi/r/simple/"
        );
        assert_eq!(
            mask_url("http://tokenonly@127.0.0.1:8080/x"),
            "http://****@127.0.0.1:8080/x"
        );
        // An '@' in the path is not userinfo.
        assert_eq!(mask_url("https://host/a@b"), "https://host/a@b");
        assert_eq!(mask_url("not a url"), "not a url");
        // A password holding '@' (percent-encoding forgotten): everything before the last '@' is masked.
        assert_eq!(mask_url("https://aws:a@b@host/"), "https://aws:****@host/");
    }
    #[test]
    fn mask_url_masks_every_url_in_a_list() {
        let env = "https://aws:tokA@d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/a/simple/ https://aws:tokB@d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/b/simple/";
        let m = mask_url(env);
        assert!(!m.contains("tokA") && !m.contains("tokB"), "{m}");
        assert_eq!(m.matches("aws:****@").count(), 2, "{m}");
        let commas = mask_url("https://u:pw1@h1,https://u:pw2@h2:8443");
        assert_eq!(commas, "https://u:****@h1,https://u:****@h2:8443");
        let lines = mask_url("index-url = https://aws:tokC@h/simple/\nextra-index-url =\n    http://bob:pw3@mirror:8080/simple/\n");
        assert!(!lines.contains("tokC") && !lines.contains("pw3"), "{lines}");
        assert!(
            lines.contains("http://bob:****@mirror:8080/simple/"),
            "{lines}"
        );
    }

    #[test]
    fn mask_url_handles_at_in_password_ipv6_and_percent_encoding() {
        assert_eq!(
            mask_url("https://aws:p@ss@w@rd@host:443/x"),
            "https://aws:****@host:443/x"
        );
        assert_eq!(
            mask_url("http://aws:tok@[::1]:8080/pypi/r/"),
            "http://aws:****@[::1]:8080/pypi/r/"
        );
        assert_eq!(
            mask_url("https://us%40er:p%40ss%3Aw@host/"),
            "https://us%40er:****@host/"
        );
        // Only the password after the first ':' of userinfo counts; a ':' inside it is masked too.
        assert_eq!(
            mask_url("https://aws:a:b:c@host/"),
            "https://aws:****@host/"
        );
    }

    #[test]
    fn mask_url_masks_proxy_userinfo_without_a_scheme() {
        assert_eq!(
            mask_url("proxy:pa55w0rd@proxy.corp:3128"),
            "proxy:****@proxy.corp:3128"
        );
        assert_eq!(
            mask_url("HTTPS_PROXY=alice:s3cret@10.0.0.1:3128 is set"),
            "HTTPS_PROXY=alice:****@10.0.0.1:3128 is set"
        );
        assert_eq!(
            mask_url("through 'bob:pw@[fd00::1]:3128'"),
            "through 'bob:****@[fd00::1]:3128'"
        );
        assert_eq!(mask_url("u:p@ss@proxy.corp:3128"), "u:****@proxy.corp:3128");
    }

    #[test]
    fn mask_url_leaves_text_without_userinfo_unchanged() {
        for t in [
            "",
            "no url here",
            "mail alice@example.com about it",
            "https://host/a@b",
            "arn:aws:sts::111122223333:assumed-role/R/S",
            "https://aws:****@host/ already masked",
            "https://****@host/",
        ] {
            assert_eq!(mask_url(t), t);
        }
    }

    #[test]
    fn mask_url_output_never_contains_the_password() {
        let secrets = ["T0k-3n.x_y", "p@ss", "a:b", "%40%3A"];
        for pw in secrets {
            for shape in [
                format!("https://aws:{pw}@host/pypi/r/simple/"),
                format!("error: connect to http://u:{pw}@proxy:3128 failed"),
                format!("u:{pw}@proxy.corp:3128"),
                format!("[\"https://aws:{pw}@h/\", \"http://aws:{pw}@[::1]:1/\"]"),
            ] {
                let m = mask_url(&shape);
                assert!(!m.contains(pw), "{shape} -> {m}");
            }
        }
    }
}
