//! Layers 7-8: GetAuthorizationToken and GetRepositoryEndpoint, mapped and remedied exactly as login maps them
//! (aws.rs, remedy.rs), so `login()` and `diagnose()` give the same cause code and fix. Runs concurrently with the
//! STS check and chains into the repositories host probe and the repository read.

use std::time::Instant;

use tokio::sync::watch;

use super::config::{self, Ctx, Identity};
use super::{net, repo, Budget, Check, Layer, Outcome, Recorder, Status, Which};
use crate::aws::{self, CallContext};
use crate::error::Error;
use crate::secret::Secret;
use crate::settings::{self, Settings};

/// Fill in the role from STS when the AccessDenied message names no principal.
fn with_principal(e: Error, ident: Option<&Identity>, settings: &Settings, region: &str) -> Error {
    match (e, ident) {
        (
            Error::AccessDenied {
                mut denial,
                message,
                ..
            },
            Some(i),
        ) if denial.principal.is_none() => {
            denial.principal = Some(i.arn.clone());
            let hint = crate::remedy::access_denied(&denial, settings, region);
            Error::AccessDenied {
                denial,
                message,
                hint,
            }
        }
        (e, _) => e,
    }
}

async fn identity_of(
    rx: &mut watch::Receiver<Option<Option<Identity>>>,
    budget: &Budget,
) -> Option<Identity> {
    budget
        .run(rx.wait_for(|v| v.is_some()))
        .await
        .and_then(|r| r.ok())
        .and_then(|v| v.clone())
        .flatten()
}

/// The repository endpoint used when the API cannot tell: `https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/pypi/REPO/`.
pub fn fallback_endpoint(domain: &str, owner: &str, region: &str, repository: &str) -> String {
    format!("https://{domain}-{owner}.d.codeartifact.{region}.amazonaws.com/pypi/{repository}/")
}

pub async fn run(settings: &Settings, ctx: &Ctx, budget: &Budget, rec: &Recorder) -> Outcome {
    let creds = config::credentials(ctx, budget, rec).await;
    let client = match (&ctx.aws, &creds) {
        (Some(a), Some(c)) => Some(aws::codeartifact(a, settings, c.clone())),
        _ => None,
    };
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    let host = ctx.api_url.as_deref().map(aws::host_of).unwrap_or_default();
    let (tx, rx) = watch::channel(None::<Option<Identity>>);
    let sts = async {
        let i = config::identity(settings, ctx, creds.clone(), budget, rec).await;
        let _ = tx.send(Some(i.clone()));
        i
    };
    let token = async {
        let t0 = Instant::now();
        let Some(client) = &client else {
            rec.push(Check::skip(
                "get-authorization-token",
                Layer::Api,
                "no credentials to sign the call with",
            ));
            return None;
        };
        let cctx = CallContext {
            settings,
            region: &region,
            host: &host,
            operation: "GetAuthorizationToken",
        };
        let got = budget
            .run(aws::get_token(client, &ctx.timeouts, &cctx))
            .await;
        let (check, tok) = match got {
            Some(Ok((tok, exp))) => {
                rec.secret(tok.expose());
                let left = exp - crate::login::now_epoch();
                let c = Check::ok(
                    "get-authorization-token",
                    Layer::Api,
                    format!(
                        "token for domain {} from {host}, expires {} (in {} h {} min)",
                        settings.domain.value,
                        crate::login::rfc3339(exp),
                        left / 3600,
                        (left % 3600) / 60
                    ),
                );
                (c, Some(tok))
            }
            Some(Err(e)) => {
                let mut rx = rx.clone();
                let e = if matches!(&e, Error::AccessDenied { denial, .. } if denial.principal.is_none())
                {
                    with_principal(
                        e,
                        identity_of(&mut rx, budget).await.as_ref(),
                        settings,
                        &region,
                    )
                } else {
                    e
                };
                (
                    Check::from_error("get-authorization-token", Layer::Api, &e),
                    None,
                )
            }
            None => (
                timeout_check("get-authorization-token", &host, &region, budget),
                None,
            ),
        };
        rec.push(check.took(t0));
        tok
    };
    let repo_side = async {
        let t0 = Instant::now();
        let given = settings.repository_endpoint_url.as_ref().map(|g| {
            settings::repository_endpoint_from(
                &g.value,
                &settings.domain.value,
                settings.domain_owner.as_ref().map(|o| o.value.as_str()),
                &settings.repository.value,
                "pypi",
            )
        });
        let mut endpoint = match &given {
            Some(Ok(u)) => Some(u.clone()),
            _ => None,
        };
        match &client {
            None => rec.push(Check::skip(
                "get-repository-endpoint",
                Layer::Api,
                "no credentials to sign the call with",
            )),
            Some(client) => {
                let cctx = CallContext {
                    settings,
                    region: &region,
                    host: &host,
                    operation: "GetRepositoryEndpoint",
                };
                let got = budget
                    .run(aws::get_repository_endpoint(
                        client,
                        &ctx.timeouts,
                        &cctx,
                        aws_sdk_codeartifact::types::PackageFormat::Pypi,
                    ))
                    .await;
                let check = match got {
                    Some(Ok(u)) => {
                        let used = match &endpoint {
                            Some(g) if *g != u => format!("; using the given {g} instead"),
                            _ => String::new(),
                        };
                        let c =
                            Check::ok("get-repository-endpoint", Layer::Api, format!("{u}{used}"));
                        endpoint.get_or_insert(u);
                        c
                    }
                    Some(Err(e)) => {
                        let e = if matches!(&e, Error::AccessDenied { denial, .. } if denial.principal.is_none())
                        {
                            let mut rx = rx.clone();
                            with_principal(
                                e,
                                identity_of(&mut rx, budget).await.as_ref(),
                                settings,
                                &region,
                            )
                        } else {
                            e
                        };
                        let mut c = Check::from_error("get-repository-endpoint", Layer::Api, &e);
                        if endpoint.is_some() && matches!(e, Error::AccessDenied { .. }) {
                            // Login does not call it when repository_endpoint_url is given.
                            c.status = Status::Warn;
                            c.detail = format!(
                                "{} (login does not need it: repository_endpoint_url is given)",
                                c.detail
                            );
                        }
                        c
                    }
                    None => timeout_check("get-repository-endpoint", &host, &region, budget),
                };
                rec.push(check.took(t0));
            }
        }
        // The public repositories name is a fair guess only when the API is AWS's own default name too (with an
        // endpoint override, e.g. a vpce name or a test server, the repositories host cannot be derived).
        let default_api = ctx.api_url.as_deref().map(aws::host_of)
            == Some(format!("codeartifact.{region}.amazonaws.com"));
        if endpoint.is_none() && ctx.region.is_some() && default_api {
            let owner = match &settings.domain_owner {
                Some(o) => Some(o.value.clone()),
                None => {
                    let mut rx = rx.clone();
                    identity_of(&mut rx, budget).await.map(|i| i.account)
                }
            };
            if let Some(owner) = owner {
                endpoint = Some(fallback_endpoint(
                    &settings.domain.value,
                    &owner,
                    &region,
                    &settings.repository.value,
                ));
            }
        }
        let probe = match &endpoint {
            Some(u) => Some(net::probe_host(u, Which::Repositories, ctx, budget, rec).await),
            None => {
                let why = match given {
                    Some(Err(e)) => e.to_string().replace("\nhint: ", "; hint: "),
                    _ => "the repository endpoint is unknown (GetRepositoryEndpoint failed; pass repository_endpoint_url to check it)".into(),
                };
                for (n, l) in [
                    ("dns-repositories", Layer::Dns),
                    ("tcp-repositories", Layer::Tcp),
                    ("tls-repositories", Layer::Tls),
                ] {
                    rec.push(Check::skip(n, l, why.clone()));
                }
                None
            }
        };
        (endpoint, probe)
    };
    let (ident, token, (endpoint, probe)) = tokio::join!(sts, token, repo_side);
    repo::read(
        settings,
        endpoint.as_deref(),
        probe.as_ref(),
        token.as_ref(),
        ident.as_ref(),
        ctx,
        budget,
        rec,
    )
    .await;
    Outcome {
        repository_endpoint: endpoint,
        repo_probe: probe,
        token: token.map(|t: Secret| t),
    }
}

