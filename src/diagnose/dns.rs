//! Layer 4: DNS for the api and repositories hosts: addresses, private or public, NXDOMAIN, vpce names.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::{Budget, Check, Layer, Recorder, Which};

/// What kind of address DNS answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7: a VPC endpoint's interface (or another private network).
    Private,
    Loopback,
    LinkLocal,
    Public,
}

impl AddrClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Private => "private",
            AddrClass::Loopback => "loopback",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Public => "public",
        }
    }
}

pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                AddrClass::Loopback
            } else if v4.is_link_local() {
                AddrClass::LinkLocal
            } else if o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..=127).contains(&o[1]))
            {
                AddrClass::Private
            } else {
                AddrClass::Public
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if v6.is_loopback() {
                AddrClass::Loopback
            } else if (s[0] & 0xffc0) == 0xfe80 {
                AddrClass::LinkLocal
            } else if (s[0] & 0xfe00) == 0xfc00 {
                AddrClass::Private
            } else {
                AddrClass::Public
            }
        }
    }
}

/// The class of a set of answers: public when any answer is public (an isolated subnet cannot reach it).
pub fn overall(addrs: &[SocketAddr]) -> AddrClass {
    let classes: Vec<AddrClass> = addrs.iter().map(|a| classify(a.ip())).collect();
    if classes.contains(&AddrClass::Public) {
        AddrClass::Public
    } else if classes.contains(&AddrClass::Private) {
        AddrClass::Private
    } else {
        classes.first().copied().unwrap_or(AddrClass::Public)
    }
}

/// A VPC endpoint-specific name (`vpce-….vpce.amazonaws.com`): the endpoint's private DNS is off.
pub fn is_vpce_name(host: &str) -> bool {
    host.starts_with("vpce-") && host.ends_with(".vpce.amazonaws.com")
}

/// The interface endpoint service for this host.
pub fn service_name(which: Which, region: &str) -> String {
    format!("com.amazonaws.{region}.codeartifact.{}", which.label())
}

/// Resolve `host:port` (bounded: getaddrinfo may block in its thread, the time-out still returns).
pub async fn resolve(
    host: &str,
    port: u16,
    which: Which,
    region: &str,
    budget: &Budget,
    rec: &Recorder,
) -> Option<Vec<SocketAddr>> {
    let t0 = Instant::now();
    let name = which.name("dns-api", "dns-repositories");
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        rec.push(
            Check::ok(
                name,
                Layer::Dns,
                format!(
                    "{host} is an address ({}): no lookup",
                    classify(ip).as_str()
                ),
            )
            .took(t0),
        );
        return Some(vec![SocketAddr::new(ip, port)]);
    }
    let got = budget
        .run(tokio::net::lookup_host((host.to_string(), port)))
        .await;
    let service = service_name(which, region);
    let (cause, private_dns_fix) = match which {
        Which::Api => ("api-dns-failed", crate::remedy::unreachable_api(crate::error::NetFailure::Dns, region, host)),
        Which::Repositories => (
            "repositories-dns-failed",
            format!(
                "{host} does not resolve here: turn on private DNS for the {service} endpoint (aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id VPCE_ID --private-dns-enabled; find VPCE_ID with aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values={service}), or pass repository_endpoint_url=\"vpce-….d.codeartifact.{region}.vpce.amazonaws.com\" (CLI: --repository-endpoint-url)"
            ),
        ),
    };
    let check = match got {
        Some(Ok(it)) => {
            let mut addrs: Vec<SocketAddr> = it.collect();
            addrs.dedup();
            if addrs.is_empty() {
                Check::fail(name, Layer::Dns, format!("{host}: no addresses"), cause, format!("{host} has no address records."), private_dns_fix)
            } else {
                let class = overall(&addrs);
                let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                let meaning = match class {
                    AddrClass::Public => format!(
                        "public: no {service} endpoint with private DNS answers here; an isolated subnet cannot reach these"
                    ),
                    AddrClass::Private => "private: a VPC endpoint (or another private network) answers".to_string(),
                    AddrClass::Loopback => "loopback".into(),
                    AddrClass::LinkLocal => "link-local".into(),
                };
                let vpce = if is_vpce_name(host) { "; an endpoint-specific vpce name (private DNS off)" } else { "" };
                let (a, aaaa) = (
                    addrs.iter().filter(|x| x.is_ipv4()).count(),
                    addrs.iter().filter(|x| x.is_ipv6()).count(),
                );
                let c = Check::ok(
                    name,
                    Layer::Dns,
                    format!("{host} -> {} (A: {a}, AAAA: {aaaa}; {meaning}{vpce})", list.join(", ")),
                );
                rec.push(c.took(t0));
                return Some(addrs);
            }
        }
        Some(Err(e)) => {
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            let what = if lower.contains("temporary failure") || lower.contains("try again") {
                "the DNS server did not answer (temporary failure)"
            } else {
                "no such name (NXDOMAIN)"
            };
            Check::fail(name, Layer::Dns, format!("{host}: {what} ({text})"), cause, format!("{host} does not resolve: {what}."), private_dns_fix)
        }
        None => Check::fail(
            name,
            Layer::Dns,
            format!("{host}: no DNS answer within {:.1} s", budget.timeout.as_secs_f32()),
            cause,
            format!("The DNS lookup of {host} did not finish in time."),
            format!("check the VPC's DNS resolver (enableDnsSupport) and /etc/resolv.conf; {private_dns_fix}"),
        ),
    };
    rec.push(check.took(t0));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_private_ranges_and_public() {
        for (ip, class) in [
            ("10.0.1.23", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("172.32.0.1", AddrClass::Public),
            ("192.168.1.1", AddrClass::Private),
            ("100.64.0.1", AddrClass::Private),
            ("100.127.255.255", AddrClass::Private),
            ("100.128.0.1", AddrClass::Public),
            ("52.94.1.2", AddrClass::Public),
            ("127.0.0.1", AddrClass::Loopback),
            ("169.254.169.254", AddrClass::LinkLocal),
            ("::1", AddrClass::Loopback),
            ("fd00::1", AddrClass::Private),
            ("fe80::1", AddrClass::LinkLocal),
            ("2600:1f18::1", AddrClass::Public),
            ("::ffff:10.1.2.3", AddrClass::Private),
        ] {
            assert_eq!(classify(ip.parse().expect("address")), class, "{ip}");
        }
    }

    #[test]
    fn any_public_answer_makes_the_set_public() {
        let a: Vec<SocketAddr> = vec![
            "10.0.0.1:443".parse().expect("address"),
            "52.1.1.1:443".parse().expect("address"),
        ];
        assert_eq!(overall(&a), AddrClass::Public);
        let b: Vec<SocketAddr> = vec!["10.0.0.1:443".parse().expect("address")];
        assert_eq!(overall(&b), AddrClass::Private);
    }

    #[test]
    fn vpce_names_are_recognised() {
        assert!(is_vpce_name(
            "vpce-0123-abcd.api.codeartifact.us-west-2.vpce.amazonaws.com"
        ));
        assert!(!is_vpce_name("codeartifact.us-west-2.amazonaws.com"));
        assert_eq!(
            service_name(Which::Repositories, "us-west-2"),
            "com.amazonaws.us-west-2.codeartifact.repositories"
        );
    }
}
