//! EKS: the cluster's endpoint and CA from `DescribeCluster`, and the
//! bearer token EKS takes, made as `aws eks get-token` makes it.
//!
//! The token is a presigned STS `GetCallerIdentity` URL whose signature
//! covers the header `x-k8s-aws-id: <cluster name>`, base64url-encoded
//! without padding and prefixed `k8s-aws-v1.`. The cluster's
//! authenticator calls that URL and maps the identity STS answers (the
//! role rectify assumed in the cluster's account) to Kubernetes RBAC.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// The prefix EKS expects on a token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header whose signed value binds a token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long the presigned URL is valid, as `aws eks get-token` sets it.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);
/// EKS accepts a token for 15 minutes after it was signed; rectify makes a
/// new one well before that.
pub const TOKEN_REUSE: Duration = Duration::from_secs(10 * 60);

/// The STS endpoint a token is presigned for: the configured endpoint
/// override (an emulator, a VPC endpoint), else the regional endpoint.
pub fn sts_endpoint(region: &str, endpoint_override: Option<&str>) -> String {
    match endpoint_override {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://sts.{region}.{suffix}")
        }
    }
}

/// The bearer token for `cluster_name`, signed with `credentials` for STS in
/// `region` at `now`.
pub fn token(
    credentials: &Credentials,
    region: &str,
    cluster_name: &str,
    sts_endpoint: &str,
    now: SystemTime,
) -> Result<String, String> {
    let url = presigned_url(credentials, region, cluster_name, sts_endpoint, now)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    ))
}

/// The presigned `GetCallerIdentity` URL inside a token.
pub fn presigned_url(
    credentials: &Credentials,
    region: &str,
    cluster_name: &str,
    sts_endpoint: &str,
    now: SystemTime,
) -> Result<String, String> {
    let base = format!("{sts_endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let identity = credentials.clone().into();
    let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing the EKS token: {e}"))?
        .into();
    let headers = [(CLUSTER_ID_HEADER, cluster_name)];
    let request = SignableRequest::new(
        "GET",
        base.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("signing the EKS token: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("signing the EKS token: {e}"))?
        .into_parts();
    let mut url = base;
    // The signature last, as botocore orders them: the same token bytes as
    // `aws eks get-token`.
    let mut params: Vec<_> = instructions.params().iter().collect();
    params.sort_by_key(|(name, _)| *name == "X-Amz-Signature");
    for (name, value) in params {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.push_str(&query_escape(value));
    }
    Ok(url)
}

/// Percent-encoding of a query value as SigV4 canonicalises it
/// (unreserved characters kept, everything else `%XX`).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The presigned URL a token carries, decoded (for tests and for the
/// stand-in's checks, which do the same in Python).
pub fn decode_token(token: &str) -> Result<String, String> {
    let body = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| format!("token does not start with {TOKEN_PREFIX}"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|e| format!("token is not base64url: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("token is not UTF-8: {e}"))
}

/// What `DescribeCluster` says about reaching a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksEndpoint {
    /// `https://...eks.amazonaws.com`.
    pub endpoint: String,
    /// The cluster CA as PEM (the API's `certificateAuthority.data`,
    /// base64-decoded).
    pub ca_pem: Vec<u8>,
}

/// Reads the endpoint and CA of `cluster_name` with `eks`.
pub async fn describe_cluster(
    eks: &aws_sdk_eks::Client,
    cluster_name: &str,
) -> Result<EksEndpoint, rectify_model::ActionError> {
    let out = eks
        .describe_cluster()
        .name(cluster_name)
        .send()
        .await
        .map_err(|e| rectify_aws::sdk_error(&format!("eks:DescribeCluster {cluster_name}"), e))?;
    let cluster = out.cluster().ok_or_else(|| {
        rectify_model::ActionError::new(
            rectify_model::ErrorClass::NotFound,
            format!("EKS cluster {cluster_name}: DescribeCluster returned no cluster"),
        )
    })?;
    endpoint_of(
        cluster_name,
        cluster.endpoint(),
        cluster.certificate_authority().and_then(|c| c.data()),
    )
}

/// The endpoint and CA from the fields `DescribeCluster` returns.
pub fn endpoint_of(
    cluster_name: &str,
    endpoint: Option<&str>,
    ca_data: Option<&str>,
) -> Result<EksEndpoint, rectify_model::ActionError> {
    let invalid = |what: String| {
        rectify_model::ActionError::invalid(format!("EKS cluster {cluster_name}: {what}"))
    };
    let endpoint = endpoint
        .filter(|e| e.starts_with("https://"))
        .ok_or_else(|| invalid(format!("endpoint {endpoint:?} is not an https URL")))?;
    let ca_data = ca_data.ok_or_else(|| invalid("no certificateAuthority.data".into()))?;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca_data.trim())
        .map_err(|e| invalid(format!("certificateAuthority.data is not base64: {e}")))?;
    Ok(EksEndpoint {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        ca_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The vector comes from botocore 1.44.18's presigner (the code `aws eks
    /// get-token` runs), with the same keys, region, cluster and clock.
    #[test]
    fn token_matches_botocore() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let url = presigned_url(
            &creds,
            "us-east-1",
            "prod",
            &sts_endpoint("us-east-1", None),
            at(1_767_225_600), // 2026-01-01T00:00:00Z
        )
        .unwrap();
        assert_eq!(url, BOTOCORE_URL);
        let token = token(
            &creds,
            "us-east-1",
            "prod",
            &sts_endpoint("us-east-1", None),
            at(1_767_225_600),
        )
        .unwrap();
        assert_eq!(token, BOTOCORE_TOKEN);
        assert_eq!(decode_token(&token).unwrap(), url);
    }

    #[test]
    fn session_token_is_signed_in() {
        let creds = Credentials::new(
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session/token+x=".into()),
            None,
            "test",
        );
        let url = presigned_url(
            &creds,
            "eu-west-1",
            "c1",
            &sts_endpoint("eu-west-1", None),
            at(1_767_225_600),
        )
        .unwrap();
        assert_eq!(url, BOTOCORE_SESSION_URL);
    }

    #[test]
    fn endpoint_and_ca_from_describe_cluster_fields() {
        let ep = endpoint_of(
            "c",
            Some("https://abc.eks.amazonaws.com/"),
            Some("LS0tLQ=="),
        )
        .unwrap();
        assert_eq!(ep.endpoint, "https://abc.eks.amazonaws.com");
        assert_eq!(ep.ca_pem, b"----");
        assert!(endpoint_of("c", Some("http://x"), Some("LS0tLQ==")).is_err());
        assert!(endpoint_of("c", Some("https://x"), None).is_err());
        assert!(endpoint_of("c", Some("https://x"), Some("%%%")).is_err());
    }

    #[test]
    fn decode_refuses_foreign_tokens() {
        assert!(decode_token("Bearer abc").is_err());
        assert!(decode_token("k8s-aws-v1.@@@").is_err());
    }

    const BOTOCORE_URL: &str = include_str!("../tests/vectors/eks-token-url.txt");
    const BOTOCORE_TOKEN: &str = include_str!("../tests/vectors/eks-token.txt");
    const BOTOCORE_SESSION_URL: &str = include_str!("../tests/vectors/eks-token-session-url.txt");
}
