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

/// The api host's first failing network check (`dns-api`, `tcp-api`, `tls-api`), once that host's probe is in.
async fn api_host_failure(
    probed: &watch::Receiver<bool>,
    budget: &Budget,
    rec: &Recorder,
) -> Option<&'static str> {
    let mut probed = probed.clone();
    let _ = budget.run(probed.wait_for(|done| *done)).await;
    ["dns-api", "tcp-api", "tls-api"]
        .into_iter()
        .find(|n| rec.failed(n))
}

/// A call that could not reach the API host when that host's own DNS/TCP/TLS check already failed: that check
/// (an earlier layer) is the verdict, so the call is reported `skip`, saying why, rather than as a second failure.
fn not_judged(check: Check, failed: &str) -> Check {
    Check {
        status: Status::Skip,
        detail: format!(
            "skipped: {failed} failed (see above), so the call could not reach the API either ({})",
            check.detail
        ),
        cause: None,
        summary: None,
        remedy: None,
        ..check
    }
}

/// Whether two URLs name the same scheme, host and port.
fn same_host(a: &str, b: &str) -> bool {
    let pa = net::parts(a);
    pa.is_some() && pa == net::parts(b)
}

/// Hand the checks a probe recorded on the side to the report.
fn forward(held: &Recorder, rec: &Recorder) {
    for c in held.take().0 {
        rec.push(c);
    }
}

