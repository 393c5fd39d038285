//! Credentials, region and the HTTPS client (bounded time-outs, CA bundle, proxy), and the two CodeArtifact calls
//! with retries that honour `Retry-After`.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{
    error::CredentialsError, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use aws_sdk_codeartifact::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::{proxy::ProxyConfig, tls, Connector};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::error::{parse_denial, CredProblem, Error, Missing, NetFailure, Phase, Result};
use crate::http;
use crate::remedy;
use crate::secret::Secret;
use crate::settings::Settings;

/// Bounds on every wait. The SDK's defaults wait forever on a server that accepts and never answers.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    /// One attempt of one operation, start to end.
    pub attempt: Duration,
    /// How long we keep retrying a throttled call.
    pub throttle_budget: Duration,
    /// How long we keep retrying a network failure (a second attempt only starts before this).
    pub network_budget: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(5),
            attempt: Duration::from_secs(6),
            throttle_budget: Duration::from_secs(20),
            network_budget: Duration::from_secs(7),
        }
    }
}

impl Timeouts {
    /// All bounds scaled to one per-check time-out (diagnosis), staggered so that the phase that hangs is the one
    /// whose bound fires: connect at half of it, the HTTP answer at three quarters, the whole attempt at 90 %.
    pub fn single(t: Duration) -> Self {
        Timeouts {
            connect: t.mul_f64(0.5),
            read: t.mul_f64(0.75),
            attempt: t.mul_f64(0.9),
            throttle_budget: Duration::ZERO,
            network_budget: Duration::ZERO,
        }
    }
}

/// An AWS session ready for CodeArtifact calls.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    /// The host API calls go to, for messages.
    pub api_host: String,
    pub api_url: String,
    pub ca_bundle: Option<String>,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Everything from the environment that changes what `load` would build: the cache key.
fn fingerprint(settings: &Settings, t: &Timeouts) -> String {
    let mut parts: Vec<String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_") || k == "HOME" || k.to_ascii_uppercase().ends_with("_PROXY")
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.sort();
    parts.push(format!(
        "{:?}|{:?}|{:?}",
        settings.profile,
        settings.region.as_ref().map(|r| &r.value),
        t
    ));
    parts.join("\n")
}

static SDK_CACHE: OnceLock<Mutex<Option<(String, Aws)>>> = OnceLock::new();

/// Load the AWS configuration (region, credential chain, HTTPS client), reusing the last one while nothing it
/// depends on has changed (so repeated logins in one process reuse connections).
pub async fn load(settings: &Settings, t: &Timeouts) -> Result<Aws> {
    let key = fingerprint(settings, t);
    let cache = SDK_CACHE.get_or_init(|| Mutex::new(None));
    if let Some((k, aws)) = cache.lock().map(|g| g.clone()).ok().flatten() {
        if k == key {
            return Ok(with_endpoint(aws, settings));
        }
    }
    let profile = settings.profile.clone();
    let ca_bundle = match env_var("AWS_CA_BUNDLE") {
        Some(p) => Some(p),
        None => profile_value(profile.as_deref(), "ca_bundle").await,
    };
    let trust = match &ca_bundle {
        Some(path) => {
            // Bounded, regular files only (a FIFO or /dev/zero named here must not hang or fill memory).
            let pem = crate::files::read_bytes(Path::new(path), "read the CA bundle")?.ok_or_else(
                || {
                    Error::config(
                        path,
                        "cannot read the CA bundle: no such file",
                        "fix AWS_CA_BUNDLE or the profile's ca_bundle to name a PEM file",
                    )
                },
            )?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::config(
                    path,
                    "the CA bundle holds no PEM certificate",
                    "AWS_CA_BUNDLE must name a PEM file with one or more CERTIFICATE blocks",
                ));
            }
            // As the AWS CLI does: a CA bundle replaces the system's trust store.
            tls::TrustStore::empty().with_pem_certificate(pem)
        }
        None => tls::TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(native_roots_pem().to_vec()),
    };
    let tls_context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| {
            Error::config(
                ca_bundle.clone().unwrap_or_default(),
                format!("bad CA bundle: {e}"),
                "check the PEM file",
            )
        })?;
    let http = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut b = Connector::builder()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .tls_context(tls_context.clone())
                .proxy_config(ProxyConfig::from_env());
            b.set_connector_settings(settings.cloned());
            if let Some(c) = components {
                b.set_sleep_impl(c.sleep_impl());
            }
            b.build()
        },
    );
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(t.connect)
                .read_timeout(t.read)
                .operation_attempt_timeout(t.attempt)
                .operation_timeout(t.attempt)
                .build(),
        );
    if let Some(p) = &profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.value.clone()));
    }
    let sdk = loader.load().await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::invalid(
            "region",
            "no AWS Region found (arguments, AWS_REGION, the ca-login config, the AWS profile, instance metadata)",
            "pass region=\"us-west-2\" (CLI: --region) or set AWS_REGION",
        )
    })?;
    crate::settings::validate_region(&region)?;
    let aws = Aws {
        sdk,
        region: region.clone(),
        api_host: String::new(),
        api_url: String::new(),
        ca_bundle,
    };
    if let Ok(mut g) = cache.lock() {
        *g = Some((key, aws.clone()));
    }
    Ok(with_endpoint(aws, settings))
}

