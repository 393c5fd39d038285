//! One background refresher per process: a task on the core's tokio runtime (never a Python thread, never
//! holding the GIL) that logs in again at about 75% of each token's life, retries with exponential backoff and
//! jitter on failure, and reports through `log` (which reaches Python's `logging` in the extension).
//!
//! Each run renews every tool's file: the tools it was started for and every other tool with a recorded login
//! for the same repository (pip: for its pip file), each with the token store, index mode and Poetry source it was
//! logged in with (one login per distinct way). [`during_logout`] takes one tool out: the refresher keeps renewing
//! the others and stops when none is left.
//!
//! [`start`] replaces a running refresher; [`stop`] ends it within a second; [`info`] shows the running one
//! (or the last one stopped) and its last result.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::error::Result;
use crate::lifetime;
use crate::login::{self, LoginOptions};
use crate::settings::Settings;
use crate::state::{self, Entry, State};
use crate::tools::{poetry, TokenStore, Tool};

/// The share of a token's life after which the refresher renews it.
pub const RENEW_AT: f64 = 0.75;
/// The shortest wait between two runs (a token that lives a second must not make a busy loop).
pub const MIN_DELAY: Duration = Duration::from_secs(1);
/// How long [`stop`] waits for a run in progress before aborting it.
pub const STOP_WAIT: Duration = Duration::from_millis(900);
/// How long a logout waits for a run in progress to finish (a login's own waits are bounded well below it).
pub const LOGOUT_WAIT: Duration = Duration::from_secs(30);

/// What to refresh and how often.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// The login to repeat (same arguments as a login).
    pub login: LoginOptions,
    /// Renew at least this often (default: at 75% of each token's life).
    pub every: Option<Duration>,
    /// The first retry delay after a failure; doubled on each further failure.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_cap: Duration,
}

impl RefreshOptions {
    pub fn new(login: LoginOptions) -> Self {
        RefreshOptions {
            login,
            every: None,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
        }
    }
}

/// The refresher as `status()` shows it. Times are epoch seconds. Never holds a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub running: bool,
    pub config_file: PathBuf,
    pub domain: String,
    pub repository: String,
    pub started_at: f64,
    pub every: Option<f64>,
    /// Successful logins so far.
    pub renewals: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    pub last_run_at: Option<f64>,
    pub last_ok: Option<bool>,
    /// "renewed: expires 2026-...Z" or the error's message.
    pub last_result: Option<String>,
    /// The error's cause code (as `diagnose()` uses).
    pub last_error_cause: Option<String>,
    pub next_run_at: Option<f64>,
    /// The expiry of the token in the file, as far as the refresher knows (the earliest of every file's).
    pub expires_at: Option<i64>,
    /// The tools renewed (at start: the ones asked and the recorded ones; after each run: the ones it renewed).
    pub tools: Vec<String>,
}

/// What the task and the logouts share.
struct Shared {
    opts: RefreshOptions,
    settings: Settings,
    /// pip's file.
    file: PathBuf,
    /// The tools asked at start and not logged out since.
    asked: Mutex<Vec<Tool>>,
    /// Held by a run while it logs in, and by a logout while it takes files back.
    busy: Arc<tokio::sync::Mutex<()>>,
    info: Mutex<Info>,
}

struct Running {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
    handle: tokio::task::JoinHandle<()>,
}

static CURRENT: Mutex<Option<Running>> = Mutex::new(None);
static LAST: Mutex<Option<Info>> = Mutex::new(None);

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// When to renew a token issued at `issued` that expires at `expires` (epoch seconds), as a delay from `now`.
pub fn renewal_delay(issued: f64, expires: f64, now: f64, every: Option<Duration>) -> Duration {
    let life = (expires - issued).max(0.0);
    let mut at = issued + RENEW_AT * life - now;
    if let Some(e) = every {
        at = at.min(e.as_secs_f64());
    }
    Duration::from_secs_f64(at.max(0.0))
}

/// The retry delay after the `failures`-th consecutive failure: base * 2^(failures-1), capped, with jitter
/// (between half and all of it).
pub fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(30) as i32);
    let capped = exp.min(cap.as_secs_f64());
    Duration::from_secs_f64(capped * (0.5 + 0.5 * fastrand::f64()))
}

