//! The `.pypirc` editor, writing what `aws codeartifact login --tool twine` writes: `codeartifact` in
//! `[distutils] index-servers`, and a `[codeartifact]` section with `repository` (the endpoint, no `/simple/`),
//! `username = aws` and `password`. Our section sits in a block at the start of the file; a name we add to the
//! user's own `index-servers` is a marked line; every other byte is kept.

use std::path::Path;

use super::block::{self, Place};
use crate::{Error, Result};

/// The repository name twine is given (`twine upload -r codeartifact`).
pub const REPOSITORY: &str = "codeartifact";

fn header(line: &str) -> Option<&str> {
    let t = line.trim_end_matches(['\r', '\n']);
    if t.starts_with('[') {
        t.find(']').map(|end| t[1..end].trim())
    } else {
        None
    }
}

fn key_of(line: &str) -> Option<&str> {
    if line.starts_with(char::is_whitespace) || line.starts_with(['#', ';', '[']) {
        return None;
    }
    let end = line.find(['=', ':'])?;
    Some(line[..end].trim())
}

/// Section names, in order.
pub fn sections(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(header)
        .map(str::to_string)
        .collect()
}

/// The value of `key` in `section` (continuation lines joined by `\n`), as configparser reads it.
pub fn get(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current: Option<&str> = None;
    let mut value: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(h) = header(line) {
            if value.is_some() {
                break;
            }
            current = Some(h);
            continue;
        }
        if current != Some(section) {
            continue;
        }
        match (&mut value, key_of(line)) {
            (Some(_), Some(_)) => break,
            (None, Some(k)) if k.eq_ignore_ascii_case(key) => {
                let start = line.find(['=', ':']).map_or(line.len(), |i| i + 1);
                value = Some(line[start..].trim().to_string());
            }
            (Some(v), None) => {
                let t = line.trim();
                if !t.is_empty()
                    && !t.starts_with(['#', ';'])
                    && line.starts_with(char::is_whitespace)
                {
                    if !v.is_empty() {
                        v.push('\n');
                    }
                    v.push_str(t);
                }
            }
            _ => {}
        }
    }
    value
}

/// `text` with our repository: `repository` is the endpoint twine uploads to.
pub fn set(path: &Path, text: &str, repository: &str, token: &str) -> Result<String> {
    if token.contains(['\r', '\n']) || repository.contains(['\r', '\n']) {
        return Err(Error::invalid("token", "has a line break", "log in again"));
    }
    let (theirs, _) = remove(text);
    if sections(&theirs).iter().any(|s| s == REPOSITORY) {
        return Err(Error::config(
            path,
            format!("already has a [{REPOSITORY}] section of its own"),
            format!(
                "rename or remove [{REPOSITORY}] in {}, then log in again",
                path.display()
            ),
        ));
    }
    let eol = block::eol_of(&theirs);
    let mut lines = Vec::new();
    let mut body = theirs.clone();
    if !sections(&theirs).iter().any(|s| s == "distutils") {
        lines.extend([
            "[distutils]".to_string(),
            "index-servers =".into(),
            format!("    {REPOSITORY}"),
        ]);
        lines.push(String::new());
    } else {
        let listed = get(&theirs, "distutils", "index-servers");
        if !listed
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .any(|s| s == REPOSITORY)
        {
            body = insert_index_server(&theirs, listed.is_some(), eol);
        }
    }
    lines.extend([
        format!("[{REPOSITORY}]"),
        format!("repository = {repository}"),
        "username = aws".into(),
        format!("password = {token}"),
        String::new(),
    ]);
    Ok(block::put(
        &body,
        &lines,
        "twine's CodeArtifact repository (ca-login logout removes it)",
        Place::Start,
    ))
}

