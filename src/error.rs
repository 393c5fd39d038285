//! The one error type of the core. No pyo3 here: `src/python.rs` maps each variant to a Python exception.
//!
//! Every message says what failed and where (host, file), then a `hint:` line with the fix. No variant ever
//! carries a token: values that may hold one go through [`crate::secret::mask_url`] first.

use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which policy type an AccessDenied message names (IAM User Guide, "Troubleshoot access denied error messages").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    IdentityBased,
    VpcEndpoint,
    ServiceControl,
    ResourceControl,
    PermissionsBoundary,
    Session,
    ResourceBased,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::IdentityBased => "identity-based",
            PolicyType::VpcEndpoint => "vpc-endpoint",
            PolicyType::ServiceControl => "service-control",
            PolicyType::ResourceControl => "resource-control",
            PolicyType::PermissionsBoundary => "permissions-boundary",
            PolicyType::Session => "session",
            PolicyType::ResourceBased => "resource-based",
        }
    }
}

/// What an AccessDenied message says, parsed. Every field is optional: some messages carry no reason at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Denial {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub policy_type: Option<PolicyType>,
    /// `true` for "with an explicit deny in ...", `false` for "because no ... allows".
    pub explicit: bool,
}

/// Which thing was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Domain,
    Repository,
    Other,
}

/// What is wrong with the AWS credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredProblem {
    /// None found, or the provider failed.
    Missing,
    /// Found but expired (by the provider's word or the service's).
    Expired,
    /// Found, but AWS rejects them: unknown access key, or a signature that does not match (wrong secret, clock).
    Rejected,
}

/// Why an endpoint could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFailure {
    Dns,
    Timeout,
    Refused,
    Tls,
    Other,
    /// TCP connected, but no TLS handshake or HTTP answer finished in time (a proxy, firewall or appliance that
    /// accepts and drops, or not a CodeArtifact endpoint).
    NoResponse,
}

