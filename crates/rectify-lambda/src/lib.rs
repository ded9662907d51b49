//! A client of the AWS Lambda Runtime API (version 2018-06-01), the HTTP
//! interface a custom runtime (`provided.al2023`) uses inside its execution
//! environment: take the next invocation, answer it with a response or an
//! error, or report that initialisation failed.
//!
//! The API listens on `AWS_LAMBDA_RUNTIME_API` (`host:port`, plain HTTP on
//! the environment's loopback). Each call here opens its own connection:
//! the environment is frozen between invocations, and a fresh connection
//! after a thaw never finds a socket the other side has dropped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// The API version in every path.
const VERSION: &str = "2018-06-01";
/// Header naming the invocation.
pub const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
/// Header with the invocation's deadline, Unix milliseconds.
pub const DEADLINE_HEADER: &str = "lambda-runtime-deadline-ms";
/// Header with the function's ARN.
pub const FUNCTION_ARN_HEADER: &str = "lambda-runtime-invoked-function-arn";
/// Header with the invocation's AWS X-Ray trace header
/// (`Root=...;Parent=...;Sampled=...`).
pub const TRACE_ID_HEADER: &str = "lambda-runtime-trace-id";
/// Header of an error report naming its type.
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// Largest response Lambda takes from a synchronous invocation.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("AWS_LAMBDA_RUNTIME_API is not set: `rectify lambda` runs inside an AWS Lambda execution environment")]
    NotInLambda,
    #[error("Lambda Runtime API at {address}: {message}")]
    Transport { address: String, message: String },
    #[error("Lambda Runtime API: {path} answered {status}: {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
    #[error("Lambda Runtime API: the next invocation has no {0} header")]
    MissingHeader(&'static str),
}

/// One invocation, as the API handed it over.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// When Lambda stops the invocation; `None` if the header was absent
    /// or unreadable.
    pub deadline: Option<SystemTime>,
    pub function_arn: Option<String>,
    /// The X-Ray trace header, when tracing is on.
    pub trace_id: Option<String>,
    /// The event, as sent.
    pub body: Bytes,
}

impl Invocation {
    /// Time left before the deadline (zero once past it; `None` when the
    /// deadline is unknown).
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.duration_since(SystemTime::now()).unwrap_or_default())
    }
}

/// An error reported for an invocation or for initialisation: Lambda
/// shows `error_type` and `message` to the caller and in its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `Category.Reason`, e.g. `Rectify.InvalidEvent`.
    pub error_type: String,
    pub message: String,
}

impl FunctionError {
    pub fn new(error_type: &str, message: impl Into<String>) -> FunctionError {
        FunctionError {
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }

    fn body(&self) -> Value {
        json!({
            "errorMessage": self.message,
            "errorType": self.error_type,
            "stackTrace": [],
        })
    }
}

/// The Runtime API of this execution environment.
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    /// `host:port`.
    address: String,
    /// A path the API is served under, without the trailing slash: empty
    /// in Lambda; local emulators (cargo-lambda's `host:port/.rt`) set one.
    base: String,
}

impl RuntimeApi {
    /// From `AWS_LAMBDA_RUNTIME_API`.
    pub fn from_env() -> Result<RuntimeApi, RuntimeError> {
        match std::env::var("AWS_LAMBDA_RUNTIME_API") {
            Ok(address) if !address.trim().is_empty() => Ok(RuntimeApi::new(address.trim())),
            _ => Err(RuntimeError::NotInLambda),
        }
    }

    /// `address` is `host:port`, optionally followed by a base path
    /// (`host:port/prefix`) and preceded by `http://` (as cargo-lambda's
    /// local emulator gives it: `http://127.0.0.1:9000/.rt`).
    pub fn new(address: &str) -> RuntimeApi {
        let address = address.strip_prefix("http://").unwrap_or(address);
        let (address, base) = match address.split_once('/') {
            Some((authority, path)) => (authority, format!("/{}", path.trim_matches('/'))),
            None => (address, String::new()),
        };
        RuntimeApi {
            address: address.to_string(),
            base: if base == "/" { String::new() } else { base },
        }
    }

