//! Every SDK error becomes an `ActionError` whose class tells the engine
//! whether to retry. Messages name the operation, the error code and the
//! service's message, never credentials or request bodies.

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rectify_model::{ActionError, ErrorClass};

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
];

const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
];

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "InvalidGroup.NotFound",
    "InvalidSnapshot.NotFound",
    "NoSuchEntity",
    "NotFound",
    "ResourceNotFoundException",
    "FindingNotFound",
];

/// The class of an error from its code (preferred) or HTTP status.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    if let Some(code) = code {
        if THROTTLED.contains(&code) {
            return ErrorClass::Throttled;
        }
        if TRANSIENT.contains(&code) {
            return ErrorClass::Transient;
        }
        if ACCESS_DENIED.contains(&code) {
            return ErrorClass::AccessDenied;
        }
        if NOT_FOUND.contains(&code) {
            return ErrorClass::NotFound;
        }
    }
    match status {
        Some(429) => ErrorClass::Throttled,
        Some(500..=599) => ErrorClass::Transient,
        // A 403 without a code we know is still a refusal.
        Some(403) if code.is_none() => ErrorClass::AccessDenied,
        _ => ErrorClass::Invalid,
    }
}

/// Maps an SDK error of `operation` (the IAM action, e.g.
/// `s3:PutBucketPublicAccessBlock`).
pub fn sdk_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    map_sdk_error(operation, None, err)
}

/// Maps an SDK error of `operation` on `resource` (a bucket, a group, an
/// account): the message names all three.
pub fn sdk_error_on<E>(
    operation: &str,
    resource: &str,
    err: SdkError<E, HttpResponse>,
) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    map_sdk_error(operation, Some(resource), err)
}

/// The longest service message kept in an outcome; the rest is cut.
const MAX_SERVICE_MESSAGE: usize = 200;

/// The service's own message, without EC2's encoded authorization
/// message (a long blob only `sts:DecodeAuthorizationMessage` can read)
/// and cut to [`MAX_SERVICE_MESSAGE`] characters.
fn short_message(text: &str) -> String {
    let text = text
        .split(" Encoded authorization failure message:")
        .next()
        .unwrap_or(text)
        .trim();
    cut(text, MAX_SERVICE_MESSAGE)
}

fn cut(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

/// The innermost cause of an error, the part a person can act on
/// (`connection refused`, `dns error: ...`), cut short.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cut(&cause.to_string(), 160)
}

/// Whether the error chain holds "no credentials could be loaded".
fn no_credentials_in(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) =
            e.downcast_ref::<CredentialsError>()
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A job's reason when rectify's own identity has no credentials.
pub const NO_CREDENTIALS_REASON: &str = "no AWS credentials found for rectify's own identity (a configuration error, not retried; where rectify looked is logged once)";

static TOLD_NO_CREDENTIALS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Logs [`no_credentials_message`] the first time it is called in this
/// process, never again: every later failure says only
/// [`NO_CREDENTIALS_REASON`].
/// The profile chosen by `--profile` / `aws.profile`, for the message
/// below (else `AWS_PROFILE` names it).
static CHOSEN_PROFILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub(crate) fn set_chosen_profile(profile: &str) {
    let _ = CHOSEN_PROFILE.set(profile.to_string());
}

pub(crate) fn tell_no_credentials_once() {
    if !TOLD_NO_CREDENTIALS.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("{}", no_credentials_message());
    }
}

