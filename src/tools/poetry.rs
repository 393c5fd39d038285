//! Poetry: credentials for a source in `auth.toml` in Poetry's config dir (`POETRY_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/pypoetry`, else `~/.config/pypoetry`), `[http-basic.SOURCE]`; or netrc. The source itself
//! is per project (`poetry source add`); `POETRY_HTTP_BASIC_<SOURCE>_USERNAME/PASSWORD` win over the file.

use std::path::{Path, PathBuf};

use super::{abs_var, xdg_config_home, Env};

/// The default source name.
pub const SOURCE: &str = "codeartifact";

/// Poetry's auth.toml.
pub fn auth_file(env: &dyn Env, home: &Path) -> PathBuf {
    abs_var(env, "POETRY_CONFIG_DIR")
        .unwrap_or_else(|| xdg_config_home(env, home).join("pypoetry"))
        .join("auth.toml")
}

/// The environment variables Poetry reads for `source` (upper case, `-` and `.` as `_`).
pub fn env_vars(source: &str) -> [String; 2] {
    let s: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    [
        format!("POETRY_HTTP_BASIC_{s}_USERNAME"),
        format!("POETRY_HTTP_BASIC_{s}_PASSWORD"),
    ]
}

/// Why Poetry would not use our credentials from the file: one line per reason.
pub fn overrides(env: &dyn Env, source: &str) -> Vec<String> {
    env_vars(source)
        .into_iter()
        .filter(|v| env.var(v).is_some())
        .map(|v| format!("{v} is set and wins over auth.toml (unset {v})"))
        .collect()
}

/// The line a project needs to use the repository (printed by the CLI).
pub fn source_add_line(source: &str, simple_url: &str) -> String {
    format!("poetry source add --priority=primary {source} {simple_url}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Vars;

    #[test]
    fn auth_file_follows_poetry_config_dir_then_xdg() {
        let home = Path::new("/home/u");
        assert_eq!(
            auth_file(&Vars(&[]), home),
            PathBuf::from("/home/u/.config/pypoetry/auth.toml")
        );
        assert_eq!(
            auth_file(&Vars(&[("XDG_CONFIG_HOME", "/x")]), home),
            PathBuf::from("/x/pypoetry/auth.toml")
        );
        let both = Vars(&[("XDG_CONFIG_HOME", "/x"), ("POETRY_CONFIG_DIR", "/p")]);
        assert_eq!(auth_file(&both, home), PathBuf::from("/p/auth.toml"));
    }

    #[test]
    fn env_overrides_use_the_upper_case_source_name() {
        assert_eq!(env_vars("corp-ca")[1], "POETRY_HTTP_BASIC_CORP_CA_PASSWORD");
        let o = overrides(
            &Vars(&[("POETRY_HTTP_BASIC_CODEARTIFACT_PASSWORD", "x")]),
            SOURCE,
        );
        assert_eq!(o.len(), 1);
        assert!(!o[0].contains(": x"));
        assert_eq!(
            source_add_line("codeartifact", "https://h/simple/"),
            "poetry source add --priority=primary codeartifact https://h/simple/"
        );
    }
}
