//! The fixes we print: exact AWS CLI commands and policy statements with the real names filled in.
//! Shared by login's `hint:` lines and diagnose's verdicts, so both always say the same thing.

use crate::error::{Denial, NetFailure, PolicyType};
use crate::settings::Settings;

/// Who reads the fix: the CLI (`ca-login login ...`) or Python (`ca_login.login(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Face {
    #[default]
    Python,
    Cli,
}

impl Face {
    pub fn parse(s: &str) -> Option<Face> {
        match s {
            "python" => Some(Face::Python),
            "cli" => Some(Face::Cli),
            _ => None,
        }
    }
}

/// One step of a fix: a shell command pasted as it is, or our own login with the diagnosed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Shell(String),
    Login(Vec<(&'static str, String)>),
}

impl Step {
    /// The step as the reader pastes it.
    pub fn render(&self, face: Face) -> String {
        match self {
            Step::Shell(c) => c.clone(),
            Step::Login(args) => match face {
                Face::Cli => {
                    let mut out = String::from("ca-login login");
                    for (k, v) in args {
                        out.push_str(&format!(" --{} {}", k.replace('_', "-"), shell_word(v)));
                    }
                    out
                }
                Face::Python => {
                    let list: Vec<String> = args
                        .iter()
                        .map(|(k, v)| format!("{k}={}", py_str(v)))
                        .collect();
                    format!("ca_login.login({})", list.join(", "))
                }
            },
        }
    }
}

fn shell_word(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

fn py_str(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Our login with the settings that were diagnosed (only those given or resolved, never a default).
pub fn login_step(s: &Settings, region: &str) -> Step {
    let mut args = vec![
        ("domain", s.domain.value.clone()),
        ("repository", s.repository.value.clone()),
    ];
    if let Some(o) = &s.domain_owner {
        args.push(("domain_owner", o.value.clone()));
    }
    if !region.is_empty() && region != "REGION" {
        args.push(("region", region.to_string()));
    }
    if let Some(u) = &s.endpoint_url {
        args.push(("endpoint_url", u.value.clone()));
    }
    if let Some(u) = &s.repository_endpoint_url {
        args.push(("repository_endpoint_url", u.value.clone()));
    }
    if let Some(p) = &s.profile {
        args.push(("profile", p.clone()));
    }
    Step::Login(args)
}

/// The account ID in an ARN (`arn:aws:sts::111122223333:assumed-role/R/S` -> `111122223333`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// The IAM role ARN behind an assumed-role session ARN (`arn:aws:iam::ACCT:role/ROLE`).
pub fn role_arn(principal: Option<&str>) -> Option<String> {
    let p = principal?;
    let account = account_of(p)?;
    let partition = p.split(':').nth(1).filter(|x| !x.is_empty())?;
    role_name(Some(p)).map(|r| format!("arn:{partition}:iam::{account}:role/{r}"))
}

/// Least-privilege policy for the codeartifact.api VPC endpoint: our three CodeArtifact calls on this domain and
/// repository, and the STS bearer token CodeArtifact asks for; the principal is the notebook role ("*" when
/// unknown). FACTS: docs/FACTS-ADDED.md.
pub fn endpoint_policy(s: &Settings, region: &str, principal: Option<&str>) -> String {
    let o = owner(s);
    let who = match role_arn(principal) {
        Some(arn) => format!(r#"{{"AWS":"{arn}"}}"#),
        None => r#""*""#.to_string(),
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{who},"Action":["codeartifact:GetAuthorizationToken","codeartifact:GetRepositoryEndpoint","codeartifact:ReadFromRepository"],"Resource":["arn:aws:codeartifact:{region}:{o}:domain/{d}","arn:aws:codeartifact:{region}:{o}:repository/{d}/{r}"]}},{{"Effect":"Allow","Principal":{who},"Action":"sts:GetServiceBearerToken","Resource":"*","Condition":{{"StringEquals":{{"sts:AWSServiceName":"codeartifact.amazonaws.com"}}}}}}]}}"#,
        d = s.domain.value,
        r = s.repository.value
    )
}

fn api_service(region: &str) -> String {
    format!("com.amazonaws.{region}.codeartifact.api")
}

/// `VPCE_ID=$(aws ec2 describe-vpc-endpoints ...)`: the codeartifact.api endpoint's ID.
fn find_vpce(region: &str) -> Step {
    Step::Shell(format!(
        "VPCE_ID=$(aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values={} --query 'VpcEndpoints[0].VpcEndpointId' --output text)",
        api_service(region)
    ))
}

