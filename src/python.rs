//! The only pyo3 code: thin functions over the core, the exception classes, and one error conversion.
//! Every blocking call runs on the core's runtime with the GIL released, and checks for a
//! KeyboardInterrupt (Jupyter's "interrupt") every 100 ms.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use pyo3::exceptions::{
    PyException, PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::Error;
use crate::files::user::AsUser;
use crate::login::{LoginOptions, LoginResult, Target};
use crate::secret::{mask_url, Secret};
use crate::settings::Args;

/// A URL holding a token. `str()` and `repr()` print it masked; `get_secret_value()` gives the clear text.
#[pyclass(module = "ca_login._core", frozen, eq)]
#[derive(Debug, PartialEq)]
pub struct SecretUrl {
    inner: Secret,
}

#[pymethods]
impl SecretUrl {
    /// The URL with the token in clear: only for handing to pip yourself.
    fn get_secret_value(&self) -> String {
        self.inner.expose().to_string()
    }
    /// The URL with the token replaced by `****`.
    #[getter]
    fn masked(&self) -> String {
        mask_url(self.inner.expose())
    }
    fn __str__(&self) -> String {
        self.masked()
    }
    fn __repr__(&self) -> String {
        format!("SecretUrl('{}')", self.masked())
    }
    fn __hash__(&self) -> u64 {
        0
    }
}

const EXCEPTIONS: [(&str, &str); 9] = [
    ("Error", "Base class of every ca_login error."),
    (
        "InvalidInput",
        "An argument or setting is invalid; raised before any network call. Also a ValueError.",
    ),
    (
        "ConfigError",
        "A config file (pip's, ca-login's, a CA bundle) cannot be read, parsed or written.",
    ),
    ("CredentialsError", "No AWS credentials, or expired ones."),
    (
        "EndpointUnreachable",
        "A CodeArtifact endpoint does not resolve, answer, or present a trusted certificate.",
    ),
    (
        "AccessDenied",
        "A policy denied the call; `policy_type` names which kind.",
    ),
    (
        "NotFound",
        "The domain or repository does not exist (or is in another account or Region).",
    ),
    (
        "Throttled",
        "CodeArtifact kept answering ThrottlingException after our retries.",
    ),
    ("ServiceError", "Any other error answered by CodeArtifact."),
];

/// The attributes each class declares, with the value a class built by hand has (`AccessDenied("x").cause` is
/// None); `to_py_err` sets them when ca_login raises.
fn declared_attributes(name: &str) -> &'static [&'static str] {
    match name {
        "Error" => &["cause", "hint"],
        "InvalidInput" => &["field"],
        "ConfigError" => &["path"],
        "EndpointUnreachable" => &["host"],
        "AccessDenied" => &["action", "resource", "principal", "policy_type"],
        "NotFound" => &["what"],
        "Throttled" => &["retry_after"],
        "ServiceError" => &["code", "status", "host"],
        _ => &[],
    }
}

/// What an interrupt says of a call that writes nothing, or of a login whose write had not begun: a login writes
/// its files last, and an interrupt that finds that write begun waits for it and says what was written
/// ([`crate::login::WriteGate`], [`run_login`]).
pub(crate) const INTERRUPTED: &str = crate::login::INTERRUPTED_NOTHING_WRITTEN;

/// How long an interrupt waits for a login's write that had begun: the files are local; each lock is waited for at
/// most [`crate::files::LOCK_TIMEOUT`].
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// What an interrupt says when that write has not ended within [`WRITE_WAIT`].
const STILL_WRITING: &str = "interrupted while the login was writing its files, unfinished after 30 s (waiting for a lock another process holds): pip's configuration may hold the new token or the previous one";

/// What an interrupt says when the login stopped without an answer while writing (a bug).
const STOPPED_WRITING: &str = "interrupted while the login was writing its files, and the login stopped unexpectedly (a bug): pip's configuration may hold the new token or the previous one";

fn class_dict<'py>(py: Python<'py>, name: &str, doc: &str) -> PyResult<Bound<'py, PyDict>> {
    let d = [("__module__", "ca_login"), ("__doc__", doc)].into_py_dict(py)?;
    for attr in declared_attributes(name) {
        d.set_item(*attr, py.None())?;
    }
    if name == "AccessDenied" {
        d.set_item("explicit", false)?;
    }
    Ok(d)
}

fn make_exceptions(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    let type_ = py.get_type::<PyType>();
    let base = type_.call1((
        "Error",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        class_dict(py, "Error", EXCEPTIONS[0].1)?,
    ))?;
    m.add("Error", &base)?;
    for (name, doc) in &EXCEPTIONS[1..] {
        let bases = if *name == "InvalidInput" {
            PyTuple::new(py, [base.clone(), py.get_type::<PyValueError>().into_any()])?
        } else {
            PyTuple::new(py, [base.clone()])?
        };
        let cls = type_.call1((*name, bases, class_dict(py, name, doc)?))?;
        m.add(*name, cls)?;
    }
    let interrupted = type_.call1((
        "Interrupted",
        PyTuple::new(py, [py.get_type::<PyKeyboardInterrupt>()])?,
        class_dict(
            py,
            "Interrupted",
            "The call was interrupted; the message says what was left as it was. A KeyboardInterrupt.",
        )?,
    ))?;
    m.add("Interrupted", interrupted)?;
    Ok(())
}

