//! The tool layer, after pip's: one check per tool other than pip (`uv`, `poetry`, `twine`), each saying whether
//! that tool will reach this repository with a valid credential: the file the tool reads holds our entry,
//! nothing wins over it (environment variables, a project's own configuration), and the credential it finds
//! (netrc for uv, `auth.toml` or netrc for Poetry, `.pypirc` for twine) is ours and not expired per the state
//! file. Every finding is data: a check with a cause code (`remedy::TOOL_CAUSES`), a detail and the commands to
//! paste, never an error.
//!
//! Where each tool looks and what overrides it come from `crate::tools`; the files are read through `files::`
//! (regular files only, at most 1 MiB) and parsed by the editors' own readers in `crate::files` (read-only).
//! The decisions are pure functions of what was read ([`uv_decide`], [`netrc_decide`], [`poetry_decide`],
//! [`poetry_project`], [`twine_decide`], [`expiry`]), each with its unit tests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Check, Fix, Layer, Options, Outcome, Recorder, Status};
use crate::files::{self, block, netrc, pypirc, toml};
use crate::remedy::{self, Face, ToolFix};
use crate::secret::mask_url;
use crate::settings::Settings;
use crate::state::{Entry, State};
use crate::tools::{self, apply, poetry, twine, uv, Env, Tool};

/// pip's checks, skipped when pip is not among the tools asked for.
pub const PIP_CHECKS: [&str; 4] = ["pip-index-url", "pip-token", "pip-cert", "pip-environment"];

/// Seconds before expiry from which a check says "log in again soon".
const SOON: i64 = 3600;

/// The tools a diagnosis checks: those named (`"uv,poetry"` or a list; an unknown name is `InvalidInput`,
/// before any network call), else pip plus every tool the state file records a login for, in `Tool::ALL` order.
pub fn asked(names: &[String], st: &State) -> crate::Result<Vec<Tool>> {
    if names
        .iter()
        .any(|n| n.split(',').any(|p| !p.trim().is_empty()))
    {
        return tools::parse_tools(names);
    }
    Ok(Tool::ALL
        .into_iter()
        .filter(|t| *t == Tool::Pip || st.entries().any(|e| e.tool == t.as_str()))
        .collect())
}

/// Why a tool will not reach the repository with a valid credential (or, in a warning, what may stop it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub cause: &'static str,
    /// One sentence: what is wrong, where.
    pub detail: String,
    /// What to do, in words (the commands follow it).
    pub advice: String,
    pub fixes: Vec<ToolFix>,
}

impl Problem {
    fn new(
        cause: &'static str,
        detail: impl Into<String>,
        advice: impl Into<String>,
        fixes: Vec<ToolFix>,
    ) -> Self {
        Problem {
            cause,
            detail: detail.into(),
            advice: advice.into(),
            fixes,
        }
    }
}

/// What a passing step found: notes for the detail, and warnings that do not stop the tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub notes: Vec<String>,
    pub warnings: Vec<Problem>,
}

impl Findings {
    fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }
    fn and(mut self, other: Findings) -> Self {
        self.notes.extend(other.notes);
        self.warnings.extend(other.warnings);
        self
    }
}

/// A step of a check: what it found, or the problem that stops the tool.
pub type Found = std::result::Result<Findings, Problem>;

/// A file as read through `files::`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileView {
    Missing,
    /// Not a regular file, over 1 MiB, not UTF-8, or not readable by this user: the error's text (with its hint).
    Unusable {
        error: String,
        permission_denied: bool,
    },
    Text {
        text: String,
        /// The permission bits.
        mode: u32,
    },
}

impl FileView {
    /// Reads `path` through `files::` (the same read the login's editors use).
    pub fn read(path: &Path) -> FileView {
        match apply::read(path) {
            Ok(None) => FileView::Missing,
            Ok(Some(text)) => {
                let mode = files::user::open_file(path, files::user::Open::Read)
                    .ok()
                    .and_then(|f| f.metadata().ok())
                    .map_or(0o600, |m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o777
                    });
                FileView::Text { text, mode }
            }
            Err(e) => {
                let permission_denied = matches!(
                    files::user::open_file(path, files::user::Open::Read),
                    Err(files::user::OpenError::Io(io)) if io.kind() == std::io::ErrorKind::PermissionDenied
                );
                FileView::Unusable {
                    error: e.to_string().replace("\nhint: ", "; hint: "),
                    permission_denied,
                }
            }
        }
    }
}

/// Whether the token recorded for a file is still good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No ca-login record for it.
    Unknown,
    Expired(i64),
    /// Valid for less than an hour.
    Soon(i64),
    Valid(i64),
}

/// The expiry the state records in `entry`, at `now`.
pub fn expiry(entry: Option<&Entry>, now: i64) -> Expiry {
    match entry {
        None => Expiry::Unknown,
        Some(e) if e.is_expired(now) => Expiry::Expired(e.expires_at),
        Some(e) if e.expires_in(now) < SOON => Expiry::Soon(e.expires_at),
        Some(e) => Expiry::Valid(e.expires_at),
    }
}

fn when(epoch: i64) -> String {
    crate::login::rfc3339(epoch)
}

/// The token step shared by every tool: expired is `cause`, with our login as the fix.
fn token_step(what: &str, exp: Expiry, now: i64, cause: &'static str, login: &ToolFix) -> Found {
    match exp {
        Expiry::Expired(at) => Err(Problem::new(
            cause,
            format!("the token in {what} expired at {}", when(at)),
            "log in again",
            vec![login.clone()],
        )),
        Expiry::Soon(at) => Ok(Findings::default().note(format!(
            "the token expires at {} (in {} min): log in again soon",
            when(at),
            (at - now) / 60
        ))),
        Expiry::Valid(at) => Ok(Findings::default().note(format!(
            "the token expires at {} (in {} h {} min)",
            when(at),
            (at - now) / 3600,
            ((at - now) % 3600) / 60
        ))),
        Expiry::Unknown => Ok(Findings::default().note("no ca-login record of the token's expiry")),
    }
}

/// The environment variables that change which index uv asks, and with which credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UvEnv {
    pub no_config: bool,
    pub no_index: bool,
    /// `UV_CONFIG_FILE`: uv reads that file instead of every file it would find.
    pub config_file: Option<PathBuf>,
    /// `UV_DEFAULT_INDEX` or `UV_INDEX_URL` (the default index), whichever is set.
    pub default_index: Option<&'static str>,
    /// `UV_INDEX` or `UV_EXTRA_INDEX_URL` (indexes asked before the configured ones), whichever is set.
    pub index: Option<&'static str>,
    /// `UV_INDEX_CODEARTIFACT_USERNAME` / `_PASSWORD`: sent instead of the netrc entry.
    pub credentials: Vec<String>,
}