/// `ROLE=...` when the denial named no role: the caller's role name from STS.
fn role_or_lookup(denial: &Denial, steps: &mut Vec<Step>) -> String {
    match role_name(denial.principal.as_deref()) {
        Some(r) => r,
        None => {
            steps.push(Step::Shell(
                "ROLE=$(aws sts get-caller-identity --query Arn --output text | cut -d/ -f2)"
                    .into(),
            ));
            "\"$ROLE\"".into()
        }
    }
}

/// ` --domain-owner ACCOUNT` when the owner is known; CodeArtifact's default otherwise (the caller's account).
fn owner_flag(s: &Settings) -> String {
    s.domain_owner
        .as_ref()
        .map_or_else(String::new, |o| format!(" --domain-owner {}", o.value))
}

/// The fix for an AccessDenied, as steps (the same fix [`access_denied`] describes in words).
pub fn access_denied_steps(denial: &Denial, s: &Settings, region: &str) -> Vec<Step> {
    // No domain owner given: it is the caller's account, which the denial's principal names.
    let with_owner;
    let s = match (
        &s.domain_owner,
        denial.principal.as_deref().and_then(account_of),
    ) {
        (None, Some(account)) => {
            with_owner = Settings {
                domain_owner: Some(crate::settings::Sourced {
                    value: account.to_string(),
                    source: crate::settings::Source::AwsDefaultChain,
                }),
                ..s.clone()
            };
            &with_owner
        }
        _ => s,
    };
    let mut steps = Vec::new();
    let o = owner(s).to_string();
    let of = owner_flag(s);
    let d = &s.domain.value;
    let account = denial
        .principal
        .as_deref()
        .and_then(account_of)
        .unwrap_or(&o)
        .to_string();
    match denial.policy_type {
        Some(PolicyType::IdentityBased) => {
            let role = role_or_lookup(denial, &mut steps);
            steps.push(Step::Shell(format!(
                "aws iam put-role-policy --role-name {role} --policy-name CodeArtifactPip --policy-document '{}'",
                identity_policy(s, region)
            )));
        }
        Some(PolicyType::VpcEndpoint) => {
            steps.push(find_vpce(region));
            steps.push(Step::Shell(format!(
                "aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id \"$VPCE_ID\" --policy-document '{}'",
                endpoint_policy(s, region, denial.principal.as_deref())
            )));
        }
        Some(PolicyType::ServiceControl) => {
            steps.push(Step::Shell(format!(
                "aws organizations list-policies-for-target --target-id {account} --filter SERVICE_CONTROL_POLICY"
            )));
            return steps;
        }
        Some(PolicyType::ResourceControl) => {
            steps.push(Step::Shell(format!(
                "aws organizations list-policies-for-target --target-id {account} --filter RESOURCE_CONTROL_POLICY"
            )));
            return steps;
        }
        Some(PolicyType::PermissionsBoundary) => {
            let role = role_or_lookup(denial, &mut steps);
            steps.push(Step::Shell(format!(
                "BOUNDARY_ARN=$(aws iam get-role --role-name {role} --query Role.PermissionsBoundary.PermissionsBoundaryArn --output text)"
            )));
            steps.push(Step::Shell(
                "aws iam get-policy --policy-arn \"$BOUNDARY_ARN\" --query Policy.DefaultVersionId --output text".into(),
            ));
            return steps;
        }
        Some(PolicyType::Session) => return steps,
        Some(PolicyType::ResourceBased) => {
            let role = role_arn(denial.principal.as_deref())
                .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/ROLE_NAME"));
            let token = denial
                .action
                .as_deref()
                .is_none_or(|a| a.contains("GetAuthorizationToken"));
            if token {
                steps.push(Step::Shell(format!(
                    "aws codeartifact get-domain-permissions-policy --region {region} --domain {d}{of} --query policy.document --output text"
                )));
                steps.push(Step::Shell(format!(
                    "aws codeartifact put-domain-permissions-policy --region {region} --domain {d}{of} --policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"{role}\"}},\"Action\":\"codeartifact:GetAuthorizationToken\",\"Resource\":\"*\"}}]}}'"
                )));
            } else {
                let r = &s.repository.value;
                steps.push(Step::Shell(format!(
                    "aws codeartifact get-repository-permissions-policy --region {region} --domain {d}{of} --repository {r} --query policy.document --output text"
                )));
                steps.push(Step::Shell(format!(
                    "aws codeartifact put-repository-permissions-policy --region {region} --domain {d}{of} --repository {r} --policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"{role}\"}},\"Action\":[\"codeartifact:ReadFromRepository\",\"codeartifact:GetRepositoryEndpoint\"],\"Resource\":\"*\"}}]}}'"
                )));
            }
        }
        None => {
            let role = role_or_lookup(denial, &mut steps);
            steps.push(Step::Shell(format!(
                "aws iam list-role-policies --role-name {role}"
            )));
            steps.push(Step::Shell(format!(
                "aws iam list-attached-role-policies --role-name {role}"
            )));
            steps.push(find_vpce(region));
            steps.push(Step::Shell(format!(
                "aws ec2 describe-vpc-endpoints --region {region} --vpc-endpoint-ids \"$VPCE_ID\" --query 'VpcEndpoints[0].PolicyDocument' --output text"
            )));
            return steps;
        }
    }
    steps.push(login_step(s, region));
    steps
}