/// Layers 7-9 and the repositories host's probe. Everything that does not need another's answer starts at once:
/// STS, GetAuthorizationToken, GetRepositoryEndpoint and the repositories host's DNS/TCP/TLS probe (of the given
/// endpoint, or of the public name guessed from domain, owner and Region while the API has not answered), so a
/// network that drops every packet costs one time-out, not two. `api_probed` turns true once the api host's probe
/// (run by the caller, concurrently) has recorded its checks.
pub async fn run(
    settings: &Settings,
    ctx: &Ctx,
    budget: &Budget,
    rec: &Recorder,
    api_probed: watch::Receiver<bool>,
) -> Outcome {
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
        let (check, tok, unreached) = match got {
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
                (c, Some(tok), false)
            }
            Some(Err(e)) => {
                let unreached = matches!(e, Error::Unreachable { .. });
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
                    unreached,
                )
            }
            None => (
                timeout_check("get-authorization-token", &host, &region, budget),
                None,
                true,
            ),
        };
        let mut check = check.took(t0);
        if unreached {
            if let Some(failed) = api_host_failure(&api_probed, budget, rec).await {
                check = not_judged(check, failed);
            }
        }
        rec.push(check);
        tok
    };
    let repo_side = async {
        let given = settings.repository_endpoint_url.as_ref().map(|g| {
            settings::repository_endpoint_from(
                &g.value,
                &settings.domain.value,
                settings.domain_owner.as_ref().map(|o| o.value.as_str()),
                &settings.repository.value,
                "pypi",
            )
        });
        let given_ok = match &given {
            Some(Ok(u)) => Some(u.clone()),
            _ => None,
        };
        // The public repositories name is a fair guess only when the API is AWS's own default name too (with an
        // endpoint override, e.g. a vpce name or a test server, the repositories host cannot be derived).
        let default_api = ctx.api_url.as_deref().map(aws::host_of)
            == Some(format!("codeartifact.{region}.amazonaws.com"));
        // The early probe: the given endpoint (used whatever the API answers: its checks go straight to the
        // report), else the guessed public name, whose checks are held until the API's answer (or its failure)
        // shows it is the endpoint pip would use.
        let guessed: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let held = Recorder::new(None);
        let early = async {
            let (url, out) = match &given_ok {
                Some(u) => (u.clone(), rec),
                None => {
                    if ctx.region.is_none() || !default_api {
                        return None;
                    }
                    let owner = match &settings.domain_owner {
                        Some(o) => o.value.clone(),
                        None => identity_of(&mut rx.clone(), budget).await?.account,
                    };
                    let u = fallback_endpoint(
                        &settings.domain.value,
                        &owner,
                        &region,
                        &settings.repository.value,
                    );
                    if let Ok(mut g) = guessed.lock() {
                        *g = Some(u.clone());
                    }
                    (u, &held)
                }
            };
            let probe = net::probe_host(&url, Which::Repositories, ctx, budget, out).await;
            Some((url, probe))
        };
        // GetRepositoryEndpoint: the endpoint it names, when it answers.
        let from_api = async {
            let t0 = Instant::now();
            let Some(client) = &client else {
                rec.push(Check::skip(
                    "get-repository-endpoint",
                    Layer::Api,
                    "no credentials to sign the call with",
                ));
                return None;
            };
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
            let (check, named, unreached) = match got {
                Some(Ok(u)) => {
                    let used = match &given_ok {
                        Some(g) if *g != u => format!("; using the given {g} instead"),
                        _ => String::new(),
                    };
                    let c = Check::ok("get-repository-endpoint", Layer::Api, format!("{u}{used}"));
                    (c, Some(u), false)
                }
                Some(Err(e)) => {
                    let unreached = matches!(e, Error::Unreachable { .. });
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
                    if given_ok.is_some() && matches!(e, Error::AccessDenied { .. }) {
                        // Login does not call it when repository_endpoint_url is given.
                        c.status = Status::Warn;
                        c.detail = format!(
                            "{} (login does not need it: repository_endpoint_url is given)",
                            c.detail
                        );
                    }
                    (c, None, unreached)
                }
                None => (
                    timeout_check("get-repository-endpoint", &host, &region, budget),
                    None,
                    true,
                ),
            };
            let mut check = check.took(t0);
            if unreached {
                if let Some(failed) = api_host_failure(&api_probed, budget, rec).await {
                    check = not_judged(check, failed);
                }
            }
            rec.push(check);
            named
        };
        let mut early = Box::pin(early);
        let mut from_api = Box::pin(from_api);
        let mut early_out = None;
        let named = loop {
            tokio::select! {
                u = &mut from_api => break u,
                e = &mut early, if early_out.is_none() => early_out = Some(e),
            }
        };
        let guess = guessed.lock().ok().and_then(|g| g.clone());
        let (endpoint, probe) = match (&given_ok, named) {
            (Some(g), _) => {
                let out = match early_out {
                    Some(o) => o,
                    None => early.await,
                };
                (Some(g.clone()), out.map(|(_, p)| p))
            }
            (None, Some(u)) if guess.as_deref().is_some_and(|g| same_host(g, &u)) => {
                let out = match early_out {
                    Some(o) => o,
                    None => early.await,
                };
                forward(&held, rec);
                (Some(u), out.map(|(_, p)| p))
            }
            (None, Some(u)) => {
                // The API names another host than the guess: probe that one instead.
                drop(early);
                let probe = net::probe_host(&u, Which::Repositories, ctx, budget, rec).await;
                (Some(u), Some(probe))
            }
            (None, None) => {
                let out = match early_out {
                    Some(o) => o,
                    None => early.await,
                };
                forward(&held, rec);
                match out {
                    Some((u, p)) => (Some(u), Some(p)),
                    None => {
                        let why = match &given {
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
                        (None, None)
                    }
                }
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
            endpoint_type: None,
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
    fn a_call_that_could_not_reach_a_failed_api_host_is_skipped_without_a_cause() {
        let c = timeout_check(
            "get-authorization-token",
            "codeartifact.us-west-2.amazonaws.com",
            "us-west-2",
            &Budget::new(std::time::Duration::from_secs(3)),
        );
        assert_eq!(c.cause, Some("api-endpoint-unreachable"));
        let s = not_judged(c, "tcp-api");
        assert_eq!(s.status, Status::Skip);
        assert!(s.cause.is_none() && s.summary.is_none() && s.remedy.is_none());
        assert!(
            s.detail.starts_with("skipped: tcp-api failed"),
            "{}",
            s.detail
        );
        assert!(s.detail.contains("no answer within 3.0 s"), "{}", s.detail);
        // it no longer competes for the verdict: the tcp check (an earlier layer) is the verdict either way
        let r = super::super::Report::from_checks(vec![s]);
        assert!(r.verdict.is_none());
    }

    #[test]
    fn the_guessed_repositories_host_matches_the_api_answer_by_scheme_host_and_port() {
        let guess = fallback_endpoint("mydomain", "111122223333", "us-west-2", "isolatedsm");
        assert!(same_host(
            &guess,
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/"
        ));
        assert!(!same_host(
            &guess,
            "https://vpce-0abc-1def.d.codeartifact.us-west-2.vpce.amazonaws.com/pypi/d/mydomain-111122223333/isolatedsm/"
        ));
        assert!(!same_host(
            &guess,
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com:8443/pypi/isolatedsm/"
        ));
        assert!(!same_host("not a url", "not a url"));
    }

    #[test]
    fn fallback_endpoint_has_the_public_shape() {
        assert_eq!(
            fallback_endpoint("mydomain", "111122223333", "us-west-2", "isolatedsm"),
            "https://mydomain-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/isolatedsm/"
        );
    }
}