impl UvEnv {
    pub fn read(env: &dyn Env) -> UvEnv {
        let first = |names: [&'static str; 2]| names.into_iter().find(|n| env.var(n).is_some());
        let index_var = toml::UV_INDEX.to_ascii_uppercase();
        UvEnv {
            no_config: uv::truthy(env.var("UV_NO_CONFIG")),
            no_index: uv::truthy(env.var("UV_NO_INDEX")),
            config_file: env.var("UV_CONFIG_FILE").map(PathBuf::from),
            default_index: first(["UV_DEFAULT_INDEX", "UV_INDEX_URL"]),
            index: first(["UV_INDEX", "UV_EXTRA_INDEX_URL"]),
            credentials: ["USERNAME", "PASSWORD"]
                .into_iter()
                .map(|k| format!("UV_INDEX_{index_var}_{k}"))
                .filter(|n| env.var(n).is_some())
                .collect(),
        }
    }
}

/// A project's uv configuration: its indexes and the keys that replace the index list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UvProject {
    pub path: PathBuf,
    pub indexes: Vec<toml::UvIndex>,
    /// `index-url` (uv's older name of the default index).
    pub index_url: Option<String>,
    pub extra_index_url: bool,
    pub no_index: bool,
}

impl UvProject {
    /// The project file's uv settings (`[tool.uv]` in a pyproject.toml, the top level of a uv.toml); `None` when
    /// it cannot be read or parsed (uv then ignores a pyproject.toml and fails on a uv.toml: said in the detail).
    pub fn parse(path: &Path, text: &str) -> Option<UvProject> {
        let tool_uv = path.file_name().is_some_and(|n| n == "pyproject.toml");
        let indexes = toml::uv_indexes(path, text, tool_uv).ok()?;
        let doc = text.parse::<toml_edit::DocumentMut>().ok()?;
        let root = if tool_uv {
            doc.get("tool").and_then(|t| t.get("uv"))?
        } else {
            doc.as_item()
        };
        Some(UvProject {
            path: path.to_path_buf(),
            indexes,
            index_url: root
                .get("index-url")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            extra_index_url: root.get("extra-index-url").is_some(),
            no_index: root
                .get("no-index")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        })
    }
}

/// What [`uv_decide`] looks at.
#[derive(Debug)]
pub struct UvInput<'a> {
    pub env: &'a UvEnv,
    /// The user uv.toml and what is there.
    pub user_file: &'a Path,
    pub user: &'a FileView,
    /// The file `UV_CONFIG_FILE` names, read.
    pub config_file: Option<&'a FileView>,
    /// The nearest project configuration (when `UV_CONFIG_FILE` is unset): parsed, or why not.
    pub project: Option<std::result::Result<UvProject, PathBuf>>,
    /// The record says extra index (`--extra-index-url`).
    pub extra: bool,
    pub login: &'a ToolFix,
}

/// Whether uv will ask this repository: our `[[index]]` (`points_here` says whether a URL is this repository's
/// `/simple/` URL) in the file uv reads, and nothing that wins over it. uv merges a project's configuration with
/// the user file (the project's values and its indexes first), reads only `UV_CONFIG_FILE` when it is set, and
/// nothing with `UV_NO_CONFIG`; `UV_DEFAULT_INDEX` / `UV_INDEX_URL` replace the default index, `UV_INDEX` adds
/// indexes asked before it.
pub fn uv_decide(input: &UvInput<'_>, points_here: &dyn Fn(&str) -> bool) -> Found {
    const OVERRIDDEN: &str = "uv-config-overridden";
    const NOT_CONFIGURED: &str = "uv-not-configured";
    const SHADOWED: &str = "uv-index-shadowed";
    let unset = |v: &str| ToolFix::Unset(v.to_string());
    let env = input.env;
    if env.no_config {
        return Err(Problem::new(
            OVERRIDDEN,
            format!(
                "UV_NO_CONFIG is set: uv reads no configuration file, so not our index in {}",
                input.user_file.display()
            ),
            "unset UV_NO_CONFIG",
            vec![unset("UV_NO_CONFIG")],
        ));
    }
    if env.no_index {
        return Err(Problem::new(
            OVERRIDDEN,
            "UV_NO_INDEX is set: uv asks no index",
            "unset UV_NO_INDEX",
            vec![unset("UV_NO_INDEX")],
        ));
    }
    // The file that must hold our index: UV_CONFIG_FILE's, else the user file.
    let (path, view, via_var) = match (&env.config_file, input.config_file) {
        (Some(p), Some(v)) => (p.as_path(), v, true),
        _ => (input.user_file, input.user, false),
    };
    let replaced = |what: String| {
        Problem::new(
            OVERRIDDEN,
            format!(
                "UV_CONFIG_FILE names {}, {what}: uv reads it instead of {}",
                path.display(),
                input.user_file.display()
            ),
            "unset UV_CONFIG_FILE (or add the codeartifact index to that file)",
            vec![unset("UV_CONFIG_FILE")],
        )
    };
    let text = match view {
        FileView::Missing if via_var => return Err(replaced("which does not exist".into())),
        FileView::Missing => {
            return Err(Problem::new(
                NOT_CONFIGURED,
                format!(
                    "{} does not exist: uv installs from https://pypi.org/simple",
                    path.display()
                ),
                "log uv in",
                vec![input.login.clone()],
            ))
        }
        FileView::Unusable { error, .. } => {
            return Err(Problem::new(
                NOT_CONFIGURED,
                format!("uv cannot use {}: {error}", path.display()),
                format!("make {} a readable uv.toml, then log uv in", path.display()),
                vec![input.login.clone()],
            ))
        }
        FileView::Text { text, .. } => text,
    };
    let indexes = match toml::uv_indexes(path, text, false) {
        Ok(i) => i,
        Err(e) => {
            return Err(Problem::new(
                NOT_CONFIGURED,
                format!(
                    "uv cannot use {}: {}",
                    path.display(),
                    e.to_string().replace("\nhint: ", "; hint: ")
                ),
                format!("fix {} (uv stops on it), then log uv in", path.display()),
                vec![input.login.clone()],
            ))
        }
    };
    let named = |i: &toml::UvIndex| i.name.as_deref() == Some(toml::UV_INDEX);
    let Some(pos) = indexes
        .iter()
        .position(|i| named(i) && i.url.as_deref().is_some_and(points_here))
    else {
        let elsewhere = indexes
            .iter()
            .find(|i| named(i))
            .and_then(|i| i.url.as_deref())
            .map(|u| {
                format!(
                    "its [[index]] codeartifact points at {}, not this repository",
                    mask_url(u)
                )
            });
        let what = elsewhere.unwrap_or_else(|| "it has no [[index]] codeartifact".into());
        if via_var {
            return Err(replaced(
                what.replace("its ", "whose ")
                    .replace("it has", "which has"),
            ));
        }
        return Err(Problem::new(
            NOT_CONFIGURED,
            format!("{}: {what}", path.display()),
            "log uv in",
            vec![input.login.clone()],
        ));
    };
    let ours = &indexes[pos];
    let mode = if ours.default { "default" } else { "extra" };
    let mut found = Findings::default().note(format!("{} has our index ({mode})", path.display()));
    if ours.default && indexes[..pos].iter().any(|i| i.default) {
        return Err(Problem::new(
            OVERRIDDEN,
            format!(
                "{} has another default [[index]] before ours: uv takes the first",
                path.display()
            ),
            format!(
                "remove `default = true` from the other [[index]] in {}",
                path.display()
            ),
            Vec::new(),
        ));
    }
    // A project's configuration, merged before the user file (ignored with UV_CONFIG_FILE).
    if !via_var {
        match &input.project {
            None => {}
            Some(Err(p)) => {
                found = found.note(format!(
                    "{} cannot be read as uv configuration; uv may stop on it",
                    p.display()
                ))
            }
            Some(Ok(proj)) => {
                let p = proj.path.display();
                if proj.no_index {
                    return Err(Problem::new(
                        OVERRIDDEN,
                        format!("{p} sets no-index: uv asks no index in this project"),
                        format!("remove no-index from {p}"),
                        Vec::new(),
                    ));
                }
                let own_default = proj
                    .indexes
                    .iter()
                    .find(|i| i.default && !i.url.as_deref().is_some_and(points_here))
                    .map(|i| {
                        format!(
                            "a default [[index]] {}",
                            i.name.as_deref().map_or_else(
                                || mask_url(i.url.as_deref().unwrap_or("")),
                                str::to_string
                            )
                        )
                    })
                    .or_else(|| {
                        proj.index_url
                            .as_deref()
                            .filter(|u| !points_here(u))
                            .map(|u| format!("index-url {}", mask_url(u)))
                    });
                if let (Some(what), true) = (&own_default, ours.default) {
                    return Err(Problem::new(
                        OVERRIDDEN,
                        format!("{p} sets {what}: in this project uv takes it over the user uv.toml's default index"),
                        format!("point that index in {p} at this repository, or log uv in with the repository as an extra index (asked first; two indexes allow dependency confusion)"),
                        vec![ToolFix::Login { tool: "uv", extra_index: true, token_store: None, poetry_source: None }],
                    ));
                }
                let ahead: Vec<String> = proj
                    .indexes
                    .iter()
                    .filter(|i| !i.default && !i.url.as_deref().is_some_and(points_here))
                    .map(|i| {
                        i.name
                            .clone()
                            .unwrap_or_else(|| mask_url(i.url.as_deref().unwrap_or("")))
                    })
                    .chain(proj.extra_index_url.then(|| "extra-index-url".to_string()))
                    .collect();
                if !ahead.is_empty() {
                    found.warnings.push(Problem::new(
                        SHADOWED,
                        format!("{p} adds indexes uv asks before ours ({}): a package found there comes from there", ahead.join(", ")),
                        format!("remove them from {p} if this repository should serve every package"),
                        Vec::new(),
                    ));
                }
                found = found.note(format!("merged with {p}"));
            }
        }
    }
    match (env.default_index, ours.default) {
        (Some(var), true) => {
            return Err(Problem::new(
                OVERRIDDEN,
                format!("{var} is set: uv takes it as the default index instead of ours"),
                format!("unset {var}"),
                vec![unset(var)],
            ))
        }
        (Some(var), false) => {
            found = found.note(format!(
                "{var} sets the default index; ours is an extra index, asked first"
            ))
        }
        (None, _) => {}
    }
    if let Some(var) = env.index {
        found.warnings.push(Problem::new(
            SHADOWED,
            format!(
                "{var} adds indexes uv asks before ours: a package found there comes from there"
            ),
            format!("unset {var} if this repository should serve every package"),
            vec![unset(var)],
        ));
    }
    if !env.credentials.is_empty() {
        return Err(Problem::new(
            OVERRIDDEN,
            format!(
                "{} set: uv sends it to the codeartifact index instead of the netrc token",
                env.credentials.join(" and ")
            ),
            format!("unset {}", env.credentials.join(" ")),
            env.credentials.iter().map(|v| unset(v)).collect(),
        ));
    }
    if input.extra && ours.default {
        found = found
            .note("the login was recorded as --extra-index-url, the file has it as the default");
    }
    Ok(found)
}

