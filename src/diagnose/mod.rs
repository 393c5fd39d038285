//! `diagnose()`: walk the path pip takes to CodeArtifact layer by layer and name the first broken piece and its fix.
//!
//! Layers, in the order a verdict is chosen: configuration, credentials, identity (STS), DNS, TCP, TLS, the API
//! (GetAuthorizationToken, GetRepositoryEndpoint), the repository read, pip's own configuration. Independent checks
//! run concurrently, each bounded by the caller's time-out, and the whole run by a hard deadline (10 s at the
//! default time-out), even on a network that drops every packet. Failures are data in the [`Report`], never errors:
//! only invalid input is an `Err`, before any network call.
//!
//! Files: `config.rs` (settings, credentials, identity), `dns.rs`, `net.rs` (TCP, proxies), `tls.rs`, `api.rs`,
//! `repo.rs` (an HTTP GET of the simple index with the token), `pip.rs`.
//!
//! After pip's layer, the tool layer (`tools.rs`) has one check per tool asked for (`uv`, `poetry`, `twine`;
//! default: every tool the state file records a login for): whether that tool will reach the repository with a
//! valid credential; such a check carries its cause and fix commands ([`Fix`]) even as a warning.
//!
//! When the caller names packages, a last layer (`package.rs`, with `pep440.rs` for versions and specifiers) says
//! why pip would find no matching distribution for each.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::login::Target;
use crate::secret::Secret;
use crate::settings::{Args, Settings};

pub mod api;
pub mod config;
pub mod dns;
pub mod net;
pub mod package;
pub mod pep440;
pub mod pip;
pub mod repo;
pub mod tls;
pub mod tools;

/// The default per-check time-out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole run's bound at the default time-out.
pub const HARD_LIMIT: Duration = Duration::from_millis(9500);

/// The layers, in verdict order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Config,
    Credentials,
    Identity,
    Dns,
    Tcp,
    Tls,
    Api,
    Repository,
    Pip,
    /// The tools other than pip (`tools.rs`): one check each, `uv`, `poetry`, `twine`.
    Tool,
    Package,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Config => "config",
            Layer::Credentials => "credentials",
            Layer::Identity => "identity",
            Layer::Dns => "dns",
            Layer::Tcp => "tcp",
            Layer::Tls => "tls",
            Layer::Api => "api",
            Layer::Repository => "repository",
            Layer::Pip => "pip",
            Layer::Tool => "tool",
            Layer::Package => "package",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Warn,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// Every check's name, in report order (within a layer, this order breaks ties for the verdict).
pub const CHECK_NAMES: [&str; 16] = [
    "settings",
    "credentials",
    "caller-identity",
    "dns-api",
    "dns-repositories",
    "tcp-api",
    "tcp-repositories",
    "tls-api",
    "tls-repositories",
    "get-authorization-token",
    "get-repository-endpoint",
    "repository-read",
    "pip-index-url",
    "pip-token",
    "pip-cert",
    "pip-environment",
];

fn check_rank(name: &str) -> usize {
    CHECK_NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or(CHECK_NAMES.len())
}

/// One check's outcome. Only the first five fields go into the JSON form; a failing check also carries the cause
/// code, a one-sentence summary and the remedy the verdict takes when this is the first failure.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub layer: Layer,
    pub status: Status,
    pub detail: String,
    pub duration_ms: u64,
    #[serde(skip)]
    pub cause: Option<&'static str>,
    #[serde(skip)]
    pub summary: Option<String>,
    #[serde(skip)]
    pub remedy: Option<String>,
    /// The AccessDenied this failure comes from: the verdict's commands are built from it.
    #[serde(skip)]
    pub denial: Option<crate::error::Denial>,
    /// A tool check's cause (for a warning too) and its fix commands; in the JSON form only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

/// The cause and the commands to paste of a tool check that failed or warns (`tools.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub cause: &'static str,
    pub commands: Vec<String>,
}

