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

/// Why uv would not use our index from the user file: one line per reason, empty when it will.
pub fn overrides(env: &dyn Env, cwd: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for var in [
        "UV_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_INDEX",
        "UV_CONFIG_FILE",
        "UV_NO_CONFIG",
    ] {
        if env.var(var).is_some() {
            out.push(format!(
                "{var} is set and wins over the user uv.toml (unset {var})"
            ));
        }
    }
    if let Some(project) = project_config(cwd) {
        out.push(format!(
            "uv reads {} in this project instead of the user uv.toml (add the codeartifact index there)",
            project.display()
        ));
    }
    out
}

/// The nearest `uv.toml`, or `pyproject.toml` with a `[tool.uv]` table, from `cwd` up (at most 64 levels).
pub fn project_config(cwd: &Path) -> Option<PathBuf> {
    for dir in cwd.ancestors().take(64) {
        let uv = dir.join("uv.toml");
        if uv.is_file() {
            return Some(uv);
        }
        let py = dir.join("pyproject.toml");
        if py.is_file() && has_tool_uv(&py) {
            return Some(py);
        }
    }
    None
}

fn has_tool_uv(path: &Path) -> bool {
    // Bounded and regular files only (a FIFO named pyproject.toml must not hang status).
    let Ok(Some(bytes)) = crate::files::read_bytes(path, "read a project's pyproject.toml") else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    text.parse::<toml_edit::DocumentMut>()
        .map(|d| d.get("tool").and_then(|t| t.get("uv")).is_some())
        .unwrap_or(false)
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
    fn overrides_name_the_variables_and_a_project_with_tool_uv() {
        let dir = tempfile::tempdir().expect("tmp");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert!(overrides(&Vars(&[]), &sub).is_empty());
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
        let o = overrides(&Vars(&[("UV_INDEX_URL", "https://pypi.org/simple")]), &sub);
        assert_eq!(o.len(), 2, "{o:?}");
        assert!(
            o[0].contains("UV_INDEX_URL") && o[1].contains("pyproject.toml"),
            "{o:?}"
        );
    }
}
