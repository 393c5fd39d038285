//! Layer 5: TCP to each endpoint (connected, timed out, refused, no route), through the proxy pip would use,
//! and the host probe that chains DNS -> TCP -> TLS.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::config::Ctx;
use super::dns::{self, AddrClass};
use super::{Budget, Check, HostProbe, Layer, Recorder, Which};
use crate::pipconf::{self, PipContext};

pub use crate::http::{connect_addrs, tunnel, ConnectError};

/// Scheme, host and port of a URL.
pub fn parts(url: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default()?;
    Some((u.scheme().to_string(), host, port))
}

pub use crate::http::{bypassed, proxy_for};

/// pip's own `--proxy` option as its configuration sets it, with where: `PIP_PROXY`, else `proxy` in `[install]`,
/// else in `[global]`, of the files pip reads (pip's order, [`pipconf::config_files`]: a later file wins for the
/// same section; none with `PIP_CONFIG_FILE=/dev/null`). An empty value is ignored, as pip ignores it (it still
/// hides a lower file's value for that section). A file pip could not read is left to the pip layer to report.
pub fn pip_option_proxy(pctx: &PipContext) -> Option<(String, String)> {
    let env = pctx.env.iter().rev().find(|(k, _)| {
        k.strip_prefix("PIP_")
            .is_some_and(|rest| pipconf::normalize_key(rest) == "proxy")
    });
    if let Some((k, v)) = env.filter(|(_, v)| !v.trim().is_empty()) {
        return Some((crate::http::with_scheme(v), k.clone()));
    }
    let files = pipconf::config_files(pctx);
    ["install", "global"].iter().find_map(|section| {
        // The last file that sets it; only the files from there back are read.
        files
            .iter()
            .rev()
            .find_map(|(_, path)| {
                let doc = pipconf::read_document(path).ok()??;
                doc.get(section, "proxy").map(|v| (v, path))
            })
            .filter(|(v, _)| !v.trim().is_empty())
            .map(|(v, path)| {
                (
                    crate::http::with_scheme(&v),
                    format!("proxy in [{section}] of {}", path.display()),
                )
            })
    })
}

/// The proxy pip uses for `scheme://host`, and where it is set. pip's own `proxy` option ([`pip_option_proxy`])
/// wins over the environment's and `NO_PROXY` does not bypass it: pip passes it as every request's proxies
/// (`PipSession.request`, pip#9691), so requests' look at `HTTPS_PROXY`/`HTTP_PROXY` cannot replace it, and pip 24.1
/// turns the environment off altogether (`trust_env`, pip#10685); seen with pip 23.2.1 and 24.2. Without it, the
/// environment's (`HTTPS_PROXY` ...) unless `NO_PROXY` lists the host. pip's files are this process's (`HOME`,
/// `XDG_CONFIG_*`, `PIP_CONFIG_FILE`; not the `sys.prefix` site file: the probe does not know the interpreter).
pub fn proxy_for_pip(scheme: &str, host: &str) -> Option<(String, String)> {
    pip_option_proxy(&PipContext::from_process(None))
        .or_else(|| proxy_for(scheme, host).map(|(p, v)| (p, v.to_string())))
}

