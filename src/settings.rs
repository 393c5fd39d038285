//! Where each value comes from: arguments > environment > the ca-login config file > the AWS profile.
//! Everything here is checked before any network call.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a setting came from, shown by `diagnose()` and in dry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Argument,
    Env(&'static str),
    ConfigFile(PathBuf),
    /// Resolved by the AWS SDK's default chain (profile, instance metadata...).
    AwsDefaultChain,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Argument => f.write_str("argument"),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::ConfigFile(p) => write!(f, "ca-login config {}", p.display()),
            Source::AwsDefaultChain => f.write_str("AWS profile or instance metadata"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// What the caller gave (Python keyword arguments or CLI flags). `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub domain: Option<String>,
    pub repository: Option<String>,
    pub domain_owner: Option<String>,
    pub region: Option<String>,
    pub duration_seconds: Option<i64>,
    pub endpoint_url: Option<String>,
    pub repository_endpoint_url: Option<String>,
    pub profile: Option<String>,
    /// `ipv4` or `dualstack`: which repository endpoint GetRepositoryEndpoint returns.
    pub endpoint_type: Option<String>,
}

/// Resolved, validated settings. `region` may still be `None`: the AWS SDK's chain (profile, IMDS) then decides.
#[derive(Debug, Clone)]
pub struct Settings {
    pub domain: Sourced<String>,
    pub repository: Sourced<String>,
    pub domain_owner: Option<Sourced<String>>,
    pub region: Option<Sourced<String>>,
    pub duration_seconds: Option<i64>,
    pub endpoint_url: Option<Sourced<String>>,
    pub repository_endpoint_url: Option<Sourced<String>>,
    pub profile: Option<String>,
    /// `ipv4` or `dualstack` (GetRepositoryEndpoint's `endpointType`); `None`: the service's default (ipv4).
    pub endpoint_type: Option<Sourced<String>>,
}

/// Keys of the ca-login config file (`[default]` section, or `[profile NAME]` when a profile is chosen).
/// `tools` (`pip,uv`) is not a setting of [`Settings`]: it is the tool list a login uses when it is not told
/// (read by [`crate::caconfig::configured_tools`]).
pub const CONFIG_KEYS: [&str; 10] = [
    "domain",
    "domain_owner",
    "repository",
    "region",
    "duration_seconds",
    "endpoint_url",
    "repository_endpoint_url",
    "profile",
    "endpoint_type",
    "tools",
];

/// Another user's ca-login config (root acting with `--user`): always `HOME/.config/ca-login/config` in their
/// home; root's own `CA_LOGIN_CONFIG` names root's file, not theirs.
pub fn config_path_of_user(home: &Path) -> PathBuf {
    home.join(".config").join("ca-login").join("config")
}

/// The ca-login config file: `$CA_LOGIN_CONFIG`, else `<user config dir>/ca-login/config`.
pub fn config_path_for_home(home: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CA_LOGIN_CONFIG") {
        return Some(PathBuf::from(p));
    }
    match home {
        Some(h) => Some(h.join(".config").join("ca-login").join("config")),
        None => dirs::config_dir().map(|d| d.join("ca-login").join("config")),
    }
}