/// Adds our name to `[distutils] index-servers` (or the key itself) as marked lines.
fn insert_index_server(text: &str, has_key: bool, eol: &str) -> String {
    let add = |out: &mut String, key_too: bool| {
        let added_eol = !out.is_empty() && !out.ends_with('\n');
        if added_eol {
            out.push_str(eol);
        }
        let (indent, n) = if key_too { ("", 2) } else { ("    ", 1) };
        out.push_str(&block::inserted_marker(indent, n, added_eol));
        out.push_str(eol);
        if key_too {
            out.push_str("index-servers =");
            out.push_str(eol);
        }
        out.push_str("    ");
        out.push_str(REPOSITORY);
        out.push_str(eol);
    };
    let mut out = String::with_capacity(text.len() + 80);
    let mut in_distutils = false;
    let mut in_value = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        let continues = bare.starts_with(char::is_whitespace) && !bare.trim().is_empty();
        if !done && in_value && !continues {
            add(&mut out, false);
            done = true;
        }
        if done {
            out.push_str(line);
            continue;
        }
        out.push_str(line);
        if let Some(h) = header(bare) {
            in_distutils = h == "distutils";
            if in_distutils && !has_key {
                add(&mut out, true);
                done = true;
            }
        } else if in_distutils
            && key_of(bare).is_some_and(|k| k.eq_ignore_ascii_case("index-servers"))
        {
            in_value = true;
        }
    }
    if !done && in_value {
        add(&mut out, false);
    }
    out
}

/// `text` without our section and our index-servers lines, and whether there were any.
pub fn remove(text: &str) -> (String, bool) {
    let (a, found_block) = block::remove(text);
    let (b, found_lines) = block::remove_inserted(&a);
    (b, found_block || found_lines)
}

/// `text` for a dry-run preview: every `password` value shown as `****`.
pub fn preview(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let bare = line.trim_end_matches(['\r', '\n']);
            match (key_of(bare), bare.find(['=', ':'])) {
                (Some(k), Some(i)) if k.eq_ignore_ascii_case("password") => {
                    format!("{} ****{}", &bare[..=i], &line[bare.len()..])
                }
                _ => line.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/";

    fn p() -> &'static Path {
        Path::new("/tmp/.pypirc")
    }

    #[test]
    fn set_on_an_empty_file_writes_what_the_aws_cli_writes() {
        let out = set(p(), "", URL, "tok").expect("set");
        assert_eq!(
            get(&out, "distutils", "index-servers").as_deref(),
            Some("codeartifact")
        );
        assert_eq!(
            get(&out, "codeartifact", "repository").as_deref(),
            Some(URL)
        );
        assert_eq!(
            get(&out, "codeartifact", "username").as_deref(),
            Some("aws")
        );
        assert_eq!(
            get(&out, "codeartifact", "password").as_deref(),
            Some("tok")
        );
        assert_eq!(remove(&out), (String::new(), true));
    }

    #[test]
    fn set_adds_our_name_to_the_users_index_servers_and_remove_gives_back_the_bytes() {
        for original in [
            "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\n",
            "[distutils]\r\nindex-servers = pypi\r\n[pypi]\r\nusername = u\r\n",
            "[distutils]\nindex-servers = pypi",
            "# top\n[distutils]\nother = 1\n\n[pypi]\nusername = u",
        ] {
            let once = set(p(), original, URL, "t1").expect("set");
            let servers = get(&once, "distutils", "index-servers").expect("servers");
            assert!(servers.split_whitespace().any(|s| s == "codeartifact"), "{once:?}");
            let twice = set(p(), &once, URL, "t2").expect("renew");
            assert_eq!(get(&twice, "codeartifact", "password").as_deref(), Some("t2"));
            assert_eq!(twice.matches("    codeartifact").count(), 1, "{twice:?}");
            assert_eq!(remove(&twice), (original.to_string(), true), "{twice:?}");
        }
    }

    #[test]
    fn set_refuses_a_codeartifact_section_of_the_users_own() {
        let err = set(
            p(),
            "[codeartifact]\nrepository = x\npassword = mine\n",
            URL,
            "t",
        )
        .expect_err("theirs")
        .to_string();
        assert!(
            err.contains("[codeartifact]") && err.contains("hint:") && !err.contains("mine"),
            "{err}"
        );
    }

    #[test]
    fn preview_masks_every_password() {
        let out = set(p(), "[pypi]\npassword: pypi-secret\n", URL, "ca-secret").expect("set");
        let shown = preview(&out);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("password = ****\n") && shown.contains("password: ****\n"),
            "{shown}"
        );
    }
}
