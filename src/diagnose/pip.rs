//! Layer 10: pip itself. Which config file wins for this interpreter, whether its index-url points at this
//! repository, whether the token recorded for it has expired, `PIP_*` overrides, the proxy pip would use, and
//! whether pip's own trust (`cert`, REQUESTS_CA_BUNDLE, certifi) accepts the repositories endpoint's certificate.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::Ctx;
use super::{net, repo, tls, Budget, Check, Layer, Outcome, Recorder, Status};
use crate::login::{self, Target};
use crate::pipconf::{self, PipContext, Source};
use crate::secret::{mask_url, Secret};
use crate::settings::Settings;
use crate::state;

/// `scheme://host:port/path/` of a URL, lowercase host, no credentials, with a trailing slash.
fn normalized(u: &str) -> Option<String> {
    let p = url::Url::parse(u).ok()?;
    let mut path = p.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    Some(format!(
        "{}://{}:{}{}",
        p.scheme(),
        p.host_str()?.to_ascii_lowercase(),
        p.port_or_known_default()?,
        path
    ))
}

/// Does pip's index URL point at this repository's simple index?
pub fn points_at(index_url: &str, endpoint: Option<&str>, settings: &Settings) -> bool {
    let Some(got) = normalized(index_url) else {
        return false;
    };
    if let Some(ep) = endpoint {
        return normalized(&repo::simple_url(ep)).is_some_and(|want| want == got);
    }
    let repo = &settings.repository.value;
    let domain = &settings.domain.value;
    got.contains(".codeartifact.")
        && (got.ends_with(&format!("/pypi/{repo}/simple/"))
            || got.contains(&format!("/pypi/d/{domain}-"))
                && got.ends_with(&format!("/{repo}/simple/")))
}

fn password_of(u: &str) -> Option<String> {
    let p = url::Url::parse(u).ok()?;
    p.password().map(|s| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    })
}

fn where_(src: &Source) -> String {
    login::describe_source(src)
}

fn login_fix(settings: &Settings, region: &str) -> String {
    let owner = settings.domain_owner.as_ref().map(|o| o.value.clone());
    let cli_owner = owner
        .as_ref()
        .map(|o| format!(" --domain-owner {o}"))
        .unwrap_or_default();
    let py_owner = owner
        .as_ref()
        .map(|o| format!(", domain_owner=\"{o}\""))
        .unwrap_or_default();
    format!(
        "ca-login login --domain {d}{cli_owner} --repository {r} --region {region} (in a notebook: ca_login.login(\"{d}\", \"{r}\"{py_owner}, region=\"{region}\"))",
        d = settings.domain.value,
        r = settings.repository.value
    )
}

fn unset_fix(src: &Source, settings: &Settings, region: &str) -> String {
    match src {
        Source::EnvVar { name } => format!(
            "unset {name} (in a notebook: %env {name}= ; or remove it from the kernel's environment), or set it to this repository by logging in: {}",
            login_fix(settings, region)
        ),
        Source::File { path, section, .. } => format!(
            "remove index-url from [{section}] in {p}, or log in writing that file: {} --config-file {p}",
            login_fix(settings, region),
            p = path.display()
        ),
        Source::Default => login_fix(settings, region),
    }
}

/// pip's `cert` setting: PIP_CERT, then `[install]`/`[global]` `cert` in its files; with where it came from.
pub fn pip_cert(pctx: &PipContext) -> Option<(String, String)> {
    for (k, v) in &pctx.env {
        if k == "PIP_CERT" && !v.is_empty() {
            return Some((v.clone(), "environment variable PIP_CERT".into()));
        }
    }
    let mut found: Option<(String, String)> = None;
    for section in ["global", "install"] {
        for (_, path) in pipconf::config_files(pctx) {
            if let Ok(Some(doc)) = pipconf::read_document(&path) {
                if let Some(v) = doc.get(section, "cert").filter(|v| !v.trim().is_empty()) {
                    found = Some((
                        v.trim().to_string(),
                        format!("[{section}] cert in {}", path.display()),
                    ));
                }
            }
        }
    }
    found.or_else(|| {
        ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
            .iter()
            .find_map(|n| {
                std::env::var(n)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (v, format!("environment variable {n}")))
            })
    })
}

