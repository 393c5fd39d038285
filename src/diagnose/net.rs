//! Layer 5: TCP to each endpoint (connected, timed out, refused, no route), through the proxy pip would use,
//! and the host probe that chains DNS -> TCP -> TLS.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::Ctx;
use super::dns::{self, AddrClass};
use super::{Budget, Check, HostProbe, Layer, Recorder, Which};

/// Why a connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Timeout,
    Refused,
    NoRoute(String),
    Proxy(String),
    /// The proxy itself cannot be reached (its name, its TCP port): the proxy's masked URL and the variable
    /// naming it, and what failed.
    ProxyUnreachable {
        proxy: String,
        var: &'static str,
        why: String,
    },
    /// The proxy answered CONNECT with this status (403: its policy; 502/503/504: it cannot reach the target).
    ProxyRefused {
        proxy: String,
        var: &'static str,
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

/// Scheme, host and port of a URL.
pub fn parts(url: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default()?;
    Some((u.scheme().to_string(), host, port))
}

pub use crate::http::{bypassed, proxy_for};

/// The proxy pip uses for `scheme://host`: the environment's (`HTTPS_PROXY` ...) unless `NO_PROXY` lists the
/// host, else `PIP_PROXY` (`--proxy`), which `NO_PROXY` does not bypass (pip sets it as the session's proxy;
/// requests lets the environment's win over it and applies `NO_PROXY` only to the environment's).
pub fn proxy_for_pip(scheme: &str, host: &str) -> Option<(String, &'static str)> {
    proxy_for(scheme, host).or_else(|| {
        std::env::var("PIP_PROXY")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, "PIP_PROXY"))
    })
}