impl Check {
    pub fn new(
        name: &'static str,
        layer: Layer,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Check {
            name,
            layer,
            status,
            detail: detail.into(),
            duration_ms: 0,
            cause: None,
            summary: None,
            remedy: None,
            denial: None,
            fix: None,
        }
    }
    pub fn ok(name: &'static str, layer: Layer, detail: impl Into<String>) -> Self {
        Check::new(name, layer, Status::Ok, detail)
    }
    pub fn warn(name: &'static str, layer: Layer, detail: impl Into<String>) -> Self {
        Check::new(name, layer, Status::Warn, detail)
    }
    pub fn skip(name: &'static str, layer: Layer, detail: impl Into<String>) -> Self {
        Check::new(name, layer, Status::Skip, detail)
    }
    /// A failure with its cause code, summary (one sentence) and remedy.
    pub fn fail(
        name: &'static str,
        layer: Layer,
        detail: impl Into<String>,
        cause: &'static str,
        summary: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Check {
            cause: Some(cause),
            summary: Some(summary.into()),
            remedy: Some(remedy.into()),
            ..Check::new(name, layer, Status::Fail, detail)
        }
    }
    /// A failure from one of the core's errors: the same cause code and hint `login()` gives.
    pub fn from_error(name: &'static str, layer: Layer, e: &Error) -> Self {
        let text = e.to_string();
        let first = text.split("\nhint: ").next().unwrap_or(&text).to_string();
        let mut c = Check::fail(
            name,
            layer,
            first.clone(),
            e.cause(),
            first,
            e.hint().unwrap_or_default().to_string(),
        );
        if let Error::AccessDenied { denial, .. } = e {
            c.denial = Some(denial.clone());
        }
        c
    }
    pub fn took(mut self, since: Instant) -> Self {
        self.duration_ms = since.elapsed().as_millis() as u64;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub layer: Layer,
    pub cause: &'static str,
    pub summary: String,
    pub remedy: String,
    /// The fix as commands to paste, in order (shell commands, then our login); empty when none fixes it.
    pub commands: Vec<String>,
    #[serde(skip)]
    pub denial: Option<crate::error::Denial>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub verdict: Option<Verdict>,
    pub checks: Vec<Check>,
}

impl Report {
    /// Sort the checks into report order and choose the verdict: the first failing check in layer order.
    pub fn from_checks(mut checks: Vec<Check>) -> Report {
        checks.sort_by_key(|c| (c.layer, check_rank(c.name)));
        let verdict = checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .map(|c| Verdict {
                layer: c.layer,
                cause: c.cause.unwrap_or("check-failed"),
                summary: c.summary.clone().unwrap_or_else(|| c.detail.clone()),
                remedy: c.remedy.clone().unwrap_or_default(),
                // A tool check brings its own commands; the others get theirs in `fill_commands`.
                commands: c
                    .fix
                    .as_ref()
                    .map(|f| f.commands.clone())
                    .unwrap_or_default(),
                denial: c.denial.clone(),
            });
        Report {
            ok: verdict.is_none(),
            verdict,
            checks,
        }
    }

    /// `{"ok", "verdict": {"layer", "cause", "summary", "remedy", "commands"} | null, "checks": [{"name", "layer", "status", "detail", "duration_ms"}]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Fill the verdict's commands for `face` (CLI or Python) from its cause.
    pub fn fill_commands(&mut self, settings: &Settings, region: &str, face: crate::remedy::Face) {
        if let Some(v) = self.verdict.as_mut() {
            let steps = crate::remedy::verdict_steps(v.cause, v.denial.as_ref(), settings, region);
            if !steps.is_empty() || v.commands.is_empty() {
                v.commands = steps
                    .iter()
                    .map(|st| crate::secret::mask_url(&st.render(face)))
                    .collect();
            }
        }
    }

    /// Replace every occurrence of each secret in every text field (belt and braces: no check prints one).
    fn scrub(&mut self, secrets: &[String]) {
        let clean = |s: &mut String| {
            for sec in secrets.iter().filter(|s| s.len() >= 4) {
                if s.contains(sec.as_str()) {
                    *s = s.replace(sec.as_str(), "****");
                }
            }
        };
        for c in &mut self.checks {
            clean(&mut c.detail);
            if let Some(s) = c.summary.as_mut() {
                clean(s);
            }
            if let Some(s) = c.remedy.as_mut() {
                clean(s);
            }
            if let Some(f) = c.fix.as_mut() {
                f.commands.iter_mut().for_each(clean);
            }
        }
        if let Some(v) = self.verdict.as_mut() {
            clean(&mut v.summary);
            clean(&mut v.remedy);
            v.commands.iter_mut().for_each(clean);
        }
    }
}

/// What the caller asked to diagnose.
#[derive(Debug, Clone)]
pub struct Options {
    pub args: Args,
    pub target: Target,
    /// Who reads the verdict's commands.
    pub face: crate::remedy::Face,
    /// Bound of each check.
    pub timeout: Duration,
    /// Requirements for the package layer (`pandas==2.2.3`); empty: no package layer.
    pub packages: Vec<String>,
    /// The interpreter pip runs in (needed with `packages`).
    pub interpreter: Option<package::Interpreter>,
    /// The tools to check (`"uv,poetry"`, or several entries); empty: pip plus every tool the state file
    /// records a login for (see [`tools::asked`]).
    pub tools: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            args: Args::default(),
            target: Target::default(),
            face: crate::remedy::Face::default(),
            timeout: DEFAULT_TIMEOUT,
            packages: Vec::new(),
            interpreter: None,
            tools: Vec::new(),
        }
    }
}