/// pip's bundled certifi under `sys_prefix`.
pub fn certifi_bundle(sys_prefix: &Path) -> Option<PathBuf> {
    let lib = sys_prefix.join("lib");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        })
        .map(|d| d.join("site-packages/pip/_vendor/certifi/cacert.pem"))
        .find(|p| p.is_file())
}

pub async fn run(
    settings: &Settings,
    target: &Target,
    ctx: &Ctx,
    outcome: &Outcome,
    budget: &Budget,
    rec: &Recorder,
) {
    let t0 = Instant::now();
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    let pctx = login::pip_context(target);
    let eff = match pipconf::effective_index_url(&pctx, "install") {
        Ok(e) => e,
        Err(e) => {
            rec.push(Check::from_error("pip-index-url", Layer::Pip, &e).took(t0));
            rec.push(Check::skip(
                "pip-token",
                Layer::Pip,
                "pip's configuration cannot be read",
            ));
            environment(&pctx, outcome, rec);
            cert(&pctx, target, outcome, rec);
            return;
        }
    };
    let st = state::load(&login::state_path(target)).unwrap_or_default();
    let entry = match &eff.source {
        Source::File { path, .. } => st.get(path).cloned(),
        _ => None,
    };
    // A login in extra-index mode: its record is for the file pip's extra-index-url list comes from.
    let extra_entry = match &eff.extra_source {
        Source::File { path, .. } => st.get(path).filter(|e| e.extra_index).cloned(),
        _ => None,
    };
    let endpoint = outcome.repository_endpoint.clone().or_else(|| {
        entry
            .iter()
            .chain(&extra_entry)
            .find(|e| {
                e.domain == settings.domain.value && e.repository == settings.repository.value
            })
            .map(|e| e.repository_endpoint.clone())
    });
    // The repository found only as an extra index: pip asks it besides its index-url.
    let extra = eff
        .extra_index_urls
        .iter()
        .find(|u| points_at(u, endpoint.as_deref(), settings))
        .filter(|_| {
            !eff.no_index
                && !eff
                    .index_url
                    .as_deref()
                    .is_some_and(|u| points_at(u, endpoint.as_deref(), settings))
        })
        .cloned();
    let (entry, index_url) = match &extra {
        Some(x) => (extra_entry, Some(x.clone())),
        None => (entry, eff.index_url.clone()),
    };
    // An extra-index login of ours whose list pip does not use (PIP_EXTRA_INDEX_URL, an [install] list or a
    // higher file's list wins: pip takes one list, not their union).
    let lost_extra = st.entries().find(|e| {
        e.extra_index
            && e.domain == settings.domain.value
            && e.repository == settings.repository.value
            && match &eff.extra_source {
                Source::File { path, .. } => *path != e.config_file,
                Source::EnvVar { .. } => true,
                Source::Default => false,
            }
    });
    let index_is_ours = eff
        .index_url
        .as_deref()
        .is_some_and(|u| points_at(u, endpoint.as_deref(), settings));
    let mut ours = false;
    let check = if let Some(x) = &extra {
        ours = true;
        Check::ok(
            "pip-index-url",
            Layer::Pip,
            format!(
                "{} found as an extra index (extra-index-url from {}), besides index-url {}; note: two indexes allow \
                 dependency confusion (pip installs the highest version found on either): the default mode (ca-login \
                 login without --extra-index-url) or a CodeArtifact upstream (an external connection to public:pypi) \
                 avoids it",
                mask_url(x),
                where_(&eff.extra_source),
                eff.index_url.as_deref().map_or("https://pypi.org/simple (pip's default)".into(), mask_url)
            ),
        )
    } else if eff.no_index {
        Check::fail(
            "pip-index-url",
            Layer::Pip,
            format!("no-index is set by {}", where_(&eff.no_index_source)),
            "pip-no-index",
            format!(
                "pip will not use any index: no-index is set by {}.",
                where_(&eff.no_index_source)
            ),
            unset_fix(&eff.no_index_source, settings, &region).replace("index-url", "no-index"),
        )
    } else if let Some(e) = lost_extra.filter(|_| !index_is_ours) {
        Check::fail(
            "pip-index-url",
            Layer::Pip,
            format!(
                "extra-index-url from {} (overrides the list in {} that holds this repository)",
                where_(&eff.extra_source),
                e.config_file.display()
            ),
            "pip-config-overridden",
            format!(
                "pip takes its extra-index-url list from {}, not from {}: it does not ask this repository.",
                where_(&eff.extra_source),
                e.config_file.display()
            ),
            unset_fix(&eff.extra_source, settings, &region).replace("index-url", "extra-index-url"),
        )
    } else {
        match &eff.index_url {
            None => Check::fail(
                "pip-index-url",
                Layer::Pip,
                format!("no index-url in any of pip's files for {} ({} read): pip uses https://pypi.org/simple", target.sys_prefix.as_deref().map_or("this interpreter".into(), |p| p.display().to_string()), eff.files_read.len()),
                "pip-not-configured",
                "pip is not configured for CodeArtifact: it would install from https://pypi.org/simple.",
                login_fix(settings, &region),
            ),
            Some(u) if points_at(u, endpoint.as_deref(), settings) => {
                ours = true;
                Check::ok("pip-index-url", Layer::Pip, format!("{} from {}", mask_url(u), where_(&eff.source)))
            }
            Some(u) => {
                let ours_elsewhere = st.entries().find(|e| {
                    e.domain == settings.domain.value
                        && e.repository == settings.repository.value
                        && eff.shadowed.iter().any(|s| matches!(s, Source::File { path, .. } if *path == e.config_file))
                });
                let env = matches!(eff.source, Source::EnvVar { .. });
                if env || ours_elsewhere.is_some() {
                    let lost = ours_elsewhere.map(|e| format!(" (overrides {})", e.config_file.display())).unwrap_or_default();
                    Check::fail(
                        "pip-index-url",
                        Layer::Pip,
                        format!("{} from {}{lost}", mask_url(u), where_(&eff.source)),
                        "pip-config-overridden",
                        format!("pip uses {} from {}, not this repository.", mask_url(u), where_(&eff.source)),
                        unset_fix(&eff.source, settings, &region),
                    )
                } else {
                    Check::fail(
                        "pip-index-url",
                        Layer::Pip,
                        format!("{} from {}: not this repository", mask_url(u), where_(&eff.source)),
                        "pip-not-configured",
                        format!("pip's index-url ({}) points at another index, not {}/{}.", mask_url(u), settings.domain.value, settings.repository.value),
                        unset_fix(&eff.source, settings, &region),
                    )
                }
            }
        }
    };
    rec.push(check.took(t0));
    let t1 = Instant::now();
    let token_check = match (&index_url, ours) {
        (Some(u), true) => {
            let pw = password_of(u);
            if let Some(p) = &pw {
                rec.secret(p);
            }
            let now = login::now_epoch();
            let rejected_with = match (&entry, &pw) {
                (Some(e), Some(p)) if !e.is_expired(now) => {
                    rejected(u, p, ctx, outcome, budget).await
                }
                _ => None,
            };
            match (&entry, pw) {
                (_, None) => Check::warn("pip-token", Layer::Pip, "the index-url carries no token: pip will get HTTP 401 unless .netrc or a keyring supplies one"),
                (Some(e), _) if e.is_expired(now) => Check::fail(
                    "pip-token",
                    Layer::Pip,
                    format!("the token in {} expired at {}", e.config_file.display(), login::rfc3339(e.expires_at)),
                    "pip-token-expired",
                    format!("The token pip uses expired at {}: pip will get HTTP 401 (and prompt for a user name).", login::rfc3339(e.expires_at)),
                    login_fix(settings, &region),
                ),
                (Some(_), Some(_)) if rejected_with.is_some() => {
                    rejected_check(rejected_with.unwrap_or(401), settings, &region)
                }
                (Some(e), _) if e.expires_in(now) < 3600 => Check::warn(
                    "pip-token",
                    Layer::Pip,
                    format!("the token expires at {} (in {} min); log in again soon", login::rfc3339(e.expires_at), e.expires_in(now) / 60),
                ),
                (Some(e), _) => Check::ok(
                    "pip-token",
                    Layer::Pip,
                    format!("the token expires at {} (in {} h {} min)", login::rfc3339(e.expires_at), e.expires_in(now) / 3600, (e.expires_in(now) % 3600) / 60),
                ),
                (None, Some(p)) => live_token(u, &p, settings, ctx, outcome, budget, &region).await,
            }
        }
        (Some(_), false) => Check::skip(
            "pip-token",
            Layer::Pip,
            "pip's index-url is not this repository",
        ),
        (None, _) => Check::skip("pip-token", Layer::Pip, "pip has no index-url"),
    };
    rec.push(token_check.took(t1));
    environment(&pctx, outcome, rec);
    cert(&pctx, target, outcome, rec);
}

