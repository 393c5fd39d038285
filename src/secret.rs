//! Secrets: a type whose `Debug` and `Display` print masked, and URL masking.

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

/// Replace the password of a URL's userinfo with `****` (`https://aws:TOKEN@host/` -> `https://aws:****@host/`).
/// Works on text that is not a valid URL too, and never returns the password.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let masked_userinfo = match userinfo.find(':') {
        Some(colon) => format!("{}:****", &userinfo[..colon]),
        None => "****".to_string(),
    };
    format!(
        "{}{}{}",
        &url[..scheme_end + 3],
        masked_userinfo,
        &rest[at..]
    )
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
}