/// Receives each check as it finishes (the CLI prints them live).
pub type Sink = Arc<dyn Fn(&Check) + Send + Sync>;

/// Collects checks and forwards them to the sink.
pub struct Recorder {
    checks: Mutex<Vec<Check>>,
    sink: Option<Sink>,
    secrets: Mutex<Vec<String>>,
    region: Mutex<Option<String>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    fn new(sink: Option<Sink>) -> Self {
        Recorder {
            checks: Mutex::new(Vec::new()),
            sink,
            secrets: Mutex::new(Vec::new()),
            region: Mutex::new(None),
        }
    }
    pub fn push(&self, mut c: Check) {
        if let Ok(secrets) = self.secrets.lock() {
            for s in secrets.iter() {
                c.detail = c.detail.replace(s.as_str(), "****");
            }
        }
        c.detail = crate::secret::mask_url(&c.detail);
        c.summary = c.summary.as_deref().map(crate::secret::mask_url);
        c.remedy = c.remedy.as_deref().map(crate::secret::mask_url);
        if let Some(f) = c.fix.as_mut() {
            f.commands = f
                .commands
                .iter()
                .map(|s| crate::secret::mask_url(s))
                .collect();
        }
        if let Some(sink) = &self.sink {
            sink(&c);
        }
        if let Ok(mut g) = self.checks.lock() {
            g.push(c);
        }
    }
    pub fn secret(&self, s: &str) {
        if s.len() >= 4 {
            if let Ok(mut g) = self.secrets.lock() {
                g.push(s.to_string());
            }
        }
    }
    fn has(&self, name: &str) -> bool {
        self.checks
            .lock()
            .map(|g| g.iter().any(|c| c.name == name))
            .unwrap_or(false)
    }
    /// Whether a check called `name` was recorded as failing.
    fn failed(&self, name: &str) -> bool {
        self.checks
            .lock()
            .map(|g| g.iter().any(|c| c.name == name && c.status == Status::Fail))
            .unwrap_or(false)
    }
    /// Whether a check called `name` was recorded as passing.
    fn passed(&self, name: &str) -> bool {
        self.checks
            .lock()
            .map(|g| g.iter().any(|c| c.name == name && c.status == Status::Ok))
            .unwrap_or(false)
    }
    fn count(&self, name: &str) -> usize {
        self.checks
            .lock()
            .map(|g| g.iter().filter(|c| c.name == name).count())
            .unwrap_or(0)
    }
    fn take(&self) -> (Vec<Check>, Vec<String>) {
        let checks = self.checks.lock().map(|g| g.clone()).unwrap_or_default();
        let secrets = self.secrets.lock().map(|g| g.clone()).unwrap_or_default();
        (checks, secrets)
    }
}

/// The clock every check shares: each wait is bounded by the per-check time-out and by the run's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub timeout: Duration,
    pub deadline: Instant,
}

impl Budget {
    pub fn new(timeout: Duration) -> Self {
        Budget {
            timeout,
            deadline: Instant::now() + overall_limit(timeout),
        }
    }
    /// How long the next wait may take.
    pub fn bound(&self) -> Duration {
        self.timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }
    pub fn exhausted(&self) -> bool {
        self.bound() < Duration::from_millis(50)
    }
    /// Run `fut` within [`Budget::bound`]; `None` when it did not finish.
    pub async fn run<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout(self.bound(), fut).await.ok()
    }
}

/// The whole run's bound: 9.5 s at the default 3 s per check; three time-outs for longer ones.
pub fn overall_limit(timeout: Duration) -> Duration {
    HARD_LIMIT.max(timeout * 3 + Duration::from_millis(500))
}

