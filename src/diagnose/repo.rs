//! Layer 9: read the repository as pip does: `GET <repository endpoint>simple/` with HTTP Basic `aws:TOKEN`,
//! over a minimal HTTP/1.1 client (tokio + tokio-rustls, login's trust), bounded by the time-out.

use std::time::{Duration, Instant};

use base64::Engine;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::config::{Ctx, Identity};
use super::{net, tls, Budget, Check, HostProbe, Layer, Recorder};
use crate::error::{Denial, PolicyType};
use crate::secret::Secret;
use crate::settings::Settings;

/// What the repository answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Connect(net::ConnectError),
    Tls(String),
    /// Connected, but no HTTP answer in time.
    NoAnswer,
    /// The status line came (this one), the rest of the answer did not finish in time.
    BodyStalled(u16),
    /// More than [`crate::http::ANSWER_CAP`] bytes.
    TooLarge,
    Garbled(String),
}

/// `<endpoint>simple/`.
pub fn simple_url(endpoint: &str) -> String {
    let mut u = endpoint.to_string();
    if !u.ends_with('/') {
        u.push('/');
    }
    u.push_str("simple/");
    u
}

/// Is `buf` a whole HTTP/1.1 answer: headers, then the body by Content-Length, chunked framing, or (with
/// `Connection: close`) the end of the stream (`eof`)?
fn complete(buf: &[u8], eof: bool) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let body = &buf[end + 4..];
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if let Some(n) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        body.len() >= n
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        body.ends_with(b"0\r\n\r\n")
    } else {
        eof
    }
}

/// Send `request` and read the whole answer into `buf` (at most [`crate::http::ANSWER_CAP`] bytes past the
/// headers: more is [`ReadError::TooLarge`], pip would take it in whole).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let io = |e: std::io::Error| ReadError::Garbled(e.to_string());
    s.write_all(request).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut chunk = [0u8; 8192];
    loop {
        if complete(buf, false) {
            return Ok(());
        }
        if buf.len() > crate::http::ANSWER_CAP + 16384 {
            return Err(ReadError::TooLarge);
        }
        let n = s.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The status of an answer's first line, once it has come.
fn status_of(buf: &[u8]) -> Option<u16> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&buf[..end]);
    line.strip_prefix("HTTP/")?
        .split_whitespace()
        .nth(1)?
        .parse::<u16>()
        .ok()
}

/// A connection for a GET of `url` the way pip would make it (through pip's proxy when one applies, else to the
/// resolved addresses), with the request line's path and the `Host` value. Shared by the repository read and
/// the package layer.
pub struct GetConn {
    pub scheme: String,
    pub host: String,
    pub stream: tokio::net::TcpStream,
    pub path: String,
    pub host_header: String,
}

impl std::fmt::Debug for GetConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetConn")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("path", &self.path)
            .finish()
    }
}

/// Resolves and connects for [`GetConn`], each step within what `left()` still allows.
pub async fn connect_for_get(
    url: &str,
    left: &impl Fn() -> Duration,
) -> Result<GetConn, ReadError> {
    let u = url::Url::parse(url).map_err(|_| ReadError::Garbled("not a URL".into()))?;
    let (scheme, host, port) =
        net::parts(url).ok_or_else(|| ReadError::Garbled("not a URL".into()))?;
    let addrs: Vec<std::net::SocketAddr> = if net::proxy_for_pip(&scheme, &host).is_some() {
        Vec::new()
    } else {
        match tokio::time::timeout(left(), tokio::net::lookup_host((host.clone(), port))).await {
            Ok(Ok(it)) => it.collect(),
            Ok(Err(e)) => {
                return Err(ReadError::Connect(net::ConnectError::Other(format!(
                    "{host} does not resolve ({e})"
                ))))
            }
            Err(_) => return Err(ReadError::Connect(net::ConnectError::Timeout)),
        }
    };
    let (stream, _) = net::open(
        super::Which::Repositories,
        &scheme,
        &host,
        port,
        &addrs,
        left(),
    )
    .await
    .map_err(ReadError::Connect)?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let host_header = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or(&host)),
        None => u.host_str().unwrap_or(&host).to_string(),
    };
    Ok(GetConn {
        scheme,
        host,
        stream,
        path,
        host_header,
    })
}