/// The fix for a failure to reach the codeartifact.api endpoint, as steps.
pub fn unreachable_steps(kind: NetFailure, s: &Settings, region: &str) -> Vec<Step> {
    let mut steps = match kind {
        NetFailure::Dns => vec![
            find_vpce(region),
            Step::Shell(format!(
                "aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id \"$VPCE_ID\" --private-dns-enabled"
            )),
        ],
        NetFailure::Timeout | NetFailure::Other => {
            let describe = format!(
                "aws sagemaker describe-notebook-instance --region {region} --notebook-instance-name \"$NOTEBOOK\""
            );
            vec![
                Step::Shell(
                    r#"NOTEBOOK=$(python3 -c 'import json; print(json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceName"])')"#.into(),
                ),
                Step::Shell(format!("SUBNET_ID=$({describe} --query SubnetId --output text)")),
                Step::Shell(format!("SG_ID=$({describe} --query 'SecurityGroups[0]' --output text)")),
                Step::Shell(format!(
                    "VPC_ID=$(aws ec2 describe-subnets --region {region} --subnet-ids \"$SUBNET_ID\" --query 'Subnets[0].VpcId' --output text)"
                )),
                Step::Shell(format!(
                    "aws ec2 authorize-security-group-ingress --region {region} --group-id \"$SG_ID\" --protocol tcp --port 443 --source-group \"$SG_ID\""
                )),
                Step::Shell(format!(
                    "aws ec2 create-vpc-endpoint --region {region} --vpc-endpoint-type Interface --vpc-id \"$VPC_ID\" --service-name {} --subnet-ids \"$SUBNET_ID\" --security-group-ids \"$SG_ID\" --private-dns-enabled",
                    api_service(region)
                )),
            ]
        }
        NetFailure::Refused | NetFailure::Tls | NetFailure::NoResponse => return Vec::new(),
    };
    steps.push(login_step(s, region));
    steps
}

/// The steps for a verdict's cause (`denial` when the cause is an AccessDenied); empty when no command fixes it.
pub fn verdict_steps(
    cause: &str,
    denial: Option<&Denial>,
    s: &Settings,
    region: &str,
) -> Vec<Step> {
    match cause {
        c if c.starts_with("access-denied") => {
            denial.map_or_else(Vec::new, |d| access_denied_steps(d, s, region))
        }
        "domain-not-found" => vec![Step::Shell(format!(
            "aws codeartifact list-domains --region {region}"
        ))],
        "repository-not-found" => vec![Step::Shell(format!(
            "aws codeartifact list-repositories-in-domain --region {region} --domain {}{}",
            s.domain.value,
            owner_flag(s)
        ))],
        "api-dns-failed" => unreachable_steps(NetFailure::Dns, s, region),
        "api-endpoint-unreachable" => unreachable_steps(NetFailure::Timeout, s, region),
        // Connected, then no answer: compare what answers with the endpoint's own names.
        "api-endpoint-no-response" => vec![endpoint_names("api", region)],
        "repositories-endpoint-no-response" => vec![endpoint_names("repositories", region)],
        _ => Vec::new(),
    }
}

/// The DNS names of the notebook VPC's `codeartifact.KIND` interface endpoints (what should answer).
fn endpoint_names(kind: &str, region: &str) -> Step {
    Step::Shell(format!(
        "aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws.{region}.codeartifact.{kind} --query 'VpcEndpoints[].DnsEntries[0].DnsName' --output text"
    ))
}

fn owner(s: &Settings) -> &str {
    s.domain_owner
        .as_ref()
        .map_or("ACCOUNT_ID", |o| o.value.as_str())
}

/// The role name in an assumed-role ARN (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`).
pub fn role_name(principal: Option<&str>) -> Option<String> {
    let p = principal?;
    let rest = p
        .split(":assumed-role/")
        .nth(1)
        .or_else(|| p.split(":role/").nth(1))?;
    rest.split('/').next().map(|s| s.to_string())
}