/// The recorded login of `tool` for the refresher's repository (pip: for its pip file).
fn recorded<'a>(st: &'a State, tool: Tool, settings: &Settings, file: &Path) -> Option<&'a Entry> {
    let matches = |e: &&Entry| e.tool == tool.as_str() && lifetime::entry_matches(e, settings);
    match tool {
        Tool::Pip => st.get(file).filter(matches),
        _ => st.entries().find(matches),
    }
}

/// The tools a run renews: those asked and not logged out, and every other tool with a recorded login for the
/// same repository.
/// The target's state file, read with the target user's ids when acting for another user (`as_user`): the file
/// sits in their home, where a link they planted could lead root's own read anywhere.
fn load_state(target: &login::Target) -> Result<State> {
    let sp = login::state_path(target);
    match target.as_user.as_ref() {
        Some(who) => crate::files::user::run(Some(who), || state::load(&sp)),
        None => state::load(&sp),
    }
}

fn live_tools(asked: &[Tool], settings: &Settings, file: &Path, st: &State) -> Vec<Tool> {
    Tool::ALL
        .into_iter()
        .filter(|t| asked.contains(t) || recorded(st, *t, settings, file).is_some())
        .collect()
}

/// The logins of one run: the tools asked with the options given, and each recorded tool with the way it was
/// logged in (token store, uv's and pip's index mode, Poetry's source); one login per distinct way.
fn logins(
    base: &LoginOptions,
    asked: &[Tool],
    tools: &[Tool],
    st: &State,
    settings: &Settings,
    file: &Path,
) -> Vec<LoginOptions> {
    type Way = (Option<String>, bool, Option<String>);
    let call: Way = (
        base.token_store.clone(),
        base.extra_index,
        base.poetry_source.clone(),
    );
    let call_store = base
        .token_store
        .as_deref()
        .and_then(|s| TokenStore::parse(s).ok());
    let call_source = base.poetry_source.as_deref().unwrap_or(poetry::SOURCE);
    let mut groups: Vec<(Way, Vec<Tool>)> = vec![(call.clone(), Vec::new())];
    for &t in tools {
        let way = match recorded(st, t, settings, file) {
            Some(e) if !asked.contains(&t) => {
                let fits = t.store(call_store).as_str() == e.token_store
                    && (!matches!(t, Tool::Uv | Tool::Pip) || e.extra_index == base.extra_index)
                    && (t != Tool::Poetry
                        || e.source.as_deref().unwrap_or(poetry::SOURCE) == call_source);
                if fits {
                    call.clone()
                } else {
                    (Some(e.token_store.clone()), e.extra_index, e.source.clone())
                }
            }
            _ => call.clone(),
        };
        match groups.iter_mut().find(|(w, _)| *w == way) {
            Some(g) => g.1.push(t),
            None => groups.push((way, vec![t])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, ts)| !ts.is_empty())
        .map(
            |((token_store, extra_index, poetry_source), ts)| LoginOptions {
                tool: ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","),
                token_store,
                extra_index,
                poetry_source,
                ..base.clone()
            },
        )
        .collect()
}

fn tool_names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.as_str().to_string()).collect()
}

/// The delay before the first run: none unless every tool's file holds a valid token of ours for this repository
/// (the asked ones checked as `ensure_login` does), then until 75% of the shortest life.
fn initial_delay(
    opts: &RefreshOptions,
    tools: &[Tool],
    settings: &Settings,
    file: &Path,
) -> (Duration, Option<i64>) {
    match lifetime::fast_path(&opts.login, 0) {
        Ok(Some(_)) => {}
        _ => return (Duration::ZERO, None),
    }
    let Ok(st) = load_state(&opts.login.target) else {
        return (Duration::ZERO, None);
    };
    let mut delay: Option<Duration> = None;
    let mut expires: Option<i64> = None;
    for &t in tools {
        let Some(e) = recorded(&st, t, settings, file) else {
            return (Duration::ZERO, None);
        };
        let d = renewal_delay(e.issued_at as f64, e.expires_at as f64, now_f(), opts.every);
        delay = Some(delay.map_or(d, |x| x.min(d)));
        expires = Some(expires.map_or(e.expires_at, |x| x.min(e.expires_at)));
    }
    (delay.unwrap_or(Duration::ZERO), expires)
}

