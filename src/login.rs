//! The data path of a login: arguments -> settings -> aws (token and endpoint, concurrently) -> pipconf (write)
//! -> state (expiry) -> a [`LoginResult`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::aws::{self, CallContext, Timeouts};
use crate::error::{Error, Result};
use crate::files::{self, user::AsUser};
use crate::pipconf::{self, PipContext};
use crate::secret::{mask_url, Secret};
use crate::settings::{self, Args, Settings};
use crate::state;

/// Who we write for: the running user by default; `--user NAME` (as root) names another.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The home whose files we edit (None: the running user's).
    pub home: Option<PathBuf>,
    /// The ids every read, write, lock and rename of the target's files is done with (root acting for a notebook
    /// user, `--user NAME`); `None`: our own. With it, the user's ca-login config is not read for settings.
    pub as_user: Option<AsUser>,
    /// `sys.prefix` of the interpreter whose pip we configure (decides the site file and the default target).
    pub sys_prefix: Option<PathBuf>,
    /// Overrides the state file (tests, several setups side by side).
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    pub args: Args,
    /// One tool or several, comma-separated: `pip`, `uv`, `poetry`, `twine` (empty: pip).
    pub tool: String,
    /// `url` or `netrc` (None: each tool's default, see [`crate::tools::Tool::store`]).
    pub token_store: Option<String>,
    /// Add the repository as an extra index (uv: an `[[index]]` without `default`).
    pub extra_index: bool,
    /// Poetry's source name (None: `codeartifact`).
    pub poetry_source: Option<String>,
    pub config_file: Option<PathBuf>,
    pub dry_run: bool,
    pub target: Target,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone)]
pub struct LoginResult {
    pub repository_endpoint: String,
    /// `https://aws:TOKEN@…/simple/`; Debug and Display print it masked.
    pub index_url: Secret,
    pub expires_at: i64,
    pub config_file: PathBuf,
    pub tool: String,
    pub domain: String,
    pub domain_owner: Option<String>,
    pub repository: String,
    pub region: String,
    pub dry_run: bool,
    /// What the file looks like (dry run: would look like) after the login, token masked.
    pub preview: String,
    /// Reasons pip would not use what we wrote.
    pub warnings: Vec<String>,
    pub duration: Duration,
    /// The tools configured, in order.
    pub tools: Vec<String>,
    /// The files written (dry run: would be written) for tools other than pip's config, with a preview each
    /// (passwords masked).
    pub files: Vec<(crate::tools::apply::ToolFile, String)>,
    /// Commands the user runs next (`poetry source add ...`, `twine upload -r codeartifact ...`).
    pub next_steps: Vec<String>,
}

/// The tools, token store and files a login's options ask for (checked: no network).
#[derive(Debug, Clone)]
pub struct ToolPlan {
    pub tools: Vec<crate::tools::Tool>,
    pub store: Option<crate::tools::TokenStore>,
    pub poetry_source: String,
}

pub fn tool_plan(opts: &LoginOptions) -> Result<ToolPlan> {
    use crate::tools::{self, TokenStore};
    let tools = tools::parse_tools(&[opts.tool.as_str()])?;
    let store = opts
        .token_store
        .as_deref()
        .map(TokenStore::parse)
        .transpose()?;
    let poetry_source = opts
        .poetry_source
        .clone()
        .unwrap_or_else(|| tools::poetry::SOURCE.into());
    Ok(ToolPlan {
        tools,
        store,
        poetry_source,
    })
}