/// No expiry record (another tool wrote the file): ask the repository whether the token still works.
async fn live_token(
    index_url: &str,
    token: &str,
    settings: &Settings,
    ctx: &Ctx,
    outcome: &Outcome,
    budget: &Budget,
    region: &str,
) -> Check {
    if outcome.repo_probe.as_ref().is_none_or(|p| p.failed) || budget.exhausted() {
        return Check::skip("pip-token", Layer::Pip, "no ca-login record of this token's expiry, and the repository is not reachable to test it");
    }
    let mut u = match url::Url::parse(index_url) {
        Ok(u) => u,
        Err(_) => return Check::skip("pip-token", Layer::Pip, "the index-url is not a URL"),
    };
    let _ = u.set_username("");
    let _ = u.set_password(None);
    match repo::get_status(
        u.as_str(),
        &Secret::new(token),
        ctx.ca_bundle.as_deref(),
        budget.bound(),
    )
    .await
    {
        Ok(s) if (200..300).contains(&s) => Check::ok(
            "pip-token",
            Layer::Pip,
            format!("no ca-login record of its expiry; the repository accepts it (HTTP {s})"),
        ),
        Ok(s @ (401 | 403 | 404))
            if rejected(index_url, token, ctx, outcome, budget)
                .await
                .is_some() =>
        {
            rejected_check(s, settings, region)
        }
        Ok(401) => Check::fail(
            "pip-token",
            Layer::Pip,
            "no ca-login record of its expiry; the repository rejects it (HTTP 401)",
            "pip-token-expired",
            "The token in pip's index-url is expired or invalid: pip will get HTTP 401.",
            login_fix(settings, region),
        ),
        Ok(s) => Check::warn(
            "pip-token",
            Layer::Pip,
            format!("no ca-login record of its expiry; the repository answered HTTP {s}"),
        ),
        Err(e) => Check::warn(
            "pip-token",
            Layer::Pip,
            format!("no ca-login record of its expiry; testing it failed ({e:?})"),
        ),
    }
}

