//! The TOML editors: uv's `uv.toml` (an `[[index]]` named `codeartifact`) and Poetry's `auth.toml`
//! (`[http-basic.SOURCE]`). What we add is a block at the end of the file; every other byte is kept. `toml_edit`
//! reads the file before (a file it cannot parse is left alone) and checks the result parses the same way
//! plus our table.

use std::path::Path;

use toml_edit::DocumentMut;

use super::block::{self, Place};
use crate::{Error, Result};

/// The name of uv's index we add.
pub const UV_INDEX: &str = "codeartifact";

fn parse(path: &Path, text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>().map_err(|e| {
        Error::config(
            path,
            format!("is not valid TOML ({})", e.message()),
            format!(
                "fix {} (or move it aside), then log in again",
                path.display()
            ),
        )
    })
}

fn quoted(s: &str) -> String {
    toml_edit::Value::from(s).to_string()
}

/// One `[[index]]` entry of a uv.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvIndex {
    pub name: Option<String>,
    pub url: Option<String>,
    pub default: bool,
}

/// The `[[index]]` entries of a uv.toml (or, with `tool_uv`, of a pyproject.toml's `[tool.uv]`).
pub fn uv_indexes(path: &Path, text: &str, tool_uv: bool) -> Result<Vec<UvIndex>> {
    let doc = parse(path, text)?;
    let root = if tool_uv {
        match doc.get("tool").and_then(|t| t.get("uv")) {
            Some(item) => item,
            None => return Ok(Vec::new()),
        }
    } else {
        doc.as_item()
    };
    let Some(aot) = root.get("index").and_then(|i| i.as_array_of_tables()) else {
        return Ok(Vec::new());
    };
    Ok(aot
        .iter()
        .map(|t| UvIndex {
            name: t.get("name").and_then(|v| v.as_str()).map(str::to_string),
            url: t.get("url").and_then(|v| v.as_str()).map(str::to_string),
            default: t.get("default").and_then(|v| v.as_bool()).unwrap_or(false),
        })
        .collect())
}

/// `text` with our `[[index]]` for `url` (the repository's `/simple/` URL, never with credentials: uv writes
/// index URLs into uv.lock). `default`: uv's default index (else an extra index, searched first).
pub fn set_uv_index(path: &Path, text: &str, url: &str, default: bool) -> Result<String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid("index url", e.to_string(), "log in again"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            "index url",
            "carries credentials, which uv would write into uv.lock",
            "use --token-store netrc (the default for uv)",
        ));
    }
    let (theirs, _) = block::remove(text);
    let indexes = uv_indexes(path, &theirs, false)?;
    if indexes.iter().any(|i| i.name.as_deref() == Some(UV_INDEX)) {
        return Err(Error::config(
            path,
            format!("already has an [[index]] named {UV_INDEX:?} of its own"),
            format!(
                "rename or remove that [[index]] in {}, then log in again",
                path.display()
            ),
        ));
    }
    if default && indexes.iter().any(|i| i.default) {
        return Err(Error::config(
            path,
            "already has a default [[index]] of its own",
            "remove `default = true` from it, or log in with --extra-index-url",
        ));
    }
    let mut lines = vec![
        String::new(),
        "[[index]]".to_string(),
        format!("name = {}", quoted(UV_INDEX)),
        format!("url = {}", quoted(url)),
    ];
    if default {
        lines.push("default = true".into());
    }
    let out = block::put(
        text,
        &lines,
        "uv's CodeArtifact index (ca-login logout removes it)",
        Place::End,
    );
    check_adds(path, &out, |doc| {
        uv_indexes(path, &doc.to_string(), false)
            .map(|v| {
                v.iter()
                    .any(|i| i.name.as_deref() == Some(UV_INDEX) && i.url.as_deref() == Some(url))
            })
            .unwrap_or(false)
    })?;
    Ok(out)
}

/// Refuses a result that does not parse or lacks what we added (a key of the user's own in the way).
fn check_adds(path: &Path, out: &str, has_ours: impl Fn(&DocumentMut) -> bool) -> Result<()> {
    let ok = out
        .parse::<DocumentMut>()
        .map(|d| has_ours(&d))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            path,
            "cannot take our table next to its own (an inline table or array of the same name)",
            format!(
                "write that table in {} as a [table] / [[array]], then log in again",
                path.display()
            ),
        ))
    }
}

/// Checks a Poetry source name (letters, digits, `-`, `_`): it names a TOML table and an environment variable.
pub fn check_source(source: &str) -> Result<()> {
    if source.is_empty()
        || !source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            "poetry_source",
            format!("{source:?} is not a Poetry source name"),
            "use letters, digits, - and _ (default: codeartifact)",
        ));
    }
    Ok(())
}

/// The (username, password) of `[http-basic.SOURCE]` in Poetry's auth.toml.
pub fn poetry_auth(path: &Path, text: &str, source: &str) -> Result<Option<(String, String)>> {
    let doc = parse(path, text)?;
    let Some(t) = doc.get("http-basic").and_then(|h| h.get(source)) else {
        return Ok(None);
    };
    let field = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    Ok(Some((field("username"), field("password"))))
}