/// Starts the background refresher (stopping one already running). Checks the settings first: invalid input is
/// an error here, not a failure in the background.
pub fn start(opts: RefreshOptions) -> Result<Info> {
    let (settings, file) = login::prepare(&opts.login)?;
    let asked = login::tool_plan(&opts.login)?.tools;
    stop();
    let st = load_state(&opts.login.target).unwrap_or_default();
    let tools = live_tools(&asked, &settings, &file, &st);
    let (delay, expires_at) = initial_delay(&opts, &tools, &settings, &file);
    let started_at = now_f();
    let info = Info {
        running: true,
        config_file: file.clone(),
        domain: settings.domain.value.clone(),
        repository: settings.repository.value.clone(),
        started_at,
        every: opts.every.map(|d| d.as_secs_f64()),
        renewals: 0,
        consecutive_failures: 0,
        last_run_at: None,
        last_ok: None,
        last_result: None,
        last_error_cause: None,
        next_run_at: Some(started_at + delay.as_secs_f64()),
        expires_at,
        tools: tool_names(&tools),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    log::info!(
        "background refresh of {} ({}) for {}/{}: first run in {:.0} s",
        file.display(),
        info.tools.join(", "),
        settings.domain.value,
        settings.repository.value,
        delay.as_secs_f64()
    );
    let shared = Arc::new(Shared {
        opts,
        settings,
        file,
        asked: Mutex::new(asked),
        busy: Arc::new(tokio::sync::Mutex::new(())),
        info: Mutex::new(info),
    });
    let task_shared = shared.clone();
    let handle = crate::runtime::runtime().spawn(async move {
        run(task_shared, stop_rx, delay).await;
        let _ = done_tx.send(());
    });
    let snapshot = locked(&shared.info).clone();
    *locked(&CURRENT) = Some(Running {
        shared,
        stop: stop_tx,
        done: done_rx,
        handle,
    });
    Ok(snapshot)
}

/// Every login of one run, in turn; the earliest expiry.
async fn run_logins(groups: &[LoginOptions]) -> Result<i64> {
    let mut expires = i64::MAX;
    for g in groups {
        expires = expires.min(login::login(g).await?.expires_at);
    }
    Ok(expires)
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, mut delay: Duration) {
    let opts = &shared.opts;
    let file = &shared.file;
    let info = &shared.info;
    let mut failures: u32 = 0;
    loop {
        locked(info).next_run_at = Some(now_f() + delay.as_secs_f64());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break,
        }
        // A logout taking files back holds it: no file is written again meanwhile.
        let busy = tokio::select! {
            g = shared.busy.clone().lock_owned() => g,
            _ = stop.changed() => break,
        };
        let issued = now_f();
        locked(info).last_run_at = Some(issued);
        let asked = locked(&shared.asked).clone();
        let st = load_state(&opts.login.target).unwrap_or_default();
        let tools = live_tools(&asked, &shared.settings, file, &st);
        if tools.is_empty() {
            log::info!(
                "background refresh of {}: no tool left to renew",
                file.display()
            );
            break;
        }
        let groups = logins(&opts.login, &asked, &tools, &st, &shared.settings, file);
        let result = tokio::select! {
            r = run_logins(&groups) => r,
            _ = stop.changed() => break,
        };
        drop(busy);
        match result {
            Ok(expires_at) => {
                failures = 0;
                delay =
                    renewal_delay(issued, expires_at as f64, now_f(), opts.every).max(MIN_DELAY);
                let text = format!("renewed: expires {}", login::rfc3339(expires_at));
                log::info!(
                    "background refresh of {} ({}): {text}; next in {:.0} s",
                    file.display(),
                    tool_names(&tools).join(", "),
                    delay.as_secs_f64()
                );
                let mut i = locked(info);
                i.renewals += 1;
                i.consecutive_failures = 0;
                i.last_ok = Some(true);
                i.last_result = Some(text);
                i.last_error_cause = None;
                i.expires_at = Some(expires_at);
                i.tools = tool_names(&tools);
            }
            Err(e) => {
                failures += 1;
                delay = backoff(failures, opts.backoff_base, opts.backoff_cap).max(MIN_DELAY);
                let expires_at = locked(info).expires_at;
                let first_line = e.to_string().lines().next().unwrap_or("").to_string();
                match expires_at {
                    Some(x) if (x as f64) <= now_f() => log::error!(
                        "background refresh of {} failed {failures} time(s) and the token expired at {}: pip \
                         will get 401 until a refresh succeeds; retrying in {:.0} s: {first_line}",
                        file.display(),
                        login::rfc3339(x),
                        delay.as_secs_f64()
                    ),
                    _ => log::warn!(
                        "background refresh of {} failed (attempt {failures}); retrying in {:.1} s: {first_line}",
                        file.display(),
                        delay.as_secs_f64()
                    ),
                }
                let mut i = locked(info);
                i.consecutive_failures = failures;
                i.last_ok = Some(false);
                i.last_result = Some(e.to_string());
                i.last_error_cause = Some(e.cause().to_string());
            }
        }
    }
    let mut i = locked(info);
    i.running = false;
    i.next_run_at = None;
}