/// Read the ca-login config file: `None` when it doesn't exist.
pub fn read_config_file(
    path: &Path,
    profile: Option<&str>,
) -> Result<Option<Vec<(String, String)>>> {
    let Some(doc) = crate::pipconf::read_document(path)? else {
        return Ok(None);
    };
    let section = match profile {
        Some(p) if doc.sections().contains(&format!("profile {p}").as_str()) => {
            format!("profile {p}")
        }
        _ => "default".to_string(),
    };
    let mut out = Vec::new();
    for key in CONFIG_KEYS {
        if let Some(v) = doc.get(&section, key) {
            out.push((key.to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(out))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn pick(
    arg: Option<&String>,
    envs: &[&'static str],
    file: &Option<(PathBuf, Vec<(String, String)>)>,
    key: &str,
) -> Option<Sourced<String>> {
    if let Some(v) = arg.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        return Some(Sourced {
            value: v.to_string(),
            source: Source::Argument,
        });
    }
    for e in envs {
        if let Some(v) = env_nonempty(e) {
            return Some(Sourced {
                value: v,
                source: Source::Env(e),
            });
        }
    }
    if let Some((path, kv)) = file {
        if let Some((_, v)) = kv.iter().find(|(k, v)| k == key && !v.is_empty()) {
            return Some(Sourced {
                value: v.clone(),
                source: Source::ConfigFile(path.clone()),
            });
        }
    }
    None
}

impl Settings {
    /// Resolve from arguments, environment and the ca-login config file (at `config_path`, if any), and validate.
    pub fn resolve(args: &Args, config_path: Option<&Path>) -> Result<Settings> {
        let profile = args
            .profile
            .clone()
            .or_else(|| env_nonempty("AWS_PROFILE"))
            .filter(|p| !p.is_empty());
        let file = match config_path {
            Some(p) => read_config_file(p, profile.as_deref())?.map(|kv| (p.to_path_buf(), kv)),
            None => None,
        };
        let profile = profile.or_else(|| {
            file.as_ref().and_then(|(_, kv)| {
                kv.iter()
                    .find(|(k, _)| k == "profile")
                    .map(|(_, v)| v.clone())
            })
        });
        let domain = pick(args.domain.as_ref(), &["CA_LOGIN_DOMAIN"], &file, "domain").ok_or_else(|| {
            Error::invalid(
                "domain",
                "no CodeArtifact domain given",
                "pass domain=... (CLI: --domain), or set CA_LOGIN_DOMAIN, or `ca-login configure --domain ...`",
            )
        })?;
        let repository = pick(
            args.repository.as_ref(),
            &["CA_LOGIN_REPOSITORY"],
            &file,
            "repository",
        )
        .ok_or_else(|| {
            Error::invalid(
                "repository",
                "no CodeArtifact repository given",
                "pass repository=... (CLI: --repository), or set CA_LOGIN_REPOSITORY",
            )
        })?;
        let domain_owner = pick(
            args.domain_owner.as_ref(),
            &["CA_LOGIN_DOMAIN_OWNER"],
            &file,
            "domain_owner",
        );
        let region = pick(
            args.region.as_ref(),
            &["AWS_REGION", "AWS_DEFAULT_REGION"],
            &file,
            "region",
        );
        let endpoint_url = pick(
            args.endpoint_url.as_ref(),
            &["CA_LOGIN_ENDPOINT_URL"],
            &file,
            "endpoint_url",
        );
        let repository_endpoint_url = pick(
            args.repository_endpoint_url.as_ref(),
            &["CA_LOGIN_REPOSITORY_ENDPOINT_URL"],
            &file,
            "repository_endpoint_url",
        );
        let endpoint_type = pick(
            args.endpoint_type.as_ref(),
            &["CA_LOGIN_ENDPOINT_TYPE"],
            &file,
            "endpoint_type",
        );
        let duration_seconds = match args.duration_seconds {
            Some(d) => Some(d),
            None => match pick(
                None,
                &["CA_LOGIN_DURATION_SECONDS"],
                &file,
                "duration_seconds",
            ) {
                Some(s) => Some(s.value.parse::<i64>().map_err(|_| {
                    Error::invalid(
                        "duration_seconds",
                        format!(
                            "{:?} (from {}) is not a whole number of seconds",
                            s.value, s.source
                        ),
                        "use 0 (the role session's expiry) or 900..43200",
                    )
                })?),
                None => None,
            },
        };

        validate_domain(&domain.value)?;
        validate_repository(&repository.value)?;
        if let Some(o) = &domain_owner {
            validate_account(&o.value)?;
        }
        if let Some(r) = &region {
            validate_region(&r.value)?;
        }
        if let Some(d) = duration_seconds {
            validate_duration(d)?;
        }
        if let Some(e) = &endpoint_type {
            validate_endpoint_type(&e.value, &e.source)?;
        }
        if let Some(u) = &endpoint_url {
            validate_http_url("endpoint_url", &u.value)?;
        }
        if let Some(u) = &repository_endpoint_url {
            if u.value.contains("://") {
                validate_http_url("repository_endpoint_url", &u.value)?;
            } else {
                validate_host("repository_endpoint_url", &u.value)?;
            }
        }
        Ok(Settings {
            domain,
            repository,
            domain_owner,
            region,
            duration_seconds,
            endpoint_url,
            repository_endpoint_url,
            profile,
            endpoint_type,
        })
    }
}

/// GetRepositoryEndpoint's `endpointType`: `ipv4` or `dualstack` (as `aws codeartifact login --endpoint-type`).
pub fn validate_endpoint_type(e: &str, source: &Source) -> Result<()> {
    if e == "ipv4" || e == "dualstack" {
        Ok(())
    } else {
        Err(Error::invalid(
            "endpoint_type",
            format!("{e:?} (from {source}) is neither \"ipv4\" nor \"dualstack\""),
            "pass endpoint_type=\"dualstack\" (CLI: --endpoint-type dualstack) for an IPv6-capable repository endpoint, or leave it out for ipv4",
        ))
    }
}

pub fn validate_domain(d: &str) -> Result<()> {
    let b = d.as_bytes();
    let ok = (2..=50).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "domain",
            format!("{d:?} is not a CodeArtifact domain name"),
            "2 to 50 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'",
        ))
    }
}

pub fn validate_account(a: &str) -> Result<()> {
    if a.len() == 12 && a.bytes().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "domain_owner",
            format!("{a:?} is not an AWS account ID"),
            "the domain owner is the 12-digit account ID that owns the domain, e.g. 111122223333",
        ))
    }
}

