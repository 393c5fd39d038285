//! One background refresher per process: a task on the core's tokio runtime (never a Python thread, never
//! holding the GIL) that logs in again at about 75% of each token's life, retries with exponential backoff and
//! jitter on failure, and reports through `log` (which reaches Python's `logging` in the extension).
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
use crate::state;

/// The share of a token's life after which the refresher renews it.
pub const RENEW_AT: f64 = 0.75;
/// The shortest wait between two runs (a token that lives a second must not make a busy loop).
pub const MIN_DELAY: Duration = Duration::from_secs(1);
/// How long [`stop`] waits for a run in progress before aborting it.
pub const STOP_WAIT: Duration = Duration::from_millis(900);

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
    /// The expiry of the token in the file, as far as the refresher knows.
    pub expires_at: Option<i64>,
}

struct Running {
    info: Arc<Mutex<Info>>,
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

/// The delay before the first run: none unless the file holds a valid token of ours for this repository, then
/// until 75% of its life.
fn initial_delay(opts: &RefreshOptions, file: &Path) -> (Duration, Option<i64>) {
    match lifetime::fast_path(&opts.login, 0) {
        Ok(Some(_)) => {}
        _ => return (Duration::ZERO, None),
    }
    let Ok(st) = state::load(&login::state_path(&opts.login.target)) else {
        return (Duration::ZERO, None);
    };
    match st.get(file) {
        Some(e) => (
            renewal_delay(e.issued_at as f64, e.expires_at as f64, now_f(), opts.every),
            Some(e.expires_at),
        ),
        None => (Duration::ZERO, None),
    }
}

/// Starts the background refresher (stopping one already running). Checks the settings first: invalid input is
/// an error here, not a failure in the background.
pub fn start(opts: RefreshOptions) -> Result<Info> {
    let (settings, file) = login::prepare(&opts.login)?;
    stop();
    let (delay, expires_at) = initial_delay(&opts, &file);
    let started_at = now_f();
    let info = Arc::new(Mutex::new(Info {
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
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let task_info = info.clone();
    log::info!(
        "background refresh of {} for {}/{}: first run in {:.0} s",
        file.display(),
        settings.domain.value,
        settings.repository.value,
        delay.as_secs_f64()
    );
    let handle = crate::runtime::runtime().spawn(async move {
        run(opts, file, task_info, stop_rx, delay).await;
        let _ = done_tx.send(());
    });
    let snapshot = locked(&info).clone();
    *locked(&CURRENT) = Some(Running {
        info,
        stop: stop_tx,
        done: done_rx,
        handle,
    });
    Ok(snapshot)
}

async fn run(
    opts: RefreshOptions,
    file: PathBuf,
    info: Arc<Mutex<Info>>,
    mut stop: watch::Receiver<bool>,
    mut delay: Duration,
) {
    let mut failures: u32 = 0;
    loop {
        locked(&info).next_run_at = Some(now_f() + delay.as_secs_f64());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break,
        }
        let issued = now_f();
        locked(&info).last_run_at = Some(issued);
        let result = tokio::select! {
            r = login::login(&opts.login) => r,
            _ = stop.changed() => break,
        };
        match result {
            Ok(r) => {
                failures = 0;
                delay =
                    renewal_delay(issued, r.expires_at as f64, now_f(), opts.every).max(MIN_DELAY);
                let text = format!("renewed: expires {}", login::rfc3339(r.expires_at));
                log::info!(
                    "background refresh of {}: {text}; next in {:.0} s",
                    file.display(),
                    delay.as_secs_f64()
                );
                let mut i = locked(&info);
                i.renewals += 1;
                i.consecutive_failures = 0;
                i.last_ok = Some(true);
                i.last_result = Some(text);
                i.last_error_cause = None;
                i.expires_at = Some(r.expires_at);
            }
            Err(e) => {
                failures += 1;
                delay = backoff(failures, opts.backoff_base, opts.backoff_cap).max(MIN_DELAY);
                let expires_at = locked(&info).expires_at;
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
                let mut i = locked(&info);
                i.consecutive_failures = failures;
                i.last_ok = Some(false);
                i.last_result = Some(e.to_string());
                i.last_error_cause = Some(e.cause().to_string());
            }
        }
    }
    let mut i = locked(&info);
    i.running = false;
    i.next_run_at = None;
}

fn stop_running(r: Running) -> Info {
    let _ = r.stop.send(true);
    if r.done.recv_timeout(STOP_WAIT).is_err() {
        r.handle.abort();
    }
    let mut info = locked(&r.info).clone();
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

/// Stops the refresher if it refreshes `file`; returns whether it did.
pub fn stop_for_file(file: &Path) -> bool {
    let mut cur = locked(&CURRENT);
    let same = cur
        .as_ref()
        .is_some_and(|r| locked(&r.info).config_file == file);
    if !same {
        return false;
    }
    let Some(r) = cur.take() else {
        return false;
    };
    drop(cur);
    stop_running(r);
    true
}

/// The running refresher, else the last one stopped, else `None`.
pub fn info() -> Option<Info> {
    if let Some(r) = locked(&CURRENT).as_ref() {
        return Some(locked(&r.info).clone());
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