/// The identity policy a notebook role needs (FACTS.md: GetAuthorizationToken needs sts:GetServiceBearerToken too).
pub fn identity_policy(s: &Settings, region: &str) -> String {
    let o = owner(s);
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["codeartifact:GetAuthorizationToken","codeartifact:GetRepositoryEndpoint","codeartifact:ReadFromRepository"],"Resource":["arn:aws:codeartifact:{region}:{o}:domain/{d}","arn:aws:codeartifact:{region}:{o}:repository/{d}/*"]}},{{"Effect":"Allow","Action":"sts:GetServiceBearerToken","Resource":"*","Condition":{{"StringEquals":{{"sts:AWSServiceName":"codeartifact.amazonaws.com"}}}}}}]}}"#,
        d = s.domain.value
    )
}

pub fn access_denied(denial: &Denial, s: &Settings, region: &str) -> String {
    let action = denial
        .action
        .as_deref()
        .unwrap_or("codeartifact:GetAuthorizationToken");
    let role = role_name(denial.principal.as_deref()).unwrap_or_else(|| "ROLE_NAME".to_string());
    let explicit = if denial.explicit {
        "remove the explicit Deny for "
    } else {
        "allow "
    };
    match denial.policy_type {
        Some(PolicyType::IdentityBased) => format!(
            "the role's IAM policy must {explicit}{action}: aws iam put-role-policy --role-name {role} --policy-name CodeArtifactPip --policy-document '{}'",
            identity_policy(s, region)
        ),
        Some(PolicyType::VpcEndpoint) => format!(
            "the codeartifact.api VPC endpoint's policy must {explicit}{action} (and sts:GetServiceBearerToken): VPCE_ID=$(aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws.{region}.codeartifact.api --query 'VpcEndpoints[0].VpcEndpointId' --output text); aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id \"$VPCE_ID\" --policy-document '{}'",
            endpoint_policy(s, region, denial.principal.as_deref())
        ),
        Some(PolicyType::ServiceControl) => format!(
            "an AWS Organizations service control policy {} {action}; ask your organization's administrators to change the SCP (aws organizations list-policies-for-target --target-id {} --filter SERVICE_CONTROL_POLICY)",
            if denial.explicit { "denies" } else { "does not allow" },
            owner(s)
        ),
        Some(PolicyType::ResourceControl) => format!(
            "an AWS Organizations resource control policy {} {action}; ask your organization's administrators",
            if denial.explicit { "denies" } else { "does not allow" }
        ),
        Some(PolicyType::PermissionsBoundary) => format!(
            "the permissions boundary of role {role} must {explicit}{action}: aws iam get-role --role-name {role} --query Role.PermissionsBoundary, then update that policy"
        ),
        Some(PolicyType::Session) => format!(
            "the session policy passed when the role session was created must {explicit}{action}; start a session without it or with one that allows it"
        ),
        Some(PolicyType::ResourceBased) => {
            let commands: Vec<String> = access_denied_steps(denial, s, region)
                .iter()
                .filter(|st| matches!(st, Step::Shell(_)))
                .map(|st| st.render(Face::Cli))
                .collect();
            format!(
                "the CodeArtifact {} policy must {explicit}{action} for role {role}; the first command shows the policy, the second replaces it (merge in its statements first): {}",
                if action.contains("GetAuthorizationToken") { "domain" } else { "repository" },
                commands.join("; ")
            )
        }
        None => format!(
            "{action} was denied and the message names no policy: check the role's IAM policies (aws iam list-role-policies --role-name {role}; aws iam list-attached-role-policies --role-name {role}), the codeartifact.api VPC endpoint's policy and the domain's and repository's policies"
        ),
    }
}

pub fn unreachable_api(kind: NetFailure, region: &str, host: &str) -> String {
    match kind {
        NetFailure::Dns => format!(
            "{host} does not resolve here: turn on private DNS for the com.amazonaws.{region}.codeartifact.api endpoint (aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id VPCE_ID --private-dns-enabled), or pass endpoint_url=\"https://vpce-...api.codeartifact.{region}.vpce.amazonaws.com\""
        ),
        NetFailure::Timeout | NetFailure::Other => format!(
            "nothing answers at {host}: create the interface endpoint com.amazonaws.{region}.codeartifact.api in the notebook's VPC (aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --service-name com.amazonaws.{region}.codeartifact.api --private-dns-enabled ...), or let its security group allow inbound TCP {port} from the notebook (aws ec2 authorize-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port {port} --source-group SG_ID)",
            port = crate::http::host_port(host).1
        ),
        NetFailure::Refused => format!(
            "{host} refused the connection: the address is not a CodeArtifact endpoint; check endpoint_url, HTTPS_PROXY and NO_PROXY"
        ),
        NetFailure::NoResponse => {
            crate::http::phase_remedy(crate::http::Endpoint::Api, region, host)
        }
        NetFailure::Tls => format!(
            "the certificate presented for {host} is not trusted: if a proxy inspects TLS, set AWS_CA_BUNDLE (or ca_bundle in the AWS profile) to its CA bundle"
        ),
    }
}

