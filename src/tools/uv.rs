//! uv: reads `uv.toml` in its user config dir (`$XDG_CONFIG_HOME/uv`, else `~/.config/uv`); we add an
//! `[[index]]` named `codeartifact` (its `/simple/` URL, no credentials: uv writes index URLs into uv.lock), the
//! token goes to netrc. What wins over the user file: `UV_INDEX_URL`, `UV_DEFAULT_INDEX`, `UV_INDEX`, `UV_CONFIG_FILE`,
//! `UV_NO_CONFIG`, and a project's `uv.toml` or `pyproject.toml` `[tool.uv]` (the nearest one up from the working
//! directory; uv then reads no user file).

use std::path::{Path, PathBuf};

use super::{xdg_config_home, Env};
use crate::files::toml;

/// The user-level uv.toml.
pub fn config_file(env: &dyn Env, home: &Path) -> PathBuf {
    xdg_config_home(env, home).join("uv").join("uv.toml")
}

/// A boolean uv variable as uv reads it: set and not `0`, `false`, `no`, `off` or empty.
pub fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off"
        )
    })
}

/// The nearest `uv.toml`, or `pyproject.toml` with a `[tool.uv]` table, from `cwd` up (at most 64 levels).
pub fn project_config(cwd: &Path) -> Option<PathBuf> {
    nearest_project_config(cwd).map(|(p, _)| p)
}

/// Why uv will not take its index from the user uv.toml, as uv's own precedence has it (its configuration-files
/// docs): one line per reason, empty when it will. Environment variables win over every file: `UV_INDEX_URL` and
/// `UV_DEFAULT_INDEX` set another default index, `UV_INDEX` and `UV_EXTRA_INDEX_URL` add indexes searched before
/// ours; `UV_CONFIG_FILE` replaces every file uv would find, `UV_NO_CONFIG` reads none. A project's config (the
/// nearest `uv.toml`, or `pyproject.toml` with `[tool.uv]`, from `cwd` up; `uv.toml` first in one directory) is
/// merged with the user file: its values win and its index lists come first, so it overrides ours only when it
/// names indexes of its own (`[[index]]` not `explicit`, `index-url`, `extra-index-url`, `no-index`, and the
/// same keys in its `[pip]` table for `uv pip`).
pub fn overrides(env: &dyn Env, cwd: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (var, what) in [
        ("UV_INDEX_URL", "sets uv's default index"),
        ("UV_DEFAULT_INDEX", "sets uv's default index"),
        ("UV_INDEX", "adds indexes uv searches before ours"),
        ("UV_EXTRA_INDEX_URL", "adds indexes uv searches before ours"),
        ("UV_CONFIG_FILE", "replaces every uv.toml uv would read"),
        ("UV_NO_CONFIG", "makes uv read no uv.toml"),
    ] {
        let set = match var {
            "UV_NO_CONFIG" => truthy(env.var(var)),
            _ => env.var(var).is_some(),
        };
        if set {
            out.push(format!("{var} is set: it {what} (unset {var})"));
        }
    }
    if let Some((path, tool_uv)) = nearest_project_config(cwd) {
        out.extend(project_index_overrides(&path, tool_uv));
    }
    out
}

/// The project config uv reads from `cwd`: the nearest directory with a `uv.toml`, or a `pyproject.toml` that has
/// `[tool.uv]` (at most 64 levels up; only regular files, at most 1 MiB). `true`: a pyproject.toml.
fn nearest_project_config(cwd: &Path) -> Option<(PathBuf, bool)> {
    for dir in cwd.ancestors().take(64) {
        let uv = dir.join("uv.toml");
        if uv.is_file() {
            return Some((uv, false));
        }
        let py = dir.join("pyproject.toml");
        if py.is_file()
            && read_toml(&py).is_some_and(|d| d.get("tool").and_then(|t| t.get("uv")).is_some())
        {
            return Some((py, true));
        }
    }
    None
}