/// Where on the way to an endpoint a call failed (`EndpointUnreachable.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Dns,
    /// No TCP connection within the connect time-out (or refused).
    Connect,
    /// TCP connected, the TLS handshake did not finish (or the certificate is not trusted).
    Tls,
    /// Connected, no HTTP answer within the read time-out.
    Response,
    /// The answer started but did not finish within the attempt's bound.
    Body,
    Unknown,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Response => "response",
            Phase::Body => "body",
            Phase::Unknown => "unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input, found before any network call. Python: `ValueError` (and `ca_login.Error`).
    #[error("invalid {field}: {message}\nhint: {hint}")]
    InvalidInput {
        field: &'static str,
        message: String,
        hint: String,
    },

    /// A file we read or write: unparsable, unwritable, locked.
    #[error("{}: {message}\nhint: {hint}", path.display())]
    Config {
        path: PathBuf,
        message: String,
        hint: String,
    },

    /// No credentials, or expired ones.
    #[error("AWS credentials: {message}\nhint: {hint}")]
    Credentials {
        message: String,
        problem: CredProblem,
        hint: String,
    },

    /// DNS, connect, TLS or time-out on the way to `host`.
    #[error("cannot reach {host}: {message}\nhint: {hint}")]
    Unreachable {
        host: String,
        kind: NetFailure,
        phase: Phase,
        message: String,
        hint: String,
        /// The call went through a proxy and the proxy is what failed: `proxy-unreachable`,
        /// `proxy-not-bypassed` or `proxy-connect-refused`, the causes diagnose gives.
        proxy_cause: Option<&'static str>,
    },

    /// AccessDeniedException, with the policy type the message names.
    #[error("access denied: {message}\nhint: {hint}")]
    AccessDenied {
        denial: Denial,
        message: String,
        hint: String,
    },

    /// ResourceNotFoundException.
    #[error("not found: {message}\nhint: {hint}")]
    NotFound {
        missing: Missing,
        message: String,
        hint: String,
    },

    /// ThrottlingException after our retries gave up.
    #[error("throttled: {message}\nhint: {hint}")]
    Throttled {
        message: String,
        retry_after: Option<Duration>,
        hint: String,
    },

    /// Any other service error (InternalServerException, ValidationException, signature errors...).
    #[error("{code} from {host} (HTTP {status}): {message}\nhint: {hint}")]
    Service {
        host: String,
        code: String,
        status: u16,
        message: String,
        hint: String,
    },

    /// The caller asked us to stop (Jupyter interrupt, Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn invalid(
        field: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn config(
        path: impl Into<PathBuf>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Config {
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The stable cause code shared with `diagnose()` (see the README's list).
    pub fn cause(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid-input",
            Error::Config { .. } => "config-error",
            Error::Credentials {
                problem: CredProblem::Expired,
                ..
            } => "credentials-expired",
            Error::Credentials {
                problem: CredProblem::Rejected,
                ..
            } => "credentials-invalid",
            Error::Credentials { .. } => "credentials-missing",
            Error::Unreachable {
                proxy_cause: Some(cause),
                ..
            } => cause,
            Error::Unreachable { kind, .. } => match kind {
                NetFailure::Dns => "api-dns-failed",
                NetFailure::Timeout => "api-endpoint-unreachable",
                NetFailure::Refused => "api-connection-refused",
                NetFailure::Tls => "tls-untrusted",
                NetFailure::Other => "api-endpoint-unreachable",
                NetFailure::NoResponse => "api-endpoint-no-response",
            },
            Error::AccessDenied { denial, .. } => denial_cause(denial),
            Error::NotFound {
                missing: Missing::Domain,
                ..
            } => "domain-not-found",
            Error::NotFound {
                missing: Missing::Repository,
                ..
            } => "repository-not-found",
            Error::NotFound { .. } => "not-found",
            Error::Throttled { .. } => "throttled",
            Error::Service { .. } => "service-error",
            Error::Interrupted => "interrupted",
        }
    }

    /// The `hint:` text alone.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::InvalidInput { hint, .. }
            | Error::Config { hint, .. }
            | Error::Credentials { hint, .. }
            | Error::Unreachable { hint, .. }
            | Error::AccessDenied { hint, .. }
            | Error::NotFound { hint, .. }
            | Error::Throttled { hint, .. }
            | Error::Service { hint, .. } => Some(hint),
            Error::Interrupted => None,
        }
    }
}

/// Cause code for an AccessDenied, by the policy type its message names.
pub fn denial_cause(denial: &Denial) -> &'static str {
    match denial.policy_type {
        Some(PolicyType::IdentityBased) => "access-denied-identity-policy",
        Some(PolicyType::VpcEndpoint) => "access-denied-vpc-endpoint-policy",
        Some(PolicyType::ServiceControl) => "access-denied-scp",
        Some(PolicyType::ResourceControl) => "access-denied-rcp",
        Some(PolicyType::PermissionsBoundary) => "access-denied-permissions-boundary",
        Some(PolicyType::ResourceBased) => "access-denied-resource-policy",
        Some(PolicyType::Session) => "access-denied-session-policy",
        None => "access-denied",
    }
}