pub fn validate_repository(r: &str) -> Result<()> {
    let b = r.as_bytes();
    let ok = (2..=100).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "repository",
            format!("{r:?} is not a CodeArtifact repository name"),
            "2 to 100 characters: letters, digits, '.', '_' and '-', starting with a letter or digit",
        ))
    }
}

/// Region names like `us-west-2`, `eu-central-1`, `us-gov-west-1`, `us-isob-east-1`.
pub fn validate_region(r: &str) -> Result<()> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "region",
            format!("{r:?} is not an AWS Region name"),
            "use the Region's code, e.g. us-west-2 or ap-northeast-2",
        ))
    }
}

pub fn validate_duration(d: i64) -> Result<()> {
    if d == 0 || (900..=43200).contains(&d) {
        Ok(())
    } else {
        Err(Error::invalid(
            "duration_seconds",
            format!("{d} is outside what CodeArtifact accepts"),
            "use 0 (the token lives as long as the role session) or 900..43200 seconds (15 minutes to 12 hours)",
        ))
    }
}

pub fn validate_http_url(field: &'static str, u: &str) -> Result<()> {
    match url::Url::parse(u) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
        {
            if parsed.password().is_some() || !parsed.username().is_empty() {
                return Err(Error::invalid(
                    field,
                    "the URL carries credentials",
                    "give the endpoint URL without user or password",
                ));
            }
            Ok(())
        }
        _ => Err(Error::invalid(
            field,
            format!("{:?} is not an http(s) URL", crate::secret::mask_url(u)),
            "use e.g. https://vpce-0123-abcd.api.codeartifact.us-west-2.vpce.amazonaws.com",
        )),
    }
}

fn validate_host(field: &'static str, h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{h:?} is neither a URL nor a host name"),
            "give the full URL or the bare name, e.g. vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com",
        ))
    }
}

/// The repository endpoint to use when the caller names one (a repositories endpoint without private DNS):
/// a full URL with a path is used as is; a bare `vpce-…` name or a URL without a path becomes
/// `https://NAME/pypi/d/DOMAIN-OWNER/REPO/`.
pub fn repository_endpoint_from(
    given: &str,
    domain: &str,
    owner: Option<&str>,
    repository: &str,
    format: &str,
) -> Result<String> {
    let base = if given.contains("://") {
        let parsed = url::Url::parse(given).map_err(|_| {
            Error::invalid(
                "repository_endpoint_url",
                "not a URL",
                "give https://NAME/...",
            )
        })?;
        if parsed.path() != "/" && !parsed.path().is_empty() {
            let mut s = given.to_string();
            if !s.ends_with('/') {
                s.push('/');
            }
            return Ok(s);
        }
        given.trim_end_matches('/').to_string()
    } else {
        format!("https://{}", given.trim_end_matches('/'))
    };
    let owner = owner.ok_or_else(|| {
        Error::invalid(
            "domain_owner",
            "needed to build the repository URL on a vpce name",
            "pass domain_owner=ACCOUNT (CLI: --domain-owner), the account that owns the domain",
        )
    })?;
    Ok(format!("{base}/{format}/d/{domain}-{owner}/{repository}/"))
}