fn validate_timeout(t: Duration) -> Result<()> {
    if t >= Duration::from_millis(100) && t <= Duration::from_secs(60) {
        Ok(())
    } else {
        Err(Error::invalid(
            "timeout",
            format!("{} s is outside 0.1..60 s", t.as_secs_f64()),
            "pass timeout=3.0 (CLI: --timeout 3); it bounds each check, not the whole run",
        ))
    }
}

/// Everything checked before the network: the settings resolve and validate, the time-out is sane.
pub fn prepare(opts: &Options) -> Result<Settings> {
    validate_timeout(opts.timeout)?;
    package::prepare(&opts.packages, opts.interpreter.as_ref())?;
    tools::asked(&opts.tools, &crate::state::State::default())?;
    Settings::resolve(
        &opts.args,
        crate::login::ca_config_path(&opts.target).as_deref(),
    )
}

/// Where a host's probe got to, for the checks that depend on it.
#[derive(Debug, Clone, Default)]
pub struct HostProbe {
    /// The DNS, TCP or TLS check failed.
    pub failed: bool,
    /// The certificate chain the server presented (TLS only).
    pub chain: Vec<rustls_pki_types::CertificateDer<'static>>,
}

/// Which endpoint a network check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Api,
    Repositories,
}

impl Which {
    pub fn label(self) -> &'static str {
        match self {
            Which::Api => "api",
            Which::Repositories => "repositories",
        }
    }
    pub(crate) fn name(self, api: &'static str, repo: &'static str) -> &'static str {
        match self {
            Which::Api => api,
            Which::Repositories => repo,
        }
    }
}

/// Run the whole diagnosis. `Err` only for invalid input (before any network call).
pub async fn diagnose(opts: &Options, sink: Option<Sink>) -> Result<Report> {
    let settings = prepare(opts)?;
    let budget = Budget::new(opts.timeout);
    let rec = Arc::new(Recorder::new(sink));
    let mut limit = overall_limit(opts.timeout) + Duration::from_millis(300);
    if !opts.packages.is_empty() {
        // The package layer gets a run bound of its own.
        limit += overall_limit(opts.timeout);
    }
    let asked = tools::asked(
        &opts.tools,
        &crate::state::load(&crate::login::state_path(&opts.target)).unwrap_or_default(),
    )?;
    let run = run_all(&settings, opts, &asked, budget, rec.clone());
    if tokio::time::timeout(limit, run).await.is_err() {
        log::warn!("diagnose: the run hit its {} s bound", limit.as_secs_f32());
    }
    for name in CHECK_NAMES {
        if !rec.has(name) {
            let layer = layer_of(name);
            rec.push(Check::skip(
                name,
                layer,
                "not reached before the diagnosis's time limit",
            ));
        }
    }
    for tool in asked.iter().filter(|t| !rec.has(t.as_str())) {
        if *tool != crate::tools::Tool::Pip {
            rec.push(Check::skip(
                tool.as_str(),
                Layer::Tool,
                "not reached before the diagnosis's time limit",
            ));
        }
    }
    for text in opts.packages.iter().skip(rec.count(package::NAME)) {
        rec.push(Check::skip(
            package::NAME,
            Layer::Package,
            format!("{text}: not reached before the diagnosis's time limit"),
        ));
    }
    let (checks, secrets) = rec.take();
    let mut report = Report::from_checks(checks);
    let region = rec
        .region
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .or_else(|| settings.region.as_ref().map(|r| r.value.clone()))
        .unwrap_or_else(|| "REGION".into());
    report.fill_commands(&settings, &region, opts.face);
    report.scrub(&secrets);
    Ok(report)
}

fn layer_of(name: &str) -> Layer {
    match name {
        "settings" => Layer::Config,
        "credentials" => Layer::Credentials,
        "caller-identity" => Layer::Identity,
        n if n.starts_with("dns-") => Layer::Dns,
        n if n.starts_with("tcp-") => Layer::Tcp,
        n if n.starts_with("tls-") => Layer::Tls,
        "get-authorization-token" | "get-repository-endpoint" => Layer::Api,
        "repository-read" => Layer::Repository,
        _ => Layer::Pip,
    }
}

