//! What every AWS call's HTTP exchange may cost us, and how its failures are told apart.
//!
//! - Every answer the SDK reads is capped at [`ANSWER_CAP`] bytes ([`AnswerCap`], an interceptor on each client):
//!   a hostile or broken endpoint that streams gigabytes fails at once with `ServiceError` `AnswerTooLarge`.
//! - A failure names its phase ([`Phase`]): the SDK reports a refused or silent TCP connection and a TLS
//!   handshake that never finished alike, as one connect time-out; one short TCP probe ([`tcp_connects`]) tells
//!   them apart. A read time-out (connected, no HTTP answer) and an attempt time-out (the answer started but did
//!   not finish) are `NoResponse`, whose fix is never "create the endpoint".

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{NetFailure, Phase};

/// The most we read of any API answer (CodeArtifact's are a few hundred bytes).
pub const ANSWER_CAP: usize = 1 << 20;

/// How long the probe that separates "no TCP connection" from "TLS never finished" may take.
pub const PROBE_LIMIT: Duration = Duration::from_millis(500);

/// Caps the body of every answer at [`ANSWER_CAP`] before the SDK reads it into memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerCap;

impl Intercept for AnswerCap {
    fn name(&self) -> &'static str {
        "AnswerCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let body = response.take_body();
        *response.body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, ANSWER_CAP));
        Ok(())
    }
}

/// Did reading an answer stop at [`ANSWER_CAP`]? (The SDK's error chain holds the limit's error.)
pub fn hit_answer_cap(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>()
            || e.to_string().contains("length limit exceeded")
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// `host` and port of a `host[:port]` (443 when none is given).
pub fn host_port(host: &str) -> (String, u16) {
    if let Some((h, p)) = host.rsplit_once(':') {
        if let Ok(port) = p.parse::<u16>() {
            return (h.trim_matches(['[', ']']).to_string(), port);
        }
    }
    (host.to_string(), 443)
}

/// `host:port`, always with the port, for messages.
pub fn with_port(host: &str) -> String {
    let (h, p) = host_port(host);
    format!("{h}:{p}")
}

/// Does a TCP connection to `host` (`host[:port]`) open within `limit`? Used once after a connect time-out.
pub async fn tcp_connects(host: &str, limit: Duration) -> bool {
    let (h, p) = host_port(host);
    matches!(
        tokio::time::timeout(limit, tokio::net::TcpStream::connect((h.as_str(), p))).await,
        Ok(Ok(_))
    )
}

/// The phase and kind of a dispatch failure the SDK flagged as a time-out, from its text ("HTTP connect timeout
/// occurred after 3s" vs "HTTP read timeout occurred after 5s").
pub fn timeout_phase(text: &str) -> (NetFailure, Phase) {
    if text.to_ascii_lowercase().contains("read timeout") {
        (NetFailure::NoResponse, Phase::Response)
    } else {
        (NetFailure::Timeout, Phase::Connect)
    }
}

/// Is this response error's chain a time-out while the body was read (the attempt's bound, or the SDK's
/// stalled-stream protection)?
pub fn is_body_timeout(chain: &str) -> bool {
    let t = chain.to_ascii_lowercase();
    t.contains("timeout") || t.contains("timed out") || t.contains("minimum throughput")
}

/// The phase a failure of another kind happened in.
pub fn phase_of(kind: NetFailure) -> Phase {
    match kind {
        NetFailure::Dns => Phase::Dns,
        NetFailure::Timeout | NetFailure::Refused => Phase::Connect,
        NetFailure::Tls => Phase::Tls,
        NetFailure::NoResponse => Phase::Response,
        NetFailure::Other => Phase::Unknown,
    }
}

/// Which CodeArtifact endpoint a remedy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Api,
    Repositories,
}

/// The fix when `host` accepts TCP but gives no answer in time: not "create the endpoint", but look at the
/// proxy settings and at what listens there.
pub fn phase_remedy(endpoint: Endpoint, region: &str, host: &str) -> String {
    let hp = with_port(host);
    let (h, _) = host_port(host);
    let label = match endpoint {
        Endpoint::Api => "api",
        Endpoint::Repositories => "repositories",
    };
    format!(
        "{hp} accepts TCP connections but gives no answer in time: a proxy, firewall or appliance holds the connection, or what listens there is not a CodeArtifact endpoint. Check the proxy settings (env | grep -i _proxy; NO_PROXY must list {h} if it should be reached directly) and what answers there: curl -sv --max-time 10 https://{hp}/ ; aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws.{region}.codeartifact.{label}"
    )
}