/// pip's index URL: the repository endpoint with `aws:TOKEN@` and `simple/`.
pub fn index_url(repository_endpoint: &str, token: &str) -> Result<String> {
    let mut u = url::Url::parse(repository_endpoint).map_err(|_| {
        Error::invalid(
            "repository_endpoint",
            format!("{repository_endpoint:?} is not a URL"),
            "check repository_endpoint_url",
        )
    })?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    let p = format!("{}simple/", u.path());
    u.set_path(&p);
    u.set_username("aws")
        .and_then(|_| u.set_password(Some(token)))
        .map_err(|_| {
            Error::invalid(
                "repository_endpoint",
                "cannot carry credentials",
                "use an http(s) URL",
            )
        })?;
    Ok(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_type_is_ipv4_or_dualstack_and_an_error_names_its_source() {
        assert!(validate_endpoint_type("ipv4", &Source::Argument).is_ok());
        assert!(validate_endpoint_type("dualstack", &Source::Argument).is_ok());
        let e = validate_endpoint_type("ipv6", &Source::Env("CA_LOGIN_ENDPOINT_TYPE"))
            .expect_err("ipv6 is not an endpoint type")
            .to_string();
        assert!(
            e.contains("CA_LOGIN_ENDPOINT_TYPE") && e.contains("\nhint: "),
            "{e}"
        );
    }

    #[test]
    fn validation_accepts_aws_forms_and_rejects_others() {
        assert!(validate_domain("mydomain").is_ok());
        assert!(validate_domain("my-domain-2").is_ok());
        for bad in ["", "a", "My", "1abc", "abc-", "ab_c", &"a".repeat(51)] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
        assert!(validate_account("111122223333").is_ok());
        for bad in ["11112222333", "1111222233334", "11112222333a"] {
            assert!(validate_account(bad).is_err(), "{bad}");
        }
        assert!(validate_repository("isolatedsm").is_ok());
        assert!(validate_repository("My.Repo_1-x").is_ok());
        for bad in ["a", ".repo", "re po", "repo/x", &"r".repeat(101)] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
        for good in [
            "us-west-2",
            "ap-northeast-2",
            "us-gov-west-1",
            "us-isob-east-1",
            "cn-north-1",
        ] {
            assert!(validate_region(good).is_ok(), "{good}");
        }
        for bad in ["uswest2", "us-west", "US-WEST-2", "us-west-2a", "x-y-1"] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
        for good in [0, 900, 3600, 43200] {
            assert!(validate_duration(good).is_ok());
        }
        for bad in [-1, 1, 899, 43201] {
            assert!(validate_duration(bad).is_err());
        }
    }

    #[test]
    fn invalid_input_errors_carry_a_hint() {
        let e = validate_duration(10).unwrap_err().to_string();
        assert!(
            e.contains("duration_seconds") && e.contains("\nhint: "),
            "{e}"
        );
    }

    #[test]
    fn repository_endpoint_from_bare_vpce_name_builds_the_d_path() {
        let got = repository_endpoint_from(
            "vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com",
            "mydomain",
            Some("111122223333"),
            "isolatedsm",
            "pypi",
        )
        .unwrap();
        assert_eq!(
            got,
            "https://vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com/pypi/d/mydomain-111122223333/isolatedsm/"
        );
        let same = repository_endpoint_from(
            "https://vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com/",
            "mydomain",
            Some("111122223333"),
            "isolatedsm",
            "pypi",
        )
        .unwrap();
        assert_eq!(got, same);
        let full = repository_endpoint_from(
            "http://127.0.0.1:9/pypi/isolatedsm",
            "d1",
            None,
            "isolatedsm",
            "pypi",
        )
        .unwrap();
        assert_eq!(full, "http://127.0.0.1:9/pypi/isolatedsm/");
        assert!(repository_endpoint_from(
            "vpce-x.d.codeartifact.us-west-2.vpce.amazonaws.com",
            "d1",
            None,
            "r1",
            "pypi"
        )
        .is_err());
    }

    #[test]
    fn index_url_adds_credentials_and_simple_with_trailing_slash() {
        let u = index_url(
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/",
            "t.o-k_en",
        )
        .unwrap();
        assert_eq!(
            u,
            "https://aws:t.o-k_en@mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/simple/"
        );
        let u = index_url("http://127.0.0.1:8080/pypi/r", "a/b+c=").unwrap();
        assert!(
            u.starts_with("http://aws:a%2Fb+c%3D@127.0.0.1:8080/pypi/r/simple/"),
            "{}",
            crate::secret::mask_url(&u)
        );
    }
}