fn timeout_check(name: &'static str, host: &str, region: &str, budget: &Budget) -> Check {
    Check::fail(
        name,
        Layer::Api,
        format!(
            "{host}: no answer within {:.1} s",
            budget.timeout.as_secs_f32()
        ),
        "api-endpoint-unreachable",
        format!("The CodeArtifact API at {host} did not answer in time."),
        crate::remedy::unreachable_api(crate::error::NetFailure::Timeout, region, host),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{parse_denial, Error};
    use crate::settings::{Source, Sourced};

    fn settings() -> Settings {
        let s = |v: &str| Sourced {
            value: v.to_string(),
            source: Source::Argument,
        };
        Settings {
            domain: s("mydomain"),
            repository: s("isolatedsm"),
            domain_owner: Some(s("111122223333")),
            region: Some(s("ap-northeast-2")),
            duration_seconds: None,
            endpoint_url: None,
            repository_endpoint_url: None,
            profile: None,
        }
    }

    #[test]
    fn remedy_names_the_role_from_sts_when_the_message_does_not() {
        let denial = parse_denial("Access denied because no identity-based policy allows the codeartifact:GetAuthorizationToken action");
        let e = Error::AccessDenied {
            denial,
            message: "x".into(),
            hint: String::new(),
        };
        let ident = Identity {
            arn: "arn:aws:sts::111122223333:assumed-role/GeneralIsolatedNotebook/SageMaker".into(),
            account: "111122223333".into(),
        };
        let e = with_principal(e, Some(&ident), &settings(), "ap-northeast-2");
        let hint = e.hint().unwrap_or_default().to_string();
        assert!(
            hint.contains("--role-name GeneralIsolatedNotebook"),
            "{hint}"
        );
        assert!(
            hint.contains("arn:aws:codeartifact:ap-northeast-2:111122223333:domain/mydomain"),
            "{hint}"
        );
        assert_eq!(e.cause(), "access-denied-identity-policy");
    }

    #[test]
    fn fallback_endpoint_has_the_public_shape() {
        assert_eq!(
            fallback_endpoint("mydomain", "111122223333", "us-west-2", "isolatedsm"),
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/"
        );
    }
}