fn stop_running(r: Running) -> Info {
    let _ = r.stop.send(true);
    if r.done.recv_timeout(STOP_WAIT).is_err() {
        r.handle.abort();
    }
    let mut info = locked(&r.shared.info).clone();
    info.running = false;
    info.next_run_at = None;
    log::info!(
        "background refresh of {} stopped",
        info.config_file.display()
    );
    *locked(&LAST) = Some(info.clone());
    info
}

/// Stops the refresher (within a second). Returns its last state, or `None` if none was running.
/// Call it from a thread that is not one of the runtime's workers (it waits).
pub fn stop() -> Option<Info> {
    let running = locked(&CURRENT).take()?;
    Some(stop_running(running))
}

/// Runs `f`, the logout of `tool` (pip: of the pip file `file`), with the refresher out of its way: the tool leaves
/// the refresher's list, a run in progress ends first (at most [`LOGOUT_WAIT`]) and none starts while `f` takes
/// the files back; afterwards the refresher stops if it has no tool left. Returns what `f` returned and whether
/// the refresher was renewing that tool (it no longer does). Call it from a thread that is not one of the
/// runtime's workers (it waits).
pub fn during_logout<T>(
    tool: &str,
    file: &Path,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, bool)> {
    let shared = locked(&CURRENT).as_ref().map(|r| r.shared.clone());
    let (Some(shared), Ok(t)) = (shared, Tool::parse(tool)) else {
        return f().map(|out| (out, false));
    };
    if t == Tool::Pip && file != shared.file {
        return f().map(|out| (out, false));
    }
    let was_renewing = locked(&shared.info).tools.iter().any(|n| n == t.as_str())
        || locked(&shared.asked).contains(&t);
    locked(&shared.asked).retain(|a| *a != t);
    let guard = crate::runtime::runtime().block_on(async {
        tokio::time::timeout(LOGOUT_WAIT, shared.busy.clone().lock_owned())
            .await
            .ok()
    });
    if guard.is_none() {
        log::warn!(
            "a background refresh was still running after {} s: logging {} out anyway",
            LOGOUT_WAIT.as_secs(),
            t.as_str()
        );
    }
    let out = f();
    drop(guard);
    let st = load_state(&shared.opts.login.target).unwrap_or_default();
    let asked = locked(&shared.asked).clone();
    let left = live_tools(&asked, &shared.settings, &shared.file, &st);
    if left.is_empty() {
        let mut cur = locked(&CURRENT);
        if cur
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.shared, &shared))
        {
            if let Some(r) = cur.take() {
                drop(cur);
                stop_running(r);
            }
        }
    } else {
        locked(&shared.info).tools = tool_names(&left);
    }
    out.map(|o| (o, was_renewing))
}