/// The CodeArtifact endpoint URL the caller or the environment names, if any.
fn given_api_url(settings: &Settings) -> Option<String> {
    settings
        .endpoint_url
        .as_ref()
        .map(|u| u.value.clone())
        .or_else(|| env_var("AWS_ENDPOINT_URL_CODEARTIFACT"))
        .or_else(|| env_var("AWS_ENDPOINT_URL"))
}

fn with_endpoint(mut aws: Aws, settings: &Settings) -> Aws {
    let url = given_api_url(settings)
        .unwrap_or_else(|| format!("https://codeartifact.{}.amazonaws.com", aws.region));
    aws.api_host = host_of(&url);
    aws.api_url = url;
    aws
}

/// Where Linux distributions keep the system's trust anchors as one PEM bundle (Debian/Ubuntu, Amazon Linux/RHEL,
/// Alpine/Arch, Fedora's extracted form).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// The system's trust anchors as PEM, read once per process. Each HTTPS connector the SDK builds would otherwise
/// read the whole certificate folder again (hundreds of small files, three times in a cold login). One bundle file
/// is read when there is one (`SSL_CERT_FILE`, else the distribution's); otherwise, or with `SSL_CERT_DIR` set,
/// the same search as rustls-native-certs.
pub fn native_roots_pem() -> &'static [u8] {
    static PEM: OnceLock<Vec<u8>> = OnceLock::new();
    PEM.get_or_init(|| {
        let is_pem = |b: &Vec<u8>| b.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----");
        if std::env::var_os("SSL_CERT_DIR").is_none() {
            let candidates = std::env::var_os("SSL_CERT_FILE")
                .map(|f| vec![std::path::PathBuf::from(f)])
                .unwrap_or_else(|| {
                    SYSTEM_BUNDLES
                        .iter()
                        .map(std::path::PathBuf::from)
                        .collect()
                });
            for path in candidates {
                if let Ok(Some(bytes)) =
                    crate::files::read_bytes(&path, "read the system CA bundle")
                {
                    if is_pem(&bytes) {
                        return bytes;
                    }
                }
            }
        }
        use base64::Engine as _;
        let mut out = Vec::new();
        for cert in rustls_native_certs::load_native_certs().certs {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                out.extend_from_slice(chunk);
                out.push(b'\n');
            }
            out.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        out
    })
}

/// `host[:port]` of a URL, for messages.
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

async fn profile_value(profile: Option<&str>, key: &str) -> Option<String> {
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &fs,
        &env,
        &files,
        profile.map(|p| Cow::Owned(p.to_string())),
    )
    .await
    .ok()?;
    set.get(key).map(|s| s.to_string())
}

/// Which credential provider answered ("Environment", "ProfileFile", "IMDSv2", ...).
pub fn provider_name(creds: &Credentials) -> String {
    // `Credentials` has no getter for it; its Debug form (which redacts the secret) names it.
    let dbg = format!("{creds:?}");
    dbg.split("provider_name: \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("unknown")
        .to_string()
}

/// Ask the default chain for credentials, within `limit`.
pub async fn credentials(aws: &Aws, limit: Duration) -> Result<Credentials> {
    let provider = aws
        .sdk
        .credentials_provider()
        .ok_or_else(|| Error::Credentials {
            message: "no credential provider is configured".into(),
            problem: CredProblem::Missing,
            hint: "set AWS_PROFILE, or run on an instance with a role".into(),
        })?;
    let creds = match tokio::time::timeout(limit, provider.provide_credentials()).await {
        Err(_) => {
            return Err(Error::Credentials {
                message: format!("no credential provider answered within {} s", limit.as_secs_f32()),
                problem: CredProblem::Missing,
                hint: "on a notebook instance the execution role's credentials come from the instance metadata service; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
            })
        }
        Ok(Err(e)) => return Err(credentials_error(e)),
        Ok(Ok(c)) => c,
    };
    if let Some(exp) = creds.expiry() {
        if exp <= std::time::SystemTime::now() {
            return Err(Error::Credentials {
                message: format!("the credentials from {} have expired", provider_name(&creds)),
                problem: CredProblem::Expired,
                hint: "refresh them (e.g. `aws sso login`, or new keys); on a notebook instance the role's credentials renew by themselves".into(),
            });
        }
    }
    Ok(creds)
}

fn credentials_error(e: CredentialsError) -> Error {
    let text = DisplayErrorContext(&e).to_string();
    let expired = text.to_ascii_lowercase().contains("expired");
    let message = match &e {
        CredentialsError::CredentialsNotLoaded(_) => {
            "no credentials found (tried environment, profile, web identity, container and instance metadata)".to_string()
        }
        _ => format!("the credential provider failed: {text}"),
    };
    Error::Credentials {
        message,
        problem: if expired {
            CredProblem::Expired
        } else {
            CredProblem::Missing
        },
        hint: if expired {
            "refresh the credentials (e.g. `aws sso login --profile NAME`)".into()
        } else {
            "on a notebook instance the execution role provides credentials; elsewhere set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()
        },
    }
}

/// A CodeArtifact client using these credentials (static for this call: the caller resolved them once).
pub fn codeartifact(
    aws: &Aws,
    settings: &Settings,
    creds: Credentials,
) -> aws_sdk_codeartifact::Client {
    let mut b = aws_sdk_codeartifact::config::Builder::from(&aws.sdk)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .interceptor(http::AnswerCap);
    if let Some(u) = &settings.endpoint_url {
        b = b.endpoint_url(u.value.clone());
    }
    aws_sdk_codeartifact::Client::from_conf(b.build())
}

/// What we tell the user in messages and remedies.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    pub settings: &'a Settings,
    pub region: &'a str,
    pub host: &'a str,
    pub operation: &'static str,
}

fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(6));
    let capped = base.min(4000);
    Duration::from_millis(capped / 2 + fastrand::u64(0..=capped / 2))
}

/// Run one SDK call with our retry policy: throttling (honouring Retry-After) and 5xx within the throttle budget,
/// one more try for a network failure within the network budget; everything else fails at once.
pub async fn call<T, E, F, Fut>(t: &Timeouts, ctx: &CallContext<'_>, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let t0 = Instant::now();
        let result = f().await;
        let err = match result {
            Ok(v) => {
                log::debug!(
                    "{} on {}: ok in {} ms",
                    ctx.operation,
                    ctx.host,
                    t0.elapsed().as_millis()
                );
                return Ok(v);
            }
            Err(e) => {
                let err = tls_or_connect(map_sdk_error(e, ctx, t), ctx, t).await;
                through_proxy(err, ctx, t).await
            }
        };
        let wait = match &err {
            Error::Throttled { retry_after, .. } => {
                let b = backoff(attempt);
                Some(retry_after.map_or(b, |r| r.max(b.min(Duration::from_millis(500)))))
            }
            Error::Service { status, .. } if *status >= 500 && attempt < 3 => {
                Some(backoff(attempt))
            }
            Error::Unreachable {
                kind: NetFailure::Timeout | NetFailure::Other,
                ..
            } if attempt == 1 => Some(backoff(0)),
            _ => None,
        };
        let budget = match &err {
            Error::Unreachable { .. } => t.network_budget,
            _ => t.throttle_budget,
        };
        match wait {
            Some(w) if attempt < 8 && start.elapsed() + w < budget => {
                log::info!(
                    "{} on {}: {} (attempt {attempt}); retrying in {} ms",
                    ctx.operation,
                    ctx.host,
                    err.cause(),
                    w.as_millis()
                );
                tokio::time::sleep(w).await;
            }
            _ => return Err(err),
        }
    }
}

/// The SDK reports a TLS handshake that never finished as a connect time-out: one short TCP probe tells a
/// dropped connection (the connect phase) from a listener that accepts and never completes TLS.
async fn tls_or_connect(err: Error, ctx: &CallContext<'_>, t: &Timeouts) -> Error {
    if !matches!(
        err,
        Error::Unreachable {
            kind: NetFailure::Timeout,
            phase: Phase::Connect,
            ..
        }
    ) || !http::tcp_connects(ctx.host, http::PROBE_LIMIT.min(t.connect / 2)).await
    {
        return err;
    }
    unreachable_in(
        NetFailure::NoResponse,
        Phase::Tls,
        format!(
            "TCP to {} connects, but the TLS handshake did not finish within the connect time-out ({} s)",
            http::with_port(ctx.host),
            t.connect.as_secs_f32()
        ),
        ctx,
    )
}

fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(60.0)))
}

/// The peer (or a proxy's tunnel) closed the connection in the middle of the TLS handshake: nothing was said
/// about the certificate, so this is not `tls-untrusted` but what accepts and drops.
pub fn handshake_cut(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("handshake")
        && (t.contains("eof") || t.contains("connection reset") || t.contains("closed"))
        && !t.contains("certificate")
}

