//! The fixes we print: exact AWS CLI commands and policy statements with the real names filled in.
//! Shared by login's `hint:` lines and diagnose's verdicts, so both always say the same thing.

use crate::error::{Denial, NetFailure, PolicyType};
use crate::settings::Settings;

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
            "the codeartifact.api VPC endpoint's policy must {explicit}{action} (and sts:GetServiceBearerToken): aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id VPCE_ID --policy-document '{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[\"codeartifact:*\",\"sts:GetServiceBearerToken\"],\"Resource\":\"*\"}}]}}' (find VPCE_ID with: aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws.{region}.codeartifact.api)"
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
        Some(PolicyType::ResourceBased) => format!(
            "the CodeArtifact {} policy must {explicit}{action} for role {role}: aws codeartifact put-repository-permissions-policy --region {region} --domain {d} --domain-owner {o} --repository {r} --policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{o}:role/{role}\"}},\"Action\":[\"codeartifact:ReadFromRepository\",\"codeartifact:GetRepositoryEndpoint\"],\"Resource\":\"*\"}}]}}'",
            if action.contains("GetAuthorizationToken") { "domain" } else { "repository" },
            d = s.domain.value,
            o = owner(s),
            r = s.repository.value
        ),
        None => format!(
            "{action} was denied and the message names no policy; run ca_login.diagnose() (CLI: ca-login diagnose), then check the role's IAM policy, the VPC endpoint policy and the repository policy"
        ),
    }
}

pub fn unreachable_api(kind: NetFailure, region: &str, host: &str) -> String {
    match kind {
        NetFailure::Dns => format!(
            "{host} does not resolve here: turn on private DNS for the com.amazonaws.{region}.codeartifact.api endpoint (aws ec2 modify-vpc-endpoint --region {region} --vpc-endpoint-id VPCE_ID --private-dns-enabled), or pass endpoint_url=\"https://vpce-...api.codeartifact.{region}.vpce.amazonaws.com\""
        ),
        NetFailure::Timeout | NetFailure::Other => format!(
            "nothing answers at {host}: create the interface endpoint com.amazonaws.{region}.codeartifact.api in the notebook's VPC (aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --service-name com.amazonaws.{region}.codeartifact.api --private-dns-enabled ...), or let its security group allow inbound TCP {port} from the notebook; run ca_login.diagnose() to tell which",
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