async fn run_all(
    settings: &Settings,
    opts: &Options,
    asked: &[crate::tools::Tool],
    budget: Budget,
    rec: Arc<Recorder>,
) {
    let ctx = config::setup(settings, &budget, &rec).await;
    if let Ok(mut g) = rec.region.lock() {
        g.clone_from(&ctx.region);
    }
    // Tells the API checks that the api host's DNS/TCP/TLS checks are in (see `api::run`).
    let (api_probed, api_probe_rx) = tokio::sync::watch::channel(false);
    let api_probe = async {
        let probe = match &ctx.api_url {
            Some(url) => net::probe_host(url, Which::Api, &ctx, &budget, &rec).await,
            None => {
                for (name, layer) in [
                    ("dns-api", Layer::Dns),
                    ("tcp-api", Layer::Tcp),
                    ("tls-api", Layer::Tls),
                ] {
                    rec.push(Check::skip(
                        name,
                        layer,
                        "the API endpoint is unknown (no Region)",
                    ));
                }
                HostProbe {
                    failed: true,
                    chain: Vec::new(),
                }
            }
        };
        let _ = api_probed.send(true);
        probe
    };
    let calls = api::run(settings, &ctx, &budget, &rec, api_probe_rx);
    let (_api_probe, outcome) = tokio::join!(api_probe, calls);
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    tools::run(settings, opts, &region, &outcome, asked, &rec);
    if asked.contains(&crate::tools::Tool::Pip) {
        pip::run(settings, &opts.target, &ctx, &outcome, &budget, &rec).await;
    } else {
        for name in tools::PIP_CHECKS {
            rec.push(Check::skip(
                name,
                Layer::Pip,
                "pip was not among the tools asked for",
            ));
        }
    }
    if let (Ok(reqs), Some(interp)) = (
        package::prepare(&opts.packages, opts.interpreter.as_ref()),
        opts.interpreter.as_ref(),
    ) {
        let read_passed = rec.passed("repository-read");
        let pbudget = Budget::new(opts.timeout);
        package::run(
            settings,
            &ctx,
            &outcome,
            &reqs,
            &opts.packages,
            interp,
            read_passed,
            &pbudget,
            &rec,
        )
        .await;
    }
}