/// Classify a connection failure from its error chain.
pub fn net_failure_kind(text: &str) -> NetFailure {
    let t = text.to_ascii_lowercase();
    if t.contains("dns error")
        || t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("no address associated")
        || t.contains("temporary failure in name resolution")
    {
        NetFailure::Dns
    } else if t.contains("connection refused") {
        NetFailure::Refused
    } else if t.contains("certificate")
        || t.contains("unknownissuer")
        || t.contains("tls handshake")
        || t.contains("invalid peer")
    {
        NetFailure::Tls
    } else if t.contains("timed out") || t.contains("timeout") {
        NetFailure::Timeout
    } else {
        NetFailure::Other
    }
}

fn unreachable(kind: NetFailure, detail: String, ctx: &CallContext<'_>) -> Error {
    let hp = http::with_port(ctx.host);
    let message = match kind {
        NetFailure::Dns => format!("the name does not resolve ({detail})"),
        NetFailure::Timeout => format!("no TCP connection to {hp} ({detail})"),
        NetFailure::Refused => format!("the connection to {hp} was refused"),
        NetFailure::Tls => format!("the TLS certificate is not trusted ({detail})"),
        NetFailure::NoResponse | NetFailure::Other => detail,
    };
    unreachable_in(kind, http::phase_of(kind), message, ctx)
}

fn unreachable_in(kind: NetFailure, phase: Phase, message: String, ctx: &CallContext<'_>) -> Error {
    let (h, _) = http::host_port(ctx.host);
    // The SDK goes through HTTPS_PROXY (unless NO_PROXY lists the host): say so, it may be the proxy that fails.
    let (message, hint) = match http::proxy_for(&api_scheme(ctx), &h) {
        Some((p, var)) if kind != NetFailure::Tls => (
            format!("{message}; through the proxy {} ({var})", crate::secret::mask_url(&p)),
            format!(
                "if {h} is reachable directly (a VPC endpoint), bypass the proxy: export NO_PROXY=\"$NO_PROXY,{h}\"; else check the proxy; then: {}",
                remedy::unreachable_api(kind, ctx.region, ctx.host)
            ),
        ),
        _ => (message, remedy::unreachable_api(kind, ctx.region, ctx.host)),
    };
    Error::Unreachable {
        host: ctx.host.to_string(),
        kind,
        phase,
        message,
        hint,
        proxy_cause: None,
    }
}

/// The scheme of the API URL a call goes to (`https` unless the caller names an `http://` endpoint).
fn api_scheme(ctx: &CallContext<'_>) -> String {
    given_api_url(ctx.settings)
        .and_then(|u| url::Url::parse(&u).ok())
        .map_or_else(|| "https".to_string(), |u| u.scheme().to_string())
}

/// A call through a proxy failed: one bounded CONNECT of our own asks the proxy why. If the proxy cannot be
/// reached, cannot reach the endpoint (502-504) or refuses the tunnel, the error takes the proxy's cause and
/// fix, as diagnose gives them; if the tunnel opens, the proxy is not the problem and the error stays.
async fn through_proxy(err: Error, ctx: &CallContext<'_>, t: &Timeouts) -> Error {
    let Error::Unreachable {
        kind, phase, host, ..
    } = &err
    else {
        return err;
    };
    if *kind == NetFailure::Tls {
        return err;
    }
    let (h, port) = http::host_port(ctx.host);
    let Some((proxy, var)) = http::proxy_for(&api_scheme(ctx), &h) else {
        return err;
    };
    let limit = PROXY_PROBE_LIMIT.min(t.connect);
    match http::tunnel(&proxy, var, &h, port, limit).await {
        Err(e) => match remedy::proxy_failure(&e, ctx.host, ctx.region) {
            Some((cause, message, hint)) => Error::Unreachable {
                host: host.clone(),
                kind: *kind,
                phase: *phase,
                message,
                hint,
                proxy_cause: Some(cause),
            },
            None => err,
        },
        Ok(_) => err,
    }
}

/// How long login's own CONNECT to a failing proxy may take (a proxy that cannot be reached, or refuses, answers
/// at once; one that waits on its own upstream time-out is left as the SDK reported it).
const PROXY_PROBE_LIMIT: Duration = Duration::from_secs(1);