/// The `Interrupted` exception (a KeyboardInterrupt) saying what was left as it was.
fn interrupted(py: Python<'_>) -> PyErr {
    interrupted_with(py, INTERRUPTED)
}

/// The `Interrupted` exception with `message`.
fn interrupted_with(py: Python<'_>, message: &str) -> PyErr {
    py.import("ca_login._core")
        .and_then(|m| m.getattr("Interrupted"))
        .and_then(|cls| cls.call1((message,)))
        .map(PyErr::from_value)
        .unwrap_or_else(|_| PyKeyboardInterrupt::new_err(message.to_string()))
}

/// A pending signal's exception: a KeyboardInterrupt becomes `Interrupted`, anything else stays as it is.
fn signal_error(py: Python<'_>, sig: PyErr) -> PyErr {
    if sig.is_instance_of::<PyKeyboardInterrupt>(py) {
        interrupted(py)
    } else {
        sig
    }
}

use pyo3::types::IntoPyDict;

/// Route the core's `log` records to Python's `logging` (loggers `ca_login.*`; dependencies from WARNING up).
/// Done at the first call made once `logging` is imported, not at import: importing `logging` would cost a cold
/// `import ca_login` a third of its time, and before `logging` is imported no handler could show a record anyway
/// (warnings reach the user through `warnings` too). Jupyter and the CLI import `logging` first.
fn ensure_logging(py: Python<'_>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.load(Ordering::Relaxed) {
        return;
    }
    let imported = py
        .import("sys")
        .and_then(|sys| sys.getattr("modules"))
        .and_then(|m| m.contains("logging"))
        .unwrap_or(false);
    if !imported || INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    // Loggers are cached, levels are not: a notebook may turn on DEBUG after the first call.
    if let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) {
        let logger = logger
            .filter(log::LevelFilter::Debug)
            .filter_target("rustls".to_string(), log::LevelFilter::Warn)
            .filter_target("hyper".to_string(), log::LevelFilter::Warn)
            .filter_target("hyper_util".to_string(), log::LevelFilter::Warn);
        if log::set_boxed_logger(Box::new(UserThreadAware(MaskingLogger(logger)))).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    }
}

/// Python's logging, except on a thread acting for another user: that thread never calls into Python, its
/// records are buffered and replayed on the calling thread ([`crate::files::user::capture`]).
struct UserThreadAware(MaskingLogger);

impl log::Log for UserThreadAware {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        crate::files::user::buffering() || self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !crate::files::user::capture(record) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// pyo3-log behind [`mask_url`]: no log record reaches Python with a URL's password in it, whichever crate
/// wrote it.
struct MaskingLogger(pyo3_log::Logger);

impl log::Log for MaskingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }
    fn log(&self, record: &log::Record<'_>) {
        let text = mask_url(&record.args().to_string());
        self.0.log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .metadata(record.metadata().clone())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }
    fn flush(&self) {
        self.0.flush()
    }
}

/// Every text of the core's that becomes a Python string, masked.
fn masked_all(v: &[String]) -> Vec<String> {
    v.iter().map(|t| mask_url(t)).collect()
}