/// pip's index URL without its credentials.
fn bare(index_url: &str) -> Option<String> {
    let mut u = url::Url::parse(index_url).ok()?;
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Some(u.to_string())
}

/// Does the repository answer 401, 403 or 404 to the token pip holds, while a fresh token from
/// GetAuthorizationToken reads the same path? Then pip's token is rejected (CodeArtifact can answer 404, not
/// 401, to a bad or expired token: uv#11899). The status pip's token got.
async fn rejected(
    index_url: &str,
    pip_token: &str,
    ctx: &Ctx,
    outcome: &Outcome,
    budget: &Budget,
) -> Option<u16> {
    let fresh = outcome.token.as_ref()?;
    if outcome.repo_probe.as_ref().is_none_or(|p| p.failed)
        || budget.exhausted()
        || fresh.expose() == pip_token
    {
        return None;
    }
    let url = bare(index_url)?;
    let ca = ctx.ca_bundle.as_deref();
    let with_pip = repo::get_status(&url, &Secret::new(pip_token), ca, budget.bound())
        .await
        .ok()?;
    if !matches!(with_pip, 401 | 403 | 404) {
        return None;
    }
    let with_fresh = repo::get_status(&url, fresh, ca, budget.bound())
        .await
        .ok()?;
    (200..300).contains(&with_fresh).then_some(with_pip)
}