/// Map an SDK error to ours, naming the host, the policy type and the fix.
pub fn map_sdk_error<E>(
    err: SdkError<E, HttpResponse>,
    ctx: &CallContext<'_>,
    t: &Timeouts,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let too_large = matches!(err, SdkError::ResponseError(_)) && http::hit_answer_cap(&err);
    // The attempt's time-out while the body is read comes back as a response error holding the 200.
    let body_stalled = matches!(err, SdkError::ResponseError(_)) && {
        let chain = DisplayErrorContext(&err).to_string();
        log::debug!("{} on {}: response error: {chain}", ctx.operation, ctx.host);
        http::is_body_timeout(&chain)
    };
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let ra = retry_after(se.raw());
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            service_error(&code, status, &message, ra, ctx)
        }
        SdkError::TimeoutError(_) => unreachable_in(
            NetFailure::NoResponse,
            Phase::Body,
            format!(
                "the answer from {} did not finish within the attempt's bound ({} s)",
                http::with_port(ctx.host),
                t.attempt.as_secs_f32()
            ),
            ctx,
        ),
        SdkError::DispatchFailure(df) => {
            let text = match df.as_connector_error() {
                Some(ce) => DisplayErrorContext(ce).to_string(),
                None => format!("{df:?}"),
            };
            if df.is_timeout() {
                let (kind, phase) = http::timeout_phase(&text);
                let hp = http::with_port(ctx.host);
                let message = match phase {
                    Phase::Response => format!(
                        "{hp} accepted the connection but sent no HTTP answer within the read time-out ({} s)",
                        t.read.as_secs_f32()
                    ),
                    _ => format!(
                        "no TCP connection to {hp} within the connect time-out ({} s)",
                        t.connect.as_secs_f32()
                    ),
                };
                return unreachable_in(kind, phase, message, ctx);
            }
            if handshake_cut(&text) {
                return unreachable_in(
                    NetFailure::NoResponse,
                    Phase::Tls,
                    format!(
                        "{} closed the connection during the TLS handshake ({})",
                        http::with_port(ctx.host),
                        short_chain(&text)
                    ),
                    ctx,
                );
            }
            let kind = net_failure_kind(&text);
            if df.is_user() && text.to_ascii_lowercase().contains("credential") {
                return Error::Credentials {
                    message: text,
                    problem: CredProblem::Missing,
                    hint: "check the AWS credentials".into(),
                };
            }
            let detail = match kind {
                NetFailure::Timeout => format!("connect time-out {} s", t.connect.as_secs_f32()),
                _ => short_chain(&text),
            };
            unreachable(kind, detail, ctx)
        }
        SdkError::ResponseError(_) if body_stalled => unreachable_in(
            NetFailure::NoResponse,
            Phase::Body,
            format!(
                "the answer from {} started but did not finish: it stalled (under 1 byte/s) or ran past the attempt's bound ({} s)",
                http::with_port(ctx.host),
                t.attempt.as_secs_f32()
            ),
            ctx,
        ),
        SdkError::ResponseError(re) if too_large => Error::Service {
            host: ctx.host.to_string(),
            code: "AnswerTooLarge".into(),
            status: re.raw().status().as_u16(),
            message: format!(
                "{} sent an answer over {} MiB (CodeArtifact's are under 1 KiB); reading stopped there",
                http::with_port(ctx.host),
                http::ANSWER_CAP >> 20
            ),
            hint: "a proxy or another server answers for this host; check endpoint_url, HTTPS_PROXY and NO_PROXY".into(),
        },
        SdkError::ResponseError(re) => {
            let status = re.raw().status().as_u16();
            Error::Service {
                host: ctx.host.to_string(),
                code: "UnparsableResponse".into(),
                status,
                message: format!("{} answered something that is not a CodeArtifact response", ctx.host),
                hint: "a proxy or another server answers for this host; check endpoint_url, HTTPS_PROXY and NO_PROXY".into(),
            }
        }
        other => {
            let text = DisplayErrorContext(&other).to_string();
            if text.to_ascii_lowercase().contains("credential") {
                Error::Credentials {
                    message: short_chain(&text),
                    problem: if text.contains("xpired") {
                        CredProblem::Expired
                    } else {
                        CredProblem::Missing
                    },
                    hint: "check the AWS credentials (AWS_PROFILE, keys, role)".into(),
                }
            } else {
                Error::Service {
                    host: ctx.host.to_string(),
                    code: "ClientError".into(),
                    status: 0,
                    message: short_chain(&text),
                    hint: format!("check endpoint_url, HTTPS_PROXY and NO_PROXY for {}, then log in again: ca-login login (Python: ca_login.login())", ctx.host),
                }
            }
        }
    }
}

fn short_chain(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    t.replace('\n', " ")
}