/// What rectify says when its own identity has no credentials: where the
/// standard chain looked, and that the job is not retried.
pub fn no_credentials_message() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let home = var("HOME").unwrap_or_else(|| "~".into());
    let config = var("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let credentials =
        var("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let profile = CHOSEN_PROFILE
        .get()
        .cloned()
        .or_else(|| var("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let imds = if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        "the EC2 instance metadata service (turned off by AWS_EC2_METADATA_DISABLED)"
    } else {
        "the EC2 instance metadata service"
    };
    format!(
        "no AWS credentials found: rectify looked in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), \
         profile `{profile}` of {credentials} and {config}, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), \
         the ECS/EKS container credentials endpoint and {imds}; give rectify an identity in one of them \
         (a configuration error: not retried)"
    )
}

fn map_sdk_error<E>(
    operation: &str,
    resource: Option<&str>,
    err: SdkError<E, HttpResponse>,
) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let what = match resource {
        Some(r) if !r.is_empty() => format!("{operation} on {r}"),
        _ => operation.to_string(),
    };
    if no_credentials_in(&err) {
        tell_no_credentials_once();
        return ActionError::new(
            ErrorClass::Invalid,
            format!("{what}: {NO_CREDENTIALS_REASON}"),
        );
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    match &err {
        SdkError::DispatchFailure(failure) => {
            let class = if failure.is_user() {
                ErrorClass::Invalid
            } else {
                ErrorClass::Transient
            };
            let kind = if failure.is_timeout() {
                "timed out"
            } else if failure.is_io() {
                "connection failed"
            } else {
                "request not sent"
            };
            ActionError::new(class, format!("{what}: {kind}: {}", root_cause(&err)))
        }
        SdkError::TimeoutError(_) => {
            ActionError::new(ErrorClass::Transient, format!("{what}: timed out"))
        }
        SdkError::ConstructionFailure(_) => ActionError::new(
            ErrorClass::Invalid,
            format!("{what}: could not build the request: {}", root_cause(&err)),
        ),
        SdkError::ResponseError(_) => {
            let status = status.unwrap_or(0);
            let class = classify(None, Some(status));
            // A refusal reads as one, whatever the body held.
            let refused = match class {
                ErrorClass::AccessDenied => "access denied: ",
                _ => "",
            };
            ActionError::new(
                class,
                format!("{refused}{what}: HTTP {status} with a response that could not be read"),
            )
        }
        _ => {
            let code = err.code();
            let class = classify(code, status);
            let mut message = String::new();
            if class == ErrorClass::AccessDenied {
                message.push_str("access denied: ");
            }
            match (code, status) {
                (Some(code), _) => message.push_str(&format!("{what}: {code}")),
                (None, Some(status)) => message.push_str(&format!("{what}: HTTP {status}")),
                (None, None) => message.push_str(&format!("{what}: error")),
            }
            if let Some(text) = err.message().filter(|m| !m.trim().is_empty()) {
                message.push_str(": ");
                message.push_str(&short_message(text));
            }
            ActionError::new(class, message)
        }
    }
}

/// The error code of a service error, to handle expected ones (e.g.
/// `NoSuchTagSet`) before mapping the rest.
pub(crate) fn code_of<E>(err: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    err.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[derive(Debug)]
    struct ServiceErr(ErrorMetadata);
    impl std::fmt::Display for ServiceErr {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "service error")
        }
    }
    impl std::error::Error for ServiceErr {}
    impl ProvideErrorMetadata for ServiceErr {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::from("x"))
    }

    fn service(code: &str, message: &str, status: u16) -> SdkError<ServiceErr, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(ServiceErr(meta), response(status))
    }

    #[test]
    fn codes_map_to_classes() {
        let cases = [
            ("Throttling", 400, ErrorClass::Throttled),
            ("ThrottlingException", 400, ErrorClass::Throttled),
            ("RequestLimitExceeded", 503, ErrorClass::Throttled),
            ("SlowDown", 503, ErrorClass::Throttled),
            ("TooManyRequestsException", 429, ErrorClass::Throttled),
            ("RequestThrottled", 400, ErrorClass::Throttled),
            ("Whatever", 429, ErrorClass::Throttled),
            ("InternalError", 500, ErrorClass::Transient),
            ("Whatever", 503, ErrorClass::Transient),
            ("AccessDenied", 403, ErrorClass::AccessDenied),
            ("AccessDeniedException", 400, ErrorClass::AccessDenied),
            ("UnauthorizedOperation", 403, ErrorClass::AccessDenied),
            ("AuthFailure", 401, ErrorClass::AccessDenied),
            ("InvalidClientTokenId", 403, ErrorClass::AccessDenied),
            ("ExpiredToken", 400, ErrorClass::AccessDenied),
            ("NoSuchBucket", 404, ErrorClass::NotFound),
            ("InvalidGroup.NotFound", 400, ErrorClass::NotFound),
            ("NoSuchEntity", 404, ErrorClass::NotFound),
            ("MalformedPolicyDocument", 400, ErrorClass::Invalid),
            ("InvalidParameterValue", 400, ErrorClass::Invalid),
        ];
        for (code, status, class) in cases {
            let err = sdk_error("svc:Op", service(code, "it went wrong", status));
            assert_eq!(err.class, class, "{code} {status}");
            let prefix = if class == ErrorClass::AccessDenied {
                "access denied: "
            } else {
                ""
            };
            assert_eq!(
                err.message,
                format!("{prefix}svc:Op: {code}: it went wrong")
            );
        }
    }

    #[test]
    fn messages_are_short_and_name_operation_code_and_resource() {
        let blob = "x".repeat(1200);
        let err = sdk_error_on(
            "ec2:RevokeSecurityGroupIngress",
            "sg-0a1",
            service(
                "UnauthorizedOperation",
                &format!("You are not authorized to perform this operation. Encoded authorization failure message: {blob}"),
                403,
            ),
        );
        assert_eq!(err.class, ErrorClass::AccessDenied);
        assert_eq!(
            err.message,
            "access denied: ec2:RevokeSecurityGroupIngress on sg-0a1: UnauthorizedOperation: You are not authorized to perform this operation."
        );
        let long = sdk_error(
            "s3:Op",
            service("InvalidRequest", &"word ".repeat(200), 400),
        );
        assert!(long.message.chars().count() < 240, "{}", long.message);
        assert!(long.message.ends_with('…'), "{}", long.message);
    }

    /// A credentials provider that finds nothing, as the default chain
    /// does on a machine with no identity.
    #[derive(Debug)]
    struct Nothing;
    impl aws_credential_types::provider::ProvideCredentials for Nothing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no providers in chain provided credentials"),
            ))
        }
    }

    #[tokio::test]
    async fn no_credentials_is_a_plain_configuration_error() {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(Nothing)
            .http_client(crate::credentials::http_client())
            .build();
        let err = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .unwrap_err();
        let err = sdk_error("sts:GetCallerIdentity", err);
        assert_eq!(err.class, ErrorClass::Invalid, "{}", err.message);
        assert!(!err.class.retryable());
        assert_eq!(
            err.message,
            format!("sts:GetCallerIdentity: {NO_CREDENTIALS_REASON}")
        );
        let said = no_credentials_message();
        assert!(
            said.starts_with(
                "no AWS credentials found: rectify looked in the environment (AWS_ACCESS_KEY_ID"
            ),
            "{said}"
        );
        assert!(said.contains("instance metadata"), "{said}");
    }

    #[test]
    fn non_service_errors() {
        let dispatch: SdkError<ServiceErr, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let err = sdk_error("sts:AssumeRole", dispatch);
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(
            err.message.starts_with("sts:AssumeRole: connection failed"),
            "{}",
            err.message
        );

        let timeout: SdkError<ServiceErr, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("slow".into()));
        assert_eq!(sdk_error("x:Y", timeout).class, ErrorClass::Transient);

        let timeout: SdkError<ServiceErr, HttpResponse> = SdkError::timeout_error("slow");
        let err = sdk_error("x:Y", timeout);
        assert_eq!(
            (err.class, err.message.as_str()),
            (ErrorClass::Transient, "x:Y: timed out")
        );

        let user: SdkError<ServiceErr, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::user("bad uri".into()));
        assert_eq!(sdk_error("x:Y", user).class, ErrorClass::Invalid);

        let html: SdkError<ServiceErr, HttpResponse> =
            SdkError::response_error("not xml", response(500));
        let err = sdk_error("x:Y", html);
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(err.message.contains("HTTP 500"), "{}", err.message);

        let html: SdkError<ServiceErr, HttpResponse> =
            SdkError::response_error("not xml", response(404));
        assert_eq!(sdk_error("x:Y", html).class, ErrorClass::Invalid);

        let build: SdkError<ServiceErr, HttpResponse> = SdkError::construction_failure("missing");
        assert_eq!(sdk_error("x:Y", build).class, ErrorClass::Invalid);
    }

    /// A one-shot HTTP server on loopback that answers every connection
    /// with `status` and `body`, to drive a real SDK client.
    async fn serve(status: &'static str, content_type: &'static str, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head and the body (Content-Length) before answering.
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    async fn sts_against(endpoint: &str) -> ActionError {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .http_client(crate::credentials::http_client())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_sts::Client::from_conf(conf);
        let err = client.get_caller_identity().send().await.unwrap_err();
        sdk_error("sts:GetCallerIdentity", err)
    }

    #[tokio::test]
    async fn real_client_against_local_server() {
        let throttled = serve(
            "400 Bad Request",
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        )
        .await;
        let err = sts_against(&throttled).await;
        assert_eq!(err.class, ErrorClass::Throttled);
        assert_eq!(
            err.message,
            "sts:GetCallerIdentity: Throttling: Rate exceeded"
        );

        let denied = serve(
            "403 Forbidden",
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        )
        .await;
        let err = sts_against(&denied).await;
        assert_eq!(err.class, ErrorClass::AccessDenied);
        assert!(
            err.message.contains("InvalidClientTokenId"),
            "{}",
            err.message
        );
        assert!(
            !err.message.contains("ANOTREAL"),
            "credentials leaked: {}",
            err.message
        );

        let unavailable = serve("503 Service Unavailable", "text/html", "<html>down</html>").await;
        let err = sts_against(&unavailable).await;
        assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);

        let too_many = serve("429 Too Many Requests", "text/plain", "slow down").await;
        let err = sts_against(&too_many).await;
        assert_eq!(err.class, ErrorClass::Throttled, "{}", err.message);

        // Nothing listens here any more: a connection error.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let err = sts_against(&closed).await;
        assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
    }
}