/// The one conversion from the core's error to a Python exception.
fn to_py_err(py: Python<'_>, e: Error) -> PyErr {
    if matches!(e, Error::Interrupted) {
        return interrupted(py);
    }
    let class = match &e {
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Config { .. } => "ConfigError",
        Error::Credentials { .. } => "CredentialsError",
        Error::Unreachable { .. } => "EndpointUnreachable",
        Error::AccessDenied { .. } => "AccessDenied",
        Error::NotFound { .. } => "NotFound",
        Error::Throttled { .. } => "Throttled",
        Error::Service { .. } => "ServiceError",
        Error::Interrupted => unreachable!(),
    };
    let build = || -> PyResult<PyErr> {
        let module = py.import("ca_login._core")?;
        let cls = module.getattr(class)?;
        let exc = cls.call1((mask_url(&e.to_string()),))?;
        exc.setattr("cause", e.cause())?;
        exc.setattr("hint", e.hint().map(mask_url))?;
        match &e {
            Error::InvalidInput { field, .. } => exc.setattr("field", *field)?,
            Error::Config { path, .. } => exc.setattr("path", path.clone())?,
            Error::Unreachable { host, phase, .. } => {
                exc.setattr("host", mask_url(host))?;
                exc.setattr("phase", phase.as_str())?;
            }
            Error::AccessDenied { denial, .. } => {
                exc.setattr("action", denial.action.clone())?;
                exc.setattr("resource", denial.resource.clone())?;
                exc.setattr("principal", denial.principal.clone())?;
                exc.setattr("policy_type", denial.policy_type.map(|p| p.as_str()))?;
                exc.setattr("explicit", denial.explicit)?;
            }
            Error::NotFound { missing, .. } => exc.setattr(
                "what",
                match missing {
                    crate::error::Missing::Domain => "domain",
                    crate::error::Missing::Repository => "repository",
                    crate::error::Missing::Other => "resource",
                },
            )?,
            Error::Throttled { retry_after, .. } => {
                exc.setattr("retry_after", retry_after.map(|d| d.as_secs_f64()))?
            }
            Error::Service {
                code, status, host, ..
            } => {
                exc.setattr("code", code)?;
                exc.setattr("status", *status)?;
                exc.setattr("host", mask_url(host))?;
            }
            _ => {}
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

/// Run a login on the shared runtime without the GIL, checking for a KeyboardInterrupt every 100 ms. An interrupt
/// before the login's write begins cancels it, and nothing is written; one that finds the write begun waits for it
/// (at most [`WRITE_WAIT`]) and says what was written ([`crate::login::WriteGate`]).
fn run_login(py: Python<'_>, opts: LoginOptions) -> PyResult<LoginResult> {
    let gate = crate::login::WriteGate::default();
    let g = gate.clone();
    let (tx, rx) = mpsc::channel();
    let handle = crate::runtime::runtime().spawn(async move {
        let _ = tx.send(crate::login::login_gated(&opts, &g).await);
    });
    // The receiver moves into each GIL-free wait and back out: `detach` wants what it captures to be `Send`.
    let mut rx = Some(rx);
    loop {
        let r = rx.take().expect("receiver present");
        let (got, r) = py.detach(move || (r.recv_timeout(Duration::from_millis(100)), r));
        rx = Some(r);
        match got {
            Ok(r) => return r.map_err(|e| to_py_err(py, e)),
            Err(RecvTimeoutError::Timeout) => {
                let Err(sig) = py.check_signals() else {
                    continue;
                };
                if gate.cancel() {
                    handle.abort();
                    return Err(signal_error(py, sig));
                }
                let r = rx.take().expect("receiver present");
                let text = match py.detach(move || r.recv_timeout(WRITE_WAIT)) {
                    Ok(result) => crate::login::interrupted_after_write(&result),
                    Err(RecvTimeoutError::Timeout) => STILL_WRITING.to_string(),
                    Err(RecvTimeoutError::Disconnected) => STOPPED_WRITING.to_string(),
                };
                if sig.is_instance_of::<PyKeyboardInterrupt>(py) {
                    return Err(interrupted_with(py, &text));
                }
                return Err(sig);
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "ca_login: the operation stopped unexpectedly (a bug)",
                ))
            }
        }
    }
}

/// `as_user=(uid, gid, [groups])`: the ids root acts with for another user.
type AsUserArg = Option<(u32, u32, Vec<u32>)>;

fn as_user(a: AsUserArg) -> Option<AsUser> {
    a.map(|(uid, gid, groups)| AsUser { uid, gid, groups })
}

fn target(
    sys_prefix: Option<PathBuf>,
    user_home: Option<PathBuf>,
    as_user_arg: AsUserArg,
    state_file: Option<PathBuf>,
) -> Target {
    Target {
        home: user_home,
        as_user: as_user(as_user_arg),
        sys_prefix,
        state_file,
    }
}

pub(crate) fn login_dict<'py>(py: Python<'py>, r: LoginResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("repository_endpoint", mask_url(&r.repository_endpoint))?;
    d.set_item(
        "index_url",
        SecretUrl {
            inner: r.index_url.clone(),
        },
    )?;
    d.set_item("expires_at", r.expires_at)?;
    // As str: converting a PathBuf makes pyo3 import pathlib, a third of a cold login.
    d.set_item("config_file", r.config_file.as_os_str())?;
    d.set_item("tool", &r.tool)?;
    d.set_item("domain", &r.domain)?;
    d.set_item("domain_owner", &r.domain_owner)?;
    d.set_item("repository", &r.repository)?;
    d.set_item("region", &r.region)?;
    d.set_item("dry_run", r.dry_run)?;
    d.set_item("preview", mask_url(&r.preview))?;
    d.set_item("warnings", masked_all(&r.warnings))?;
    d.set_item("duration_ms", r.duration.as_secs_f64() * 1000.0)?;
    d.set_item("tools", &r.tools)?;
    let files = pyo3::types::PyList::empty(py);
    for (f, preview) in &r.files {
        let fd = PyDict::new(py);
        fd.set_item("tool", &f.tool)?;
        fd.set_item("config_file", f.config_file.as_os_str())?;
        fd.set_item("token_store", f.token_store.as_str())?;
        fd.set_item("preview", preview)?;
        files.append(fd)?;
    }
    d.set_item("files", files)?;
    d.set_item("next_steps", &r.next_steps)?;
    Ok(d)
}