/// What [`netrc_decide`] looks at.
#[derive(Debug)]
pub struct NetrcInput<'a> {
    pub path: &'a Path,
    pub view: &'a FileView,
    /// The repository's host (netrc readers match the bare host name).
    pub host: &'a str,
    /// Who reads it: `uv`, `Poetry`.
    pub reader: &'a str,
    /// The file's owner is this user.
    pub owned: bool,
    pub expiry: Expiry,
    pub now: i64,
    pub expired_cause: &'static str,
    pub login: &'a ToolFix,
}

/// Whether the netrc entry the tool will send for the repository host exists, is ours and is fresh; a netrc
/// this user cannot read, or that others can, is said.
pub fn netrc_decide(input: &NetrcInput<'_>) -> Found {
    let (path, host, reader) = (input.path, input.host, input.reader);
    let missing = |what: String| {
        Problem::new(
            "netrc-entry-missing",
            format!("{what}: {reader} sends no credential to {host} and gets HTTP 401"),
            "log in again (it writes the netrc entry)",
            vec![input.login.clone()],
        )
    };
    let (text, mode) = match input.view {
        FileView::Missing => return Err(missing(format!("{} does not exist", path.display()))),
        FileView::Unusable {
            error,
            permission_denied: true,
        } => {
            let (advice, fixes) = if input.owned {
                (
                    "make it readable by you alone",
                    vec![ToolFix::Chmod600(path.to_path_buf())],
                )
            } else {
                (
                    "it belongs to another user: move it aside and log in again",
                    vec![ToolFix::MoveAside(path.to_path_buf()), input.login.clone()],
                )
            };
            return Err(Problem::new(
                "netrc-unreadable",
                format!(
                    "this user cannot read {}: {reader} finds no credential for {host} ({error})",
                    path.display()
                ),
                advice,
                fixes,
            ));
        }
        FileView::Unusable { error, .. } => {
            return Err(Problem::new(
                "netrc-unreadable",
                format!(
                    "{} is not a netrc file {reader} can read: {error}",
                    path.display()
                ),
                format!("make {} a regular file, then log in again", path.display()),
                Vec::new(),
            ))
        }
        FileView::Text { text, mode } => (text, *mode),
    };
    let mut found = Findings::default();
    match netrc::lookup(text, host) {
        None => return Err(missing(format!("{} has no entry for {host}", path.display()))),
        Some(e) if e.machine.is_none() => {
            return Err(missing(format!(
                "{} has no entry for {host} (only its `default` entry, which is not a CodeArtifact token)",
                path.display()
            )))
        }
        Some(_) if netrc::our_host(text).as_deref() != Some(host) => {
            found.warnings.push(Problem::new(
                "credential-not-ours",
                format!("the entry for {host} in {} is not ca-login's: {reader} sends it, and ca-login cannot tell whether it is valid", path.display()),
                format!("remove the `machine {host}` entry from {} and log in again, to get a token ca-login renews", path.display()),
                Vec::new(),
            ));
        }
        Some(_) => {
            found = found
                .note(format!("{} has our entry for {host}", path.display()))
                .and(token_step(&path.display().to_string(), input.expiry, input.now, input.expired_cause, input.login)?);
        }
    }
    if mode & 0o077 != 0 {
        found.warnings.push(Problem::new(
            "netrc-permissions",
            format!(
                "{} has mode {mode:04o}: other users can read the token",
                path.display()
            ),
            "make it readable by you alone",
            vec![ToolFix::Chmod600(path.to_path_buf())],
        ));
    }
    Ok(found)
}