/// What the API and repository checks found, for the pip checks.
#[derive(Debug, Default)]
pub struct Outcome {
    pub repository_endpoint: Option<String>,
    pub repo_probe: Option<HostProbe>,
    pub token: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &'static str, status: Status, cause: Option<&'static str>) -> Check {
        let mut k = Check::new(name, layer_of(name), status, format!("{name} detail"));
        k.cause = cause;
        if cause.is_some() {
            k.summary = Some(format!("{name} summary"));
            k.remedy = Some(format!("{name} remedy"));
        }
        k
    }

    #[test]
    fn verdict_is_the_first_failing_layer_not_the_first_reported() {
        let r = Report::from_checks(vec![
            c("pip-index-url", Status::Fail, Some("pip-not-configured")),
            c(
                "repository-read",
                Status::Fail,
                Some("repository-forbidden"),
            ),
            c(
                "tcp-repositories",
                Status::Fail,
                Some("repositories-endpoint-unreachable"),
            ),
            c("dns-api", Status::Ok, None),
            c("caller-identity", Status::Warn, None),
        ]);
        assert!(!r.ok);
        let v = r.verdict.expect("a verdict");
        assert_eq!(v.layer, Layer::Tcp);
        assert_eq!(v.cause, "repositories-endpoint-unreachable");
        assert_eq!(v.remedy, "tcp-repositories remedy");
        let names: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "caller-identity",
                "dns-api",
                "tcp-repositories",
                "repository-read",
                "pip-index-url"
            ]
        );
    }

    #[test]
    fn within_a_layer_the_api_host_comes_before_the_repositories_host() {
        let r = Report::from_checks(vec![
            c(
                "tcp-repositories",
                Status::Fail,
                Some("repositories-endpoint-unreachable"),
            ),
            c("tcp-api", Status::Fail, Some("api-endpoint-unreachable")),
        ]);
        assert_eq!(r.verdict.map(|v| v.cause), Some("api-endpoint-unreachable"));
    }

    #[test]
    fn warnings_and_skips_leave_the_report_ok() {
        let r = Report::from_checks(vec![
            c("caller-identity", Status::Warn, None),
            c("pip-cert", Status::Skip, None),
        ]);
        assert!(r.ok);
        assert!(r.verdict.is_none());
    }

    #[test]
    fn verdict_commands_are_rendered_for_the_face_and_masked() {
        use crate::settings::{Source, Sourced};
        let arg = |v: &str| Sourced {
            value: v.to_string(),
            source: Source::Argument,
        };
        let settings = Settings {
            domain: arg("mydomain"),
            repository: arg("r"),
            domain_owner: Some(arg("111122223333")),
            region: None,
            duration_seconds: None,
            endpoint_url: Some(arg("https://user:s3cret@vpce.example")),
            repository_endpoint_url: None,
            profile: None,
            endpoint_type: None,
        };
        let e = Error::AccessDenied {
            denial: crate::error::Denial {
                policy_type: Some(crate::error::PolicyType::IdentityBased),
                principal: Some("arn:aws:sts::111122223333:assumed-role/R1/S".into()),
                ..Default::default()
            },
            message: "denied".into(),
            hint: "h".into(),
        };
        let mut cli = Report::from_checks(vec![Check::from_error(
            "get-authorization-token",
            Layer::Api,
            &e,
        )]);
        let mut py = cli.clone();
        cli.fill_commands(&settings, "us-west-2", crate::remedy::Face::Cli);
        py.fill_commands(&settings, "us-west-2", crate::remedy::Face::Python);
        let (cli, py) = (cli.verdict.unwrap().commands, py.verdict.unwrap().commands);
        assert!(
            cli[0].starts_with("aws iam put-role-policy --role-name R1 "),
            "{cli:?}"
        );
        assert_eq!(cli[0], py[0]);
        assert!(
            cli[1].starts_with("ca-login login --domain mydomain"),
            "{cli:?}"
        );
        assert!(
            py[1].starts_with("ca_login.login(domain=\"mydomain\""),
            "{py:?}"
        );
        for c in cli.iter().chain(&py) {
            assert!(!c.contains("s3cret"), "{c}");
        }
        let mut ok = Report::from_checks(vec![Check::ok("settings", Layer::Config, "fine")]);
        ok.fill_commands(&settings, "us-west-2", crate::remedy::Face::Cli);
        assert!(ok.verdict.is_none());
    }

    #[test]
    fn json_has_exactly_the_documented_shape() {
        let mut failing = c(
            "get-authorization-token",
            Status::Fail,
            Some("access-denied-identity-policy"),
        );
        failing.duration_ms = 12;
        let r = Report::from_checks(vec![c("settings", Status::Ok, None), failing]);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        let top: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(top, ["checks", "ok", "verdict"]);
        let verdict: Vec<&str> = v["verdict"]
            .as_object()
            .expect("verdict")
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(verdict, ["cause", "commands", "layer", "remedy", "summary"]);
        assert_eq!(v["verdict"]["layer"], "api");
        for check in v["checks"].as_array().expect("checks") {
            let keys: Vec<&str> = check
                .as_object()
                .expect("check")
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys, ["detail", "duration_ms", "layer", "name", "status"]);
        }
        assert_eq!(v["checks"][1]["duration_ms"], 12);
        assert_eq!(v["checks"][1]["status"], "fail");
        let ok = Report::from_checks(vec![c("settings", Status::Ok, None)]);
        let v: serde_json::Value = serde_json::from_str(&ok.to_json()).expect("json");
        assert_eq!(v["ok"], true);
        assert!(v["verdict"].is_null());
    }

    #[test]
    fn scrub_removes_secrets_from_every_text() {
        let mut k = c(
            "repository-read",
            Status::Fail,
            Some("repository-auth-failed"),
        );
        k.detail = "token s3cr3t-token leaked".into();
        k.remedy = Some("use s3cr3t-token".into());
        let mut r = Report::from_checks(vec![k]);
        r.scrub(&["s3cr3t-token".to_string()]);
        let j = r.to_json();
        assert!(!j.contains("s3cr3t-token"));
        assert!(!r.verdict.expect("verdict").remedy.contains("s3cr3t-token"));
    }

    #[test]
    fn budget_never_exceeds_the_deadline() {
        let b = Budget {
            timeout: Duration::from_secs(3),
            deadline: Instant::now() + Duration::from_millis(200),
        };
        assert!(b.bound() <= Duration::from_millis(200));
        assert_eq!(overall_limit(Duration::from_secs(3)), HARD_LIMIT);
        assert!(overall_limit(Duration::from_secs(10)) > Duration::from_secs(30));
    }

    #[test]
    fn timeout_outside_range_is_invalid_input() {
        assert!(validate_timeout(Duration::from_millis(10)).is_err());
        assert!(validate_timeout(Duration::from_secs(61)).is_err());
        assert!(validate_timeout(DEFAULT_TIMEOUT).is_ok());
    }
}