/// `tool="pip"`, `tool="pip,uv"` or `tool=["pip", "uv"]`.
#[derive(FromPyObject)]
enum ToolArg {
    One(String),
    Many(Vec<String>),
}

impl ToolArg {
    fn joined(self) -> String {
        match self {
            ToolArg::One(s) => s,
            ToolArg::Many(v) => v.join(","),
        }
    }
}

/// `login`'s keyword arguments (after `domain` and `repository`), shared by `login`, `ensure_login` and
/// `start_refresh`: one list, read from the call's `**kwargs`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct LoginKw {
    #[pyo3(default)]
    domain_owner: Option<String>,
    #[pyo3(default)]
    region: Option<String>,
    tool: ToolArg,
    #[pyo3(default)]
    token_store: Option<String>,
    #[pyo3(default)]
    extra_index: bool,
    #[pyo3(default)]
    poetry_source: Option<String>,
    #[pyo3(default)]
    duration_seconds: Option<i64>,
    #[pyo3(default)]
    endpoint_url: Option<String>,
    #[pyo3(default)]
    repository_endpoint_url: Option<String>,
    #[pyo3(default)]
    profile: Option<String>,
    #[pyo3(default)]
    config_file: Option<PathBuf>,
    #[pyo3(default)]
    dry_run: bool,
    #[pyo3(default)]
    sys_prefix: Option<PathBuf>,
    #[pyo3(default)]
    user_home: Option<PathBuf>,
    #[pyo3(default)]
    as_user: AsUserArg,
    #[pyo3(default)]
    state_file: Option<PathBuf>,
    #[pyo3(default)]
    endpoint_type: Option<String>,
}

const LOGIN_KW: [&str; 17] = [
    "domain_owner",
    "region",
    "tool",
    "token_store",
    "extra_index",
    "poetry_source",
    "duration_seconds",
    "endpoint_url",
    "repository_endpoint_url",
    "profile",
    "config_file",
    "dry_run",
    "sys_prefix",
    "user_home",
    "as_user",
    "state_file",
    "endpoint_type",
];

/// Build the core's options from `domain`, `repository` and `**kw`; an unknown keyword is a TypeError, as Python
/// raises for a function that spells its parameters out.
fn login_options(
    py: Python<'_>,
    func: &str,
    domain: Option<String>,
    repository: Option<String>,
    kw: Option<&Bound<'_, PyDict>>,
) -> PyResult<LoginOptions> {
    let kw = match kw {
        Some(d) => d.copy()?,
        None => PyDict::new(py),
    };
    for key in kw.keys() {
        let key: String = key.extract()?;
        if !LOGIN_KW.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "{func}() got an unexpected keyword argument '{key}'"
            )));
        }
    }
    // No `tool` (or None): the ca-login config's `tools`, else pip (resolved below, for the target).
    let tool_given = kw.get_item("tool")?.is_some_and(|t| !t.is_none());
    if !tool_given {
        kw.set_item("tool", "")?;
    }
    let k: LoginKw = kw.extract()?;
    let target = target(k.sys_prefix, k.user_home, k.as_user, k.state_file);
    let tool = if tool_given {
        k.tool.joined()
    } else {
        let (t, profile) = (target.clone(), k.profile.clone());
        py.detach(move || crate::caconfig::configured_tools(&t, profile.as_deref()))
            .map_err(|e| to_py_err(py, e))?
            .unwrap_or_default()
    };
    Ok(LoginOptions {
        args: Args {
            domain,
            repository,
            domain_owner: k.domain_owner,
            region: k.region,
            duration_seconds: k.duration_seconds,
            endpoint_url: k.endpoint_url,
            repository_endpoint_url: k.repository_endpoint_url,
            profile: k.profile,
            endpoint_type: k.endpoint_type,
        },
        tool,
        token_store: k.token_store,
        extra_index: k.extra_index,
        poetry_source: k.poetry_source,
        config_file: k.config_file,
        dry_run: k.dry_run,
        target,
        timeouts: None,
    })
}

#[pyfunction]
#[pyo3(signature = (domain=None, repository=None, **kw))]
fn login<'py>(
    py: Python<'py>,
    domain: Option<String>,
    repository: Option<String>,
    kw: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let opts = login_options(py, "login", domain, repository, kw)?;
    // Bad input gets its error here, before any network call. Without the GIL: acting for a user, the checks run
    // on a thread of theirs whose log records are replayed here, and a record wants the GIL.
    let opts = py
        .detach(move || crate::login::prepare(&opts).map(|_| opts))
        .map_err(|e| to_py_err(py, e))?;
    let r = run_login(py, opts)?;
    login_dict(py, r)
}

// ---------------------------------------------------------------------------------------------------------------
// Token lifetime: status, ensure_login, the background refresher, logout (issue 5)
// ---------------------------------------------------------------------------------------------------------------