/// `text` with our `[http-basic.SOURCE]` holding `aws` and the token.
pub fn set_poetry_auth(path: &Path, text: &str, source: &str, token: &str) -> Result<String> {
    check_source(source)?;
    let (theirs, _) = block::remove(text);
    if poetry_auth(path, &theirs, source)?.is_some() {
        return Err(Error::config(
            path,
            format!("already has [http-basic.{source}] of its own"),
            format!(
                "remove it from {}, or log in with --poetry-source NAME",
                path.display()
            ),
        ));
    }
    let lines = vec![
        String::new(),
        format!("[http-basic.{source}]"),
        format!("username = {}", quoted("aws")),
        format!("password = {}", quoted(token)),
    ];
    let out = block::put(
        text,
        &lines,
        "Poetry's CodeArtifact credentials (ca-login logout removes it)",
        Place::End,
    );
    check_adds(path, &out, |doc| {
        poetry_auth(path, &doc.to_string(), source)
            .ok()
            .flatten()
            .is_some_and(|(_, p)| p == token)
    })?;
    Ok(out)
}

/// `text` without our block, and whether there was one.
pub fn remove(text: &str) -> (String, bool) {
    block::remove(text)
}

/// `text` for a dry-run preview: every `password` value shown as `"****"`.
pub fn preview(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let bare = line.trim_end_matches(['\r', '\n']);
            let key = bare
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            match bare.find('=') {
                Some(i) if key == "password" => {
                    format!("{}= \"****\"{}", &bare[..i], &line[bare.len()..])
                }
                _ => line.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &str =
        "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/";

    fn p() -> &'static Path {
        Path::new("/tmp/x.toml")
    }

    #[test]
    fn uv_index_is_added_as_default_and_removed_to_the_original_bytes() {
        for original in [
            "",
            "native-tls = true",
            "# mine\r\nnative-tls = true\r\n\r\n[pip]\r\nno-cache = true\r\n",
        ] {
            let out = set_uv_index(p(), original, SIMPLE, true).expect("set");
            let ix = uv_indexes(p(), &out, false).expect("parse");
            let ours: Vec<_> = ix
                .iter()
                .filter(|i| i.name.as_deref() == Some(UV_INDEX))
                .collect();
            assert_eq!(ours.len(), 1);
            assert_eq!(
                (ours[0].url.as_deref(), ours[0].default),
                (Some(SIMPLE), true)
            );
            let again = set_uv_index(p(), &out, SIMPLE, true).expect("renew");
            assert_eq!(again, out);
            assert_eq!(remove(&again), (original.to_string(), true));
        }
    }

    #[test]
    fn uv_extra_index_has_no_default_and_a_url_with_a_token_is_refused() {
        let out = set_uv_index(
            p(),
            "[[index]]\nname = \"pypi\"\nurl = \"https://pypi.org/simple\"\ndefault = true\n",
            SIMPLE,
            false,
        )
        .expect("extra");
        let ix = uv_indexes(p(), &out, false).expect("parse");
        assert_eq!(ix.len(), 2);
        assert!(!ix[1].default);
        let err = set_uv_index(p(), "", "https://aws:tok@h.example/simple/", true)
            .expect_err("token")
            .to_string();
        assert!(!err.contains("tok@") && err.contains("hint:"), "{err}");
    }

    #[test]
    fn uv_refuses_a_second_default_an_index_of_the_same_name_and_an_unparsable_file() {
        let theirs =
            "[[index]]\nname = \"corp\"\nurl = \"https://corp.example/simple\"\ndefault = true\n";
        assert!(set_uv_index(p(), theirs, SIMPLE, true).is_err());
        let same = "[[index]]\nname = \"codeartifact\"\nurl = \"https://x.example/simple\"\n";
        assert!(set_uv_index(p(), same, SIMPLE, false).is_err());
        assert!(set_uv_index(p(), "index = [", SIMPLE, true).is_err());
        assert!(set_uv_index(p(), "index = []\n", SIMPLE, true).is_err());
    }

    #[test]
    fn poetry_auth_is_added_under_the_source_name_and_removed_to_the_original_bytes() {
        let original = "[http-basic.other]\nusername = \"u\"\npassword = \"p\"";
        let out = set_poetry_auth(p(), original, "corp-ca", "tok").expect("set");
        assert_eq!(
            poetry_auth(p(), &out, "corp-ca").expect("parse"),
            Some(("aws".into(), "tok".into()))
        );
        assert_eq!(
            poetry_auth(p(), &out, "other").expect("parse"),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(remove(&out), (original.to_string(), true));
        assert!(set_poetry_auth(p(), "", "bad name", "t").is_err());
        assert!(set_poetry_auth(
            p(),
            &out.replace("# ca-login: begin", "# x"),
            "corp-ca",
            "t"
        )
        .is_err());
    }

    #[test]
    fn preview_masks_every_password() {
        let out = set_poetry_auth(
            p(),
            "[http-basic.o]\npassword = 'mine'\n",
            "codeartifact",
            "secret",
        )
        .expect("set");
        let shown = preview(&out);
        assert!(
            !shown.contains("secret") && !shown.contains("mine"),
            "{shown}"
        );
        assert_eq!(shown.matches("password = \"****\"").count(), 2, "{shown}");
    }
}