fn read_toml(path: &Path) -> Option<toml_edit::DocumentMut> {
    let bytes = crate::files::read_bytes(path, "read uv's project config").ok()??;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// What a project config sets that comes before our user-level index.
fn project_index_overrides(path: &Path, tool_uv: bool) -> Vec<String> {
    let Some(doc) = read_toml(path) else {
        return vec![format!(
            "uv reads {} in this project, and it is not TOML uv can parse",
            path.display()
        )];
    };
    let root = if tool_uv {
        match doc.get("tool").and_then(|t| t.get("uv")) {
            Some(r) => r.clone(),
            None => return Vec::new(),
        }
    } else {
        doc.as_item().clone()
    };
    let at = path.display();
    let prefix = if tool_uv { "[tool.uv] " } else { "" };
    let mut out = Vec::new();
    if let Some(aot) = root.get("index").and_then(|i| i.as_array_of_tables()) {
        for t in aot.iter() {
            if t.get("explicit").and_then(|v| v.as_bool()) == Some(true) {
                continue;
            }
            let name = t
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("(unnamed)");
            let url = t.get("url").and_then(|v| v.as_str()).unwrap_or("");
            let how = if t.get("default").and_then(|v| v.as_bool()) == Some(true) {
                "replaces ours as uv's default index"
            } else {
                "comes before ours"
            };
            out.push(format!(
                "{at}: {prefix}index {name} ({}) {how} (project settings come first)",
                crate::secret::mask_url(url)
            ));
        }
    }
    for (table, item, scope) in [("", Some(&root), "uv"), ("pip.", root.get("pip"), "uv pip")] {
        let Some(item) = item else { continue };
        for (key, how) in [
            ("index-url", "sets the default index"),
            ("extra-index-url", "adds indexes searched before ours"),
        ] {
            if item.get(key).is_some() {
                out.push(format!("{at}: {prefix}{table}{key} {how} for {scope}"));
            }
        }
        if item.get("no-index").and_then(|v| v.as_bool()) == Some(true) {
            out.push(format!(
                "{at}: {prefix}{table}no-index makes {scope} use no index"
            ));
        }
    }
    out
}

/// Whether the user uv.toml `text` has our index, pointing at `url`.
pub fn has_our_index(path: &Path, text: &str, url: &str) -> bool {
    toml::uv_indexes(path, text, false)
        .map(|v| {
            v.iter()
                .any(|i| i.name.as_deref() == Some(toml::UV_INDEX) && i.url.as_deref() == Some(url))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Vars;

    #[test]
    fn config_file_follows_xdg_config_home_and_ignores_a_relative_one() {
        let home = Path::new("/home/u");
        assert_eq!(
            config_file(&Vars(&[]), home),
            PathBuf::from("/home/u/.config/uv/uv.toml")
        );
        assert_eq!(
            config_file(&Vars(&[("XDG_CONFIG_HOME", "/x")]), home),
            PathBuf::from("/x/uv/uv.toml")
        );
        assert_eq!(
            config_file(&Vars(&[("XDG_CONFIG_HOME", "rel")]), home),
            PathBuf::from("/home/u/.config/uv/uv.toml")
        );
    }

    #[test]
    fn overrides_follow_uv_precedence_a_project_counts_only_with_indexes_of_its_own() {
        let dir = tempfile::tempdir().expect("tmp");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert!(overrides(&Vars(&[]), &sub).is_empty());
        let py = dir.path().join("a/pyproject.toml");
        // Merged with the user file: a [tool.uv] without indexes leaves ours in use.
        std::fs::write(&py, "[tool.uv]\nindex = []\n[[tool.uv.index]]\nname = \"x\"\nurl = \"https://u:pw@x/simple\"\nexplicit = true\n")
            .expect("write");
        assert!(overrides(&Vars(&[]), &sub).is_empty());
        std::fs::write(&py, "[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://u:pw@corp/simple\"\ndefault = true\n[tool.uv.pip]\nno-index = true\n")
            .expect("write");
        let o = overrides(&Vars(&[("UV_INDEX", "https://other/simple")]), &sub);
        assert_eq!(o.len(), 3, "{o:?}");
        assert!(o[0].starts_with("UV_INDEX is set"), "{o:?}");
        assert!(
            o[1].contains("index corp") && o[1].contains("replaces ours"),
            "{o:?}"
        );
        assert!(
            !o[1].contains("pw"),
            "a password in the project's URL is shown: {o:?}"
        );
        assert!(
            o[2].contains("pip.no-index") && o[2].contains("uv pip"),
            "{o:?}"
        );
        // uv.toml wins over pyproject.toml in the same directory, the nearest directory over its parents.
        std::fs::write(
            dir.path().join("a/uv.toml"),
            "extra-index-url = [\"https://e/simple\"]\n",
        )
        .expect("write");
        let o = overrides(&Vars(&[]), &sub);
        assert_eq!(o.len(), 1, "{o:?}");
        assert!(o[0].contains("uv.toml: extra-index-url"), "{o:?}");
        std::fs::write(sub.join("uv.toml"), "# nothing\n").expect("write");
        assert!(overrides(&Vars(&[]), &sub).is_empty());
    }

    #[test]
    fn overrides_name_the_variables_and_a_project_with_tool_uv() {
        let dir = tempfile::tempdir().expect("tmp");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert!(overrides(&Vars(&[]), &sub).is_empty());
        assert!(
            overrides(&Vars(&[("UV_NO_CONFIG", "0")]), &sub).is_empty(),
            "UV_NO_CONFIG=0 is off, as diagnose reads it"
        );
        std::fs::write(
            dir.path().join("a/pyproject.toml"),
            "[project]\nname = \"x\"\n",
        )
        .expect("write");
        assert!(
            overrides(&Vars(&[]), &sub).is_empty(),
            "a pyproject.toml without [tool.uv] does not count"
        );
        std::fs::write(
            dir.path().join("a/pyproject.toml"),
            "[tool.uv]\nindex = []\n",
        )
        .expect("write");
        assert_eq!(
            project_config(&sub),
            Some(dir.path().join("a/pyproject.toml"))
        );
        assert!(
            overrides(&Vars(&[]), &sub).is_empty(),
            "a [tool.uv] without indexes of its own is merged with ours"
        );
        std::fs::write(
            dir.path().join("a/pyproject.toml"),
            "[tool.uv]\nindex-url = \"https://other/simple\"\n",
        )
        .expect("write");
        let o = overrides(&Vars(&[("UV_INDEX_URL", "https://pypi.org/simple")]), &sub);
        assert_eq!(o.len(), 2, "{o:?}");
        assert!(
            o[0].contains("UV_INDEX_URL") && o[1].contains("pyproject.toml"),
            "{o:?}"
        );
    }
}