/// Whether Poetry's auth.toml (`text`, or the file missing) has credentials for `source`, ours or not.
pub fn poetry_decide(
    path: &Path,
    view: &FileView,
    source: &str,
    expiry: Expiry,
    now: i64,
    login: &ToolFix,
) -> Found {
    const NOT_CONFIGURED: &str = "poetry-not-configured";
    let text = match view {
        FileView::Missing => {
            return Err(Problem::new(
                NOT_CONFIGURED,
                format!("{} does not exist: Poetry has no credentials for the source {source} and gets HTTP 401", path.display()),
                "log Poetry in",
                vec![login.clone()],
            ))
        }
        FileView::Unusable { error, .. } => {
            return Err(Problem::new(
                NOT_CONFIGURED,
                format!("Poetry cannot use {}: {error}", path.display()),
                format!("make {} a readable auth.toml, then log Poetry in", path.display()),
                vec![login.clone()],
            ))
        }
        FileView::Text { text, .. } => text,
    };
    match toml::poetry_auth(path, text, source) {
        Err(e) => Err(Problem::new(
            NOT_CONFIGURED,
            format!("Poetry cannot use {}: {}", path.display(), e.to_string().replace("\nhint: ", "; hint: ")),
            format!("fix {}, then log Poetry in", path.display()),
            vec![login.clone()],
        )),
        Ok(None) => Err(Problem::new(
            NOT_CONFIGURED,
            format!("{} has no [http-basic.{source}]: Poetry sends no credential to the source {source}", path.display()),
            "log Poetry in",
            vec![login.clone()],
        )),
        Ok(Some((user, pw))) if user.is_empty() || pw.is_empty() => Err(Problem::new(
            NOT_CONFIGURED,
            format!("[http-basic.{source}] in {} has no username or password (Poetry then asks the keyring)", path.display()),
            "log Poetry in",
            vec![login.clone()],
        )),
        Ok(Some(_)) if block::find(text).is_none() => {
            let mut f = Findings::default();
            f.warnings.push(Problem::new(
                "credential-not-ours",
                format!("[http-basic.{source}] in {} is not ca-login's: Poetry sends it, and ca-login cannot tell whether it is valid", path.display()),
                format!("remove [http-basic.{source}] from {} and log Poetry in, to get a token ca-login renews", path.display()),
                Vec::new(),
            ));
            Ok(f)
        }
        Ok(Some(_)) => Ok(Findings::default()
            .note(format!("{} has our [http-basic.{source}]", path.display()))
            .and(token_step(&path.display().to_string(), expiry, now, "poetry-token-expired", login)?)),
    }
}

/// A Poetry project's sources (name, url) from its pyproject.toml; `None` when the file is not a Poetry project
/// (no `[tool.poetry]`, no Poetry build backend) or does not parse.
pub fn poetry_project(text: &str) -> Option<Vec<(String, String)>> {
    let doc = text.parse::<toml_edit::DocumentMut>().ok()?;
    let poetry = doc.get("tool").and_then(|t| t.get("poetry"));
    let backend = doc
        .get("build-system")
        .and_then(|b| b.get("build-backend"))
        .and_then(|b| b.as_str())
        .is_some_and(|b| b.starts_with("poetry"));
    if poetry.is_none() && !backend {
        return None;
    }
    let field = |t: &dyn toml_edit::TableLike, k: &str| {
        t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    let sources = poetry.and_then(|p| p.get("source"));
    let mut out = Vec::new();
    if let Some(aot) = sources.and_then(|s| s.as_array_of_tables()) {
        out.extend(aot.iter().map(|t| (field(t, "name"), field(t, "url"))));
    } else if let Some(arr) = sources.and_then(|s| s.as_array()) {
        out.extend(
            arr.iter()
                .filter_map(|v| v.as_inline_table())
                .map(|t| (field(t, "name"), field(t, "url"))),
        );
    }
    Some(out)
}

/// Whether twine's .pypirc (`text`, or the file missing) leads `twine upload -r codeartifact` to this
/// repository (`points_here` takes the repository's `/simple/` URL) with a password, ours or not.
pub fn twine_decide(
    path: &Path,
    view: &FileView,
    points_here: &dyn Fn(&str) -> bool,
    expiry: Expiry,
    now: i64,
    login: &ToolFix,
) -> Found {
    const NOT_CONFIGURED: &str = "twine-not-configured";
    let name = pypirc::REPOSITORY;
    let problem = |what: String| {
        Problem::new(
            NOT_CONFIGURED,
            format!("{what}: `twine upload -r {name}` does not reach this repository"),
            "log twine in",
            vec![login.clone()],
        )
    };
    let text = match view {
        FileView::Missing => return Err(problem(format!("{} does not exist", path.display()))),
        FileView::Unusable { error, .. } => {
            return Err(problem(format!(
                "twine cannot use {}: {error}",
                path.display()
            )))
        }
        FileView::Text { text, .. } => text,
    };
    let listed = pypirc::get(text, "distutils", "index-servers")
        .is_some_and(|v| v.split_whitespace().any(|s| s == name));
    if !listed {
        return Err(problem(format!(
            "[distutils] index-servers in {} does not list {name}",
            path.display()
        )));
    }
    if !pypirc::sections(text).iter().any(|s| s == name) {
        return Err(problem(format!(
            "{} has no [{name}] section",
            path.display()
        )));
    }
    let repository = pypirc::get(text, name, "repository").unwrap_or_default();
    if !points_here(&tools::simple_url(&repository)) {
        return Err(problem(format!(
            "[{name}] repository in {} is {}, not this repository's endpoint",
            path.display(),
            if repository.is_empty() {
                "missing".to_string()
            } else {
                mask_url(&repository)
            }
        )));
    }
    if pypirc::get(text, name, "password").is_none_or(|p| p.is_empty()) {
        return Err(problem(format!(
            "[{name}] in {} has no password",
            path.display()
        )));
    }
    if block::find(text).is_none() {
        let mut f = Findings::default();
        f.warnings.push(Problem::new(
            "credential-not-ours",
            format!("[{name}] in {} is not ca-login's: twine sends its password, and ca-login cannot tell whether it is valid", path.display()),
            format!("remove [{name}] from {} and log twine in, to get a token ca-login renews", path.display()),
            Vec::new(),
        ));
        return Ok(f);
    }
    Ok(Findings::default()
        .note(format!("{} has our [{name}]", path.display()))
        .and(token_step(
            &path.display().to_string(),
            expiry,
            now,
            "twine-token-expired",
            login,
        )?))
}

/// Everything the tool checks share.
struct Here<'a> {
    settings: &'a Settings,
    region: &'a str,
    face: Face,
    /// The repository endpoint: the one GetRepositoryEndpoint gave this run, else None.
    endpoint: Option<String>,
    home: PathBuf,
    env: Box<dyn Env>,
    cwd: PathBuf,
    state: State,
    now: i64,
}