/// The running refresher, else the last one stopped, else `None`.
pub fn info() -> Option<Info> {
    if let Some(r) = locked(&CURRENT).as_ref() {
        return Some(locked(&r.shared.info).clone());
    }
    locked(&LAST).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_three_quarters_of_the_life_or_sooner_with_every() {
        let d = renewal_delay(1000.0, 1400.0, 1000.0, None);
        assert_eq!(d, Duration::from_secs(300));
        let d = renewal_delay(1000.0, 1400.0, 1100.0, None);
        assert_eq!(d, Duration::from_secs(200));
        let d = renewal_delay(1000.0, 1400.0, 1000.0, Some(Duration::from_secs(60)));
        assert_eq!(d, Duration::from_secs(60));
        // Past the point: now.
        assert_eq!(renewal_delay(1000.0, 1400.0, 1390.0, None), Duration::ZERO);
        // An already-dead token (or a clock step): now.
        assert_eq!(renewal_delay(1000.0, 900.0, 1000.0, None), Duration::ZERO);
    }

    fn entry(tool: &str, file: &str, store: &str, repository: &str) -> Entry {
        Entry {
            tool: tool.into(),
            config_file: PathBuf::from(file),
            repository_endpoint:
                "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/".into(),
            domain: "dom".into(),
            domain_owner: Some("111122223333".into()),
            repository: repository.into(),
            region: "us-west-2".into(),
            expires_at: 2_000_000_000,
            issued_at: 1_999_990_000,
            previous_index_url: None,
            had_previous: false,
            token_store: store.into(),
            extra_index: false,
            created: false,
            source: None,
        }
    }

    #[test]
    fn a_run_renews_every_recorded_tool_of_the_repository_each_the_way_it_was_logged_in() {
        let args = crate::settings::Args {
            domain: Some("dom".into()),
            repository: Some("repo".into()),
            domain_owner: Some("111122223333".into()),
            region: Some("us-west-2".into()),
            ..Default::default()
        };
        let settings = Settings::resolve(&args, None).expect("settings");
        let pip_file = Path::new("/h/.config/pip/pip.conf");
        let mut st = State::default();
        let mut poetry = entry("poetry", "/h/.config/pypoetry/auth.toml", "netrc", "repo");
        poetry.source = Some("corp".into());
        for e in [
            entry("pip", "/h/.config/pip/pip.conf", "url", "repo"),
            entry("uv", "/h/.config/uv/uv.toml", "netrc", "repo"),
            poetry,
            entry("netrc", "/h/.netrc", "netrc", "repo"),
            // Another repository's login is not this refresher's.
            entry("twine", "/h/.pypirc", "url", "other"),
        ] {
            st.entries.insert(e.config_file.display().to_string(), e);
        }
        let tools = live_tools(&[Tool::Pip], &settings, pip_file, &st);
        assert_eq!(tools, vec![Tool::Pip, Tool::Uv, Tool::Poetry]);
        // pip's record for another file does not count.
        assert_eq!(
            live_tools(&[Tool::Uv], &settings, Path::new("/elsewhere.conf"), &st),
            vec![Tool::Uv, Tool::Poetry]
        );
        let base = LoginOptions {
            args,
            tool: "pip".into(),
            ..Default::default()
        };
        let runs = logins(&base, &[Tool::Pip], &tools, &st, &settings, pip_file);
        let got: Vec<_> = runs
            .iter()
            .map(|o| {
                (
                    o.tool.as_str(),
                    o.token_store.as_deref(),
                    o.poetry_source.as_deref(),
                )
            })
            .collect();
        // uv's netrc is its default: one login with pip; Poetry was logged in with netrc and its own source.
        assert_eq!(
            got,
            vec![
                ("pip,uv", None, None),
                ("poetry", Some("netrc"), Some("corp"))
            ]
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(300);
        for _ in 0..50 {
            let b1 = backoff(1, base, cap).as_secs_f64();
            assert!((1.0..=2.0).contains(&b1), "{b1}");
            let b3 = backoff(3, base, cap).as_secs_f64();
            assert!((4.0..=8.0).contains(&b3), "{b3}");
            let big = backoff(40, base, cap).as_secs_f64();
            assert!((150.0..=300.0).contains(&big), "{big}");
        }
    }
}