fn refresher_dict<'py>(py: Python<'py>, i: &crate::refresh::Info) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("running", i.running)?;
    d.set_item("config_file", i.config_file.clone())?;
    d.set_item("domain", &i.domain)?;
    d.set_item("repository", &i.repository)?;
    d.set_item("started_at", i.started_at)?;
    d.set_item("every", i.every)?;
    d.set_item("renewals", i.renewals)?;
    d.set_item("consecutive_failures", i.consecutive_failures)?;
    d.set_item("last_run_at", i.last_run_at)?;
    d.set_item("last_ok", i.last_ok)?;
    d.set_item("last_result", i.last_result.as_deref().map(mask_url))?;
    d.set_item("last_error_cause", &i.last_error_cause)?;
    d.set_item("next_run_at", i.next_run_at)?;
    d.set_item("expires_at", i.expires_at)?;
    d.set_item("tools", &i.tools)?;
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (tool="pip".to_string(), config_file=None, *, sys_prefix=None, user_home=None, state_file=None, as_user=None))]
fn status<'py>(
    py: Python<'py>,
    tool: String,
    config_file: Option<PathBuf>,
    sys_prefix: Option<PathBuf>,
    user_home: Option<PathBuf>,
    state_file: Option<PathBuf>,
    as_user: AsUserArg,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let t = target(sys_prefix, user_home, as_user, state_file);
    let s = py
        .detach(move || crate::lifetime::status(&tool, config_file.as_deref(), &t))
        .map_err(|e| to_py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("tool", &s.tool)?;
    // As str: converting a PathBuf makes pyo3 import pathlib (the CLI's fast path avoids it).
    d.set_item("config_file", s.config_file.as_os_str())?;
    d.set_item("state", s.state())?;
    d.set_item("valid", s.valid())?;
    d.set_item("ok", s.ok())?;
    d.set_item("now", s.now)?;
    d.set_item("remaining", s.remaining())?;
    let e = s.entry.as_ref();
    d.set_item(
        "repository_endpoint",
        e.map(|e| e.repository_endpoint.clone()),
    )?;
    set_recorded_login(&d, e)?;
    d.set_item("file_holds_ours", s.file_holds_ours)?;
    d.set_item(
        "effective_index_url",
        s.effective_index_url.as_deref().map(mask_url),
    )?;
    d.set_item("effective_source", &s.effective_source)?;
    d.set_item("effective_is_ours", s.effective_is_ours)?;
    d.set_item("no_index", s.no_index)?;
    d.set_item("problems", masked_all(&s.problems))?;
    match crate::refresh::info() {
        Some(i) => d.set_item("refresher", refresher_dict(py, &i)?)?,
        None => d.set_item("refresher", py.None())?,
    }
    Ok(d)
}

/// The recorded login's fields that pip's and the other tools' status dicts share (each None with no record).
fn set_recorded_login(d: &Bound<'_, PyDict>, e: Option<&crate::state::Entry>) -> PyResult<()> {
    d.set_item("domain", e.map(|e| e.domain.clone()))?;
    d.set_item("domain_owner", e.and_then(|e| e.domain_owner.clone()))?;
    d.set_item("repository", e.map(|e| e.repository.clone()))?;
    d.set_item("region", e.map(|e| e.region.clone()))?;
    d.set_item("expires_at", e.map(|e| e.expires_at))?;
    d.set_item("issued_at", e.map(|e| e.issued_at))?;
    Ok(())
}

fn tool_status_dict<'py>(
    py: Python<'py>,
    s: &crate::lifetime::ToolStatus,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tool", s.tool.as_str())?;
    d.set_item("config_file", s.config_file.as_os_str())?;
    d.set_item("state", s.state())?;
    d.set_item("valid", s.valid())?;
    d.set_item("ok", s.ok())?;
    d.set_item("now", s.now)?;
    d.set_item("remaining", s.remaining())?;
    let e = s.entry.as_ref();
    d.set_item(
        "repository_endpoint",
        e.map(|e| mask_url(&e.repository_endpoint)),
    )?;
    set_recorded_login(&d, e)?;
    d.set_item("token_store", &s.token_store)?;
    d.set_item("netrc_file", s.netrc_file.as_ref().map(|p| p.as_os_str()))?;
    d.set_item("file_holds_ours", s.file_holds_ours)?;
    d.set_item("netrc_holds_ours", s.netrc_holds_ours)?;
    d.set_item("overrides", masked_all(&s.overrides))?;
    d.set_item("problems", masked_all(&s.problems))?;
    d.set_item("extra_index", e.is_some_and(|e| e.extra_index))?;
    d.set_item("source", e.and_then(|e| e.source.clone()))?;
    Ok(d)
}

