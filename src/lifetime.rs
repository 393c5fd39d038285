//! A token's lifetime: `status` (what is recorded, what pip will use), `ensure_login` (log in only when the
//! recorded token is about to die), and `logout` (give the pip file back as it was before our first login).
//!
//! The fast path of [`ensure_login`] ([`fast_path`]) reads three small files (the ca-login config, the state file,
//! the pip file) and makes no network call; it never loads the AWS configuration.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::login::{self, LoginOptions, LoginResult, Target};
use crate::pipconf::{self, COMMENT_PREFIX};
use crate::secret::{mask_url, Secret};
use crate::settings::{self, Settings};
use crate::state::{self, Entry};
use crate::tools::{Env, TokenStore, Tool};

/// The section and key our logins write.
const SECTION: &str = "global";
const KEY: &str = "index-url";

fn check_tool(tool: &str) -> Result<()> {
    if tool.is_empty() || tool == "pip" {
        Ok(())
    } else {
        Err(Error::invalid(
            "tool",
            format!("{tool:?} is not pip"),
            "for uv, poetry or twine ask tool_status (Python: status(tool=\"uv\"); CLI: --tool uv)",
        ))
    }
}

/// `url` without its userinfo, or `None` when it is not a URL.
fn without_userinfo(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    Some(u.to_string())
}

/// Whether `url` is the index URL a login writes for `repository_endpoint`: `aws:TOKEN@` + the endpoint +
/// `simple/`, whatever the token.
pub fn is_our_index_url(url: &str, repository_endpoint: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed.username() != "aws" || parsed.password().is_none_or(str::is_empty) {
        return false;
    }
    let Ok(expected) = settings::index_url(repository_endpoint, "t") else {
        return false;
    };
    without_userinfo(url).is_some() && without_userinfo(url) == without_userinfo(&expected)
}

/// Whether the text has, in `[global]`, a `# ca-login:` comment line directly above an `index-url` line.
fn has_our_comment_above_index_url(text: &str) -> bool {
    let mut section = String::new();
    let mut prev_ours = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('[') {
            if let Some(end) = rest.rfind(']') {
                section = rest[..end].to_string();
                prev_ours = false;
                continue;
            }
        }
        if prev_ours && section == SECTION {
            if let Some(d) = t.find(['=', ':']) {
                if pipconf::normalize_key(t[..d].trim()) == KEY {
                    return true;
                }
            }
        }
        prev_ours = t.starts_with(COMMENT_PREFIX);
    }
    false
}

// ---------------------------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------------------------

/// Where the token stands, for one pip configuration file.
#[derive(Debug, Clone)]
pub struct Status {
    pub tool: String,
    /// The pip file (the one a login writes by default, or the one asked for).
    pub config_file: PathBuf,
    /// What the state file records for it (never the token).
    pub entry: Option<Entry>,
    /// Now, epoch seconds (as used for `remaining`).
    pub now: i64,
    /// The file's `[global] index-url` is our URL for the recorded repository endpoint.
    pub file_holds_ours: bool,
    /// pip's effective index URL for `pip install` in this interpreter, masked (`None`: pip's default).
    pub effective_index_url: Option<String>,
    /// Where it comes from ("[global] in /home/u/.config/pip/pip.conf (user)", "environment variable ...").
    pub effective_source: String,
    /// pip will use our URL from our file.
    pub effective_is_ours: bool,
    /// `no-index` is set: pip uses no index at all.
    pub no_index: bool,
    /// What could not be worked out (unparsable files ...), one message each.
    pub problems: Vec<String>,
    /// The state file could not be read as ours (garbage, another version, a link, a FIFO ...): what is
    /// recorded is unknown.
    pub state_unreadable: bool,
}

impl Status {
    /// Seconds left (negative once expired); `None` without a record.
    pub fn remaining(&self) -> Option<i64> {
        self.entry.as_ref().map(|e| e.expires_in(self.now))
    }

    /// `"valid"`, `"expired"`, `"missing"` (no record of a login for this file), `"replaced"` (recorded, but the
    /// file no longer holds our index URL) or `"unknown"` (the state file cannot be read as ours).
    pub fn state(&self) -> &'static str {
        match &self.entry {
            None if self.state_unreadable => "unknown",
            None => "missing",
            Some(_) if !self.file_holds_ours => "replaced",
            Some(e) if e.is_expired(self.now) => "expired",
            Some(_) => "valid",
        }
    }

    /// The file holds our URL and the token has not expired.
    pub fn valid(&self) -> bool {
        self.state() == "valid"
    }

    /// The token is valid and pip will use it for `pip install` in this interpreter (nothing else wins, no
    /// `no-index`): what the headline and `ca-login status`'s exit code follow.
    pub fn ok(&self) -> bool {
        self.valid() && self.effective_is_ours && !self.no_index
    }
}

/// Reads the record for `config_file` (default: the file a login writes) and pip's effective index URL for the
/// interpreter in `target`. Makes no network call. A state file we cannot read as ours is a problem line and the
/// state `"unknown"`, not an error. Acting for a user, every file is read with that user's ids.
pub fn status(tool: &str, config_file: Option<&Path>, target: &Target) -> Result<Status> {
    check_tool(tool)?;
    crate::files::user::run(target.as_user.as_ref(), || status_here(config_file, target))
}