/// Map a CodeArtifact error code to our error.
pub fn service_error(
    code: &str,
    status: u16,
    message: &str,
    ra: Option<Duration>,
    ctx: &CallContext<'_>,
) -> Error {
    let s = ctx.settings;
    match code {
        "AccessDeniedException" | "AccessDenied" => {
            let denial = parse_denial(message);
            let hint = remedy::access_denied(&denial, s, ctx.region);
            let m = if message.is_empty() { format!("{} was denied", ctx.operation) } else { message.to_string() };
            Error::AccessDenied { denial, message: m, hint }
        }
        "ResourceNotFoundException" => {
            let lower = message.to_ascii_lowercase();
            let missing = if ctx.operation == "GetAuthorizationToken" || (lower.contains("domain") && !lower.contains("repository")) {
                Missing::Domain
            } else {
                Missing::Repository
            };
            let hint = match missing {
                Missing::Domain => format!(
                    "check the domain name and owner: `aws codeartifact list-domains --region {}`; the domain must be in this Region",
                    ctx.region
                ),
                _ => format!(
                    "check the repository name: `aws codeartifact list-repositories-in-domain --domain {} --region {}`",
                    s.domain.value, ctx.region
                ),
            };
            let what = match missing {
                Missing::Domain => format!("domain {:?}", s.domain.value),
                _ => format!("repository {:?} in domain {:?}", s.repository.value, s.domain.value),
            };
            Error::NotFound { missing, message: format!("{what}: {message}"), hint }
        }
        "ThrottlingException" => Error::Throttled {
            message: format!("{} on {}: {message}", ctx.operation, ctx.host),
            retry_after: ra,
            hint: "CodeArtifact allows 40 token requests per second per Region; log in once and reuse the token (ensure_login) rather than on every call".into(),
        },
        "ExpiredTokenException" | "ExpiredToken" => Error::Credentials {
            message: format!("the AWS session credentials have expired ({message})"),
            problem: CredProblem::Expired,
            hint: "refresh the credentials (e.g. `aws sso login`); a notebook role's credentials renew by themselves".into(),
        },
        "UnrecognizedClientException" | "InvalidClientTokenId" => Error::Credentials {
            message: format!("AWS does not know this access key ({message})"),
            problem: CredProblem::Rejected,
            hint: "the access key ID is wrong or deleted; check AWS_ACCESS_KEY_ID or the profile".into(),
        },
        "InvalidSignatureException" | "SignatureDoesNotMatch" => {
            let skew = message.to_ascii_lowercase().contains("signature expired");
            Error::Credentials {
                message: format!("the request signature was rejected ({message})"),
                problem: CredProblem::Rejected,
                hint: if skew {
                    "the machine's clock is off; sync it (chrony/ntp)".into()
                } else {
                    "the secret access key does not match the access key ID; check AWS_SECRET_ACCESS_KEY or the profile".into()
                },
            }
        }
        _ => Error::Service {
            host: ctx.host.to_string(),
            code: code.to_string(),
            status,
            message: message.to_string(),
            hint: if status >= 500 {
                "CodeArtifact had an internal error; try again in a minute".into()
            } else if (200..300).contains(&status) {
                format!(
                    "{} answered 200 with something that is not a valid {} response; another server or a proxy may answer for it: check endpoint_url, HTTPS_PROXY and NO_PROXY",
                    ctx.host, ctx.operation
                )
            } else {
                format!(
                    "CodeArtifact at {} rejected the request: check the domain, owner and repository it names (aws codeartifact list-domains --region {})",
                    ctx.host, ctx.region
                )
            },
        },
    }
}

/// GetAuthorizationToken: the token and its expiry (epoch seconds, from the server's answer).
pub async fn get_token(
    client: &aws_sdk_codeartifact::Client,
    t: &Timeouts,
    ctx: &CallContext<'_>,
) -> Result<(Secret, i64)> {
    let s = ctx.settings;
    let out = call(t, ctx, || {
        let mut req = client.get_authorization_token().domain(&s.domain.value);
        if let Some(o) = &s.domain_owner {
            req = req.domain_owner(&o.value);
        }
        if let Some(d) = s.duration_seconds {
            req = req.duration_seconds(d);
        }
        req.send()
    })
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    check_token_answer(
        ctx.host,
        out.authorization_token,
        out.expiration.map(|d| d.secs()),
        now,
    )
}

/// GetRepositoryEndpoint for `format` ("pypi").
pub async fn get_repository_endpoint(
    client: &aws_sdk_codeartifact::Client,
    t: &Timeouts,
    ctx: &CallContext<'_>,
    format: aws_sdk_codeartifact::types::PackageFormat,
) -> Result<String> {
    let s = ctx.settings;
    let out = call(t, ctx, || {
        let mut req = client
            .get_repository_endpoint()
            .domain(&s.domain.value)
            .repository(&s.repository.value)
            .format(format.clone());
        if let Some(o) = &s.domain_owner {
            req = req.domain_owner(&o.value);
        }
        if let Some(e) = &s.endpoint_type {
            req = req.endpoint_type(aws_sdk_codeartifact::types::EndpointType::from(
                e.value.as_str(),
            ));
        }
        req.send()
    })
    .await?;
    check_endpoint_answer(ctx.host, out.repository_endpoint)
}

/// A token lives at most 12 hours; 5 minutes more allow for a clock that runs behind the service's.
const LONGEST_TOKEN_SECS: i64 = 12 * 3600 + 5 * 60;