/// GET `url` with Basic `aws:TOKEN`; the HTTP status.
pub async fn get_status(
    url: &str,
    token: &Secret,
    ca_bundle: Option<&str>,
    limit: Duration,
) -> Result<u16, ReadError> {
    let end = Instant::now() + limit;
    let left = || end.saturating_duration_since(Instant::now());
    let GetConn {
        scheme,
        host,
        stream,
        path,
        host_header,
    } = connect_for_get(url, &left).await?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("aws:{}", token.expose()));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Basic {auth}\r\nAccept: text/html\r\nUser-Agent: ca-login/{} diagnose\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut buf = Vec::with_capacity(4096);
    let answer = if scheme == "https" {
        let cfg = tls::login_config(ca_bundle).map_err(ReadError::Tls)?;
        let name = ServerName::try_from(host.clone()).map_err(|e| ReadError::Tls(e.to_string()))?;
        let mut s = match tokio::time::timeout(
            left(),
            tokio_rustls::TlsConnector::from(cfg).connect(name, stream),
        )
        .await
        {
            Err(_) => return Err(ReadError::NoAnswer),
            Ok(Err(e)) => return Err(ReadError::Tls(e.to_string())),
            Ok(Ok(s)) => s,
        };
        tokio::time::timeout(left(), exchange(&mut s, request.as_bytes(), &mut buf)).await
    } else {
        let mut s = stream;
        tokio::time::timeout(left(), exchange(&mut s, request.as_bytes(), &mut buf)).await
    };
    let status = status_of(&buf);
    match (answer, status) {
        (Err(_), Some(s)) => return Err(ReadError::BodyStalled(s)),
        (Err(_), None) => return Err(ReadError::NoAnswer),
        (Ok(Err(e)), _) => return Err(e),
        (Ok(Ok(())), _) => {}
    }
    match status {
        Some(s) => Ok(s),
        None if buf.is_empty() => Err(ReadError::NoAnswer),
        None => Err(ReadError::Garbled("not an HTTP answer".into())),
    }
}

/// `host:port` of a URL, for messages.
fn repo_host(url: &str) -> String {
    net::parts(url).map_or_else(|| url.to_string(), |(_, h, p)| format!("{h}:{p}"))
}

fn login_command(settings: &Settings, region: &str) -> String {
    let owner = settings
        .domain_owner
        .as_ref()
        .map(|o| format!(" --domain-owner {}", o.value))
        .unwrap_or_default();
    format!(
        "ca-login login --domain {}{owner} --repository {} --region {region}",
        settings.domain.value, settings.repository.value
    )
}

/// The fix for a 403 on the read: ReadFromRepository in the repository policy or the role's IAM policy.
pub fn forbidden_remedy(settings: &Settings, region: &str, principal: Option<&str>) -> String {
    let denial = Denial {
        principal: principal.map(str::to_string),
        action: Some("codeartifact:ReadFromRepository".into()),
        resource: None,
        policy_type: Some(PolicyType::ResourceBased),
        explicit: false,
    };
    let role = crate::remedy::role_name(principal).unwrap_or_else(|| "ROLE_NAME".into());
    format!(
        "{}; or in the role's IAM policy: aws iam put-role-policy --role-name {role} --policy-name CodeArtifactPip --policy-document '{}'; also check that the codeartifact.repositories VPC endpoint's policy allows codeartifact:ReadFromRepository",
        crate::remedy::access_denied(&denial, settings, region),
        crate::remedy::identity_policy(settings, region)
    )
}