/// The proxy on the way to `which` endpoint: the AWS SDK's for the api host, pip's for the repositories host.
pub fn proxy_on_the_way(which: Which, scheme: &str, host: &str) -> Option<(String, &'static str)> {
    match which {
        Which::Api => proxy_for(scheme, host),
        Which::Repositories => proxy_for_pip(scheme, host),
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

/// Open a tunnel to `host:port` through an HTTP proxy (CONNECT).
async fn tunnel(
    proxy_url: &str,
    var: &'static str,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, ConnectError> {
    let shown = crate::secret::mask_url(proxy_url);
    let unreachable = |why: String| ConnectError::ProxyUnreachable {
        proxy: shown.clone(),
        var,
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
            var,
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

/// Open a connection to `host:port` the way pip would: through the proxy when one applies, else directly to `addrs`.
pub async fn open(
    which: Which,
    scheme: &str,
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
    limit: Duration,
) -> Result<(TcpStream, String), ConnectError> {
    match proxy_on_the_way(which, scheme, host) {
        Some((p, var)) => {
            let s = tunnel(&p, var, host, port, limit).await?;
            Ok((
                s,
                format!("through the proxy {} ({var})", crate::secret::mask_url(&p)),
            ))
        }
        None => {
            let (s, a) = connect_addrs(addrs, limit).await?;
            Ok((s, format!("to {a}")))
        }
    }
}

/// The fix for a TCP failure, by what DNS answered.
pub fn tcp_remedy(
    which: Which,
    err: &ConnectError,
    class: AddrClass,
    region: &str,
    host: &str,
) -> (&'static str, String, String) {
    let service = dns::service_name(which, region);
    let label = which.label();
    let port = crate::http::host_port(host).1;
    let cause_unreachable = which.name(
        "api-endpoint-unreachable",
        "repositories-endpoint-unreachable",
    );
    match err {
        ConnectError::Refused => (
            which.name("api-connection-refused", "repositories-connection-refused"),
            format!("{host} refused the connection: the address is not a CodeArtifact {label} endpoint."),
            match which {
                Which::Api => crate::remedy::unreachable_api(crate::error::NetFailure::Refused, region, host),
                Which::Repositories => format!(
                    "{host} refused the connection: the address is not a CodeArtifact repositories endpoint; check repository_endpoint_url (CLI: --repository-endpoint-url), HTTPS_PROXY and NO_PROXY"
                ),
            },
        ),
        ConnectError::ProxyUnreachable { proxy, var, why } => (
            "proxy-unreachable",
            format!("The proxy {proxy} ({var}) on the way to {host} cannot be reached: {why}."),
            format!(
                "fix the proxy's address in {var}, or, if {h} is reachable directly (a VPC endpoint), bypass the proxy: export NO_PROXY=\"$NO_PROXY,{h}\"{pip}",
                h = crate::http::host_port(host).0,
                pip = if *var == "PIP_PROXY" { " (NO_PROXY does not bypass PIP_PROXY: unset it, or remove proxy= from pip.conf)" } else { "" },
            ),
        ),
        ConnectError::ProxyRefused { proxy, var, status } if matches!(status, 502..=504) => (
            "proxy-not-bypassed",
            format!("{host} is sent through the proxy {proxy} ({var}), which cannot reach it (CONNECT answered HTTP {status}): a VPC endpoint's private address is reachable only from inside the VPC."),
            format!(
                "reach the CodeArtifact names directly: export NO_PROXY=\"$NO_PROXY,{h},.codeartifact.{region}.amazonaws.com,.vpce.amazonaws.com\"{pip}",
                h = crate::http::host_port(host).0,
                pip = if *var == "PIP_PROXY" { " and unset PIP_PROXY (NO_PROXY does not bypass it)" } else { "" },
            ),
        ),
        ConnectError::ProxyRefused { proxy, var, status } => (
            "proxy-connect-refused",
            format!("The proxy {proxy} ({var}) refused to open a tunnel to {host} (CONNECT answered HTTP {status})."),
            format!(
                "ask for CONNECT to {host} to be allowed on the proxy, or, if {h} is reachable directly, bypass it: export NO_PROXY=\"$NO_PROXY,{h}\"",
                h = crate::http::host_port(host).0,
            ),
        ),
        ConnectError::Proxy(e) => (
            cause_unreachable,
            format!("The proxy pip would use cannot reach {host}: {e}."),
            format!("add {host} to NO_PROXY (the VPC endpoint is reachable directly), or fix the proxy"),
        ),
        _ if class == AddrClass::Public => (
            cause_unreachable,
            match which {
                Which::Api => format!("Nothing answers on {host}: it resolves to public addresses, so this subnet has no {service} endpoint with private DNS."),
                Which::Repositories => format!("The repositories endpoint {host} does not answer (public addresses: no {service} endpoint with private DNS); pip would hang here."),
            },
            format!(
                "create the interface VPC endpoint {service} with private DNS: aws ec2 create-vpc-endpoint --region {region} --vpc-endpoint-type Interface --service-name {service} --vpc-id VPC_ID --subnet-ids SUBNET_ID --security-group-ids SG_ID --private-dns-enabled (if it exists, turn its private DNS on: aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id VPCE_ID --private-dns-enabled)"
            ),
        ),
        _ => (
            cause_unreachable,
            match which {
                Which::Api => format!("{host} resolves to a private address but port {port} does not answer: the {service} endpoint's security group drops the notebook's traffic."),
                Which::Repositories => format!("The repositories endpoint {host} resolves to a private address but port {port} does not answer (its security group drops it); pip would hang here."),
            },
            format!(
                "let the security group of the {service} VPC endpoint allow inbound TCP {port} from the notebook: aws ec2 authorize-security-group-ingress --region {region} --group-id ENDPOINT_SG_ID --protocol tcp --port {port} --source-group NOTEBOOK_SG_ID (ENDPOINT_SG_ID: aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values={service} --query 'VpcEndpoints[].Groups[].GroupId')"
            ),
        ),
    }
}

/// The one address family (`"IPv4"`, `"IPv6"`) DNS answered, when the connection failed for want of a route.
pub fn family_without_route(err: &ConnectError, addrs: &[SocketAddr]) -> Option<&'static str> {
    if !matches!(err, ConnectError::NoRoute(_)) || addrs.is_empty() {
        return None;
    }
    if addrs.iter().all(|a| a.is_ipv6()) {
        Some("IPv6")
    } else if addrs.iter().all(|a| a.is_ipv4()) {
        Some("IPv4")
    } else {
        None
    }
}

/// The verdict when the only address family a name has cannot be routed from here (dual-stack endpoints).
pub fn family_no_route(which: Which, family: &str, hp: &str) -> (&'static str, String, String) {
    let (records, other) = if family == "IPv6" {
        ("AAAA", "ipv4")
    } else {
        ("A", "dualstack")
    };
    (
        which.name(
            "api-address-family-no-route",
            "repositories-address-family-no-route",
        ),
        format!("{hp} has only {records} ({family}) addresses and this machine has no {family} route to them."),
        format!(
            "give the notebook's subnet a {family} route (check with: ip -{} route), or log in with the other endpoint type: endpoint_type=\"{other}\" (CLI: --endpoint-type {other})",
            if family == "IPv6" { "6" } else { "4" }
        ),
    )
}

/// DNS -> TCP -> TLS for one endpoint. Pushes the three checks (later ones `skip` after a failure).
pub async fn probe_host(
    url: &str,
    which: Which,
    ctx: &Ctx,
    budget: &Budget,
    rec: &Recorder,
) -> HostProbe {
    let (dns_name, tcp_name, tls_name) = (
        which.name("dns-api", "dns-repositories"),
        which.name("tcp-api", "tcp-repositories"),
        which.name("tls-api", "tls-repositories"),
    );
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    let Some((scheme, host, port)) = parts(url) else {
        for (n, l) in [
            (dns_name, Layer::Dns),
            (tcp_name, Layer::Tcp),
            (tls_name, Layer::Tls),
        ] {
            rec.push(Check::skip(
                n,
                l,
                format!("{} is not a URL", crate::secret::mask_url(url)),
            ));
        }
        return HostProbe {
            failed: true,
            chain: Vec::new(),
        };
    };
    let failed = |rec: &Recorder, from_tcp: bool| {
        if from_tcp {
            rec.push(Check::skip(
                tcp_name,
                Layer::Tcp,
                format!("{host} did not resolve"),
            ));
        }
        rec.push(Check::skip(
            tls_name,
            Layer::Tls,
            format!("no connection to {host}"),
        ));
        HostProbe {
            failed: true,
            chain: Vec::new(),
        }
    };
    let proxy = proxy_on_the_way(which, &scheme, &host);
    let addrs = match dns::resolve(&host, port, which, &region, budget, rec).await {
        Some(a) => a,
        // Through a proxy, the proxy resolves the name: carry on.
        None if proxy.is_some() => Vec::new(),
        None => return failed(rec, true),
    };
    let class = if addrs.is_empty() {
        AddrClass::Public
    } else {
        dns::overall(&addrs)
    };
    let t0 = Instant::now();
    let limit = budget.bound();
    let stream = match open(which, &scheme, &host, port, &addrs, limit).await {
        Ok((s, how)) => {
            rec.push(
                Check::ok(
                    tcp_name,
                    Layer::Tcp,
                    format!(
                        "{host}:{port} connected {how} in {} ms",
                        t0.elapsed().as_millis()
                    ),
                )
                .took(t0),
            );
            s
        }
        Err(e) => {
            let hp = format!("{host}:{port}");
            let (cause, summary, remedy) = match family_without_route(&e, &addrs) {
                Some(family) => family_no_route(which, family, &hp),
                None => tcp_remedy(which, &e, class, &region, &hp),
            };
            let detail = match &e {
                ConnectError::Timeout => format!(
                    "{host}:{port}: no answer within {:.1} s ({} addresses: packets dropped)",
                    limit.as_secs_f32(),
                    class.as_str()
                ),
                other => format!("{host}:{port}: {other}"),
            };
            rec.push(Check::fail(tcp_name, Layer::Tcp, detail, cause, summary, remedy).took(t0));
            return failed(rec, false);
        }
    };
    if scheme != "https" {
        rec.push(Check::skip(
            tls_name,
            Layer::Tls,
            format!("{scheme}://{host}:{port} is plain HTTP: no TLS"),
        ));
        return HostProbe {
            failed: false,
            chain: Vec::new(),
        };
    }
    super::tls::check(stream, &host, which, ctx, budget, rec).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_family_without_a_route_is_named_and_the_fix_offers_the_other_endpoint_type() {
        let v6: Vec<SocketAddr> = vec!["[2600:1f14::1]:443".parse().expect("addr")];
        let v4: Vec<SocketAddr> = vec!["10.0.0.5:443".parse().expect("addr")];
        let both = [v6.clone(), v4.clone()].concat();
        let noroute = ConnectError::NoRoute("Network is unreachable".into());
        assert_eq!(family_without_route(&noroute, &v6), Some("IPv6"));
        assert_eq!(family_without_route(&noroute, &v4), Some("IPv4"));
        assert_eq!(family_without_route(&noroute, &both), None);
        assert_eq!(family_without_route(&ConnectError::Timeout, &v6), None);
        let (cause, summary, fix) = family_no_route(
            Which::Repositories,
            "IPv6",
            "d-1.codeartifact.us-west-2.on.aws:443",
        );
        assert_eq!(cause, "repositories-address-family-no-route");
        assert!(summary.contains("AAAA") && summary.contains("on.aws:443"));
        assert!(fix.contains("--endpoint-type ipv4") && fix.contains("ip -6 route"));
    }

    #[test]
    fn tcp_texts_name_the_real_port() {
        let (_, summary, fix) = tcp_remedy(
            Which::Api,
            &ConnectError::Timeout,
            AddrClass::Private,
            "us-west-2",
            "10.0.0.5:8443",
        );
        assert!(
            summary.contains("port 8443") && fix.contains("--port 8443"),
            "{summary} / {fix}"
        );
    }

    #[test]
    fn no_proxy_matches_hosts_and_suffixes() {
        assert!(bypassed("*", "x.example"));
        assert!(bypassed(
            "localhost,.amazonaws.com",
            "codeartifact.us-west-2.amazonaws.com"
        ));
        assert!(bypassed(
            "amazonaws.com",
            "codeartifact.us-west-2.amazonaws.com"
        ));
        assert!(bypassed("127.0.0.1", "127.0.0.1"));
        assert!(!bypassed(
            "example.com",
            "codeartifact.us-west-2.amazonaws.com"
        ));
        assert!(!bypassed("", "x"));
    }

    #[test]
    fn tcp_remedy_tells_missing_endpoint_from_security_group() {
        let (cause, _, fix) = tcp_remedy(
            Which::Api,
            &ConnectError::Timeout,
            AddrClass::Public,
            "us-west-2",
            "codeartifact.us-west-2.amazonaws.com",
        );
        assert_eq!(cause, "api-endpoint-unreachable");
        assert!(
            fix.contains("create-vpc-endpoint")
                && fix.contains("com.amazonaws.us-west-2.codeartifact.api"),
            "{fix}"
        );
        let (cause, _, fix) = tcp_remedy(
            Which::Repositories,
            &ConnectError::Timeout,
            AddrClass::Private,
            "eu-west-1",
            "h",
        );
        assert_eq!(cause, "repositories-endpoint-unreachable");
        assert!(
            fix.contains("authorize-security-group-ingress")
                && fix.contains("com.amazonaws.eu-west-1.codeartifact.repositories"),
            "{fix}"
        );
        let (cause, _, _) = tcp_remedy(
            Which::Api,
            &ConnectError::Refused,
            AddrClass::Private,
            "us-west-2",
            "h",
        );
        assert_eq!(cause, "api-connection-refused");
        let (cause, _, fix) = tcp_remedy(
            Which::Repositories,
            &ConnectError::Timeout,
            AddrClass::Public,
            "us-west-2",
            "h",
        );
        assert_eq!(cause, "repositories-endpoint-unreachable");
        assert!(
            fix.contains("com.amazonaws.us-west-2.codeartifact.repositories")
                && fix.contains("--private-dns-enabled"),
            "{fix}"
        );
    }

    #[test]
    fn url_parts_use_default_ports() {
        assert_eq!(
            parts("https://h.example/x/"),
            Some(("https".into(), "h.example".into(), 443))
        );
        assert_eq!(
            parts("http://127.0.0.1:8080/"),
            Some(("http".into(), "127.0.0.1".into(), 8080))
        );
    }
}