/// The environment's proxy for `scheme://host` (as the AWS SDK and requests read it), and the variable naming it.
/// pip's own `proxy` option comes first for pip: see `diagnose::net::proxy_for_pip`.
pub fn proxy_for(scheme: &str, host: &str) -> Option<(String, &'static str)> {
    let get = |n: &'static str| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, n))
    };
    let no_proxy = get("NO_PROXY")
        .or_else(|| get("no_proxy"))
        .map(|(v, _)| v)
        .unwrap_or_default();
    if bypassed(&no_proxy, host) {
        return None;
    }
    let candidates: &[&'static str] = if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    candidates.iter().find_map(|n| get(n))
}

/// `NO_PROXY` matching as requests does it: `*`, exact hosts, domain suffixes (with or without a leading dot).
pub fn bypassed(no_proxy: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy
        .split([',', ' '])
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry
                .split(':')
                .next()
                .unwrap_or("")
                .trim_start_matches('*');
            let bare = entry.trim_start_matches('.');
            !bare.is_empty() && (host == bare || host.ends_with(&format!(".{bare}")))
        })
}

// ---------------------------------------------------------------------------------------------------------------
// Connections: TCP to a list of addresses, and a CONNECT tunnel through a proxy (shared by diagnose and login)
// ---------------------------------------------------------------------------------------------------------------

/// Why a connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Timeout,
    Refused,
    NoRoute(String),
    Proxy(String),
    /// The proxy itself cannot be reached (its name, its TCP port): the proxy's masked URL, where it is set (a
    /// variable's name, or `proxy in [global] of FILE` for pip's configuration), and what failed.
    ProxyUnreachable {
        proxy: String,
        var: String,
        why: String,
    },
    /// The proxy answered CONNECT with this status (403: its policy; 502/503/504: it cannot reach the target).
    ProxyRefused {
        proxy: String,
        var: String,
        status: u16,
    },
    Other(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Timeout => f.write_str("timed out (packets dropped)"),
            ConnectError::Refused => f.write_str("connection refused"),
            ConnectError::NoRoute(e) => write!(f, "no route ({e})"),
            ConnectError::Proxy(e) => write!(f, "proxy: {e}"),
            ConnectError::ProxyUnreachable { proxy, var, why } => {
                write!(f, "the proxy {proxy} ({var}) cannot be reached: {why}")
            }
            ConnectError::ProxyRefused { proxy, var, status } => {
                write!(
                    f,
                    "the proxy {proxy} ({var}) answered CONNECT with HTTP {status}"
                )
            }
            ConnectError::Other(e) => f.write_str(e),
        }
    }
}

fn classify_io(e: &std::io::Error) -> ConnectError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => ConnectError::Refused,
        ErrorKind::TimedOut => ConnectError::Timeout,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            ConnectError::NoRoute(e.to_string())
        }
        _ => {
            let t = e.to_string().to_ascii_lowercase();
            if t.contains("unreachable") || t.contains("no route") {
                ConnectError::NoRoute(e.to_string())
            } else {
                ConnectError::Other(e.to_string())
            }
        }
    }
}

/// Connect to the first address that answers, all within `limit`.
pub async fn connect_addrs(
    addrs: &[SocketAddr],
    limit: Duration,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let end = Instant::now() + limit;
    let mut last = ConnectError::Timeout;
    for a in addrs {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError::Timeout);
        }
        match tokio::time::timeout(left, TcpStream::connect(a)).await {
            Err(_) => return Err(ConnectError::Timeout),
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok((s, *a));
            }
            Ok(Err(e)) => last = classify_io(&e),
        }
    }
    Err(last)
}

/// A proxy URL as requests takes it: `host:port` without a scheme is `http://host:port`.
pub fn with_scheme(proxy_url: &str) -> String {
    let p = proxy_url.trim();
    if p.contains("://") {
        p.to_string()
    } else {
        format!("http://{p}")
    }
}