#[allow(clippy::too_many_arguments)]
pub async fn read(
    settings: &Settings,
    endpoint: Option<&str>,
    probe: Option<&HostProbe>,
    token: Option<&Secret>,
    ident: Option<&Identity>,
    ctx: &Ctx,
    budget: &Budget,
    rec: &Recorder,
) {
    let t0 = Instant::now();
    const NAME: &str = "repository-read";
    let Some(endpoint) = endpoint else {
        rec.push(Check::skip(
            NAME,
            Layer::Repository,
            "the repository endpoint is unknown",
        ));
        return;
    };
    if probe.is_none_or(|p| p.failed) {
        rec.push(Check::skip(
            NAME,
            Layer::Repository,
            "the repositories endpoint is not reachable (see above)",
        ));
        return;
    }
    let Some(token) = token else {
        rec.push(Check::skip(
            NAME,
            Layer::Repository,
            "no token (GetAuthorizationToken did not succeed)",
        ));
        return;
    };
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    let url = simple_url(endpoint);
    let limit = budget.bound();
    let shown = crate::secret::mask_url(&url);
    let check = match get_status(&url, token, ctx.ca_bundle.as_deref(), limit).await {
        Ok(s) if (200..300).contains(&s) => Check::ok(NAME, Layer::Repository, format!("GET {shown}: HTTP {s}")),
        Ok(401) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: HTTP 401 with a fresh token"),
            "repository-auth-failed",
            "The repository rejected a token that GetAuthorizationToken just issued (HTTP 401).",
            format!(
                "the token is for another domain or account than this repository endpoint: check --domain-owner and repository_endpoint_url, then log in again: {}",
                login_command(settings, &region)
            ),
        ),
        Ok(403) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: HTTP 403"),
            "repository-forbidden",
            "The repository refused the read (HTTP 403): no policy grants codeartifact:ReadFromRepository to this role.",
            forbidden_remedy(settings, &region, ident.map(|i| i.arn.as_str())),
        ),
        Ok(404) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: HTTP 404"),
            "repository-path-not-found",
            "The repository endpoint answered 404 for the simple index: the URL's path does not name this repository.",
            format!(
                "with a vpce name the path is /pypi/d/{}-{}/{}/ (pass repository_endpoint_url as the bare vpce-… name and ca_login builds it); otherwise use the URL GetRepositoryEndpoint returns",
                settings.domain.value,
                settings.domain_owner.as_ref().map_or("ACCOUNT_ID", |o| o.value.as_str()),
                settings.repository.value
            ),
        ),
        Ok(s) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: HTTP {s}"),
            "repository-error",
            format!("The repository answered HTTP {s}."),
            "if it is a 5xx, CodeArtifact had an error: try again in a minute; otherwise a proxy may answer for the endpoint (HTTPS_PROXY / NO_PROXY)",
        ),
        Err(ReadError::Connect(net::ConnectError::Timeout)) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: no TCP connection within {:.1} s", limit.as_secs_f32()),
            "repositories-endpoint-unreachable",
            "The repositories endpoint does not accept connections: pip would hang here.",
            format!(
                "check the com.amazonaws.{region}.codeartifact.repositories VPC endpoint (private DNS on, security group allowing TCP {port} from the notebook): aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws.{region}.codeartifact.repositories",
                port = net::parts(&url).map_or(443, |p| p.2)
            ),
        ),
        Err(ReadError::NoAnswer) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: connected, no HTTP answer within {:.1} s (phase: response)", limit.as_secs_f32()),
            "repositories-endpoint-no-response",
            "The repositories endpoint accepts connections but sends no answer: pip would hang here.",
            crate::http::phase_remedy(crate::http::Endpoint::Repositories, &region, &repo_host(&url)),
        ),
        Err(ReadError::BodyStalled(s)) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: HTTP {s}, but the answer did not finish within {:.1} s (phase: body)", limit.as_secs_f32()),
            "repositories-endpoint-no-response",
            "The repositories endpoint starts an answer and stalls: pip would hang here.",
            crate::http::phase_remedy(crate::http::Endpoint::Repositories, &region, &repo_host(&url)),
        ),
        Err(ReadError::TooLarge) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: the answer is over {} MiB; reading stopped there", crate::http::ANSWER_CAP >> 20),
            "repository-error",
            "The repositories endpoint sent an answer far larger than a simple index.",
            "a proxy or another server answers for this host; check repository_endpoint_url, HTTPS_PROXY and NO_PROXY",
        ),
        Err(ReadError::Connect(e)) => {
            let (cause, summary, remedy) = net::tcp_remedy(super::Which::Repositories, &e, super::dns::AddrClass::Private, &region, &net::parts(&url).map(|p| p.1).unwrap_or_default());
            Check::fail(NAME, Layer::Repository, format!("GET {shown}: {e}"), cause, summary, remedy)
        }
        Err(ReadError::Tls(e)) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: TLS failed ({e})"),
            "tls-untrusted",
            "The repositories endpoint's certificate is not trusted.",
            "set AWS_CA_BUNDLE to the CA that signs it (a TLS-inspecting proxy's CA)",
        ),
        Err(ReadError::Garbled(e)) => Check::fail(
            NAME,
            Layer::Repository,
            format!("GET {shown}: {e}"),
            "repository-error",
            "The repositories endpoint did not answer like a package repository.",
            "a proxy or another server answers for this host; check repository_endpoint_url, HTTPS_PROXY and NO_PROXY",
        ),
    };
    rec.push(check.took(t0));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::settings::{Source, Sourced};

    /// Settings as arguments give them: `domain`, `repository` and `domain_owner`, nothing else.
    pub(in crate::diagnose) fn argument_settings(
        domain: &str,
        repository: &str,
        domain_owner: Option<&str>,
    ) -> Settings {
        let s = |v: &str| Sourced {
            value: v.to_string(),
            source: Source::Argument,
        };
        Settings {
            domain: s(domain),
            repository: s(repository),
            domain_owner: domain_owner.map(s),
            region: None,
            duration_seconds: None,
            endpoint_url: None,
            repository_endpoint_url: None,
            profile: None,
            endpoint_type: None,
        }
    }

    #[test]
    fn an_answer_is_complete_by_length_chunks_or_end_of_stream() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert!(!complete(head, false));
        assert!(complete(&[&head[..], b"hello"].concat(), false));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        assert!(!complete(chunked, false));
        assert!(complete(&[&chunked[..], b"0\r\n\r\n"].concat(), false));
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody";
        assert!(!complete(close, false) && complete(close, true));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n", true));
    }

    #[test]
    fn status_comes_from_the_first_line_only_when_it_is_http() {
        assert_eq!(status_of(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(status_of(b"HTTP/1.1 200 OK"), None);
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[test]
    fn simple_url_appends_with_one_slash() {
        assert_eq!(simple_url("https://h/pypi/r/"), "https://h/pypi/r/simple/");
        assert_eq!(simple_url("https://h/pypi/r"), "https://h/pypi/r/simple/");
    }

    #[test]
    fn forbidden_remedy_names_role_repository_and_region() {
        let st = argument_settings("mydomain", "isolatedsm", Some("111122223333"));
        let r = forbidden_remedy(
            &st,
            "us-west-2",
            Some("arn:aws:sts::111122223333:assumed-role/GeneralIsolatedNotebook/S"),
        );
        for needle in [
            "put-repository-permissions-policy",
            "--repository isolatedsm",
            "role/GeneralIsolatedNotebook",
            "--region us-west-2",
            "ReadFromRepository",
        ] {
            assert!(r.contains(needle), "{needle}: {r}");
        }
    }
}