/// The cause, what happened and the fix when a proxy on the way to `host` failed: it cannot be reached, it
/// cannot reach a VPC endpoint's private address (CONNECT answered 502-504), or its policy refused the tunnel.
/// Shared by diagnose's TCP check and login's look at a failed call through a proxy. `None`: not a proxy failure.
/// The fix takes `host` off the proxy where the proxy is set: `NO_PROXY` for the environment's; pip's own
/// (`PIP_PROXY`, a `proxy` line in pip's configuration) is not bypassed by `NO_PROXY`, so that one is removed.
pub fn proxy_failure(
    err: &crate::http::ConnectError,
    host: &str,
    region: &str,
) -> Option<(&'static str, String, String)> {
    let h = crate::http::host_port(host).0;
    // How to reach `names` without this proxy, by where it is set.
    let bypass = |var: &str, names: &str| {
        match var.strip_prefix("proxy in ") {
        Some(line) => format!(
            "remove the `proxy = ...` line from {line} (NO_PROXY does not bypass pip's own proxy); after that the environment's proxy, if any, applies unless NO_PROXY lists {h}"
        ),
        None if var == "PIP_PROXY" => format!(
            "unset PIP_PROXY (NO_PROXY does not bypass pip's own proxy); after that the environment's proxy, if any, applies unless NO_PROXY lists {h}"
        ),
        None => format!("export NO_PROXY=\"$NO_PROXY,{names}\""),
    }
    };
    // Where to correct the proxy's address.
    let set_in = |var: &str| match var.strip_prefix("proxy in ") {
        Some(line) => format!("the `proxy = ...` line in {line}"),
        None => var.to_string(),
    };
    Some(match err {
        crate::http::ConnectError::ProxyUnreachable { proxy, var, why } => (
            "proxy-unreachable",
            format!("The proxy {proxy} ({var}) on the way to {host} cannot be reached: {why}."),
            format!(
                "fix the proxy's address in {}, or, if {h} is reachable directly (a VPC endpoint), bypass the proxy: {}",
                set_in(var),
                bypass(var, &h),
            ),
        ),
        crate::http::ConnectError::ProxyRefused { proxy, var, status } if matches!(status, 502..=504) => (
            "proxy-not-bypassed",
            format!("{host} is sent through the proxy {proxy} ({var}), which cannot reach it (CONNECT answered HTTP {status}): a VPC endpoint's private address is reachable only from inside the VPC."),
            format!(
                "reach the CodeArtifact names directly: {}",
                bypass(var, &format!("{h},.codeartifact.{region}.amazonaws.com,.vpce.amazonaws.com")),
            ),
        ),
        crate::http::ConnectError::ProxyRefused { proxy, var, status } => (
            "proxy-connect-refused",
            format!("The proxy {proxy} ({var}) refused to open a tunnel to {host} (CONNECT answered HTTP {status})."),
            format!(
                "ask for CONNECT to {host} to be allowed on the proxy, or, if {h} is reachable directly, bypass it: {}",
                bypass(var, &h),
            ),
        ),
        _ => return None,
    })
}

// The tool layer's fixes (src/diagnose/tools.rs: the checks `uv`, `poetry`, `twine`) ---------------------------

/// The tool layer's cause codes (the README lists them). The `*-token-expired`, `*-not-configured`,
/// `*-config-overridden` and netrc ones are failures; `uv-index-shadowed`, `twine-config-overridden`,
/// `poetry-source-missing`, `netrc-permissions` and `credential-not-ours` come with a warning.
pub const TOOL_CAUSES: [&str; 15] = [
    "uv-not-configured",
    "uv-config-overridden",
    "uv-index-shadowed",
    "uv-token-expired",
    "poetry-not-configured",
    "poetry-config-overridden",
    "poetry-token-expired",
    "poetry-source-missing",
    "twine-not-configured",
    "twine-config-overridden",
    "twine-token-expired",
    "netrc-entry-missing",
    "netrc-unreadable",
    "netrc-permissions",
    "credential-not-ours",
];

/// One command of a tool check's fix, rendered for its reader by [`tool_fix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolFix {
    /// Our login for that tool with the diagnosed settings (and the record's mode, store and source).
    Login {
        tool: &'static str,
        extra_index: bool,
        token_store: Option<&'static str>,
        poetry_source: Option<String>,
    },
    /// Unset an environment variable (shell: `unset`; Python: `os.environ.pop`, which the tools a notebook
    /// starts inherit).
    Unset(String),
    /// Make a file readable and writable by its owner only.
    Chmod600(std::path::PathBuf),
    /// Move a file this user cannot use aside (kept, with `.ca-login-aside` appended).
    MoveAside(std::path::PathBuf),
    /// Add (or update) the project's Poetry source.
    PoetrySourceAdd { source: String, url: String },
}