/// `status` for several tools: the ones asked (`"pip,uv"`, a list), or pip and every tool with a recorded login.
/// pip's dict is `status()`'s; the others' have `token_store`, `netrc_file`, `overrides` instead of pip's
/// effective index URL.
#[pyfunction]
#[pyo3(signature = (tool=None, config_file=None, *, sys_prefix=None, user_home=None, state_file=None, as_user=None))]
#[allow(clippy::too_many_arguments)]
fn statuses<'py>(
    py: Python<'py>,
    tool: Option<ToolArg>,
    config_file: Option<PathBuf>,
    sys_prefix: Option<PathBuf>,
    user_home: Option<PathBuf>,
    state_file: Option<PathBuf>,
    as_user: AsUserArg,
) -> PyResult<Bound<'py, pyo3::types::PyList>> {
    ensure_logging(py);
    let asked = tool.map(ToolArg::joined);
    let t = target(
        sys_prefix.clone(),
        user_home.clone(),
        as_user.clone(),
        state_file.clone(),
    );
    let tools = py
        .detach(|| crate::lifetime::status_tools(asked.as_deref(), &t))
        .map_err(|e| to_py_err(py, e))?;
    let out = pyo3::types::PyList::empty(py);
    for tool in tools {
        if tool == crate::tools::Tool::Pip {
            out.append(status(
                py,
                "pip".into(),
                config_file.clone(),
                sys_prefix.clone(),
                user_home.clone(),
                state_file.clone(),
                as_user.clone(),
            )?)?;
        } else {
            let s = py
                .detach(|| crate::lifetime::tool_status(tool, &t))
                .map_err(|e| to_py_err(py, e))?;
            out.append(tool_status_dict(py, &s)?)?;
        }
    }
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (domain=None, repository=None, *, min_remaining=3600, **kw))]
fn ensure_login<'py>(
    py: Python<'py>,
    domain: Option<String>,
    repository: Option<String>,
    min_remaining: i64,
    kw: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let opts = login_options(py, "ensure_login", domain, repository, kw)?;
    // The fast path reads three small files and makes no network call; without the GIL (see `login`).
    let (fast, opts) = py.detach(move || (crate::lifetime::fast_path(&opts, min_remaining), opts));
    let (r, fresh) = match fast.map_err(|e| to_py_err(py, e))? {
        Some(r) => (r, false),
        None => (run_login(py, opts)?, true),
    };
    let d = login_dict(py, r)?;
    d.set_item("fresh", fresh)?;
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (domain=None, repository=None, *, every=None, backoff_base=2.0, backoff_cap=300.0, **kw))]
fn start_refresh<'py>(
    py: Python<'py>,
    domain: Option<String>,
    repository: Option<String>,
    every: Option<f64>,
    backoff_base: f64,
    backoff_cap: f64,
    kw: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let secs = |name: &'static str, v: f64, min: f64| {
        if v.is_finite() && v >= min {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(to_py_err(
                py,
                Error::invalid(
                    name,
                    format!("{v} is not a number of seconds >= {min}"),
                    format!("pass {name}={min} or more"),
                ),
            ))
        }
    };
    let mut opts = login_options(py, "start_refresh", domain, repository, kw)?;
    opts.dry_run = false; // a refresher that writes nothing would be no refresher
    let mut ropts = crate::refresh::RefreshOptions::new(opts);
    ropts.every = every.map(|e| secs("every", e, 1.0)).transpose()?;
    ropts.backoff_base = secs("backoff_base", backoff_base, 0.1)?;
    ropts.backoff_cap = secs("backoff_cap", backoff_cap, 0.1)?;
    // Stopping a previous refresher waits for it: without the GIL (its log calls may want it).
    let info = py
        .detach(move || crate::refresh::start(ropts))
        .map_err(|e| to_py_err(py, e))?;
    refresher_dict(py, &info)
}

#[pyfunction]
fn stop_refresh(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    match py.detach(crate::refresh::stop) {
        Some(i) => Ok(Some(refresher_dict(py, &i)?)),
        None => Ok(None),
    }
}

#[pyfunction]
fn refresher(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    match crate::refresh::info() {
        Some(i) => Ok(Some(refresher_dict(py, &i)?)),
        None => Ok(None),
    }
}

#[pyfunction]
#[pyo3(signature = (tool="pip".to_string(), config_file=None, *, sys_prefix=None, user_home=None, state_file=None, as_user=None))]
#[allow(clippy::result_large_err)]
fn logout<'py>(
    py: Python<'py>,
    tool: String,
    config_file: Option<PathBuf>,
    sys_prefix: Option<PathBuf>,
    user_home: Option<PathBuf>,
    state_file: Option<PathBuf>,
    as_user: AsUserArg,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let t = target(sys_prefix, user_home, as_user, state_file);
    let r = py
        .detach(move || crate::lifetime::logout(&tool, config_file.as_deref(), &t))
        .map_err(|e| to_py_err(py, e))?;
    let d = PyDict::new(py);
    // As str: converting a PathBuf makes pyo3 import pathlib, a third of a cold login.
    d.set_item("config_file", r.config_file.as_os_str())?;
    d.set_item("action", r.action.as_str())?;
    d.set_item(
        "restored_index_url",
        r.restored_index_url.as_deref().map(mask_url),
    )?;
    d.set_item("had_state", r.had_state)?;
    d.set_item("stopped_refresher", r.stopped_refresher)?;
    d.set_item("message", mask_url(&r.message))?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------------------------------