impl Here<'_> {
    /// The record of `tool` for `path`.
    fn record(&self, path: &Path, tool: &str) -> Option<&Entry> {
        self.state.get(path).filter(|e| e.tool == tool)
    }

    /// The endpoint: this run's, else a record's for this repository.
    fn endpoint_with(&self, rec: Option<&Entry>) -> Option<String> {
        self.endpoint.clone().or_else(|| {
            rec.filter(|e| {
                e.domain == self.settings.domain.value
                    && e.repository == self.settings.repository.value
            })
            .map(|e| e.repository_endpoint.clone())
        })
    }

    fn points_here<'s>(&'s self, endpoint: Option<&'s str>) -> impl Fn(&str) -> bool + 's {
        move |u: &str| super::pip::points_at(u, endpoint, self.settings)
    }

    fn render(&self, fixes: &[ToolFix]) -> Vec<String> {
        fixes
            .iter()
            .map(|f| remedy::tool_fix(f, self.settings, self.region, self.face))
            .collect()
    }

    fn login(&self, tool: &'static str, rec: Option<&Entry>) -> ToolFix {
        ToolFix::Login {
            tool,
            extra_index: rec.is_some_and(|e| e.extra_index),
            token_store: (tool == "poetry" && rec.is_some_and(|e| e.token_store == "netrc"))
                .then_some("netrc"),
            poetry_source: rec.and_then(|e| e.source.clone()),
        }
    }

    /// The netrc step for `reader`, for the host of `endpoint`.
    fn netrc(
        &self,
        reader: &str,
        endpoint: Option<&str>,
        tool_rec: Option<&Entry>,
        expired_cause: &'static str,
        login: &ToolFix,
    ) -> Found {
        let path = tools::netrc_file(self.env.as_ref(), &self.home);
        let Some(host) = endpoint
            .and_then(|e| url::Url::parse(e).ok())
            .and_then(|u| u.host_str().map(str::to_string))
        else {
            return Ok(Findings::default().note(format!(
                "the repository's host is unknown (no endpoint): its entry in {} is not checked",
                path.display()
            )));
        };
        let view = FileView::read(&path);
        let owned = {
            use std::os::unix::fs::MetadataExt;
            let me = files::user::thread_ids().map(|t| t.uid[1]).ok();
            std::fs::metadata(&path).is_ok_and(|m| Some(m.uid()) == me)
        };
        let netrc_rec = self.record(&path, apply::NETRC).or(tool_rec);
        netrc_decide(&NetrcInput {
            path: &path,
            view: &view,
            host: &host,
            reader,
            owned,
            expiry: expiry(netrc_rec, self.now),
            now: self.now,
            expired_cause,
            login,
        })
    }

    fn uv(&self) -> Found {
        let path = uv::config_file(self.env.as_ref(), &self.home);
        let rec = self.record(&path, "uv");
        let endpoint = self.endpoint_with(rec);
        let login = self.login("uv", rec);
        let env = UvEnv::read(self.env.as_ref());
        let user = FileView::read(&path);
        let config_file = env.config_file.as_deref().map(FileView::read);
        let project = if env.config_file.is_some() {
            None
        } else {
            uv::project_config(&self.cwd).map(|p| match FileView::read(&p) {
                FileView::Text { text, .. } => UvProject::parse(&p, &text).ok_or(p),
                _ => Err(p),
            })
        };
        let points = self.points_here(endpoint.as_deref());
        let found = uv_decide(
            &UvInput {
                env: &env,
                user_file: &path,
                user: &user,
                config_file: config_file.as_ref(),
                project,
                extra: rec.is_some_and(|e| e.extra_index),
                login: &login,
            },
            &points,
        )?;
        Ok(found.and(self.netrc("uv", endpoint.as_deref(), rec, "uv-token-expired", &login)?))
    }

    fn poetry(&self) -> Found {
        let path = poetry::auth_file(self.env.as_ref(), &self.home);
        let rec = self.record(&path, "poetry");
        let source = rec
            .and_then(|e| e.source.clone())
            .unwrap_or_else(|| poetry::SOURCE.to_string());
        let login = self.login("poetry", rec);
        let set: Vec<String> = poetry::env_vars(&source)
            .into_iter()
            .filter(|v| self.env.var(v).is_some())
            .collect();
        if !set.is_empty() {
            return Err(Problem::new(
                "poetry-config-overridden",
                poetry::overrides(self.env.as_ref(), &source).join("; "),
                format!("unset {}", set.join(" ")),
                set.iter().map(|v| ToolFix::Unset(v.clone())).collect(),
            ));
        }
        let endpoint = self.endpoint_with(rec);
        let found = if rec.is_some_and(|e| e.token_store == "netrc") {
            Findings::default()
                .note(format!(
                    "the token is in netrc ({} left as it is)",
                    path.display()
                ))
                .and(self.netrc(
                    "Poetry",
                    endpoint.as_deref(),
                    rec,
                    "poetry-token-expired",
                    &login,
                )?)
        } else {
            poetry_decide(
                &path,
                &FileView::read(&path),
                &source,
                expiry(rec, self.now),
                self.now,
                &login,
            )?
        };
        let Some(simple) = endpoint.as_deref().map(tools::simple_url) else {
            return Ok(found);
        };
        let add = ToolFix::PoetrySourceAdd {
            source: source.clone(),
            url: simple.clone(),
        };
        let pyproject = self.cwd.join("pyproject.toml");
        let sources = match FileView::read(&pyproject) {
            FileView::Text { text, .. } => poetry_project(&text),
            _ => None,
        };
        let points = self.points_here(endpoint.as_deref());
        Ok(match sources {
            None => found.note(format!(
                "a project uses the repository after: {}",
                remedy::tool_fix(&add, self.settings, self.region, self.face)
            )),
            Some(list) => match list.iter().find(|(n, _)| n == &source) {
                Some((_, url)) if points(url) => found.note(format!(
                    "{}'s source {source} is this repository",
                    pyproject.display()
                )),
                other => {
                    let what = match other {
                        Some((_, url)) => {
                            format!("its source {source} points at {}", mask_url(url))
                        }
                        None => format!("it has no source {source}"),
                    };
                    let mut f = found;
                    f.warnings.push(Problem::new(
                        "poetry-source-missing",
                        format!("{} is a Poetry project and {what}: poetry will not install from this repository there", pyproject.display()),
                        "add the source to the project",
                        vec![add],
                    ));
                    f
                }
            },
        })
    }

    fn twine(&self) -> Found {
        let path = twine::pypirc_file(&self.home);
        let rec = self.record(&path, "twine");
        let endpoint = self.endpoint_with(rec);
        let login = self.login("twine", rec);
        let points = self.points_here(endpoint.as_deref());
        let mut found = twine_decide(
            &path,
            &FileView::read(&path),
            &points,
            expiry(rec, self.now),
            self.now,
            &login,
        )?;
        let set: Vec<&str> = ["TWINE_USERNAME", "TWINE_PASSWORD", "TWINE_REPOSITORY_URL"]
            .into_iter()
            .filter(|v| self.env.var(v).is_some())
            .collect();
        if !set.is_empty() {
            found.warnings.push(Problem::new(
                "twine-config-overridden",
                twine::overrides(self.env.as_ref()).join("; "),
                format!("unset {}", set.join(" ")),
                set.iter()
                    .map(|v| ToolFix::Unset((*v).to_string()))
                    .collect(),
            ));
        }
        Ok(found.note(format!("upload with: {}", twine::upload_line())))
    }

    /// The check from a tool's outcome: a failure, a warning (its first warning's cause, every warning's fix) or
    /// a pass; the detail ends with the commands to paste.
    fn check(&self, tool: Tool, outcome: Found) -> Check {
        let name = tool.as_str();
        let with_fix = |text: String, cmds: &[String]| {
            if cmds.is_empty() {
                text
            } else {
                format!("{text} (fix: {})", cmds.join("; "))
            }
        };
        match outcome {
            Err(p) => {
                let cmds = self.render(&p.fixes);
                let remedy = if cmds.is_empty() {
                    p.advice.clone()
                } else {
                    format!("{}: {}", p.advice, cmds.join("; then "))
                };
                let mut c = Check::fail(
                    name,
                    Layer::Tool,
                    with_fix(p.detail.clone(), &cmds),
                    p.cause,
                    format!(
                        "{name} will not reach this repository with a valid credential: {}.",
                        p.detail
                    ),
                    remedy,
                );
                c.fix = Some(Fix {
                    cause: p.cause,
                    commands: cmds,
                });
                c
            }
            Ok(f) if !f.warnings.is_empty() => {
                let mut cmds = Vec::new();
                let mut texts = f.notes.clone();
                for w in &f.warnings {
                    let mine = self.render(&w.fixes);
                    texts.push(with_fix(format!("{}; {}", w.detail, w.advice), &mine));
                    cmds.extend(mine);
                }
                let mut c = Check::new(name, Layer::Tool, Status::Warn, texts.join("; "));
                c.fix = Some(Fix {
                    cause: f.warnings[0].cause,
                    commands: cmds,
                });
                c
            }
            Ok(f) => Check::ok(name, Layer::Tool, f.notes.join("; ")),
        }
    }
}