fn bad_answer(host: &str, operation: &str, what: String) -> Error {
    Error::Service {
        host: host.to_string(),
        code: "InvalidResponse".into(),
        status: 200,
        message: format!("{operation} on {host} answered {what}; nothing was written"),
        hint: format!(
            "another server or a proxy may answer for {host}; check endpoint_url, HTTPS_PROXY and NO_PROXY, then try again: ca-login login (Python: ca_login.login())"
        ),
    }
}

/// Check GetAuthorizationToken's answer before anything is written: a token that is not empty and an
/// expiration (epoch seconds) after `now` and at most 12 h 5 min ahead.
pub fn check_token_answer(
    host: &str,
    token: Option<String>,
    expiration: Option<i64>,
    now: i64,
) -> Result<(Secret, i64)> {
    const OP: &str = "GetAuthorizationToken";
    let token = match token {
        Some(t) if !t.trim().is_empty() => t,
        _ => return Err(bad_answer(host, OP, "an empty token".into())),
    };
    let Some(expires) = expiration else {
        return Err(bad_answer(host, OP, "no expiration".into()));
    };
    if expires <= now {
        return Err(bad_answer(
            host,
            OP,
            format!("a token that expired {} s ago", now - expires),
        ));
    }
    if expires - now > LONGEST_TOKEN_SECS {
        return Err(bad_answer(
            host,
            OP,
            format!(
                "a token valid for {} s, longer than CodeArtifact's 12 hours",
                expires - now
            ),
        ));
    }
    Ok((Secret::new(token), expires))
}

/// Check GetRepositoryEndpoint's answer: an https URL with a host and no userinfo (http only on loopback).
pub fn check_endpoint_answer(host: &str, endpoint: Option<String>) -> Result<String> {
    const OP: &str = "GetRepositoryEndpoint";
    let Some(endpoint) = endpoint.filter(|e| !e.trim().is_empty()) else {
        return Err(bad_answer(host, OP, "no endpoint".into()));
    };
    let Ok(url) = url::Url::parse(&endpoint) else {
        return Err(bad_answer(host, OP, "an endpoint that is not a URL".into()));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_answer(
            host,
            OP,
            "an endpoint URL carrying a user name or password".into(),
        ));
    }
    let Some(ep_host) = url.host() else {
        return Err(bad_answer(
            host,
            OP,
            "an endpoint URL without a host".into(),
        ));
    };
    let loopback = match ep_host {
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => Ok(endpoint),
        "http" if loopback => Ok(endpoint),
        scheme => Err(bad_answer(
            host,
            OP,
            format!("an endpoint URL with scheme {scheme:?} (pip must fetch over https)",),
        )),
    }
}

// diagnose's package layer (issue 12): what the repository knows about one package and where it reads from.
// ---------------------------------------------------------------------------------------------------------------

/// A package's origin restrictions: (publish, upstream), each "ALLOW" or "BLOCK".
pub async fn describe_package_origin(
    client: &aws_sdk_codeartifact::Client,
    t: &Timeouts,
    ctx: &CallContext<'_>,
    package: &str,
) -> Result<Option<(String, String)>> {
    let s = ctx.settings;
    let out = call(t, ctx, || {
        let mut req = client
            .describe_package()
            .domain(&s.domain.value)
            .repository(&s.repository.value)
            .format(aws_sdk_codeartifact::types::PackageFormat::Pypi)
            .package(package);
        if let Some(o) = &s.domain_owner {
            req = req.domain_owner(&o.value);
        }
        req.send()
    })
    .await?;
    Ok(out
        .package
        .and_then(|p| p.origin_configuration)
        .and_then(|c| c.restrictions)
        .map(|r| {
            (
                r.publish.as_str().to_string(),
                r.upstream.as_str().to_string(),
            )
        }))
}

/// A package's versions in this repository with their status (Published, Unlisted, Archived, Disposed, ...):
/// the first page (up to 1,000 versions).
pub async fn list_package_versions(
    client: &aws_sdk_codeartifact::Client,
    t: &Timeouts,
    ctx: &CallContext<'_>,
    package: &str,
) -> Result<Vec<(String, String)>> {
    let s = ctx.settings;
    let out = call(t, ctx, || {
        let mut req = client
            .list_package_versions()
            .domain(&s.domain.value)
            .repository(&s.repository.value)
            .format(aws_sdk_codeartifact::types::PackageFormat::Pypi)
            .package(package)
            .max_results(1000);
        if let Some(o) = &s.domain_owner {
            req = req.domain_owner(&o.value);
        }
        req.send()
    })
    .await?;
    Ok(out
        .versions
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.version, v.status.as_str().to_string()))
        .collect())
}

