//! Layers 1-3: the settings and where each came from, the credentials, and (optionally) who we are per STS.

use std::time::Instant;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

use super::{Budget, Check, Layer, Recorder};
use crate::aws::{self, Aws, CallContext, Timeouts};
use crate::error::Error;
use crate::settings::{Settings, Source};

/// What the later layers need from the first one.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub aws: Option<Aws>,
    pub region: Option<String>,
    /// The CodeArtifact API endpoint (`https://codeartifact.REGION.amazonaws.com` unless overridden).
    pub api_url: Option<String>,
    /// AWS_CA_BUNDLE or the profile's ca_bundle: the trust the AWS CLI and login use.
    pub ca_bundle: Option<String>,
    pub timeouts: Timeouts,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The API URL and where it came from, without loading AWS (when loading failed).
pub fn api_url_of(settings: &Settings, region: Option<&str>) -> Option<(String, String)> {
    if let Some(u) = &settings.endpoint_url {
        return Some((u.value.clone(), u.source.to_string()));
    }
    for name in ["AWS_ENDPOINT_URL_CODEARTIFACT", "AWS_ENDPOINT_URL"] {
        if let Some(v) = env_var(name) {
            return Some((v, format!("environment variable {name}")));
        }
    }
    region.map(|r| {
        (
            format!("https://codeartifact.{r}.amazonaws.com"),
            "the Region's default".to_string(),
        )
    })
}