// end of token lifetime
// ---------------------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------------------
// SageMaker / `ca-login configure`: the ca-login config file (issue 6)
// ---------------------------------------------------------------------------------------------------------------

/// Sets (value) or removes (None) keys in `[default]` of the ca-login config; checks every value first.
/// `path` None: `$CA_LOGIN_CONFIG`, else `user_home/.config/ca-login/config` (None: the running user's); for
/// another user (`as_user`) always theirs.
/// `dry_run`: check only. Returns `{"path": Path, "text": str}` (`text` is None on a dry run).
#[pyfunction]
#[pyo3(signature = (values, *, path=None, user_home=None, as_user=None, dry_run=false))]
fn write_ca_config<'py>(
    py: Python<'py>,
    values: Vec<(String, Option<String>)>,
    path: Option<PathBuf>,
    user_home: Option<PathBuf>,
    as_user: AsUserArg,
    dry_run: bool,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let who = self::as_user(as_user);
    let file = match path {
        Some(p) => p,
        None => crate::caconfig::path_for(user_home.as_deref(), who.is_some())
            .map_err(|e| to_py_err(py, e))?,
    };
    let text = if dry_run {
        crate::caconfig::check(&values).map_err(|e| to_py_err(py, e))?;
        None
    } else {
        let f = file.clone();
        Some(
            py.detach(move || crate::caconfig::write(&f, &values, who.as_ref()))
                .map_err(|e| to_py_err(py, e))?,
        )
    };
    let d = PyDict::new(py);
    d.set_item("path", file)?;
    d.set_item("text", text)?;
    Ok(d)
}

/// The tool list a login uses when not told: the ca-login config's `tools` for `user_home` (None: ours),
/// read with `as_user`'s ids; `["pip"]` when the config names none.
#[pyfunction]
#[pyo3(signature = (*, user_home=None, as_user=None, profile=None))]
fn configured_tools(
    py: Python<'_>,
    user_home: Option<PathBuf>,
    as_user: AsUserArg,
    profile: Option<String>,
) -> PyResult<Vec<String>> {
    let t = target(None, user_home, as_user, None);
    let tools = py
        .detach(move || crate::caconfig::configured_tools(&t, profile.as_deref()))
        .map_err(|e| to_py_err(py, e))?;
    Ok(match tools {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => vec!["pip".to_string()],
    })
}

/// Turns the IPython extension on or off for every kernel of the IPython directory `ipython_dir`: writes (or
/// removes, if it is ours) `profile_default/startup/50-ca-login.py`, with `as_user`'s ids. Returns
/// `{"path": Path, "action": "written"|"unchanged"|"removed"|"absent"|"not-ours"}`.
#[pyfunction]
#[pyo3(signature = (ipython_dir, on, *, as_user=None))]
fn set_ipython_extension<'py>(
    py: Python<'py>,
    ipython_dir: PathBuf,
    on: bool,
    as_user: AsUserArg,
) -> PyResult<Bound<'py, PyDict>> {
    ensure_logging(py);
    let path = crate::caconfig::ipython_startup_path(&ipython_dir);
    let who = self::as_user(as_user);
    let p = path.clone();
    let action = py
        .detach(move || crate::caconfig::set_ipython_extension(&p, on, who.as_ref()))
        .map_err(|e| to_py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("path", path)?;
    d.set_item("action", action)?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------------------------------
// diagnose (issue 4): the report as JSON; each check handed to `on_check` as it finishes
// ---------------------------------------------------------------------------------------------------------------

fn check_dict<'py>(py: Python<'py>, c: &crate::diagnose::Check) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", c.name)?;
    d.set_item("layer", c.layer.as_str())?;
    d.set_item("status", c.status.as_str())?;
    d.set_item("detail", mask_url(&c.detail))?;
    d.set_item("duration_ms", c.duration_ms)?;
    if let Some(f) = &c.fix {
        let fix = PyDict::new(py);
        fix.set_item("cause", f.cause)?;
        fix.set_item("commands", f.commands.clone())?;
        d.set_item("fix", fix)?;
    }
    Ok(d)
}

enum DiagnoseEvent {
    Check(crate::diagnose::Check),
    Done(crate::Result<crate::diagnose::Report>),
}

/// Run a diagnosis: returns the report's JSON text. Invalid input raises `InvalidInput` before any network call;
/// every other failure is data in the report.
#[pyfunction]
#[pyo3(signature = (domain=None, repository=None, *, domain_owner=None, region=None, endpoint_url=None,
    repository_endpoint_url=None, profile=None, timeout=3.0, sys_prefix=None, user_home=None, state_file=None,
    on_check=None, packages=None, python_version=None, tags=None, face="python", endpoint_type=None,
    tools=None))]