/// Parse an AccessDenied message of the form
/// `User: ARN is not authorized to perform: ACTION on resource: ARN because no identity-based policy allows the ACTION action`.
pub fn parse_denial(message: &str) -> Denial {
    let mut d = Denial::default();
    if let Some(rest) = message.split("User: ").nth(1) {
        d.principal = rest
            .split(" is not authorized")
            .next()
            .map(|s| s.trim().to_string());
    }
    if let Some(rest) = message.split("to perform: ").nth(1) {
        d.action = rest.split_whitespace().next().map(|s| s.to_string());
    }
    if let Some(rest) = message.split("on resource: ").nth(1) {
        d.resource = rest
            .split_whitespace()
            .next()
            .map(|s| s.trim_end_matches(['.', ',']).to_string());
    }
    let lower = message.to_ascii_lowercase();
    d.explicit = lower.contains("with an explicit deny in");
    const PHRASES: [(&str, PolicyType); 8] = [
        ("identity-based polic", PolicyType::IdentityBased),
        ("vpc endpoint polic", PolicyType::VpcEndpoint),
        ("service control polic", PolicyType::ServiceControl),
        ("resource control polic", PolicyType::ResourceControl),
        ("permissions boundary", PolicyType::PermissionsBoundary),
        ("sessions polic", PolicyType::Session),
        ("session polic", PolicyType::Session),
        ("resource-based polic", PolicyType::ResourceBased),
    ];
    // Only the reason clause names the policy type; the ARN part never holds these phrases.
    let reason = lower
        .find(" because no ")
        .or_else(|| lower.find(" with an explicit deny in "))
        .map(|i| &lower[i..]);
    if let Some(reason) = reason {
        d.policy_type = PHRASES
            .iter()
            .find(|(p, _)| reason.contains(p))
            .map(|(_, t)| *t);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "User: arn:aws:sts::111122223333:assumed-role/GeneralIsolatedNotebook/SageMaker is not authorized to perform: codeartifact:GetAuthorizationToken on resource: arn:aws:codeartifact:us-west-2:111122223333:domain/mydomain";

    #[test]
    fn parse_denial_names_each_policy_type_implicit_and_explicit() {
        let cases = [
            ("because no identity-based policy allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::IdentityBased), false),
            ("with an explicit deny in an identity-based policy", Some(PolicyType::IdentityBased), true),
            ("because no VPC endpoint policy allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::VpcEndpoint), false),
            ("with an explicit deny in a VPC endpoint policy", Some(PolicyType::VpcEndpoint), true),
            ("because no service control policy allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::ServiceControl), false),
            ("with an explicit deny in a service control policy", Some(PolicyType::ServiceControl), true),
            ("with an explicit deny in a resource control policy", Some(PolicyType::ResourceControl), true),
            ("because no permissions boundary allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::PermissionsBoundary), false),
            ("with an explicit deny in a permissions boundary", Some(PolicyType::PermissionsBoundary), true),
            ("because no session policy allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::Session), false),
            ("with an explicit deny in a sessions policy", Some(PolicyType::Session), true),
            ("because no resource-based policy allows the codeartifact:GetAuthorizationToken action", Some(PolicyType::ResourceBased), false),
            ("with an explicit deny in a resource-based policy", Some(PolicyType::ResourceBased), true),
        ];
        for (reason, ty, explicit) in cases {
            let d = parse_denial(&format!("{PREFIX} {reason}"));
            assert_eq!(d.policy_type, ty, "{reason}");
            assert_eq!(d.explicit, explicit, "{reason}");
            assert_eq!(
                d.action.as_deref(),
                Some("codeartifact:GetAuthorizationToken")
            );
            assert_eq!(
                d.resource.as_deref(),
                Some("arn:aws:codeartifact:us-west-2:111122223333:domain/mydomain")
            );
            assert_eq!(
                d.principal.as_deref(),
                Some("arn:aws:sts::111122223333:assumed-role/GeneralIsolatedNotebook/SageMaker")
            );
        }
    }

    #[test]
    fn parse_denial_without_reason_has_no_policy_type() {
        let d = parse_denial(PREFIX);
        assert_eq!(d.policy_type, None);
        assert_eq!(denial_cause(&d), "access-denied");
        let d = parse_denial("Access denied");
        assert_eq!(d, Denial::default());
    }

    #[test]
    fn cause_codes_follow_policy_type() {
        let d = parse_denial(&format!(
            "{PREFIX} because no VPC endpoint policy allows the x action"
        ));
        assert_eq!(denial_cause(&d), "access-denied-vpc-endpoint-policy");
    }
}