/// The checks of the tools asked for (pip's are `pip.rs`'s), in `Tool::ALL` order.
pub fn run(
    settings: &Settings,
    opts: &Options,
    region: &str,
    outcome: &Outcome,
    asked: &[Tool],
    rec: &Recorder,
) {
    let target = &opts.target;
    let here = Here {
        settings,
        region,
        face: opts.face,
        endpoint: outcome.repository_endpoint.clone(),
        home: crate::login::tool_home(target),
        // For another user's home, none of our own XDG_*/NETRC/POETRY_CONFIG_DIR (as login does).
        env: if target.as_user.is_some() {
            Box::new(tools::Vars(&[]))
        } else {
            Box::new(tools::ProcessEnv)
        },
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        state: crate::state::load(&crate::login::state_path(target)).unwrap_or_default(),
        now: crate::login::now_epoch(),
    };
    for tool in Tool::ALL.into_iter().filter(|t| asked.contains(t)) {
        let t0 = Instant::now();
        let outcome = match tool {
            Tool::Pip => continue,
            Tool::Uv => here.uv(),
            Tool::Poetry => here.poetry(),
            Tool::Twine => here.twine(),
        };
        rec.push(here.check(tool, outcome).took(t0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Vars;

    const SIMPLE: &str =
        "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/";

    fn here(u: &str) -> bool {
        u == SIMPLE
    }

    fn login() -> ToolFix {
        ToolFix::Login {
            tool: "uv",
            extra_index: false,
            token_store: None,
            poetry_source: None,
        }
    }

    fn text(t: &str) -> FileView {
        FileView::Text {
            text: t.to_string(),
            mode: 0o600,
        }
    }

    fn ours_uv(default: bool) -> String {
        toml::set_uv_index(Path::new("uv.toml"), "# mine\n", SIMPLE, default).expect("uv.toml")
    }

    fn decide(
        env: &UvEnv,
        user: &FileView,
        project: Option<std::result::Result<UvProject, PathBuf>>,
    ) -> Found {
        let l = login();
        uv_decide(
            &UvInput {
                env,
                user_file: Path::new("/h/.config/uv/uv.toml"),
                user,
                config_file: None,
                project,
                extra: false,
                login: &l,
            },
            &here,
        )
    }

    fn entry(expires_at: i64) -> Entry {
        Entry {
            tool: "uv".into(),
            config_file: "/h/.config/uv/uv.toml".into(),
            repository_endpoint: SIMPLE.trim_end_matches("simple/").into(),
            domain: "d".into(),
            domain_owner: None,
            repository: "r".into(),
            region: "us-west-2".into(),
            expires_at,
            issued_at: 0,
            previous_index_url: None,
            had_previous: false,
            token_store: "netrc".into(),
            extra_index: false,
            created: true,
            source: None,
        }
    }

    #[test]
    fn every_cause_this_layer_gives_is_registered_in_remedy() {
        let code = include_str!("tools.rs");
        let code = &code[..code.find("#[cfg(test)]").unwrap_or(code.len())];
        let ends = [
            "-not-configured",
            "-overridden",
            "-expired",
            "-shadowed",
            "-missing",
            "-unreadable",
            "-permissions",
            "-not-ours",
        ];
        let causes: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|lit| !lit.contains(' ') && ends.iter().any(|e| lit.ends_with(e)))
            .collect();
        assert!(causes.len() >= 12, "{causes:?}");
        for c in causes {
            assert!(
                remedy::TOOL_CAUSES.contains(&c),
                "{c} is not in remedy::TOOL_CAUSES"
            );
        }
    }

    #[test]
    fn a_failing_tool_check_is_the_verdict_with_its_own_commands() {
        let settings = super::super::repo::tests::argument_settings("d", "r", None);
        let mut uv = Check::fail("uv", Layer::Tool, "x", "uv-not-configured", "s", "r");
        uv.fix = Some(Fix {
            cause: "uv-not-configured",
            commands: vec!["ca-login login --domain d --repository r --tool uv".into()],
        });
        let mut warn = Check::new("twine", Layer::Tool, Status::Warn, "w");
        warn.fix = Some(Fix {
            cause: "twine-config-overridden",
            commands: vec!["unset TWINE_PASSWORD".into()],
        });
        let mut r = super::super::Report::from_checks(vec![
            warn,
            uv,
            Check::ok("pip-index-url", Layer::Pip, "ok"),
        ]);
        r.fill_commands(&settings, "us-west-2", Face::Cli);
        let v = r.verdict.clone().expect("verdict");
        assert_eq!((v.layer, v.cause), (Layer::Tool, "uv-not-configured"));
        assert_eq!(
            v.commands,
            ["ca-login login --domain d --repository r --tool uv"]
        );
        let names: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["pip-index-url", "twine", "uv"],
            "layer order; within the layer, as pushed"
        );
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(
            j["checks"][0].get("fix"),
            None,
            "only tool checks carry a fix"
        );
        assert_eq!(j["checks"][1]["fix"]["cause"], "twine-config-overridden");
    }

    #[test]
    fn asked_takes_the_named_tools_else_pip_and_every_recorded_tool() {
        let mut st = State::default();
        assert_eq!(asked(&[], &st).expect("default"), vec![Tool::Pip]);
        st.entries.insert(
            "/h/.pypirc".into(),
            Entry {
                tool: "twine".into(),
                ..entry(10)
            },
        );
        st.entries.insert(
            "/h/.netrc".into(),
            Entry {
                tool: "netrc".into(),
                ..entry(10)
            },
        );
        assert_eq!(
            asked(&[String::new()], &st).expect("default"),
            vec![Tool::Pip, Tool::Twine]
        );
        assert_eq!(
            asked(&["uv,poetry".to_string()], &st).expect("named"),
            vec![Tool::Uv, Tool::Poetry]
        );
        assert!(asked(&["npm".to_string()], &st).is_err());
    }

    #[test]
    fn expiry_reads_the_record() {
        assert_eq!(expiry(None, 100), Expiry::Unknown);
        assert_eq!(expiry(Some(&entry(100)), 100), Expiry::Expired(100));
        assert_eq!(expiry(Some(&entry(1000)), 100), Expiry::Soon(1000));
        assert_eq!(expiry(Some(&entry(100_000)), 100), Expiry::Valid(100_000));
    }

    #[test]
    fn uv_passes_with_our_index_and_fails_without_the_file_or_the_index() {
        let env = UvEnv::default();
        let ok = decide(&env, &text(&ours_uv(true)), None).expect("ours");
        assert!(ok.notes[0].contains("has our index (default)"), "{ok:?}");
        assert!(ok.warnings.is_empty());
        let missing = decide(&env, &FileView::Missing, None).expect_err("missing");
        assert_eq!(
            (missing.cause, missing.fixes.clone()),
            ("uv-not-configured", vec![login()])
        );
        let other = decide(
            &env,
            &text("[[index]]\nname = \"codeartifact\"\nurl = \"https://x/simple/\"\n"),
            None,
        )
        .expect_err("elsewhere");
        assert!(
            other.detail.contains("points at https://x/simple/"),
            "{other:?}"
        );
        let none = decide(&env, &text("[pip]\n"), None).expect_err("none");
        assert!(none.detail.contains("no [[index]] codeartifact"));
        let bad = decide(&env, &text("[[index]\n"), None).expect_err("bad toml");
        assert_eq!(bad.cause, "uv-not-configured");
    }

    #[test]
    fn uv_environment_overrides_fail_and_extra_indexes_warn() {
        let ours = text(&ours_uv(true));
        let vars = Vars(&[
            ("UV_DEFAULT_INDEX", "https://pypi.org/simple"),
            ("UV_NO_CONFIG", "0"),
        ]);
        let env = UvEnv::read(&vars);
        assert!(!env.no_config, "UV_NO_CONFIG=0 is off");
        let p = decide(&env, &ours, None).expect_err("default index");
        assert_eq!(p.cause, "uv-config-overridden");
        assert_eq!(p.fixes, vec![ToolFix::Unset("UV_DEFAULT_INDEX".into())]);
        // As an extra index, ours is asked first: only a note.
        let extra = decide(&env, &text(&ours_uv(false)), None).expect("extra");
        assert!(
            extra.notes.iter().any(|n| n.contains("asked first")),
            "{extra:?}"
        );
        let no_config = UvEnv::read(&Vars(&[("UV_NO_CONFIG", "1")]));
        assert_eq!(
            decide(&no_config, &ours, None)
                .expect_err("no config")
                .fixes,
            vec![ToolFix::Unset("UV_NO_CONFIG".into())]
        );
        let index = UvEnv::read(&Vars(&[("UV_INDEX", "https://other/simple")]));
        let w = decide(&index, &ours, None).expect("index");
        assert_eq!(w.warnings[0].cause, "uv-index-shadowed");
        let creds = UvEnv::read(&Vars(&[("UV_INDEX_CODEARTIFACT_PASSWORD", "p")]));
        let c = decide(&creds, &ours, None).expect_err("credentials");
        assert!(
            c.detail.starts_with("UV_INDEX_CODEARTIFACT_PASSWORD set"),
            "{c:?}"
        );
    }

    #[test]
    fn uv_config_file_variable_replaces_the_user_file() {
        let env = UvEnv::read(&Vars(&[("UV_CONFIG_FILE", "/p/uv.toml")]));
        let l = login();
        let run = |cf: &FileView| {
            uv_decide(
                &UvInput {
                    env: &env,
                    user_file: Path::new("/h/.config/uv/uv.toml"),
                    user: &text(&ours_uv(true)),
                    config_file: Some(cf),
                    project: None,
                    extra: false,
                    login: &l,
                },
                &here,
            )
        };
        let p = run(&text("[pip]\n")).expect_err("replaced");
        assert_eq!(p.cause, "uv-config-overridden");
        assert!(
            p.detail.contains("which has no [[index]] codeartifact"),
            "{p:?}"
        );
        assert!(
            run(&text(&ours_uv(true))).is_ok(),
            "that file has our index"
        );
        assert!(run(&FileView::Missing)
            .expect_err("missing")
            .detail
            .contains("does not exist"));
    }

    #[test]
    fn a_project_with_its_own_default_index_wins_one_with_extra_indexes_warns() {
        let env = UvEnv::default();
        let ours = text(&ours_uv(true));
        let proj = |t: &str| {
            Some(Ok(
                UvProject::parse(Path::new("/w/pyproject.toml"), t).expect("parse")
            ))
        };
        let own = "[tool.uv]\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://corp/simple\"\ndefault = true\n";
        let p = decide(&env, &ours, proj(own)).expect_err("own default");
        assert_eq!(p.cause, "uv-config-overridden");
        assert!(
            matches!(
                p.fixes[0],
                ToolFix::Login {
                    extra_index: true,
                    ..
                }
            ),
            "{p:?}"
        );
        let legacy = decide(
            &env,
            &ours,
            proj("[tool.uv]\nindex-url = \"https://corp/simple\"\n"),
        )
        .expect_err("index-url");
        assert!(
            legacy.detail.contains("index-url https://corp/simple"),
            "{legacy:?}"
        );
        let extra = "[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://corp/simple\"\n";
        let w = decide(&env, &ours, proj(extra)).expect("extra");
        assert_eq!(w.warnings[0].cause, "uv-index-shadowed");
        assert!(w.warnings[0].detail.contains("(corp)"));
        let merged =
            decide(&env, &ours, proj("[tool.uv]\nresolution = \"lowest\"\n")).expect("merged");
        assert!(
            merged.warnings.is_empty() && merged.notes.iter().any(|n| n.starts_with("merged with"))
        );
        let no_index =
            decide(&env, &ours, proj("[tool.uv]\nno-index = true\n")).expect_err("no-index");
        assert!(no_index.detail.contains("no-index"));
        // A project's own default index pointing here is fine.
        let here_too =
            format!("[[tool.uv.index]]\nname = \"ca\"\nurl = \"{SIMPLE}\"\ndefault = true\n");
        assert!(decide(&env, &ours, proj(&here_too)).is_ok());
        assert!(
            UvProject::parse(Path::new("/w/pyproject.toml"), "[project]\nname = \"x\"\n").is_none()
        );
    }

    fn netrc_input<'a>(
        view: &'a FileView,
        owned: bool,
        exp: Expiry,
        l: &'a ToolFix,
    ) -> NetrcInput<'a> {
        NetrcInput {
            path: Path::new("/h/.netrc"),
            view,
            host: "d-111122223333.d.codeartifact.us-west-2.amazonaws.com",
            reader: "uv",
            owned,
            expiry: exp,
            now: 100,
            expired_cause: "uv-token-expired",
            login: l,
        }
    }

    #[test]
    fn netrc_entry_must_exist_be_ours_and_fresh_and_the_file_private() {
        let host = "d-111122223333.d.codeartifact.us-west-2.amazonaws.com";
        let l = login();
        let ours = netrc::set(
            Path::new("/h/.netrc"),
            "machine other login u password p\n",
            host,
            "tok",
        )
        .expect("netrc");
        let ok = netrc_decide(&netrc_input(&text(&ours), true, Expiry::Valid(100_000), &l))
            .expect("ours");
        assert!(
            ok.warnings.is_empty() && ok.notes[0].contains("has our entry"),
            "{ok:?}"
        );
        let expired = netrc_decide(&netrc_input(&text(&ours), true, Expiry::Expired(50), &l))
            .expect_err("expired");
        assert_eq!(expired.cause, "uv-token-expired");
        let gone = netrc_decide(&netrc_input(
            &text("machine other login u password p\n"),
            true,
            Expiry::Unknown,
            &l,
        ))
        .expect_err("missing");
        assert_eq!(gone.cause, "netrc-entry-missing");
        let default = netrc_decide(&netrc_input(
            &text("default login a password b\n"),
            true,
            Expiry::Unknown,
            &l,
        ))
        .expect_err("default only");
        assert!(default.detail.contains("`default`"));
        let theirs = format!("machine {host} login aws password mine\n");
        let w =
            netrc_decide(&netrc_input(&text(&theirs), true, Expiry::Unknown, &l)).expect("theirs");
        assert_eq!(w.warnings[0].cause, "credential-not-ours");
        let open = FileView::Text {
            text: ours.clone(),
            mode: 0o644,
        };
        let w = netrc_decide(&netrc_input(&open, true, Expiry::Valid(100_000), &l)).expect("mode");
        assert_eq!(w.warnings[0].cause, "netrc-permissions");
        assert_eq!(
            w.warnings[0].fixes,
            vec![ToolFix::Chmod600("/h/.netrc".into())]
        );
        let denied = FileView::Unusable {
            error: "cannot read".into(),
            permission_denied: true,
        };
        let mine =
            netrc_decide(&netrc_input(&denied, true, Expiry::Unknown, &l)).expect_err("unreadable");
        assert_eq!(
            (mine.cause, mine.fixes.clone()),
            (
                "netrc-unreadable",
                vec![ToolFix::Chmod600("/h/.netrc".into())]
            )
        );
        let other =
            netrc_decide(&netrc_input(&denied, false, Expiry::Unknown, &l)).expect_err("not mine");
        assert_eq!(
            other.fixes,
            vec![ToolFix::MoveAside("/h/.netrc".into()), l.clone()]
        );
        let missing = netrc_decide(&netrc_input(&FileView::Missing, true, Expiry::Unknown, &l))
            .expect_err("no file");
        assert_eq!(missing.cause, "netrc-entry-missing");
    }

    #[test]
    fn poetry_needs_our_http_basic_for_the_source() {
        let p = Path::new("/h/.config/pypoetry/auth.toml");
        let l = login();
        let ours = toml::set_poetry_auth(p, "", "codeartifact", "tok").expect("auth");
        assert!(poetry_decide(
            p,
            &text(&ours),
            "codeartifact",
            Expiry::Valid(100_000),
            100,
            &l
        )
        .expect("ours")
        .warnings
        .is_empty());
        assert_eq!(
            poetry_decide(
                p,
                &text(&ours),
                "codeartifact",
                Expiry::Expired(50),
                100,
                &l
            )
            .expect_err("expired")
            .cause,
            "poetry-token-expired"
        );
        assert_eq!(
            poetry_decide(p, &text(&ours), "corp", Expiry::Unknown, 100, &l)
                .expect_err("other source")
                .cause,
            "poetry-not-configured"
        );
        assert_eq!(
            poetry_decide(
                p,
                &FileView::Missing,
                "codeartifact",
                Expiry::Unknown,
                100,
                &l
            )
            .expect_err("missing")
            .fixes,
            vec![l.clone()]
        );
        let theirs = "[http-basic.codeartifact]\nusername = \"aws\"\npassword = \"x\"\n";
        let w = poetry_decide(p, &text(theirs), "codeartifact", Expiry::Unknown, 100, &l)
            .expect("theirs");
        assert_eq!(w.warnings[0].cause, "credential-not-ours");
    }

    #[test]
    fn poetry_project_lists_sources_only_for_poetry_projects() {
        assert_eq!(poetry_project("[project]\nname = \"x\"\n"), None);
        assert_eq!(
            poetry_project("[tool.poetry]\nname = \"x\"\n"),
            Some(vec![])
        );
        let with = "[build-system]\nbuild-backend = \"poetry.core.masonry.api\"\n[[tool.poetry.source]]\nname = \"codeartifact\"\nurl = \"https://h/simple/\"\n";
        assert_eq!(
            poetry_project(with),
            Some(vec![("codeartifact".into(), "https://h/simple/".into())])
        );
        assert_eq!(poetry_project("[tool.poetry\n"), None);
    }

    #[test]
    fn twine_needs_index_servers_the_section_and_our_endpoint() {
        let p = Path::new("/h/.pypirc");
        let l = login();
        let endpoint = SIMPLE.trim_end_matches("simple/");
        let ours = pypirc::set(p, "", endpoint, "tok").expect("pypirc");
        let ok =
            twine_decide(p, &text(&ours), &here, Expiry::Valid(100_000), 100, &l).expect("ours");
        assert!(ok.warnings.is_empty(), "{ok:?}");
        assert_eq!(
            twine_decide(p, &text(&ours), &here, Expiry::Expired(1), 100, &l)
                .expect_err("expired")
                .cause,
            "twine-token-expired"
        );
        let other = pypirc::set(p, "", "https://elsewhere/pypi/r/", "tok").expect("pypirc");
        assert!(
            twine_decide(p, &text(&other), &here, Expiry::Unknown, 100, &l)
                .expect_err("elsewhere")
                .detail
                .contains("https://elsewhere/pypi/r/")
        );
        let unlisted = format!("[distutils]\nindex-servers = pypi\n\n[codeartifact]\nrepository = {endpoint}\nusername = aws\npassword = t\n");
        assert!(
            twine_decide(p, &text(&unlisted), &here, Expiry::Unknown, 100, &l)
                .expect_err("unlisted")
                .detail
                .contains("index-servers")
        );
        assert_eq!(
            twine_decide(p, &FileView::Missing, &here, Expiry::Unknown, 100, &l)
                .expect_err("missing")
                .cause,
            "twine-not-configured"
        );
    }
}