fn status_here(config_file: Option<&Path>, target: &Target) -> Result<Status> {
    let file = login::target_file(config_file, target);
    let mut problems = Vec::new();
    let mut state_unreadable = false;
    let entry = match state::load(&login::state_path(target)) {
        Ok(st) => st.get(&file).cloned(),
        Err(e) => {
            problems.push(e.to_string());
            state_unreadable = true;
            None
        }
    };
    let file_url = match pipconf::read_document(&file) {
        Ok(doc) => doc.and_then(|d| d.get(SECTION, KEY)),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let file_holds_ours = match (&entry, &file_url) {
        (Some(e), Some(u)) => is_our_index_url(u, &e.repository_endpoint),
        _ => false,
    };
    let ctx = login::pip_context(target);
    let (effective_index_url, effective_source, effective_is_ours, no_index) =
        match pipconf::effective_index_url(&ctx, "install") {
            Ok(eff) => {
                let from_file =
                    matches!(&eff.source, pipconf::Source::File { path, .. } if *path == file);
                let ours = from_file
                    && !eff.no_index
                    && match (&entry, &eff.index_url) {
                        (Some(e), Some(u)) => is_our_index_url(u, &e.repository_endpoint),
                        _ => false,
                    };
                (
                    eff.index_url.as_deref().map(mask_url),
                    login::describe_source(&eff.source),
                    ours,
                    eff.no_index,
                )
            }
            Err(e) => {
                problems.push(format!(
                    "cannot work out pip's effective configuration: {e}"
                ));
                (None, "unknown".to_string(), false, false)
            }
        };
    let (file_holds_ours, effective_is_ours, effective_index_url, effective_source) = match &entry {
        Some(e) if e.extra_index => pipconf::holds_our_extra(&file, &ctx, &e.repository_endpoint),
        _ => (
            file_holds_ours,
            effective_is_ours,
            effective_index_url,
            effective_source,
        ),
    };
    Ok(Status {
        tool: "pip".into(),
        config_file: file,
        entry,
        now: login::now_epoch(),
        file_holds_ours,
        effective_index_url,
        effective_source,
        effective_is_ours,
        no_index,
        problems: problems.iter().map(|p| mask_url(p)).collect(),
        state_unreadable,
    })
}

/// The environment a tool's files are looked up with (as `login` does): the process's, but for another user's home
/// (`--user`) none of our own variables.
fn tool_env(target: &Target) -> Box<dyn Env> {
    if target.as_user.is_some() {
        Box::new(crate::tools::Vars(&[]))
    } else {
        Box::new(crate::tools::ProcessEnv)
    }
}

/// Where the login stands for uv, Poetry or twine: the tool's file, the netrc entry when the token is there, the
/// expiry, and whether the tool will use them.
#[derive(Debug, Clone)]
pub struct ToolStatus {
    pub tool: Tool,
    /// The recorded file of the tool (without a record: the file a login would write).
    pub config_file: PathBuf,
    /// What the state file records for it (never the token).
    pub entry: Option<Entry>,
    pub now: i64,
    /// `"url"` (the token in the tool's file) or `"netrc"`.
    pub token_store: String,
    /// With the netrc store: the netrc file holding the token.
    pub netrc_file: Option<PathBuf>,
    /// The tool's file holds what the login wrote (Poetry with netrc: its auth.toml is not ours to hold anything).
    pub file_holds_ours: bool,
    /// With the netrc store: the netrc file holds our entry for the repository host.
    pub netrc_holds_ours: bool,
    /// Why the tool will not use what we wrote (environment variables, a project's config, another file read).
    pub overrides: Vec<String>,
    /// What could not be worked out (unreadable files ...), one message each.
    pub problems: Vec<String>,
    /// The state file could not be read as ours.
    pub state_unreadable: bool,
}

impl ToolStatus {
    /// Seconds left (negative once expired); `None` without a record.
    pub fn remaining(&self) -> Option<i64> {
        self.entry.as_ref().map(|e| e.expires_in(self.now))
    }

    fn holds_ours(&self) -> bool {
        self.file_holds_ours && (self.token_store != "netrc" || self.netrc_holds_ours)
    }

    /// As [`Status::state`]: `"valid"`, `"expired"`, `"missing"`, `"replaced"` (the tool's file or the netrc entry
    /// no longer holds what we wrote) or `"unknown"`.
    pub fn state(&self) -> &'static str {
        match &self.entry {
            None if self.state_unreadable => "unknown",
            None => "missing",
            Some(_) if !self.holds_ours() => "replaced",
            Some(e) if e.is_expired(self.now) => "expired",
            Some(_) => "valid",
        }
    }

    pub fn valid(&self) -> bool {
        self.state() == "valid"
    }

    /// The token is valid and nothing wins over what we wrote: the tool will use it.
    pub fn ok(&self) -> bool {
        self.valid() && self.overrides.is_empty()
    }
}