/// A repository's upstream repositories and external connections (`public:pypi`).
pub async fn describe_repository_sources(
    client: &aws_sdk_codeartifact::Client,
    t: &Timeouts,
    ctx: &CallContext<'_>,
    repository: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let s = ctx.settings;
    let out = call(t, ctx, || {
        let mut req = client
            .describe_repository()
            .domain(&s.domain.value)
            .repository(repository);
        if let Some(o) = &s.domain_owner {
            req = req.domain_owner(&o.value);
        }
        req.send()
    })
    .await?;
    let repo = out
        .repository
        .unwrap_or_else(|| aws_sdk_codeartifact::types::RepositoryDescription::builder().build());
    let upstreams = repo
        .upstreams
        .unwrap_or_default()
        .into_iter()
        .filter_map(|u| u.repository_name)
        .collect();
    let external = repo
        .external_connections
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.external_connection_name)
        .collect();
    Ok((upstreams, external))
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const HOST: &str = "api.codeartifact.us-west-2.amazonaws.com";

    fn message(e: Error) -> String {
        match e {
            Error::Service {
                host,
                message,
                hint,
                code,
                ..
            } => {
                assert_eq!(host, HOST);
                assert_eq!(code, "InvalidResponse");
                assert!(hint.contains("ca-login login"), "{hint}");
                message
            }
            other => panic!("not a service error: {other:?}"),
        }
    }

    #[test]
    fn a_handshake_cut_short_is_not_an_untrusted_certificate() {
        assert!(handshake_cut(
            "io error: client error (Connect): tls handshake eof"
        ));
        assert!(!handshake_cut(
            "invalid peer certificate: UnknownIssuer (tls handshake)"
        ));
        assert_eq!(
            net_failure_kind("invalid peer certificate: UnknownIssuer"),
            NetFailure::Tls
        );
    }

    #[test]
    fn token_answer_within_twelve_hours_is_accepted() {
        let (tok, exp) =
            check_token_answer(HOST, Some("tok".into()), Some(NOW + 43_200), NOW).unwrap();
        assert_eq!((tok.expose(), exp), ("tok", NOW + 43_200));
        assert!(check_token_answer(HOST, Some("t".into()), Some(NOW + 43_500), NOW).is_ok());
    }

    #[test]
    fn empty_or_missing_token_is_a_service_error_naming_the_host() {
        for token in [None, Some(String::new()), Some("  ".into())] {
            let m = message(check_token_answer(HOST, token, Some(NOW + 60), NOW).unwrap_err());
            assert!(m.contains("empty token") && m.contains(HOST), "{m}");
        }
    }

    #[test]
    fn expiration_past_now_absent_or_too_far_is_refused() {
        let past =
            message(check_token_answer(HOST, Some("t".into()), Some(NOW - 5), NOW).unwrap_err());
        assert!(past.contains("expired 5 s ago"), "{past}");
        let now = message(check_token_answer(HOST, Some("t".into()), Some(NOW), NOW).unwrap_err());
        assert!(now.contains("expired 0 s ago"), "{now}");
        let far = message(
            check_token_answer(HOST, Some("t".into()), Some(NOW + 43_501), NOW).unwrap_err(),
        );
        assert!(far.contains("longer than"), "{far}");
        let absent = message(check_token_answer(HOST, Some("t".into()), None, NOW).unwrap_err());
        assert!(absent.contains("no expiration"), "{absent}");
    }

    #[test]
    fn https_endpoint_and_loopback_http_are_accepted() {
        for ep in [
            "https://d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/r/",
            "http://127.0.0.1:8080/pypi/r/",
            "http://[::1]:8080/pypi/r/",
            "http://localhost:8080/pypi/r/",
        ] {
            assert_eq!(check_endpoint_answer(HOST, Some(ep.into())).unwrap(), ep);
        }
    }

    #[test]
    fn endpoint_without_https_host_or_with_userinfo_is_refused() {
        let cases = [
            (
                Some("http://d-1.d.codeartifact.us-west-2.amazonaws.com/pypi/r/"),
                "scheme \"http\"",
            ),
            (Some("ftp://127.0.0.1/pypi/r/"), "scheme \"ftp\""),
            (
                Some("https://aws:secretpw@host.example/pypi/r/"),
                "user name or password",
            ),
            (
                Some("https://someone@host.example/pypi/r/"),
                "user name or password",
            ),
            (Some("file:///etc/passwd"), "without a host"),
            (Some("not a url"), "not a URL"),
            (Some(""), "no endpoint"),
            (None, "no endpoint"),
        ];
        for (ep, want) in cases {
            let m = message(check_endpoint_answer(HOST, ep.map(String::from)).unwrap_err());
            assert!(m.contains(want), "{ep:?}: {m}");
            assert!(!m.contains("secretpw"), "{m}");
        }
    }
}