/// The STS endpoint GetCallerIdentity goes to.
pub fn sts_url(region: &str) -> String {
    env_var("AWS_ENDPOINT_URL_STS")
        .or_else(|| env_var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
}

fn sourced(label: &str, v: &Option<crate::settings::Sourced<String>>, missing: &str) -> String {
    match v {
        Some(s) => format!("{label} {} ({})", s.value, s.source),
        None => format!("{label} {missing}"),
    }
}

/// Layer 1: load the AWS configuration (Region, CA bundle) and report every setting with its source.
pub async fn setup(settings: &Settings, budget: &Budget, rec: &Recorder) -> Ctx {
    let t0 = Instant::now();
    let timeouts = Timeouts::single(budget.timeout);
    let loaded = budget.run(aws::load(settings, &timeouts)).await;
    let mut ctx = Ctx {
        timeouts,
        ..Ctx::default()
    };
    let mut parts = vec![
        format!(
            "domain {} ({})",
            settings.domain.value, settings.domain.source
        ),
        format!(
            "repository {} ({})",
            settings.repository.value, settings.repository.source
        ),
        sourced(
            "domain owner",
            &settings.domain_owner,
            "not given (the caller's own account)",
        ),
    ];
    let check = match loaded {
        Some(Ok(a)) => {
            let region_src = settings
                .region
                .as_ref()
                .map_or(Source::AwsDefaultChain, |r| r.source.clone());
            parts.insert(0, format!("region {} ({region_src})", a.region));
            let (_, api_src) = api_url_of(settings, Some(&a.region)).unwrap_or_default();
            parts.push(format!("api endpoint {} ({api_src})", a.api_url));
            ctx.region = Some(a.region.clone());
            ctx.api_url = Some(a.api_url.clone());
            ctx.ca_bundle = a.ca_bundle.clone();
            ctx.aws = Some(a);
            None
        }
        Some(Err(e)) => {
            ctx.region = settings.region.as_ref().map(|r| r.value.clone());
            Some(match &e {
                Error::InvalidInput { field: "region", .. } => Check::fail(
                    "settings",
                    Layer::Config,
                    e.to_string().split("\nhint: ").next().unwrap_or_default().to_string(),
                    "region-missing",
                    "No AWS Region was found in the arguments, AWS_REGION, the ca-login config, the AWS profile or instance metadata.",
                    "pass region=\"REGION\" (CLI: --region REGION), or export AWS_REGION=REGION",
                ),
                _ => Check::from_error("settings", Layer::Config, &e),
            })
        }
        None => {
            ctx.region = settings.region.as_ref().map(|r| r.value.clone());
            Some(Check::fail(
                "settings",
                Layer::Config,
                format!("loading the AWS configuration took longer than {:.1} s", budget.timeout.as_secs_f32()),
                "region-missing",
                "The AWS configuration (Region) did not load in time; the instance metadata service may be unreachable.",
                "pass region=\"REGION\" (CLI: --region REGION), or export AWS_REGION=REGION",
            ))
        }
    };
    if ctx.api_url.is_none() {
        ctx.api_url = api_url_of(settings, ctx.region.as_deref()).map(|(u, _)| u);
    }
    match &settings.repository_endpoint_url {
        Some(r) => parts.push(format!("repositories endpoint {} ({})", r.value, r.source)),
        None => parts.push("repositories endpoint from GetRepositoryEndpoint".into()),
    }
    if let Some(p) = &settings.profile {
        parts.push(format!("profile {p}"));
    }
    if let Some(b) = &ctx.ca_bundle {
        parts.push(format!("CA bundle {b}"));
    }
    let check = match check {
        Some(mut c) => {
            c.detail = format!("{}; {}", c.detail, parts.join("; "));
            c
        }
        None => Check::ok("settings", Layer::Config, parts.join("; ")),
    };
    rec.push(check.took(t0));
    ctx
}

/// Layer 2: which credential provider answered; missing or expired.
pub async fn credentials(ctx: &Ctx, budget: &Budget, rec: &Recorder) -> Option<Credentials> {
    let t0 = Instant::now();
    let Some(a) = &ctx.aws else {
        rec.push(Check::skip(
            "credentials",
            Layer::Credentials,
            "the AWS configuration did not load",
        ));
        return None;
    };
    let got = budget.run(aws::credentials(a, budget.bound())).await;
    let (check, creds) = match got {
        Some(Ok(c)) => {
            let exp = match c.expiry() {
                Some(e) => {
                    let secs = e.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
                    format!(", expire {}", crate::login::rfc3339(secs))
                }
                None => String::new(),
            };
            (Check::ok("credentials", Layer::Credentials, format!("from {}{exp}", aws::provider_name(&c))), Some(c))
        }
        Some(Err(e)) => (Check::from_error("credentials", Layer::Credentials, &e), None),
        None => (
            Check::fail(
                "credentials",
                Layer::Credentials,
                format!("no credential provider answered within {:.1} s", budget.timeout.as_secs_f32()),
                "credentials-missing",
                "No AWS credentials were found in time.",
                "on a notebook instance the execution role provides credentials (instance metadata); elsewhere set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ),
            None,
        ),
    };
    rec.push(check.took(t0));
    creds
}

/// Who the caller is, per STS.
#[derive(Debug, Clone)]
pub struct Identity {
    pub arn: String,
    pub account: String,
}

/// Layer 3 (optional): STS GetCallerIdentity on the regional endpoint. Unreachable STS is only a warning.
pub async fn identity(
    settings: &Settings,
    ctx: &Ctx,
    creds: Option<Credentials>,
    budget: &Budget,
    rec: &Recorder,
) -> Option<Identity> {
    let t0 = Instant::now();
    let (Some(a), Some(creds)) = (&ctx.aws, creds) else {
        rec.push(Check::skip(
            "caller-identity",
            Layer::Identity,
            "no credentials to ask STS with",
        ));
        return None;
    };
    let url = sts_url(&a.region);
    let host = aws::host_of(&url);
    let conf = aws_sdk_sts::config::Builder::from(&a.sdk)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    let client = aws_sdk_sts::Client::from_conf(conf);
    let cctx = CallContext {
        settings,
        region: &a.region,
        host: &host,
        operation: "GetCallerIdentity",
    };
    let got = budget.run(client.get_caller_identity().send()).await;
    let (check, ident) = match got {
        Some(Ok(out)) => {
            let arn = out.arn.unwrap_or_default();
            let account = out.account.unwrap_or_default();
            let c = Check::ok(
                "caller-identity",
                Layer::Identity,
                format!("{arn} (account {account}) via {host}"),
            );
            (c, Some(Identity { arn, account }))
        }
        Some(Err(e)) => match aws::map_sdk_error(e, &cctx, &ctx.timeouts) {
            Error::Unreachable { message, .. } => (sts_unreachable(&host, &message), None),
            err @ Error::Credentials { .. } => (
                Check::from_error("caller-identity", Layer::Identity, &err),
                None,
            ),
            other => (
                Check::warn(
                    "caller-identity",
                    Layer::Identity,
                    format!(
                        "GetCallerIdentity on {host} failed: {}",
                        other.to_string().replace("\nhint: ", "; hint: ")
                    ),
                ),
                None,
            ),
        },
        None => (
            sts_unreachable(
                &host,
                &format!("no answer within {:.1} s", budget.timeout.as_secs_f32()),
            ),
            None,
        ),
    };
    rec.push(check.took(t0));
    ident
}

fn sts_unreachable(host: &str, why: &str) -> Check {
    Check::warn(
        "caller-identity",
        Layer::Identity,
        format!(
            "STS at {host} is unreachable ({why}); this only means the caller's identity is unknown: no STS endpoint is needed for login (GetAuthorizationToken does not call STS from here)"
        ),
    )
}