/// A tool fix as the reader pastes it: CLI texts name `ca-login` and shell commands, Python texts Python calls.
pub fn tool_fix(fix: &ToolFix, s: &Settings, region: &str, face: Face) -> String {
    let path_word = |p: &std::path::Path| shell_word(&p.to_string_lossy());
    match fix {
        ToolFix::Login {
            tool,
            extra_index,
            token_store,
            poetry_source,
        } => {
            let mut args = match login_step(s, region) {
                Step::Login(args) => args,
                Step::Shell(_) => Vec::new(),
            };
            args.push(("tool", (*tool).to_string()));
            if let Some(store) = token_store {
                args.push(("token_store", (*store).to_string()));
            }
            if let Some(src) = poetry_source.as_ref().filter(|s| *s != "codeartifact") {
                args.push(("poetry_source", src.clone()));
            }
            let text = Step::Login(args).render(face);
            match (extra_index, face) {
                (false, _) => text,
                (true, Face::Cli) => format!("{text} --extra-index-url"),
                (true, Face::Python) => match text.strip_suffix(')') {
                    Some(head) => format!("{head}, extra_index=True)"),
                    None => text,
                },
            }
        }
        ToolFix::Unset(name) => match face {
            Face::Cli => format!("unset {name}"),
            Face::Python => format!("import os; os.environ.pop({}, None)", py_str(name)),
        },
        ToolFix::Chmod600(p) => match face {
            Face::Cli => format!("chmod 600 {}", path_word(p)),
            Face::Python => format!(
                "import os; os.chmod({}, 0o600)",
                py_str(&p.to_string_lossy())
            ),
        },
        ToolFix::MoveAside(p) => {
            let to = format!("{}.ca-login-aside", p.to_string_lossy());
            match face {
                Face::Cli => format!("mv {} {}", path_word(p), shell_word(&to)),
                Face::Python => format!(
                    "import os; os.replace({}, {})",
                    py_str(&p.to_string_lossy()),
                    py_str(&to)
                ),
            }
        }
        ToolFix::PoetrySourceAdd { source, url } => format!(
            "poetry source add --priority=primary {} {}",
            shell_word(source),
            shell_word(url)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Source, Sourced};

    fn arg(v: &str) -> Sourced<String> {
        Sourced {
            value: v.into(),
            source: Source::Argument,
        }
    }

    fn settings() -> Settings {
        Settings {
            domain: arg("mydomain"),
            repository: arg("pypi-store"),
            domain_owner: Some(arg("111122223333")),
            region: Some(arg("us-west-2")),
            duration_seconds: None,
            endpoint_url: None,
            repository_endpoint_url: None,
            profile: None,
            endpoint_type: None,
        }
    }

    const ROLE_SESSION: &str =
        "arn:aws:sts::444455556666:assumed-role/GeneralIsolatedNotebook/SageMaker";

    fn denial(policy_type: Option<PolicyType>, action: &str, principal: Option<&str>) -> Denial {
        Denial {
            policy_type,
            action: Some(action.into()),
            principal: principal.map(String::from),
            ..Denial::default()
        }
    }

    #[test]
    fn endpoint_policy_is_json_naming_the_domain_repository_and_role() {
        let p: serde_json::Value = serde_json::from_str(&endpoint_policy(
            &settings(),
            "us-west-2",
            Some(ROLE_SESSION),
        ))
        .unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(
            st[0]["Action"],
            serde_json::json!([
                "codeartifact:GetAuthorizationToken",
                "codeartifact:GetRepositoryEndpoint",
                "codeartifact:ReadFromRepository"
            ])
        );
        assert_eq!(
            st[0]["Resource"],
            serde_json::json!([
                "arn:aws:codeartifact:us-west-2:111122223333:domain/mydomain",
                "arn:aws:codeartifact:us-west-2:111122223333:repository/mydomain/pypi-store"
            ])
        );
        assert_eq!(st[1]["Action"], "sts:GetServiceBearerToken");
        assert_eq!(st[1]["Resource"], "*");
        assert_eq!(
            st[1]["Condition"]["StringEquals"]["sts:AWSServiceName"],
            "codeartifact.amazonaws.com"
        );
        for s in st {
            assert_eq!(
                s["Principal"]["AWS"],
                "arn:aws:iam::444455556666:role/GeneralIsolatedNotebook"
            );
        }
        let anyone: serde_json::Value =
            serde_json::from_str(&endpoint_policy(&settings(), "us-west-2", None)).unwrap();
        assert_eq!(anyone["Statement"][0]["Principal"], "*");
    }

    #[test]
    fn every_policy_document_in_a_step_is_valid_json() {
        let s = settings();
        for pt in [
            Some(PolicyType::IdentityBased),
            Some(PolicyType::VpcEndpoint),
            Some(PolicyType::ResourceBased),
        ] {
            for action in [
                "codeartifact:GetAuthorizationToken",
                "codeartifact:GetRepositoryEndpoint",
            ] {
                let steps =
                    access_denied_steps(&denial(pt, action, Some(ROLE_SESSION)), &s, "us-west-2");
                let docs: Vec<&str> = steps
                    .iter()
                    .filter_map(|st| match st {
                        Step::Shell(c) => c.split("--policy-document '").nth(1),
                        Step::Login(_) => None,
                    })
                    .collect();
                assert_eq!(docs.len(), 1, "{pt:?} {action}: {steps:?}");
                let doc = docs[0].strip_suffix('\'').unwrap();
                serde_json::from_str::<serde_json::Value>(doc).unwrap();
            }
        }
    }

    #[test]
    fn resource_policy_denial_of_the_token_suggests_the_domain_policy() {
        let s = settings();
        let steps = access_denied_steps(
            &denial(
                Some(PolicyType::ResourceBased),
                "codeartifact:GetAuthorizationToken",
                Some(ROLE_SESSION),
            ),
            &s,
            "us-west-2",
        );
        let text: Vec<String> = steps.iter().map(|st| st.render(Face::Cli)).collect();
        assert!(text[1].starts_with("aws codeartifact put-domain-permissions-policy --region us-west-2 --domain mydomain"), "{text:?}");
        assert!(text[1].contains("arn:aws:iam::444455556666:role/GeneralIsolatedNotebook"));
        let repo = access_denied_steps(
            &denial(
                Some(PolicyType::ResourceBased),
                "codeartifact:ReadFromRepository",
                Some(ROLE_SESSION),
            ),
            &s,
            "us-west-2",
        );
        assert!(repo[1]
            .render(Face::Cli)
            .starts_with("aws codeartifact put-repository-permissions-policy"));
    }

    #[test]
    fn login_step_renders_for_the_cli_and_for_python() {
        let step = login_step(&settings(), "us-west-2");
        assert_eq!(
            step.render(Face::Cli),
            "ca-login login --domain mydomain --repository pypi-store --domain-owner 111122223333 --region us-west-2"
        );
        assert_eq!(
            step.render(Face::Python),
            r#"ca_login.login(domain="mydomain", repository="pypi-store", domain_owner="111122223333", region="us-west-2")"#
        );
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
        assert_eq!(py_str("a\"b\\c"), r#""a\"b\\c""#);
    }

    #[test]
    fn unknown_role_is_looked_up_before_it_is_used() {
        let steps = access_denied_steps(
            &denial(
                Some(PolicyType::IdentityBased),
                "codeartifact:GetAuthorizationToken",
                None,
            ),
            &settings(),
            "us-west-2",
        );
        let cli: Vec<String> = steps.iter().map(|s| s.render(Face::Cli)).collect();
        assert!(
            cli[0].starts_with("ROLE=$(aws sts get-caller-identity"),
            "{cli:?}"
        );
        assert!(
            cli[1].starts_with("aws iam put-role-policy --role-name \"$ROLE\""),
            "{cli:?}"
        );
        assert!(cli[2].starts_with("ca-login login "), "{cli:?}");
    }

    #[test]
    fn no_remedy_tells_the_reader_to_run_diagnose() {
        let s = settings();
        let mut texts = Vec::new();
        for pt in [
            None,
            Some(PolicyType::IdentityBased),
            Some(PolicyType::VpcEndpoint),
            Some(PolicyType::ServiceControl),
            Some(PolicyType::ResourceControl),
            Some(PolicyType::PermissionsBoundary),
            Some(PolicyType::Session),
            Some(PolicyType::ResourceBased),
        ] {
            let d = denial(pt, "codeartifact:GetAuthorizationToken", Some(ROLE_SESSION));
            texts.push(access_denied(&d, &s, "us-west-2"));
            texts.extend(
                access_denied_steps(&d, &s, "us-west-2")
                    .iter()
                    .map(|st| st.render(Face::Python)),
            );
        }
        for k in [
            NetFailure::Dns,
            NetFailure::Timeout,
            NetFailure::Other,
            NetFailure::Refused,
            NetFailure::Tls,
        ] {
            texts.push(unreachable_api(k, "us-west-2", "api.example"));
            texts.extend(
                unreachable_steps(k, &s, "us-west-2")
                    .iter()
                    .map(|st| st.render(Face::Cli)),
            );
        }
        for t in &texts {
            assert!(!t.contains("diagnose"), "{t}");
        }
    }

    #[test]
    fn an_unknown_domain_owner_is_the_callers_account_never_a_placeholder() {
        let s = Settings {
            domain_owner: None,
            ..settings()
        };
        let d = denial(
            Some(PolicyType::ResourceBased),
            "codeartifact:GetAuthorizationToken",
            Some(ROLE_SESSION),
        );
        let steps: Vec<String> = access_denied_steps(&d, &s, "us-west-2")
            .iter()
            .map(|st| st.render(Face::Cli))
            .collect();
        assert!(
            steps[1].contains(" --domain-owner 444455556666 "),
            "{steps:?}"
        );
        let repo = verdict_steps("repository-not-found", None, &s, "us-west-2");
        assert_eq!(
            repo,
            [Step::Shell(
                "aws codeartifact list-repositories-in-domain --region us-west-2 --domain mydomain"
                    .into()
            )]
        );
        for st in steps {
            assert!(!st.contains("ACCOUNT_ID"), "{st}");
        }
    }

    #[test]
    fn verdict_steps_cover_not_found_and_unreachable() {
        let s = settings();
        let domain = verdict_steps("domain-not-found", None, &s, "us-west-2");
        assert_eq!(
            domain,
            [Step::Shell(
                "aws codeartifact list-domains --region us-west-2".into()
            )]
        );
        let dns: Vec<String> = verdict_steps("api-dns-failed", None, &s, "us-west-2")
            .iter()
            .map(|st| st.render(Face::Cli))
            .collect();
        assert!(
            dns[0].starts_with("VPCE_ID=$(aws ec2 describe-vpc-endpoints --region us-west-2"),
            "{dns:?}"
        );
        assert!(
            dns[1].contains("--vpc-endpoint-id \"$VPCE_ID\" --private-dns-enabled"),
            "{dns:?}"
        );
        assert!(verdict_steps("tls-untrusted", None, &s, "us-west-2").is_empty());
    }

    #[test]
    fn role_name_from_assumed_role_arn() {
        assert_eq!(
            role_name(Some(
                "arn:aws:sts::111122223333:assumed-role/GeneralIsolatedNotebook/SageMaker"
            ))
            .as_deref(),
            Some("GeneralIsolatedNotebook")
        );
        assert_eq!(
            role_name(Some("arn:aws:iam::111122223333:role/R1")).as_deref(),
            Some("R1")
        );
        assert_eq!(role_name(Some("arn:aws:iam::111122223333:user/u")), None);
    }

    #[test]
    fn tool_fixes_render_ca_login_for_the_cli_and_python_calls_for_python() {
        let s = settings();
        let login = ToolFix::Login {
            tool: "uv",
            extra_index: true,
            token_store: None,
            poetry_source: None,
        };
        assert_eq!(
            tool_fix(&login, &s, "us-west-2", Face::Cli),
            "ca-login login --domain mydomain --repository pypi-store --domain-owner 111122223333 --region us-west-2 --tool uv --extra-index-url"
        );
        assert_eq!(
            tool_fix(&login, &s, "us-west-2", Face::Python),
            r#"ca_login.login(domain="mydomain", repository="pypi-store", domain_owner="111122223333", region="us-west-2", tool="uv", extra_index=True)"#
        );
        let poetry = ToolFix::Login {
            tool: "poetry",
            extra_index: false,
            token_store: Some("netrc"),
            poetry_source: Some("corp".into()),
        };
        assert!(tool_fix(&poetry, &s, "us-west-2", Face::Cli)
            .ends_with(" --tool poetry --token-store netrc --poetry-source corp"));
        let unset = ToolFix::Unset("UV_INDEX_URL".into());
        assert_eq!(tool_fix(&unset, &s, "r", Face::Cli), "unset UV_INDEX_URL");
        assert_eq!(
            tool_fix(&unset, &s, "r", Face::Python),
            r#"import os; os.environ.pop("UV_INDEX_URL", None)"#
        );
        let chmod = ToolFix::Chmod600("/home/u/my netrc".into());
        assert_eq!(
            tool_fix(&chmod, &s, "r", Face::Cli),
            "chmod 600 '/home/u/my netrc'"
        );
        let add = ToolFix::PoetrySourceAdd {
            source: "codeartifact".into(),
            url: "https://h/pypi/r/simple/".into(),
        };
        assert_eq!(
            tool_fix(&add, &s, "r", Face::Python),
            "poetry source add --priority=primary codeartifact https://h/pypi/r/simple/"
        );
        let mut causes = TOOL_CAUSES.to_vec();
        causes.sort_unstable();
        causes.dedup();
        assert_eq!(causes.len(), TOOL_CAUSES.len(), "each cause once");
    }
}