    /// Waits for the next invocation (no timeout: the environment may be
    /// frozen in between).
    pub async fn next(&self) -> Result<Invocation, RuntimeError> {
        let path = format!("{}/{VERSION}/runtime/invocation/next", self.base);
        let (status, headers, body) = self.call(Method::GET, &path, None, None).await?;
        if status != StatusCode::OK {
            return Err(refused(path, status, &body));
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header(REQUEST_ID_HEADER)
            .filter(|id| !id.is_empty())
            .ok_or(RuntimeError::MissingHeader(REQUEST_ID_HEADER))?;
        let deadline = header(DEADLINE_HEADER)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
        Ok(Invocation {
            request_id,
            deadline,
            function_arn: header(FUNCTION_ARN_HEADER),
            trace_id: header(TRACE_ID_HEADER).filter(|t| !t.is_empty()),
            body,
        })
    }

    /// The invocation's result.
    pub async fn respond(&self, request_id: &str, result: &Value) -> Result<(), RuntimeError> {
        let path = format!(
            "{}/{VERSION}/runtime/invocation/{request_id}/response",
            self.base
        );
        let body = serde_json::to_vec(result).unwrap_or_default();
        self.post(&path, body, None).await
    }

    /// The invocation failed.
    pub async fn fail(&self, request_id: &str, error: &FunctionError) -> Result<(), RuntimeError> {
        self.report(
            &format!(
                "{}/{VERSION}/runtime/invocation/{request_id}/error",
                self.base
            ),
            error,
        )
        .await
    }

    /// Initialisation failed (the function then exits).
    pub async fn init_failed(&self, error: &FunctionError) -> Result<(), RuntimeError> {
        self.report(
            &format!("{}/{VERSION}/runtime/init/error", self.base),
            error,
        )
        .await
    }

    /// An `ErrorRequest`, its type also in the error-type header.
    async fn report(&self, path: &str, error: &FunctionError) -> Result<(), RuntimeError> {
        let body = error.body().to_string().into_bytes();
        self.post(path, body, Some(&error.error_type)).await
    }

    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let (status, _, reply) = self
            .call(Method::POST, path, Some(body), error_type)
            .await?;
        if status == StatusCode::ACCEPTED || status == StatusCode::OK {
            Ok(())
        } else {
            Err(refused(path.to_string(), status, &reply))
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        error_type: Option<&str>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), RuntimeError> {
        let transport = |message: String| RuntimeError::Transport {
            address: self.address.clone(),
            message,
        };
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|e| transport(format!("connecting: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| transport(format!("handshake: {e}")))?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.address);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(t) = error_type {
            request = request.header(ERROR_TYPE_HEADER, t);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| transport(format!("building the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(format!("{path}: {e}")))?;
        let status = response.status();
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| transport(format!("{path}: reading the answer: {e}")))?
            .to_bytes();
        driver.abort();
        Ok((status, parts.headers, body))
    }
}

fn refused(path: String, status: StatusCode, body: &[u8]) -> RuntimeError {
    RuntimeError::Refused {
        path,
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::RuntimeApi;

    #[test]
    fn an_address_may_carry_a_base_path() {
        let api = RuntimeApi::new("127.0.0.1:9001");
        assert_eq!(
            (api.address.as_str(), api.base.as_str()),
            ("127.0.0.1:9001", "")
        );
        let api = RuntimeApi::new("127.0.0.1:9000/.rt/rectify/");
        assert_eq!(
            (api.address.as_str(), api.base.as_str()),
            ("127.0.0.1:9000", "/.rt/rectify")
        );
        let api = RuntimeApi::new("http://127.0.0.1:9000/.rt");
        assert_eq!(
            (api.address.as_str(), api.base.as_str()),
            ("127.0.0.1:9000", "/.rt")
        );
    }
}