/// The tools `status` reports on: the ones asked (`"uv"`, `"pip,uv"`), or, when none is asked, pip and every tool
/// with a recorded login (a state file we cannot read: pip only, whose status says so).
pub fn status_tools(asked: Option<&str>, target: &Target) -> Result<Vec<Tool>> {
    if let Some(a) = asked.filter(|a| !a.trim().is_empty()) {
        return crate::tools::parse_tools(&[a]);
    }
    let sp = login::state_path(target);
    let st = crate::files::user::run(target.as_user.as_ref(), || Ok(state::load(&sp).ok()))?;
    let mut out = vec![Tool::Pip];
    if let Some(st) = st {
        for t in &Tool::ALL[1..] {
            if st.entries().any(|e| e.tool == t.as_str()) {
                out.push(*t);
            }
        }
    }
    Ok(out)
}

/// Reads the record and the files of uv, Poetry or twine (`tool` must not be pip: see [`status`]) and works out
/// whether the tool will use them. Makes no network call; acting for a user, every file is read with that user's
/// ids.
pub fn tool_status(tool: Tool, target: &Target) -> Result<ToolStatus> {
    if tool == Tool::Pip {
        return Err(Error::invalid(
            "tool",
            "pip's status has its own shape",
            "ask status(tool=\"pip\")",
        ));
    }
    crate::files::user::run(target.as_user.as_ref(), || {
        Ok(tool_status_here(tool, target))
    })
}