/// Open a tunnel to `host:port` through an HTTP proxy (CONNECT), all within `limit`: diagnose's probe, and
/// login's look at why a call through a proxy failed. `var` says where the proxy is set, for the texts.
pub async fn tunnel(
    proxy_url: &str,
    var: &str,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, ConnectError> {
    let proxy_url = &with_scheme(proxy_url);
    let shown = crate::secret::mask_url(proxy_url);
    let unreachable = |why: String| ConnectError::ProxyUnreachable {
        proxy: shown.clone(),
        var: var.to_string(),
        why,
    };
    let u = url::Url::parse(proxy_url).map_err(|_| {
        ConnectError::Proxy(format!(
            "{} is not a URL",
            crate::secret::mask_url(proxy_url)
        ))
    })?;
    let phost = u
        .host_str()
        .ok_or_else(|| ConnectError::Proxy("no host".into()))?
        .trim_matches(['[', ']'])
        .to_string();
    let pport = u.port_or_known_default().unwrap_or(8080);
    let end = Instant::now() + limit;
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(limit, tokio::net::lookup_host((phost.clone(), pport))).await {
            Ok(Ok(it)) => it.collect(),
            Ok(Err(e)) => return Err(unreachable(format!("{phost} does not resolve ({e})"))),
            Err(_) => return Err(unreachable(format!("no DNS answer for {phost} in time"))),
        };
    let (mut s, _) = connect_addrs(&addrs, end.saturating_duration_since(Instant::now()))
        .await
        .map_err(|e| unreachable(format!("{phost}:{pport}: {e}")))?;
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if !u.username().is_empty() {
        use base64::Engine;
        let creds = format!(
            "{}:{}",
            percent_decode(u.username()),
            percent_decode(u.password().unwrap_or(""))
        );
        req.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(creds)
        ));
    }
    req.push_str("\r\n");
    let io = async {
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(buf)
    };
    let buf = match tokio::time::timeout(end.saturating_duration_since(Instant::now()), io).await {
        Err(_) => return Err(ConnectError::Timeout),
        Ok(Err(e)) => return Err(classify_io(&e)),
        Ok(Ok(b)) => b,
    };
    let line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(200) => Ok(s),
        Some(code) => Err(ConnectError::ProxyRefused {
            proxy: shown,
            var: var.to_string(),
            status: code,
        }),
        None => Err(ConnectError::Proxy(
            "the proxy did not answer CONNECT".into(),
        )),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_defaults_to_443_and_reads_a_given_port() {
        assert_eq!(
            host_port("codeartifact.us-west-2.amazonaws.com"),
            ("codeartifact.us-west-2.amazonaws.com".to_string(), 443)
        );
        assert_eq!(host_port("127.0.0.1:8443"), ("127.0.0.1".to_string(), 8443));
        assert_eq!(with_port("[::1]:9000"), "::1:9000");
    }

    #[test]
    fn a_proxy_without_a_scheme_is_http_as_requests_takes_it() {
        assert_eq!(with_scheme("10.0.0.9:3128"), "http://10.0.0.9:3128");
        assert_eq!(
            with_scheme(" u:p@10.0.0.9:3128 "),
            "http://u:p@10.0.0.9:3128"
        );
        assert_eq!(
            with_scheme("https://p.example:443"),
            "https://p.example:443"
        );
    }

    #[test]
    fn a_read_timeout_is_no_response_and_a_connect_timeout_is_the_connect_phase() {
        assert_eq!(
            timeout_phase("timeout: HTTP read timeout occurred after 2s"),
            (NetFailure::NoResponse, Phase::Response)
        );
        assert_eq!(
            timeout_phase(
                "timeout: client error (Connect): HTTP connect timeout occurred after 1s"
            ),
            (NetFailure::Timeout, Phase::Connect)
        );
    }

    #[test]
    fn no_response_remedy_checks_the_proxy_and_the_listener_not_the_endpoint() {
        let r = phase_remedy(Endpoint::Api, "us-west-2", "127.0.0.1:8443");
        assert!(r.contains("127.0.0.1:8443") && r.contains("NO_PROXY") && r.contains("curl"));
        assert!(r.contains("com.amazonaws.us-west-2.codeartifact.api"));
        assert!(!r.contains("create-vpc-endpoint"));
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_fails_and_the_error_says_so() {
        use http_body_util::BodyExt;
        let big =
            http_body_util::Limited::new(SdkBody::from(vec![b'x'; ANSWER_CAP + 1]), ANSWER_CAP);
        match big.collect().await {
            Err(err) => assert!(hit_answer_cap(err.as_ref())),
            Ok(_) => panic!("a body over the cap was read in whole"),
        }
        let small = http_body_util::Limited::new(SdkBody::from(vec![b'x'; 1000]), ANSWER_CAP);
        assert_eq!(
            small.collect().await.map(|c| c.to_bytes().len()).ok(),
            Some(1000)
        );
        let other: BoxError = "connection reset".into();
        assert!(!hit_answer_cap(other.as_ref()));
    }
}