/// The proxy on the way to `which` endpoint: the AWS SDK's for the api host, pip's for the repositories host.
pub fn proxy_on_the_way(which: Which, scheme: &str, host: &str) -> Option<(String, String)> {
    match which {
        Which::Api => proxy_for(scheme, host).map(|(p, v)| (p, v.to_string())),
        Which::Repositories => proxy_for_pip(scheme, host),
    }
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
            let s = tunnel(&p, &var, host, port, limit).await?;
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

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
    if let Some(proxy) = crate::remedy::proxy_failure(err, host, region) {
        return proxy;
    }
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
    // A password in the proxy's URL (a pip.conf line, PIP_PROXY) is masked in every text; scrubbed too.
    if let Some(pw) = proxy
        .as_ref()
        .and_then(|(p, _)| url::Url::parse(p).ok())
        .and_then(|u| u.password().map(str::to_string))
    {
        rec.secret(&pw);
        rec.secret(&percent_decoded(&pw));
    }
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

    /// A context over a temporary home and global directory, with these `PIP_*` variables.
    fn pip_ctx(tmp: &std::path::Path, env: &[(&str, &str)]) -> PipContext {
        let mut c = PipContext::new(tmp.join("home"));
        c.global_dirs = Some(vec![tmp.join("etc")]);
        c.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c
    }

    fn write(path: &std::path::Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn pip_proxy_comes_from_pip_proxy_then_install_then_global_and_a_later_file_wins() {
        let tmp = tempfile::tempdir().expect("tmp");
        let global = tmp.path().join("etc/pip.conf");
        let user = tmp.path().join("home/.config/pip/pip.conf");
        write(&global, "[global]\nproxy = http://global.example:3128\n");
        let ctx = pip_ctx(tmp.path(), &[]);
        assert_eq!(
            pip_option_proxy(&ctx),
            Some((
                "http://global.example:3128".into(),
                format!("proxy in [global] of {}", global.display())
            ))
        );
        // A later file's [global] wins; an empty value there hides the lower file's and is ignored.
        write(&user, "[global]\nproxy = user.example:8080\n");
        assert_eq!(
            pip_option_proxy(&ctx).map(|p| p.0),
            Some("http://user.example:8080".into()),
            "a value without a scheme is http://, as requests takes it"
        );
        write(&user, "[global]\nproxy =\n");
        assert_eq!(pip_option_proxy(&ctx), None);
        // [install] in any file wins over [global] in a later one.
        write(&global, "[install]\nProxy = http://install.example:1\n");
        write(&user, "[global]\nproxy = http://user.example:8080\n");
        assert_eq!(
            pip_option_proxy(&ctx),
            Some((
                "http://install.example:1".into(),
                format!("proxy in [install] of {}", global.display())
            ))
        );
        // PIP_PROXY wins over the files; an empty one is ignored.
        let env = pip_ctx(tmp.path(), &[("PIP_PROXY", "http://env.example:2")]);
        assert_eq!(
            pip_option_proxy(&env),
            Some(("http://env.example:2".into(), "PIP_PROXY".into()))
        );
        let empty = pip_ctx(tmp.path(), &[("PIP_PROXY", "")]);
        assert_eq!(
            pip_option_proxy(&empty).map(|p| p.0),
            Some("http://install.example:1".into())
        );
    }

    #[test]
    fn pip_config_file_devnull_turns_the_files_proxy_off_and_an_existing_one_replaces_the_user_files(
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        write(
            &tmp.path().join("home/.config/pip/pip.conf"),
            "[global]\nproxy = http://user.example:8080\n",
        );
        let mut ctx = pip_ctx(tmp.path(), &[]);
        ctx.pip_config_file = Some("/dev/null".into());
        assert_eq!(pip_option_proxy(&ctx), None);
        let env_file = tmp.path().join("env.conf");
        write(
            &env_file,
            "[global]\nindex-url = https://example.invalid/simple\n",
        );
        ctx.pip_config_file = Some(env_file);
        assert_eq!(pip_option_proxy(&ctx), None, "the user files are not read");
    }

    #[test]
    fn a_fifo_or_a_device_as_pip_conf_is_skipped_at_once_and_a_lower_file_still_counts() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(
            &tmp.path().join("etc/pip.conf"),
            "[global]\nproxy = http://global.example:3128\n",
        );
        let user = tmp.path().join("home/.config/pip/pip.conf");
        std::fs::create_dir_all(user.parent().expect("parent")).expect("mkdir");
        let made = std::process::Command::new("mkfifo")
            .arg(&user)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let t0 = std::time::Instant::now();
        let mut ctx = pip_ctx(tmp.path(), &[]);
        assert_eq!(
            pip_option_proxy(&ctx).map(|p| p.0),
            Some("http://global.example:3128".into())
        );
        ctx.pip_config_file = Some("/dev/zero".into());
        assert_eq!(
            pip_option_proxy(&ctx).map(|p| p.0),
            Some("http://global.example:3128".into())
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_pip_conf_proxy_failure_names_the_file_and_the_fix_removes_the_line_not_no_proxy() {
        let var = "proxy in [global] of /home/u/.config/pip/pip.conf";
        for err in [
            ConnectError::ProxyUnreachable {
                proxy: "http://u:****@127.0.0.1:9".into(),
                var: var.into(),
                why: "connection refused".into(),
            },
            ConnectError::ProxyRefused {
                proxy: "http://127.0.0.1:9".into(),
                var: var.into(),
                status: 403,
            },
            ConnectError::ProxyRefused {
                proxy: "http://127.0.0.1:9".into(),
                var: var.into(),
                status: 502,
            },
        ] {
            let (_, summary, fix) =
                crate::remedy::proxy_failure(&err, "h.example:443", "us-west-2")
                    .expect("a proxy failure");
            assert!(summary.contains(var), "{summary}");
            assert!(
                fix.contains(
                    "remove the `proxy = ...` line from [global] of /home/u/.config/pip/pip.conf"
                ),
                "{fix}"
            );
            assert!(!fix.contains("export NO_PROXY"), "{fix}");
        }
        let env = ConnectError::ProxyRefused {
            proxy: "http://127.0.0.1:9".into(),
            var: "HTTPS_PROXY".into(),
            status: 403,
        };
        let (_, _, fix) = crate::remedy::proxy_failure(&env, "h.example:443", "us-west-2")
            .expect("a proxy failure");
        assert!(
            fix.contains("export NO_PROXY=\"$NO_PROXY,h.example\""),
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