fn tool_status_here(tool: Tool, target: &Target) -> ToolStatus {
    use crate::tools::apply::{self, NETRC};
    let env = tool_env(target);
    let home = login::tool_home(target);
    let mut problems = Vec::new();
    let mut state_unreadable = false;
    let st = match state::load(&login::state_path(target)) {
        Ok(st) => st,
        Err(e) => {
            problems.push(e.to_string());
            state_unreadable = true;
            state::State::default()
        }
    };
    let recorded: Vec<&Entry> = st.entries().filter(|e| e.tool == tool.as_str()).collect();
    let source = recorded
        .first()
        .and_then(|e| e.source.clone())
        .unwrap_or_else(|| crate::tools::poetry::SOURCE.into());
    let store = recorded.first().map_or_else(
        || tool.store(None).as_str().to_string(),
        |e| e.token_store.clone(),
    );
    let req_tools = [tool];
    let req = apply::Request {
        tools: &req_tools,
        store: TokenStore::parse(&store).ok(),
        extra_index: false,
        poetry_source: &source,
        endpoint: "https://endpoint.invalid/",
        home: &home,
    };
    let reads = apply::files(&req, env.as_ref());
    let reads_file = reads
        .iter()
        .find(|f| f.tool == tool.as_str())
        .map(|f| f.config_file.clone())
        .unwrap_or_default();
    let entry = recorded
        .iter()
        .find(|e| e.config_file == reads_file)
        .or(recorded.first())
        .map(|e| (*e).clone());
    let config_file = entry
        .as_ref()
        .map_or_else(|| reads_file.clone(), |e| e.config_file.clone());
    let mut overrides = Vec::new();
    if entry.is_some() && config_file != reads_file {
        overrides.push(format!(
            "{} reads {} here, not {} that the login wrote (log in again here)",
            tool.as_str(),
            reads_file.display(),
            config_file.display()
        ));
    }
    let read_text = |path: &Path, problems: &mut Vec<String>| match apply::read(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let endpoint = entry.as_ref().map(|e| e.repository_endpoint.clone());
    let file_holds_ours = match &endpoint {
        None => false,
        Some(_) if tool == Tool::Poetry && store == "netrc" => true,
        Some(ep) => read_text(&config_file, &mut problems)
            .is_some_and(|t| apply::holds_ours(tool.as_str(), &config_file, &t, ep)),
    };
    let (netrc_file, netrc_holds_ours) = if store == "netrc" {
        let now_read = crate::tools::netrc_file(env.as_ref(), &home);
        let recorded_netrc = st
            .entries()
            .find(|e| e.tool == NETRC)
            .map(|e| e.config_file.clone());
        let file = recorded_netrc.unwrap_or_else(|| now_read.clone());
        if entry.is_some() && file != now_read {
            overrides.push(format!(
                "{} reads the netrc file {} here (NETRC), not {} that holds the token",
                tool.as_str(),
                now_read.display(),
                file.display()
            ));
        }
        let ours = match &endpoint {
            Some(ep) => read_text(&file, &mut problems)
                .is_some_and(|t| apply::holds_ours(NETRC, &file, &t, ep)),
            None => false,
        };
        (Some(file), ours)
    } else {
        (None, false)
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    overrides.extend(match tool {
        Tool::Uv => crate::tools::uv::overrides(env.as_ref(), &cwd),
        Tool::Poetry => crate::tools::poetry::overrides(env.as_ref(), &source),
        Tool::Twine => crate::tools::twine::overrides(env.as_ref()),
        Tool::Pip => Vec::new(),
    });
    ToolStatus {
        tool,
        config_file,
        entry,
        now: login::now_epoch(),
        token_store: store,
        netrc_file,
        file_holds_ours,
        netrc_holds_ours,
        overrides: overrides.iter().map(|o| mask_url(o)).collect(),
        problems: problems.iter().map(|p| mask_url(p)).collect(),
        state_unreadable,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// ensure_login
// ---------------------------------------------------------------------------------------------------------------

/// Whether a recorded login is for what `settings` asks for (domain, repository, and owner, Region and
/// repository endpoint when they are given).
pub(crate) fn entry_matches(entry: &Entry, settings: &Settings) -> bool {
    if entry.domain != settings.domain.value || entry.repository != settings.repository.value {
        return false;
    }
    if let Some(o) = &settings.domain_owner {
        if entry.domain_owner.as_deref() != Some(o.value.as_str()) {
            return false;
        }
    }
    if let Some(r) = &settings.region {
        if entry.region != r.value {
            return false;
        }
    }
    if let Some(given) = &settings.repository_endpoint_url {
        let owner = settings.domain_owner.as_ref().map(|o| o.value.as_str());
        match settings::repository_endpoint_from(
            &given.value,
            &settings.domain.value,
            owner,
            &settings.repository.value,
            "pypi",
        ) {
            Ok(ep) if ep == entry.repository_endpoint => {}
            _ => return false,
        }
    }
    true
}

/// The no-network half of [`ensure_login`]: `Some(result)` when, for every tool asked, the recorded token has more
/// than `min_remaining` seconds left, is for the repository asked for with the same token store (uv: the same
/// index mode, Poetry: the same source), and the tool's file (pip: our index URL; with the netrc store also the
/// netrc entry for the repository host) still holds what the login wrote; `None` when a login is needed. Errors
/// are those a login would raise before any network call (invalid settings, an unparsable file). pip alone reads
/// the state file and pip's file only.
pub fn fast_path(opts: &LoginOptions, min_remaining: i64) -> Result<Option<LoginResult>> {
    let started = Instant::now();
    let (settings, file) = login::prepare(opts)?;
    let plan = login::tool_plan(opts)?;
    crate::files::user::run(opts.target.as_user.as_ref(), || {
        fast_path_files(opts, &plan, min_remaining, &settings, file, started)
    })
}

/// Whether a recorded entry is fresh enough and for what is asked; logs why not.
fn usable(entry: &Entry, what: &str, min_remaining: i64, settings: &Settings, now: i64) -> bool {
    let left = entry.expires_in(now);
    if left <= min_remaining {
        log::info!(
            "the token in {what} has {left} s left (wanted more than {min_remaining} s): logging in"
        );
        return false;
    }
    if !entry_matches(entry, settings) {
        log::info!(
            "the login recorded for {what} is for {}/{} in {}: logging in for {}/{}",
            entry.domain,
            entry.repository,
            entry.region,
            settings.domain.value,
            settings.repository.value
        );
        return false;
    }
    true
}

/// pip's part of the fast path: its index URL and the file's preview, or `None`.
fn fast_pip(
    entry: &Entry,
    file: &Path,
    store: TokenStore,
    extra_index: bool,
) -> Result<Option<(String, String)>> {
    if entry.token_store != store.as_str() {
        log::info!(
            "{} was logged in with the {} token store, {} is asked: logging in",
            file.display(),
            entry.token_store,
            store.as_str()
        );
        return Ok(None);
    }
    if entry.extra_index != extra_index {
        log::info!(
            "the login recorded for {} is in the other mode (extra index or index-url): logging in",
            file.display()
        );
        return Ok(None);
    }
    let Some(doc) = pipconf::read_document(file)? else {
        log::info!("{} is gone: logging in", file.display());
        return Ok(None);
    };
    let simple = crate::tools::simple_url(&entry.repository_endpoint);
    let holds = |u: &String| match store {
        TokenStore::Netrc => without_userinfo(u).as_deref() == Some(simple.as_str()),
        TokenStore::Url => is_our_index_url(u, &entry.repository_endpoint),
    };
    let ours = match entry.extra_index {
        true => doc.our_extra_index_url(&simple),
        false => doc.get(SECTION, KEY),
    };
    let Some(url) = ours.filter(holds) else {
        log::info!(
            "{} no longer holds our index-url for {}: logging in",
            file.display(),
            entry.repository_endpoint
        );
        return Ok(None);
    };
    let preview = doc.render().replace(&url, &mask_url(&url));
    Ok(Some((url, preview)))
}

/// The token a tool's file holds (netrc, .pypirc or auth.toml), to give back in the result's index URL.
fn token_in(tool: &str, path: &Path, text: &str, endpoint: &str, source: &str) -> Option<String> {
    use crate::files::{netrc, pypirc, toml};
    match tool {
        "twine" => pypirc::get(text, pypirc::REPOSITORY, "password"),
        "poetry" => toml::poetry_auth(path, text, source)
            .ok()
            .flatten()
            .map(|(_, p)| p),
        "netrc" => {
            let host = url::Url::parse(endpoint).ok()?.host_str()?.to_string();
            netrc::lookup(text, &host).and_then(|e| e.password)
        }
        _ => None,
    }
}

fn fast_path_files(
    opts: &LoginOptions,
    plan: &login::ToolPlan,
    min_remaining: i64,
    settings: &Settings,
    file: PathBuf,
    started: Instant,
) -> Result<Option<LoginResult>> {
    use crate::tools::apply;
    let st = match state::load(&login::state_path(&opts.target)) {
        Ok(st) => st,
        Err(e) => {
            log::warn!("{e}\nlogging in replaces it");
            return Ok(None);
        }
    };
    let now = login::now_epoch();
    let uses_pip = plan.tools.contains(&Tool::Pip);
    let mut first: Option<Entry> = None;
    let mut expires_at = i64::MAX;
    let mut pip_part = None;
    if uses_pip {
        let Some(entry) = st.get(&file) else {
            log::debug!("no recorded login for {}: logging in", file.display());
            return Ok(None);
        };
        if !usable(
            entry,
            &file.display().to_string(),
            min_remaining,
            settings,
            now,
        ) {
            return Ok(None);
        }
        let Some(part) = fast_pip(entry, &file, Tool::Pip.store(plan.store), opts.extra_index)?
        else {
            return Ok(None);
        };
        pip_part = Some(part);
        expires_at = entry.expires_at;
        first = Some(entry.clone());
    }
    // Every other file the login would write (none for pip alone), each with its own record.
    let home = login::tool_home(&opts.target);
    let env = tool_env(&opts.target);
    let req = apply::Request {
        tools: &plan.tools,
        store: plan.store,
        extra_index: opts.extra_index,
        poetry_source: &plan.poetry_source,
        // Which files: the endpoint plays no part.
        endpoint: "",
        home: &home,
    };
    let mut files = Vec::new();
    let mut token = None;
    for f in apply::files(&req, env.as_ref()) {
        let what = format!("{} ({})", f.config_file.display(), f.tool);
        let Some(entry) = st.get(&f.config_file).filter(|e| e.tool == f.tool) else {
            log::debug!("no recorded login for {what}: logging in");
            return Ok(None);
        };
        if !usable(entry, &what, min_remaining, settings, now) {
            return Ok(None);
        }
        let endpoint = first
            .get_or_insert_with(|| entry.clone())
            .repository_endpoint
            .clone();
        let same_mode = entry.token_store == f.token_store.as_str()
            && (f.tool != "uv" || entry.extra_index == opts.extra_index)
            && (f.tool != "poetry" || entry.source.as_deref() == Some(plan.poetry_source.as_str()))
            && entry.repository_endpoint == endpoint;
        if !same_mode {
            log::info!("{what} was logged in another way than asked now: logging in");
            return Ok(None);
        }
        let poetry_netrc = f.tool == "poetry" && f.token_store == TokenStore::Netrc;
        let text = apply::read(&f.config_file)?.unwrap_or_default();
        if !poetry_netrc && !apply::holds_ours(&f.tool, &f.config_file, &text, &endpoint) {
            log::info!("{what} no longer holds what the login wrote: logging in");
            return Ok(None);
        }
        if token.is_none() && !poetry_netrc {
            token = token_in(
                &f.tool,
                &f.config_file,
                &text,
                &endpoint,
                &plan.poetry_source,
            );
        }
        let preview = match f.tool.as_str() {
            _ if poetry_netrc => "(left as it is: Poetry finds the token in netrc)".to_string(),
            "uv" => text,
            "poetry" => crate::files::toml::preview(&text),
            "twine" => crate::files::pypirc::preview(&text),
            _ => crate::files::netrc::preview(&text),
        };
        expires_at = expires_at.min(entry.expires_at);
        files.push((f, preview));
    }
    let Some(entry) = first else {
        return Ok(None);
    };
    let (index_url, preview) = match pip_part {
        Some(p) => p,
        None => {
            let Some(t) = token else {
                log::info!("no file holds the token: logging in");
                return Ok(None);
            };
            let joined = files
                .iter()
                .map(|(_, p)| p.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            (settings::index_url(&entry.repository_endpoint, &t)?, joined)
        }
    };
    let mut warnings = if opts.dry_run || !uses_pip {
        Vec::new()
    } else {
        login::override_warnings(&file, &opts.target)
    };
    if !files.is_empty() {
        warnings.extend(login::tool_warnings(plan, &opts.target));
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    let mut next_steps = Vec::new();
    if plan.tools.contains(&Tool::Poetry) {
        next_steps.push(crate::tools::poetry::source_add_line(
            &plan.poetry_source,
            &crate::tools::simple_url(&entry.repository_endpoint),
        ));
    }
    if plan.tools.contains(&Tool::Twine) {
        next_steps.push(crate::tools::twine::upload_line());
    }
    log::debug!(
        "every token asked for is valid until {} at least ({} s left): no login",
        login::rfc3339(expires_at),
        expires_at - now
    );
    let config_file = match (uses_pip, files.first()) {
        (false, Some((f, _))) => f.config_file.clone(),
        _ => file,
    };
    Ok(Some(LoginResult {
        repository_endpoint: entry.repository_endpoint.clone(),
        index_url: Secret::new(index_url),
        expires_at,
        config_file,
        tool: plan.tools[0].as_str().into(),
        domain: entry.domain.clone(),
        domain_owner: entry.domain_owner.clone(),
        repository: entry.repository.clone(),
        region: entry.region.clone(),
        dry_run: opts.dry_run,
        preview,
        warnings,
        duration: started.elapsed(),
        tools: plan.tools.iter().map(|t| t.as_str().to_string()).collect(),
        files,
        next_steps,
    }))
}

/// Logs in only when needed (see [`fast_path`]). Returns the result and whether a login happened.
pub async fn ensure_login(opts: &LoginOptions, min_remaining: i64) -> Result<(LoginResult, bool)> {
    match fast_path(opts, min_remaining)? {
        Some(r) => Ok((r, false)),
        None => Ok((login::login(opts).await?, true)),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// logout
// ---------------------------------------------------------------------------------------------------------------

/// What [`logout`] did to the pip file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutAction {
    /// The index URL from before our first login is back.
    Restored,
    /// Our index URL (and its comment) is gone; the file had none before.
    Removed,
    /// The file did not hold our index URL: left as it was.
    Unchanged,
}

impl LogoutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LogoutAction::Restored => "restored",
            LogoutAction::Removed => "removed",
            LogoutAction::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogoutResult {
    pub config_file: PathBuf,
    pub action: LogoutAction,
    /// The index URL put back, masked.
    pub restored_index_url: Option<String>,
    /// There was a state entry for the file (now removed).
    pub had_state: bool,
    /// The background refresher was renewing this tool's file: it no longer does (it stopped if no tool is left).
    pub stopped_refresher: bool,
    /// One line saying what happened.
    pub message: String,
}

/// Puts back the index URL the file had before our first login (or removes ours when it had none), changing
/// nothing else in the file, then removes the state entry. Without a state entry, removes an index URL that
/// carries a CodeArtifact token and our `# ca-login:` comment. For uv, Poetry, twine or netrc, [`logout_tool`].
/// The background refresher stops renewing that tool first (see [`crate::refresh::during_logout`]): it keeps
/// renewing the others and stops when none is left.
pub fn logout(tool: &str, config_file: Option<&Path>, target: &Target) -> Result<LogoutResult> {
    let as_user = target.as_user.as_ref();
    if !tool.is_empty() && tool != "pip" {
        if tool != crate::tools::apply::NETRC {
            Tool::parse(tool)?;
        }
        let (mut out, renewing) = crate::refresh::during_logout(tool, Path::new(""), || {
            crate::files::user::run(as_user, || logout_tool(tool, target))
        })?;
        out.stopped_refresher = renewing;
        return Ok(out);
    }
    check_tool(tool)?;
    let file = login::target_file(config_file, target);
    let (mut out, renewing) = crate::refresh::during_logout("pip", &file, || {
        crate::files::user::run(as_user, || logout_files(file.clone(), target))
    })?;
    out.stopped_refresher = renewing;
    Ok(out)
}

fn logout_files(file: PathBuf, target: &Target) -> Result<LogoutResult> {
    let sp = login::state_path(target);
    let entry = match state::load(&sp) {
        Ok(st) => st.get(&file).cloned(),
        Err(e) => {
            log::warn!("{e}\nlogging out without it");
            None
        }
    };
    let mut action = LogoutAction::Unchanged;
    let mut restored = None;
    let extra = entry.as_ref().filter(|e| e.extra_index);
    // Without a record, an extra-index entry a login wrote (our comment above a CodeArtifact token) goes too.
    let endpoint = extra.map(|e| e.repository_endpoint.as_str());
    let extra_removed = (extra.is_some() || entry.is_none())
        && crate::tools::apply::unwrite_pip_extra(
            &file,
            endpoint,
            extra.is_some_and(|e| e.created),
        )?;
    if extra_removed {
        action = LogoutAction::Removed;
    }
    if extra.is_none() && file.exists() {
        pipconf::update_file(&file, |doc| {
            let Some(current) = doc.get(SECTION, KEY) else {
                return Ok(());
            };
            let ours = match &entry {
                Some(e) if e.token_store == "netrc" => {
                    without_userinfo(&current).as_deref()
                        == Some(crate::tools::simple_url(&e.repository_endpoint).as_str())
                }
                Some(e) => is_our_index_url(&current, &e.repository_endpoint),
                None => {
                    crate::secret::carries_codeartifact_token(&current)
                        && has_our_comment_above_index_url(&doc.render())
                }
            };
            if !ours {
                return Ok(());
            }
            match entry.as_ref().and_then(|e| {
                e.had_previous
                    .then(|| e.previous_index_url.clone())
                    .flatten()
            }) {
                Some(prev) => {
                    doc.set(SECTION, KEY, &prev, None)?;
                    restored = Some(mask_url(&prev));
                    action = LogoutAction::Restored;
                }
                None => {
                    doc.remove(SECTION, KEY)?;
                    action = LogoutAction::Removed;
                }
            }
            Ok(())
        })?;
    }
    let had_state = match &entry {
        Some(_) => state::remove(&sp, &file)?.is_some(),
        None => false,
    };
    crate::tools::apply::drop_unused_netrc(&sp)?;
    let message = match (action, had_state) {
        (LogoutAction::Restored, _) => format!(
            "restored the index-url {} had before the first login ({})",
            file.display(),
            restored.as_deref().unwrap_or("")
        ),
        (LogoutAction::Removed, _) if extra_removed => {
            format!("removed our extra-index-url entry from {}", file.display())
        }
        (LogoutAction::Removed, _) => format!("removed our index-url from {}", file.display()),
        (LogoutAction::Unchanged, true) => format!(
            "{} no longer held our index-url: left it as it is; forgot the recorded login",
            file.display()
        ),
        (LogoutAction::Unchanged, false) => {
            format!(
                "no ca-login login found in {}: nothing to do",
                file.display()
            )
        }
    };
    log::info!("{message}");
    Ok(LogoutResult {
        config_file: file,
        action,
        restored_index_url: restored,
        had_state,
        stopped_refresher: false,
        message,
    })
}

/// Logout for uv, Poetry, twine or netrc: takes our part out of each file recorded for `tool` (removing a file the
/// login created and left with nothing else), then the netrc entry when no remaining login uses it. Runs as the
/// target user (the caller's `files::user::run`); [`logout`] keeps the refresher out of its way.
fn logout_tool(tool: &str, target: &Target) -> Result<LogoutResult> {
    use crate::tools::apply::{self, NETRC};
    if tool != NETRC {
        crate::tools::Tool::parse(tool)?;
    }
    let sp = login::state_path(target);
    let entries: Vec<state::Entry> = state::load(&sp)?
        .entries()
        .filter(|e| e.tool == tool)
        .cloned()
        .collect();
    let mut changed = Vec::new();
    for e in &entries {
        if apply::unwrite(&e.tool, &e.config_file, e.created)? {
            changed.push(e.config_file.clone());
        }
        state::remove(&sp, &e.config_file)?;
    }
    if tool != NETRC {
        changed.extend(crate::tools::apply::drop_unused_netrc(&sp)?);
    }
    let config_file = entries
        .first()
        .map(|e| e.config_file.clone())
        .unwrap_or_default();
    let message = if changed.is_empty() {
        format!("no ca-login login found for {tool}: nothing to do")
    } else {
        let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        format!("took the CodeArtifact login out of {}", names.join(", "))
    };
    log::info!("{message}");
    Ok(LogoutResult {
        config_file,
        action: if changed.is_empty() {
            LogoutAction::Unchanged
        } else {
            LogoutAction::Removed
        },
        restored_index_url: None,
        had_state: !entries.is_empty(),
        stopped_refresher: false,
        message,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EP: &str =
        "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/";

    #[test]
    fn our_index_url_is_recognized_whatever_the_token() {
        let url = settings::index_url(EP, "tok.en-1").unwrap();
        assert!(is_our_index_url(&url, EP));
        assert!(!is_our_index_url(
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/simple/",
            EP
        ));
        assert!(!is_our_index_url(
            &settings::index_url(&EP.replace("isolatedsm", "other"), "t").unwrap(),
            EP
        ));
        assert!(!is_our_index_url("https://pypi.org/simple", EP));
        assert!(crate::secret::carries_codeartifact_token(&url));
        assert!(!crate::secret::carries_codeartifact_token(
            "https://user:pw@mirror/simple/"
        ));
    }

    #[test]
    fn our_comment_is_found_only_directly_above_global_index_url() {
        assert!(has_our_comment_above_index_url(
            "[global]\ntimeout = 5\n# ca-login: token\nindex-url = x\n"
        ));
        assert!(!has_our_comment_above_index_url(
            "[global]\n# ca-login: token\ntimeout = 5\nindex-url = x\n"
        ));
        assert!(!has_our_comment_above_index_url(
            "[install]\n# ca-login: token\nindex_url = x\n"
        ));
        assert!(has_our_comment_above_index_url(
            "[global]\n# ca-login: token\nINDEX_URL: x\n"
        ));
    }

    fn target(tmp: &Path) -> Target {
        Target {
            home: Some(tmp.join("home")),
            as_user: None,
            sys_prefix: None,
            state_file: Some(tmp.join("state.json")),
        }
    }

    fn entry(file: &Path, expires_at: i64, previous: Option<&str>) -> Entry {
        Entry {
            tool: "pip".into(),
            config_file: file.to_path_buf(),
            repository_endpoint: EP.into(),
            domain: "mydomain".into(),
            domain_owner: Some("111122223333".into()),
            repository: "isolatedsm".into(),
            region: "us-west-2".into(),
            expires_at,
            issued_at: expires_at - 100,
            previous_index_url: previous.map(String::from),
            had_previous: previous.is_some(),
            token_store: "url".into(),
            extra_index: false,
            created: false,
            source: None,
        }
    }

    const TOKEN: &str = "sekrit-token-value";

    #[test]
    fn logout_restores_the_previous_index_url_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let t = target(tmp.path());
        let file = tmp.path().join("pip.conf");
        let original = "# my settings\n[global]\ntimeout = 30\nindex-url=https://mirror.example/simple/\n\n[install]\n; keep\nno-cache-dir = true\n";
        std::fs::write(&file, original).unwrap();
        let url = settings::index_url(EP, TOKEN).unwrap();
        pipconf::update_file(&file, |d| {
            d.set(SECTION, KEY, &url, Some("token for x expires y"))
        })
        .unwrap();
        state::record(
            t.state_file.as_ref().unwrap(),
            entry(&file, 2_000_000_000, Some("https://mirror.example/simple/")),
        )
        .unwrap();
        let st = status("pip", Some(&file), &t).unwrap();
        assert_eq!(st.state(), "valid");
        assert!(!format!("{st:?}").contains(TOKEN), "status shows the token");
        let out = logout("pip", Some(&file), &t).unwrap();
        assert_eq!(out.action, LogoutAction::Restored);
        assert!(out.had_state);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
        assert_eq!(status("pip", Some(&file), &t).unwrap().state(), "missing");
        // A second logout changes nothing.
        let again = logout("pip", Some(&file), &t).unwrap();
        assert_eq!(again.action, LogoutAction::Unchanged);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    }

    #[test]
    fn logout_without_state_removes_only_a_commented_codeartifact_url() {
        let tmp = tempfile::tempdir().unwrap();
        let t = target(tmp.path());
        let file = tmp.path().join("pip.conf");
        let original = "[global]\ntimeout = 30\n";
        std::fs::write(&file, original).unwrap();
        let url = settings::index_url(EP, TOKEN).unwrap();
        pipconf::update_file(&file, |d| d.set(SECTION, KEY, &url, Some("token"))).unwrap();
        let out = logout("pip", Some(&file), &t).unwrap();
        assert_eq!(out.action, LogoutAction::Removed);
        assert!(!out.had_state);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
        // Without our comment, a CodeArtifact URL is the user's: left alone.
        let theirs = format!("[global]\nindex-url = {url}\n");
        std::fs::write(&file, &theirs).unwrap();
        assert_eq!(
            logout("pip", Some(&file), &t).unwrap().action,
            LogoutAction::Unchanged
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), theirs);
    }

    #[test]
    fn logout_leaves_a_file_whose_index_url_was_changed_since() {
        let tmp = tempfile::tempdir().unwrap();
        let t = target(tmp.path());
        let file = tmp.path().join("pip.conf");
        let text = "[global]\nindex-url = https://other/simple/\n";
        std::fs::write(&file, text).unwrap();
        state::record(t.state_file.as_ref().unwrap(), entry(&file, 1, None)).unwrap();
        let st = status("pip", Some(&file), &t).unwrap();
        assert_eq!(st.state(), "replaced");
        let out = logout("pip", Some(&file), &t).unwrap();
        assert_eq!(out.action, LogoutAction::Unchanged);
        assert!(out.had_state);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }

    #[test]
    fn tool_status_is_missing_then_valid_then_replaced_and_names_what_wins() {
        use crate::tools::apply;
        let tmp = tempfile::tempdir().unwrap();
        let t = target(tmp.path());
        let home = tmp.path().join("home");
        let st = tool_status(Tool::Twine, &t).unwrap();
        assert_eq!(st.state(), "missing");
        assert_eq!(st.config_file, home.join(".pypirc"));
        assert_eq!(
            status_tools(None, &t).unwrap(),
            vec![Tool::Pip],
            "nothing recorded: pip only"
        );
        let tools = [Tool::Twine];
        let req = apply::Request {
            tools: &tools,
            store: None,
            extra_index: false,
            poetry_source: "codeartifact",
            endpoint: EP,
            home: &home,
        };
        let file = &apply::files(&req, &crate::tools::Vars(&[]))[0];
        std::fs::create_dir_all(&home).unwrap();
        apply::write(&req, file, TOKEN).unwrap();
        let mut e = entry(&file.config_file, login::now_epoch() + 100, None);
        e.tool = "twine".into();
        state::record(t.state_file.as_ref().unwrap(), e).unwrap();
        let st = tool_status(Tool::Twine, &t).unwrap();
        assert_eq!((st.state(), st.token_store.as_str()), ("valid", "url"));
        assert!(st.netrc_file.is_none() && st.remaining().unwrap() > 0);
        assert_eq!(st.ok(), st.overrides.is_empty());
        assert!(
            !format!("{st:?}").contains(TOKEN),
            "the status shows the token"
        );
        assert_eq!(
            status_tools(None, &t).unwrap(),
            vec![Tool::Pip, Tool::Twine]
        );
        assert_eq!(
            status_tools(Some("uv, twine"), &t).unwrap(),
            vec![Tool::Uv, Tool::Twine]
        );
        std::fs::write(&file.config_file, "[distutils]\nindex-servers = pypi\n").unwrap();
        assert_eq!(tool_status(Tool::Twine, &t).unwrap().state(), "replaced");
        assert!(tool_status(Tool::Pip, &t).is_err());
    }

    #[test]
    fn status_says_expired_and_who_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let t = target(tmp.path());
        let file = tmp.path().join("pip.conf");
        let url = settings::index_url(EP, TOKEN).unwrap();
        pipconf::update_file(&file, |d| d.set(SECTION, KEY, &url, Some("token"))).unwrap();
        state::record(
            t.state_file.as_ref().unwrap(),
            entry(&file, login::now_epoch() - 5, None),
        )
        .unwrap();
        let st = status("pip", Some(&file), &t).unwrap();
        assert_eq!(st.state(), "expired");
        assert!(st.remaining().unwrap() <= -5);
        // The file is not one pip reads here (not the default target): someone else wins.
        assert!(!st.effective_is_ours);
    }
}
