//! One file per tool: which file it reads, what overrides that file, what we write there. The editors are in
//! `files::{pipconf, netrc, pypirc, toml}`; this module decides which one each tool gets.

pub mod apply;
pub mod poetry;
pub mod twine;
pub mod uv;

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A tool `login(tool=...)` configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    Pip,
    Uv,
    Poetry,
    Twine,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Pip, Tool::Uv, Tool::Poetry, Tool::Twine];

    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Pip => "pip",
            Tool::Uv => "uv",
            Tool::Poetry => "poetry",
            Tool::Twine => "twine",
        }
    }

    pub fn parse(name: &str) -> Result<Tool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.as_str() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::invalid(
                    "tool",
                    format!("{name:?} is not a tool ca-login configures"),
                    "use pip, uv, poetry or twine (several: --tool pip,uv)",
                )
            })
    }

    /// Where the token goes when the caller does not say: in the URL for pip (as the AWS CLI does), in netrc
    /// for uv (a token in an index URL ends in uv.lock), in the tool's own file for Poetry and twine.
    pub fn default_store(self) -> TokenStore {
        match self {
            Tool::Uv => TokenStore::Netrc,
            Tool::Pip | Tool::Poetry | Tool::Twine => TokenStore::Url,
        }
    }

    /// The store this tool uses when the caller asks for `asked`: uv always netrc, twine always `.pypirc`.
    pub fn store(self, asked: Option<TokenStore>) -> TokenStore {
        match self {
            Tool::Uv => TokenStore::Netrc,
            Tool::Twine => TokenStore::Url,
            Tool::Pip | Tool::Poetry => asked.unwrap_or(self.default_store()),
        }
    }
}

/// Parses `tool="pip"`, `tool="pip,uv"` or a list of them: each once, in the order given.
pub fn parse_tools<S: AsRef<str>>(names: &[S]) -> Result<Vec<Tool>> {
    let mut out: Vec<Tool> = Vec::new();
    for name in names.iter().flat_map(|n| n.as_ref().split(',')) {
        if name.trim().is_empty() {
            continue;
        }
        let tool = Tool::parse(name)?;
        if !out.contains(&tool) {
            out.push(tool);
        }
    }
    if out.is_empty() {
        out.push(Tool::Pip);
    }
    Ok(out)
}

/// Where a tool finds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStore {
    /// In the tool's own file: pip's index URL, Poetry's auth.toml, twine's .pypirc.
    Url,
    /// Only in netrc; the tool's file holds the URL without credentials.
    Netrc,
}

impl TokenStore {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStore::Url => "url",
            TokenStore::Netrc => "netrc",
        }
    }

    pub fn parse(name: &str) -> Result<TokenStore> {
        match name {
            "url" => Ok(TokenStore::Url),
            "netrc" => Ok(TokenStore::Netrc),
            other => Err(Error::invalid(
                "token_store",
                format!("{other:?} is not a token store"),
                "use --token-store url or --token-store netrc",
            )),
        }
    }
}

/// The environment a tool is looked at with (the process's, or a test's).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A fixed list of variables (tests; a caller's own environment).
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a>(pub &'a [(&'a str, &'a str)]);

impl Env for Vars<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    }
}

/// An absolute path from an environment variable (a relative one is ignored, as the tools' XDG code does).
pub(crate) fn abs_var(env: &dyn Env, name: &str) -> Option<PathBuf> {
    env.var(name).map(PathBuf::from).filter(|p| p.is_absolute())
}

/// `$XDG_CONFIG_HOME`, else `HOME/.config`.
pub(crate) fn xdg_config_home(env: &dyn Env, home: &Path) -> PathBuf {
    abs_var(env, "XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"))
}

/// The netrc file pip, uv and Poetry read: `$NETRC`, else `HOME/.netrc`.
pub fn netrc_file(env: &dyn Env, home: &Path) -> PathBuf {
    env.var("NETRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".netrc"))
}

/// The repository's `/simple/` URL from its endpoint, without credentials.
pub fn simple_url(endpoint: &str) -> String {
    format!("{}/simple/", endpoint.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_parse_from_lists_and_comma_separated_names_once_each() {
        let t = parse_tools(&["pip,uv", "Twine", "uv"]).expect("parse");
        assert_eq!(t, vec![Tool::Pip, Tool::Uv, Tool::Twine]);
        assert_eq!(parse_tools::<&str>(&[]).expect("default"), vec![Tool::Pip]);
        let err = parse_tools(&["pip,npm"]).expect_err("npm").to_string();
        assert!(err.contains("\"npm\"") && err.contains("hint:"), "{err}");
    }

    #[test]
    fn uv_always_uses_netrc_twine_never_and_pip_defaults_to_the_url() {
        assert_eq!(Tool::Uv.store(Some(TokenStore::Url)), TokenStore::Netrc);
        assert_eq!(Tool::Twine.store(Some(TokenStore::Netrc)), TokenStore::Url);
        assert_eq!(Tool::Pip.store(None), TokenStore::Url);
        assert_eq!(
            Tool::Poetry.store(Some(TokenStore::Netrc)),
            TokenStore::Netrc
        );
        assert!(TokenStore::parse("keyring").is_err());
    }

    #[test]
    fn netrc_honours_the_netrc_variable_and_simple_url_has_one_slash() {
        let home = Path::new("/home/u");
        assert_eq!(
            netrc_file(&Vars(&[("NETRC", "/tmp/n")]), home),
            PathBuf::from("/tmp/n")
        );
        assert_eq!(
            netrc_file(&Vars(&[]), home),
            PathBuf::from("/home/u/.netrc")
        );
        assert_eq!(simple_url("https://h/pypi/r/"), "https://h/pypi/r/simple/");
    }
}