fn rejected_check(status: u16, settings: &Settings, region: &str) -> Check {
    Check::fail(
        "pip-token",
        Layer::Pip,
        format!("the repository answers HTTP {status} to pip's token and reads the same path with a fresh token"),
        "pip-token-rejected",
        format!("The repository rejects the token in pip's index-url (HTTP {status}); a token issued now works: the recorded one was revoked, expired early or is from another domain."),
        login_fix(settings, region),
    )
}

const PIP_VARS: [&str; 9] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_NO_INDEX",
    "PIP_CONFIG_FILE",
    "PIP_CERT",
    "PIP_PROXY",
    "PIP_TRUSTED_HOST",
    "PIP_ISOLATED_MODE",
    "PIP_FIND_LINKS",
];

fn environment(pctx: &PipContext, outcome: &Outcome, rec: &Recorder) {
    let t0 = Instant::now();
    let mut notes = Vec::new();
    let mut warn = Vec::new();
    for (k, v) in &pctx.env {
        if PIP_VARS.contains(&k.as_str()) {
            notes.push(format!("{k}={}", mask_url(v)));
            if k == "PIP_EXTRA_INDEX_URL" && !v.is_empty() {
                warn.push(format!("PIP_EXTRA_INDEX_URL adds {}: pip also asks it for every package (it hangs if unreachable)", mask_url(v)));
            }
        }
    }
    let repo_host = outcome.repository_endpoint.as_deref().and_then(net::parts);
    // pip's own proxy (PIP_PROXY, else `proxy =` in its files) wins over the environment's, NO_PROXY or not:
    // the same choice the repositories hop makes (net::proxy_for_pip).
    match (&repo_host, net::pip_option_proxy(pctx)) {
        (Some((_, host, _)), Some((p, from))) => warn.push(format!(
            "pip sends requests for {host} through {} ({from}); NO_PROXY does not bypass it",
            mask_url(&p)
        )),
        (Some((scheme, host, _)), None) => {
            if let Some((p, var)) = net::proxy_for(scheme, host) {
                warn.push(format!("pip sends requests for {host} through {} ({var}); add {host} to NO_PROXY if the VPC endpoint is reachable directly", mask_url(&p)));
            } else {
                notes.push(format!("no proxy for {host}"));
            }
        }
        _ => {}
    }
    let c = if warn.is_empty() {
        Check::ok(
            "pip-environment",
            Layer::Pip,
            if notes.is_empty() {
                "no PIP_* variables that change the index; no proxy".into()
            } else {
                notes.join("; ")
            },
        )
    } else {
        notes.extend(warn);
        Check::warn("pip-environment", Layer::Pip, notes.join("; "))
    };
    rec.push(c.took(t0));
}