#[allow(clippy::too_many_arguments)]
fn diagnose(
    py: Python<'_>,
    domain: Option<String>,
    repository: Option<String>,
    domain_owner: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    repository_endpoint_url: Option<String>,
    profile: Option<String>,
    timeout: f64,
    sys_prefix: Option<PathBuf>,
    user_home: Option<PathBuf>,
    state_file: Option<PathBuf>,
    on_check: Option<Py<PyAny>>,
    packages: Option<Vec<String>>,
    python_version: Option<String>,
    tags: Option<Vec<String>>,
    face: &str,
    endpoint_type: Option<String>,
    tools: Option<Vec<String>>,
) -> PyResult<String> {
    ensure_logging(py);
    let Some(face) = crate::remedy::Face::parse(face) else {
        return Err(to_py_err(
            py,
            Error::invalid(
                "face",
                format!("{:?} is not a face", mask_url(face)),
                "pass face=\"python\" or face=\"cli\"",
            ),
        ));
    };
    if !timeout.is_finite() || timeout <= 0.0 {
        return Err(to_py_err(
            py,
            Error::invalid(
                "timeout",
                format!("{timeout} is not a positive number of seconds"),
                "pass timeout=3.0",
            ),
        ));
    }
    let opts = crate::diagnose::Options {
        args: Args {
            domain,
            repository,
            domain_owner,
            region,
            duration_seconds: None,
            endpoint_url,
            repository_endpoint_url,
            profile,
            endpoint_type,
        },
        target: target(sys_prefix, user_home, None, state_file),
        face,
        timeout: Duration::from_secs_f64(timeout.min(3600.0)),
        packages: packages.unwrap_or_default(),
        interpreter: python_version.map(|v| crate::diagnose::package::Interpreter {
            python_version: v,
            tags: tags.unwrap_or_default(),
        }),
        tools: tools.unwrap_or_default(),
    };
    crate::diagnose::prepare(&opts).map_err(|e| to_py_err(py, e))?;
    let (tx, rx) = mpsc::channel::<DiagnoseEvent>();
    let sink_tx = tx.clone();
    let sink: crate::diagnose::Sink = std::sync::Arc::new(move |c: &crate::diagnose::Check| {
        let _ = sink_tx.send(DiagnoseEvent::Check(c.clone()));
    });
    let handle = crate::runtime::runtime().spawn(async move {
        let r = crate::diagnose::diagnose(&opts, Some(sink)).await;
        let _ = tx.send(DiagnoseEvent::Done(r));
    });
    let mut rx = Some(rx);
    loop {
        let r = rx.take().expect("receiver present");
        let (got, r) = py.detach(move || (r.recv_timeout(Duration::from_millis(100)), r));
        rx = Some(r);
        match got {
            Ok(DiagnoseEvent::Check(c)) => {
                if let Some(cb) = &on_check {
                    if let Err(e) = cb.call1(py, (check_dict(py, &c)?,)) {
                        handle.abort();
                        return Err(e);
                    }
                }
            }
            Ok(DiagnoseEvent::Done(r)) => {
                return r
                    .map(|rep| mask_url(&rep.to_json()))
                    .map_err(|e| to_py_err(py, e))
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(sig) = py.check_signals() {
                    handle.abort();
                    return Err(signal_error(py, sig));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "ca_login: the diagnosis stopped unexpectedly (a bug)",
                ))
            }
        }
    }
}

/// `_core.mask_url(text)`: `text` with the password of every URL in it replaced by `****` (the core's one
/// masking function).
#[pyfunction]
#[pyo3(name = "mask_url")]
fn mask_url_py(text: &str) -> String {
    mask_url(text)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    make_exceptions(py, m)?;
    m.add_class::<SecretUrl>()?;
    m.add_function(wrap_pyfunction!(login, m)?)?;
    m.add_function(wrap_pyfunction!(write_ca_config, m)?)?;
    m.add_function(wrap_pyfunction!(configured_tools, m)?)?;
    m.add_function(wrap_pyfunction!(set_ipython_extension, m)?)?;
    // Token lifetime (issue 5).
    m.add_function(wrap_pyfunction!(status, m)?)?;
    m.add_function(wrap_pyfunction!(statuses, m)?)?;
    m.add_function(wrap_pyfunction!(ensure_login, m)?)?;
    m.add_function(wrap_pyfunction!(start_refresh, m)?)?;
    m.add_function(wrap_pyfunction!(stop_refresh, m)?)?;
    m.add_function(wrap_pyfunction!(refresher, m)?)?;
    m.add_function(wrap_pyfunction!(logout, m)?)?;
    // diagnose (issue 4).
    m.add_function(wrap_pyfunction!(diagnose, m)?)?;
    m.add_function(wrap_pyfunction!(mask_url_py, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