/// The home whose tool files a login edits.
pub fn tool_home(target: &Target) -> PathBuf {
    target
        .home
        .clone()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `2026-11-28T23:00:00Z` for an epoch second.
pub fn rfc3339(epoch: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}

pub fn pip_context(target: &Target) -> PipContext {
    let mut ctx = PipContext::from_process(target.sys_prefix.clone());
    if let Some(h) = &target.home {
        ctx.home = h.clone();
        ctx.xdg_config_home = None;
    }
    ctx
}

pub fn state_path(target: &Target) -> PathBuf {
    if let Some(p) = &target.state_file {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("CA_LOGIN_STATE_FILE") {
        return PathBuf::from(p);
    }
    match &target.home {
        Some(h) => h.join(".local/state/ca-login/state.json"),
        None => state::default_path(),
    }
}

/// The ca-login config settings are read from. Acting for another user it is root's own (`$CA_LOGIN_CONFIG` or
/// root's `~/.config/ca-login/config`), never the user's: a user's `endpoint_url` or `profile` must not steer root.
pub fn ca_config_path(target: &Target) -> Option<PathBuf> {
    if target.as_user.is_some() {
        return settings::config_path_for_home(None);
    }
    settings::config_path_for_home(target.home.as_deref())
}

/// The pip config file a login writes.
pub fn target_file(config_file: Option<&Path>, target: &Target) -> PathBuf {
    match config_file {
        Some(p) => absolute(p),
        None => pipconf::default_target(&pip_context(target)),
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Everything that can be checked without the network: settings (as ourselves), the tool, then as the target
/// user: the target file parses, and no lock file, state file or target is a link, FIFO, directory or device
/// someone planted.
pub fn prepare(opts: &LoginOptions) -> Result<(Settings, PathBuf)> {
    let plan = tool_plan(opts)?;
    let settings = Settings::resolve(&opts.args, ca_config_path(&opts.target).as_deref())?;
    let file = target_file(opts.config_file.as_deref(), &opts.target);
    let sp = state_path(&opts.target);
    files::user::run(opts.target.as_user.as_ref(), || {
        // A file pip itself could not parse is an error that leaves it untouched: find out before any network call.
        pipconf::read_document(&file)?;
        let resolved = files::resolve_target(&file)?;
        files::check_not_special(&resolved, "write pip's configuration")?;
        files::check_lock(&resolved)?;
        // A state file we cannot read is replaced by the login; one we could not replace stops it here.
        state::check_writable(&sp)?;
        // Every other tool's file reads and takes our part (with a placeholder token): refused now, not half-way.
        let endpoint = settings
            .repository_endpoint_url
            .as_ref()
            .map_or("https://endpoint.invalid/pypi/repository/", |e| {
                e.value.as_str()
            });
        let home = tool_home(&opts.target);
        let env = tool_env(&opts.target);
        crate::tools::apply::plan(
            &tool_request(&plan, opts, endpoint, &home),
            env.as_ref(),
            "placeholder",
        )
        .map(|_| ())
    })?;
    Ok((settings, file))
}

fn tool_request<'a>(
    plan: &'a ToolPlan,
    opts: &LoginOptions,
    endpoint: &'a str,
    home: &'a Path,
) -> crate::tools::apply::Request<'a> {
    crate::tools::apply::Request {
        tools: &plan.tools,
        store: plan.store,
        extra_index: opts.extra_index,
        poetry_source: &plan.poetry_source,
        endpoint,
        home,
    }
}

/// The environment a tool's file is looked up with: the process's, but for another user's home (`--user`) none of
/// our own `XDG_*`/`NETRC`/`POETRY_CONFIG_DIR`.
fn tool_env(target: &Target) -> Box<dyn crate::tools::Env> {
    if target.as_user.is_some() {
        Box::new(crate::tools::Vars(&[]))
    } else {
        Box::new(crate::tools::ProcessEnv)
    }
}

/// Decides, once, between a login's writing of its files and an interrupt: whichever comes first wins. An
/// interrupt that wins ([`WriteGate::cancel`] true) means nothing is or will be written; one that loses finds the
/// write begun and waits for it (bounded: the files are local, each lock waited for at most
/// [`files::LOCK_TIMEOUT`]), then says what was written ([`interrupted_after_write`]).
#[derive(Debug, Clone, Default)]
pub struct WriteGate(Arc<AtomicU8>);

const GATE_OPEN: u8 = 0;
const GATE_WRITING: u8 = 1;
const GATE_CANCELLED: u8 = 2;

impl WriteGate {
    /// The interrupt: true if the write had not begun (and now never will), false if it has.
    pub fn cancel(&self) -> bool {
        match self.0.compare_exchange(
            GATE_OPEN,
            GATE_CANCELLED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            Err(now) => now == GATE_CANCELLED,
        }
    }

    /// The login, before its first write: false if an interrupt came first (write nothing).
    fn begin(&self) -> bool {
        self.0
            .compare_exchange(GATE_OPEN, GATE_WRITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    #[cfg(test)]
    fn began(&self) -> bool {
        self.0.load(Ordering::Acquire) == GATE_WRITING
    }
}

/// What an interrupt that won says: the login wrote nothing.
pub const INTERRUPTED_NOTHING_WRITTEN: &str = "interrupted: pip's configuration was not changed";

/// What an interrupt that found the write begun says once the write has ended: what it wrote, or how it failed.
pub fn interrupted_after_write(result: &Result<LoginResult>) -> String {
    match result {
        Ok(r) => {
            let uses_pip = r.tools.iter().any(|t| t == "pip");
            let mut paths: Vec<String> = Vec::new();
            if uses_pip {
                paths.push(r.config_file.display().to_string());
            }
            paths.extend(
                r.files
                    .iter()
                    .map(|(f, _)| f.config_file.display().to_string()),
            );
            if uses_pip && r.files.is_empty() {
                format!(
                    "interrupted after pip's configuration was written: the new token is in {}",
                    paths[0]
                )
            } else {
                // Several files (with the netrc store, pip's file holds the URL and netrc the token): name them all.
                format!(
                    "interrupted after the login's files were written: {}",
                    paths.join(", ")
                )
            }
        }
        // Unreachable from python.rs (only a winning interrupt makes the login return it), said truly anyway.
        Err(Error::Interrupted) => INTERRUPTED_NOTHING_WRITTEN.to_string(),
        Err(e) => mask_url(&format!(
            "interrupted while the login was writing its files; the write failed: {e}"
        )),
    }
}

/// Log in: get a token and the repository endpoint, write pip's config, record the expiry.
pub async fn login(opts: &LoginOptions) -> Result<LoginResult> {
    login_gated(opts, &WriteGate::default()).await
}

/// [`login`], with an interrupt decided against the write by `gate` (python.rs).
pub async fn login_gated(opts: &LoginOptions, gate: &WriteGate) -> Result<LoginResult> {
    let started = Instant::now();
    let (settings, file) = prepare(opts)?;
    let t = opts.timeouts.unwrap_or_default();
    log::debug!(
        "settings resolved in {:.1} ms; pip config {}",
        ms(started),
        file.display()
    );
    let aws = aws::load(&settings, &t).await?;
    log::debug!(
        "AWS config loaded at {:.1} ms (region {}, api {})",
        ms(started),
        aws.region,
        aws.api_url
    );
    let creds = aws::credentials(&aws, t.attempt).await?;
    log::debug!(
        "credentials from {} at {:.1} ms",
        aws::provider_name(&creds),
        ms(started)
    );
    let client = aws::codeartifact(&aws, &settings, creds);
    let ctx_token = CallContext {
        settings: &settings,
        region: &aws.region,
        host: &aws.api_host,
        operation: "GetAuthorizationToken",
    };
    let ctx_ep = CallContext {
        operation: "GetRepositoryEndpoint",
        ..ctx_token.clone()
    };
    let endpoint_fut = async {
        match &settings.repository_endpoint_url {
            Some(given) => settings::repository_endpoint_from(
                &given.value,
                &settings.domain.value,
                settings.domain_owner.as_ref().map(|o| o.value.as_str()),
                &settings.repository.value,
                "pypi",
            ),
            None => {
                aws::get_repository_endpoint(
                    &client,
                    &t,
                    &ctx_ep,
                    aws_sdk_codeartifact::types::PackageFormat::Pypi,
                )
                .await
            }
        }
    };
    let (token, endpoint) = tokio::join!(aws::get_token(&client, &t, &ctx_token), endpoint_fut);
    let (token, expires_at) = token?;
    let endpoint = endpoint?;
    log::debug!("token and endpoint at {:.1} ms", ms(started));
    log::info!(
        "got a token for {}/{} from {} (expires {}), repository endpoint {}",
        settings.domain.value,
        settings.repository.value,
        aws.api_host,
        rfc3339(expires_at),
        endpoint
    );
    let index_url = Secret::new(settings::index_url(&endpoint, token.expose())?);
    // Files are written under a lock that may wait for another process: off the async workers.
    let (opts, region, gate) = (opts.clone(), aws.region.clone(), gate.clone());
    tokio::task::spawn_blocking(move || {
        files::user::run(opts.target.as_user.as_ref(), || {
            finish(
                &opts, &settings, &region, &file, endpoint, index_url, &token, expires_at, started,
                &gate,
            )
        })
    })
    .await
    .map_err(|e| Error::Service {
        host: "localhost".into(),
        code: "Internal".into(),
        status: 0,
        message: format!("writing pip's config stopped: {e}"),
        hint: "this is a bug in ca_login; please report it".into(),
    })?
}

#[allow(clippy::too_many_arguments)]
fn finish(
    opts: &LoginOptions,
    settings: &Settings,
    region: &str,
    file: &Path,
    endpoint: String,
    index_url: Secret,
    token: &Secret,
    expires_at: i64,
    started: Instant,
    gate: &WriteGate,
) -> Result<LoginResult> {
    let token = token.expose();
    let comment = format!(
        "# ca-login: token for {}/{} expires {} (run `ca-login status`)",
        settings.domain.value,
        settings.repository.value,
        rfc3339(expires_at)
    );
    let plan = tool_plan(opts)?;
    let pip_store = crate::tools::Tool::Pip.store(plan.store);
    // With the netrc store pip's file holds the URL only; the token goes to netrc with the other tools' files.
    let index_url = if pip_store == crate::tools::TokenStore::Netrc {
        Secret::new(crate::tools::simple_url(&endpoint))
    } else {
        index_url
    };
    // The first file written (every tool's, then pip's, then the state) is the point of no return for an interrupt.
    if !opts.dry_run && !gate.begin() {
        return Err(Error::Interrupted);
    }
    let (files, next_steps) =
        write_tool_files(opts, &plan, settings, region, &endpoint, token, expires_at)?;
    let masked = mask_url(index_url.expose());
    // pip's state record of this login; the modes differ only in what logout gives back and in extra_index.
    let pip_entry =
        |previous_index_url: Option<String>, had_previous: bool, extra_index: bool| state::Entry {
            previous_index_url,
            had_previous,
            extra_index,
            ..login_record(
                "pip",
                file,
                pip_store.as_str(),
                settings,
                region,
                &endpoint,
                expires_at,
            )
        };
    let preview;
    if !plan.tools.contains(&crate::tools::Tool::Pip) {
        preview = files
            .iter()
            .map(|(_, p)| p.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    } else if opts.dry_run {
        let mut doc = match pipconf::read_document(file)? {
            Some(d) => d,
            None => pipconf::Document::parse("", file)?,
        };
        // A dry run writes nothing: an unreadable state file is only no record here.
        let recorded = state::load(&state_path(&opts.target))
            .ok()
            .and_then(|st| st.get(file).cloned());
        crate::tools::apply::take_back_other_mode(
            &mut doc,
            opts.extra_index,
            &endpoint,
            recorded.as_ref(),
        )?;
        if opts.extra_index {
            doc.set_extra_index(&masked, &crate::tools::simple_url(&endpoint), &comment)?;
        } else {
            doc.set("global", "index-url", &masked, Some(&comment))?;
        }
        // Every password in the file, not only our token's.
        preview = mask_url(&doc.render());
    } else if opts.extra_index {
        preview = crate::tools::apply::write_pip_extra(
            file,
            &state_path(&opts.target),
            index_url.expose(),
            &comment,
            pip_entry(None, false, true),
        )?;
    } else {
        let sp = state_path(&opts.target);
        // A state file we cannot read as ours is logged and replaced (state::record).
        let recorded = state::load_or_replace(&sp).get(file).cloned();
        let mut previous: Option<String> = None;
        let outcome = pipconf::update_file(file, |doc| {
            crate::tools::apply::take_back_other_mode(doc, false, &endpoint, recorded.as_ref())?;
            previous = doc.get("global", "index-url");
            doc.set("global", "index-url", index_url.expose(), Some(&comment))
        })?;
        preview = mask_url(&outcome.new_text.replace(index_url.expose(), &masked));
        // A record of the extra-index mode goes: its previous index-url (none) is not the one to keep.
        let switched = recorded.clone().filter(|e| e.extra_index);
        let removed = match &switched {
            Some(_) => state::remove(&sp, file).map(|_| ()),
            None => Ok(()),
        };
        let (previous_index_url, had_previous) = match recorded.filter(|e| !e.extra_index) {
            // Keep what was there before our first login.
            Some(e) => (e.previous_index_url, e.had_previous),
            // A CodeArtifact token URL (ours, or one `aws codeartifact login` wrote) is never stored, nor put back
            // at logout: it is dead or soon will be. Any other index-url is kept, to restore at logout.
            None => match previous {
                Some(p) if crate::secret::carries_codeartifact_token(&p) => (None, false),
                other => (other.clone(), other.is_some()),
            },
        };
        let recorded = state::record(&sp, pip_entry(previous_index_url, had_previous, false));
        let recorded = removed.and(recorded);
        if let Err(e) = recorded {
            // A login completes or leaves nothing behind: put pip's config back as it was, at the path written
            // (a link's target; the link itself is never removed).
            if outcome.written {
                if let Err(re) = files::restore(&outcome.target, outcome.previous_text.as_deref()) {
                    log::warn!("cannot put pip's config back after the failed login: {re}");
                }
            }
            if let Some(old) = switched {
                let _ = state::record(&sp, old);
            }
            return Err(e);
        }
    }
    log::debug!("pip config and state written at {:.1} ms", ms(started));
    // A tool switched from the netrc store to its own file: the netrc entry goes with the last login using it.
    let dropped_netrc = if opts.dry_run {
        Ok(Vec::new())
    } else {
        crate::tools::apply::drop_unused_netrc(&state_path(&opts.target))
    };
    let uses_pip = plan.tools.contains(&crate::tools::Tool::Pip);
    let mut warnings = if opts.dry_run || !uses_pip {
        Vec::new()
    } else if opts.extra_index {
        crate::tools::apply::pip_extra_warnings(file, &pip_context(&opts.target), &endpoint)
    } else {
        override_warnings(file, &opts.target)
    };
    if opts.extra_index && uses_pip {
        warnings.push(crate::tools::apply::dependency_confusion_warning(
            &settings.domain.value,
            settings.domain_owner.as_ref().map(|o| o.value.as_str()),
            &settings.repository.value,
        ));
    }
    warnings.extend(tool_warnings(&plan, &opts.target));
    match dropped_netrc {
        Ok(gone) => {
            for f in gone {
                log::info!("took our entry out of {}: no login uses netrc any more", f.display());
            }
        }
        Err(e) => warnings.push(format!(
            "our netrc entry from an earlier login is still there: {e}\nhint: ca-login logout --tool netrc"
        )),
    }
    let config_file = match (uses_pip, files.first()) {
        (false, Some((f, _))) => f.config_file.clone(),
        _ => file.to_path_buf(),
    };
    log::debug!("login done in {:.1} ms", ms(started));
    for w in &warnings {
        log::info!("{w}");
    }
    Ok(LoginResult {
        repository_endpoint: endpoint,
        index_url,
        expires_at,
        config_file,
        tool: plan.tools[0].as_str().into(),
        domain: settings.domain.value.clone(),
        domain_owner: settings.domain_owner.as_ref().map(|o| o.value.clone()),
        repository: settings.repository.value.clone(),
        region: region.to_string(),
        dry_run: opts.dry_run,
        preview,
        warnings,
        duration: started.elapsed(),
        tools: plan.tools.iter().map(|t| t.as_str().to_string()).collect(),
        files,
        next_steps,
    })
}

/// Why uv, Poetry or twine would not use what we wrote (environment variables, a project's own uv config).
pub fn tool_warnings(plan: &ToolPlan, target: &Target) -> Vec<String> {
    use crate::tools::{poetry, twine, uv, Tool};
    let env = tool_env(target);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = Vec::new();
    for t in &plan.tools {
        let lines = match t {
            Tool::Pip => continue,
            Tool::Uv => uv::overrides(env.as_ref(), &cwd),
            Tool::Poetry => poetry::overrides(env.as_ref(), &plan.poetry_source),
            Tool::Twine => twine::overrides(env.as_ref()),
        };
        out.extend(lines.into_iter().map(|l| format!("{}: {l}", t.as_str())));
    }
    out
}

type ToolFiles = Vec<(crate::tools::apply::ToolFile, String)>;

/// The state record of this login for one tool's file, issued now: nothing to give back at logout, not an extra
/// index, a file the login did not create, no Poetry source (callers set what differs).
fn login_record(
    tool: &str,
    config_file: &Path,
    token_store: &str,
    settings: &Settings,
    region: &str,
    endpoint: &str,
    expires_at: i64,
) -> state::Entry {
    state::Entry {
        tool: tool.into(),
        config_file: config_file.to_path_buf(),
        repository_endpoint: endpoint.to_string(),
        domain: settings.domain.value.clone(),
        domain_owner: settings.domain_owner.as_ref().map(|o| o.value.clone()),
        repository: settings.repository.value.clone(),
        region: region.to_string(),
        expires_at,
        issued_at: now_epoch(),
        previous_index_url: None,
        had_previous: false,
        token_store: token_store.into(),
        extra_index: false,
        created: false,
        source: None,
    }
}

/// Writes (dry run: previews) every tool file but pip's, each with its state record. A failure takes back the
/// files this call wrote.
#[allow(clippy::too_many_arguments)]
fn write_tool_files(
    opts: &LoginOptions,
    plan: &ToolPlan,
    settings: &Settings,
    region: &str,
    endpoint: &str,
    token: &str,
    expires_at: i64,
) -> Result<(ToolFiles, Vec<String>)> {
    use crate::tools::{apply, poetry, twine, Tool};
    let home = tool_home(&opts.target);
    let env = tool_env(&opts.target);
    let req = tool_request(plan, opts, endpoint, &home);
    let planned = apply::plan(&req, env.as_ref(), token)?;
    let mut next_steps = Vec::new();
    if plan.tools.contains(&Tool::Poetry) {
        next_steps.push(poetry::source_add_line(
            &plan.poetry_source,
            &crate::tools::simple_url(endpoint),
        ));
    }
    if plan.tools.contains(&Tool::Twine) {
        next_steps.push(twine::upload_line());
    }
    if opts.dry_run {
        return Ok((
            planned.into_iter().map(|p| (p.file, p.preview)).collect(),
            next_steps,
        ));
    }
    let sp = state_path(&opts.target);
    let mut done: Vec<(apply::ToolFile, bool)> = Vec::new();
    let mut out = Vec::new();
    for p in planned {
        // A state file we cannot read as ours is logged and replaced (state::record), as for pip's file.
        let recorded = state::load_or_replace(&sp)
            .get(&p.file.config_file)
            .cloned();
        let was_created = recorded.as_ref().is_some_and(|e| e.created);
        let step = apply::write_recorded(&req, &p.file, token, was_created).and_then(|existed| {
            // A file is ours to remove only if our first login created it.
            let created = recorded.as_ref().map_or(!existed, |e| e.created);
            done.push((p.file.clone(), !existed));
            state::record(
                &sp,
                state::Entry {
                    extra_index: opts.extra_index && p.file.tool == "uv",
                    created,
                    source: (p.file.tool == "poetry").then(|| plan.poetry_source.clone()),
                    ..login_record(
                        &p.file.tool,
                        &p.file.config_file,
                        p.file.token_store.as_str(),
                        settings,
                        region,
                        endpoint,
                        expires_at,
                    )
                },
            )
        });
        if let Err(e) = step {
            for (f, created) in &done {
                let _ = apply::unwrite(&f.tool, &f.config_file, *created);
            }
            return Err(e);
        }
        let text = apply::read(&p.file.config_file)?.unwrap_or_default();
        let preview = match p.file.tool.as_str() {
            _ if p.file.tool == "poetry"
                && p.file.token_store == crate::tools::TokenStore::Netrc =>
            {
                p.preview
            }
            "uv" => text,
            "poetry" => crate::files::toml::preview(&text),
            "twine" => crate::files::pypirc::preview(&text),
            _ => crate::files::netrc::preview(&text),
        };
        out.push((p.file, preview));
    }
    Ok((out, next_steps))
}

/// Why pip would not use the index-url we wrote to `file`.
pub fn override_warnings(file: &Path, target: &Target) -> Vec<String> {
    let ctx = pip_context(target);
    let mut out = Vec::new();
    if !pipconf::config_files(&ctx).iter().any(|(_, p)| p == file) {
        out.push(format!(
            "pip does not read {} (it is none of pip's config files for this interpreter)\nhint: point pip at it with PIP_CONFIG_FILE={}, or log in without config_file",
            file.display(),
            file.display()
        ));
        return out;
    }
    match pipconf::effective_index_url(&ctx, "install") {
        Ok(eff) => {
            let ours = matches!(&eff.source, pipconf::Source::File { path, .. } if path == file);
            if eff.no_index {
                out.push(format!(
                    "pip will not use any index: no-index is set by {}\nhint: {}",
                    describe_source(&eff.no_index_source),
                    override_hint(&eff.no_index_source)
                ));
            } else if !ours {
                out.push(format!(
                    "pip will not use {}: its index-url comes from {}\nhint: {}",
                    file.display(),
                    describe_source(&eff.source),
                    override_hint(&eff.source)
                ));
            }
        }
        Err(e) => out.push(format!(
            "cannot work out pip's effective configuration: {e}"
        )),
    }
    out.iter().map(|w| mask_url(w)).collect()
}

/// "environment variable PIP_INDEX_URL", "[install] in /etc/pip.conf (global)".
pub fn describe_source(source: &pipconf::Source) -> String {
    match source {
        pipconf::Source::EnvVar { name } => format!("environment variable {name}"),
        pipconf::Source::File {
            kind,
            path,
            section,
        } => {
            format!("[{section}] in {} ({})", path.display(), kind.as_str())
        }
        pipconf::Source::Default => "pip's default (https://pypi.org/simple)".into(),
    }
}

fn override_hint(source: &pipconf::Source) -> String {
    match source {
        pipconf::Source::EnvVar { name } => format!("unset {name} (e.g. `%env {name}=` in the notebook, or remove it from the kernel's environment)"),
        pipconf::Source::File { path, section, .. } => format!(
            "remove index-url from [{section}] in {} or log in with config_file=\"{}\"",
            path.display(),
            path.display()
        ),
        pipconf::Source::Default => {
            "pip reads none of its config files; is PIP_CONFIG_FILE=/dev/null set, or PIP_ISOLATED_MODE?".into()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EP: &str =
        "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/";
    const BEFORE: &str = "[global]\ntimeout = 5\n";
    const TOKEN: &str = "tok-for-the-gate-test";

    struct Login {
        _tmp: tempfile::TempDir,
        opts: LoginOptions,
        settings: Settings,
        file: PathBuf,
        state: PathBuf,
    }

    fn setup() -> Login {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pip.conf");
        std::fs::write(&file, BEFORE).unwrap();
        let state = tmp.path().join("state.json");
        let args = Args {
            domain: Some("mydomain".into()),
            repository: Some("isolatedsm".into()),
            domain_owner: Some("111122223333".into()),
            region: Some("us-west-2".into()),
            ..Args::default()
        };
        let opts = LoginOptions {
            args: args.clone(),
            tool: "pip".into(),
            config_file: Some(file.clone()),
            target: Target {
                home: Some(tmp.path().join("home")),
                as_user: None,
                sys_prefix: None,
                state_file: Some(state.clone()),
            },
            ..LoginOptions::default()
        };
        let settings = Settings::resolve(&args, None).unwrap();
        Login {
            _tmp: tmp,
            opts,
            settings,
            file,
            state,
        }
    }

    /// The login's last step (every file written) as `login_gated` runs it once the token is in hand.
    fn write(l: &Login, gate: &WriteGate) -> Result<LoginResult> {
        let token = Secret::new(TOKEN);
        let index_url = Secret::new(settings::index_url(EP, TOKEN).unwrap());
        finish(
            &l.opts,
            &l.settings,
            "us-west-2",
            &l.file,
            EP.into(),
            index_url,
            &token,
            now_epoch() + 3600,
            Instant::now(),
            gate,
        )
    }

    fn pip_conf(l: &Login) -> String {
        std::fs::read_to_string(&l.file).unwrap()
    }

    fn written_message(l: &Login) -> String {
        format!(
            "interrupted after pip's configuration was written: the new token is in {}",
            l.file.display()
        )
    }

    #[test]
    fn an_interrupt_before_the_write_wins_and_nothing_is_written() {
        let l = setup();
        let gate = WriteGate::default();
        assert!(gate.cancel(), "nothing written yet: the interrupt wins");
        assert!(gate.cancel(), "a second interrupt finds it cancelled too");
        assert!(matches!(write(&l, &gate), Err(Error::Interrupted)));
        // What python.rs says then, and it is true: pip's file holds its bytes, no state was recorded.
        assert_eq!(
            INTERRUPTED_NOTHING_WRITTEN,
            "interrupted: pip's configuration was not changed"
        );
        assert_eq!(pip_conf(&l), BEFORE);
        assert!(!l.state.exists());
    }

    #[test]
    fn an_interrupt_while_the_write_waits_for_pip_s_lock_loses_and_the_message_names_the_file() {
        let l = setup();
        let gate = WriteGate::default();
        // Another process holds pip's lock: the login has begun its write and waits inside it.
        let held = files::lock(&l.file).unwrap();
        std::thread::scope(|s| {
            let login = s.spawn(|| write(&l, &gate));
            let deadline = Instant::now() + Duration::from_secs(5);
            while !gate.began() {
                assert!(Instant::now() < deadline, "the write never began");
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                !gate.cancel(),
                "the write has begun: the interrupt must wait for it"
            );
            assert_eq!(pip_conf(&l), BEFORE, "still waiting for the lock");
            drop(held);
            let result = login.join().unwrap();
            assert!(result.is_ok());
            assert_eq!(interrupted_after_write(&result), written_message(&l));
        });
        let text = pip_conf(&l);
        assert!(
            text.contains(TOKEN) && text.starts_with(BEFORE),
            "{}",
            mask_url(&text)
        );
        assert!(l.state.exists());
    }

    #[test]
    fn an_interrupt_after_the_write_loses_and_the_message_names_the_file() {
        let l = setup();
        let gate = WriteGate::default();
        let result = write(&l, &gate);
        assert!(!gate.cancel());
        assert_eq!(interrupted_after_write(&result), written_message(&l));
        assert!(pip_conf(&l).contains(TOKEN));
    }

    #[test]
    fn an_interrupt_during_a_write_that_fails_says_so_and_pip_conf_is_put_back() {
        let mut l = setup();
        // The state file's directory is a regular file: recording fails after pip's file was written.
        let blocker = l.file.with_file_name("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        l.opts.target.state_file = Some(blocker.join("state.json"));
        let gate = WriteGate::default();
        let result = write(&l, &gate);
        assert!(!gate.cancel());
        let said = interrupted_after_write(&result);
        assert!(
            said.starts_with(
                "interrupted while the login was writing its files; the write failed: "
            ),
            "{said}"
        );
        assert!(!said.contains(TOKEN));
        assert_eq!(pip_conf(&l), BEFORE);
    }

    #[test]
    fn a_dry_run_never_takes_the_gate() {
        let mut l = setup();
        l.opts.dry_run = true;
        let gate = WriteGate::default();
        assert!(write(&l, &gate).is_ok());
        assert!(
            gate.cancel(),
            "a dry run writes nothing: an interrupt still wins"
        );
        assert_eq!(pip_conf(&l), BEFORE);
    }

    #[test]
    fn the_message_after_a_write_of_several_tools_names_every_file() {
        let l = setup();
        let mut r = write(&l, &WriteGate::default()).unwrap();
        r.tools.push("uv".into());
        r.files.push((
            crate::tools::apply::ToolFile {
                tool: "uv".into(),
                config_file: PathBuf::from("/home/u/.config/uv/uv.toml"),
                token_store: crate::tools::TokenStore::Url,
            },
            String::new(),
        ));
        assert_eq!(
            interrupted_after_write(&Ok(r)),
            format!(
                "interrupted after the login's files were written: {}, /home/u/.config/uv/uv.toml",
                l.file.display()
            )
        );
    }
}