fn cert(pctx: &PipContext, target: &Target, outcome: &Outcome, rec: &Recorder) {
    let t0 = Instant::now();
    const NAME: &str = "pip-cert";
    let host = outcome.repository_endpoint.as_deref().and_then(net::parts);
    let chain = outcome
        .repo_probe
        .as_ref()
        .map(|p| p.chain.clone())
        .unwrap_or_default();
    let Some((scheme, host, _)) = host else {
        rec.push(Check::skip(
            NAME,
            Layer::Pip,
            "the repository endpoint is unknown",
        ));
        return;
    };
    if scheme != "https" {
        rec.push(Check::skip(NAME, Layer::Pip, "plain HTTP: no certificate"));
        return;
    }
    if chain.is_empty() {
        rec.push(Check::skip(
            NAME,
            Layer::Pip,
            format!("no certificate was seen from {host}"),
        ));
        return;
    }
    let (pem, from) = match pip_cert(pctx) {
        Some((p, from)) => (PathBuf::from(p), from),
        None => {
            match target.sys_prefix.as_deref().and_then(certifi_bundle) {
                Some(p) => (p, "pip's bundled certifi".into()),
                None => {
                    rec.push(Check::skip(NAME, Layer::Pip, "pip's trust store is unknown (no cert setting, no pip found under sys.prefix)"));
                    return;
                }
            }
        }
    };
    let shown = pem.display().to_string();
    let c = match tls::trusts(&shown, &chain, &host) {
        Ok(true) => Check::ok(
            NAME,
            Layer::Pip,
            format!("pip's trust ({shown}, from {from}) accepts {host}'s certificate"),
        ),
        Ok(false) => {
            let bundle = std::env::var("AWS_CA_BUNDLE")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "/path/to/ca.pem".into());
            Check::fail(
                NAME,
                Layer::Pip,
                format!("pip's trust ({shown}, from {from}) does not accept {host}'s certificate"),
                "pip-cert-untrusted",
                format!("pip would reject {host}'s certificate: its trust store {shown} (from {from}) lacks the issuing CA."),
                format!("point pip at a bundle with that CA: pip config set global.cert {bundle} (or export PIP_CERT={bundle})"),
            )
        }
        Err(e) => Check::new(
            NAME,
            Layer::Pip,
            Status::Warn,
            format!("cannot read pip's trust store {shown} (from {from}): {e}"),
        ),
    };
    rec.push(c.took(t0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Source as S, Sourced};

    fn settings() -> Settings {
        let s = |v: &str| Sourced {
            value: v.to_string(),
            source: S::Argument,
        };
        Settings {
            domain: s("mydomain"),
            repository: s("isolatedsm"),
            domain_owner: Some(s("111122223333")),
            region: None,
            duration_seconds: None,
            endpoint_url: None,
            repository_endpoint_url: None,
            profile: None,
            endpoint_type: None,
        }
    }

    #[test]
    fn points_at_compares_with_the_endpoint_ignoring_credentials() {
        let ep =
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/";
        let s = settings();
        assert!(points_at("https://aws:tok@mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/simple/", Some(ep), &s));
        assert!(points_at("https://aws:tok@MYDOMAIN-111122223333.d.codeartifact.us-west-2.amazonaws.com:443/pypi/isolatedsm/simple", Some(ep), &s));
        assert!(!points_at("https://aws:tok@mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/other/simple/", Some(ep), &s));
        assert!(!points_at("https://pypi.org/simple", Some(ep), &s));
        // Without the endpoint: the repository's shape.
        assert!(points_at("https://aws:t@mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/simple/", None, &s));
        assert!(points_at("https://aws:t@vpce-1-a.d.codeartifact.us-west-2.vpce.amazonaws.com/pypi/d/mydomain-111122223333/isolatedsm/simple/", None, &s));
        assert!(!points_at("https://pypi.org/simple", None, &s));
    }

    #[test]
    fn login_fix_fills_in_every_name() {
        let f = login_fix(&settings(), "us-west-2");
        assert!(f.contains("--domain mydomain --domain-owner 111122223333 --repository isolatedsm --region us-west-2"), "{f}");
    }

    #[test]
    fn password_is_decoded() {
        assert_eq!(password_of("https://aws:a%2Fb@h/x").as_deref(), Some("a/b"));
        assert_eq!(password_of("https://h/x"), None);
    }
}
