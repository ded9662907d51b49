//! A small Kubernetes REST client: get, list, create, patch and delete of
//! the objects the `kube.*` actions touch, typed with k8s-openapi, over the
//! workspace's HTTP client (rustls). Answers are bounded in size, and the
//! API's `Status` objects become [`ActionError`]s of the matching class.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::Resource;
use rectify_model::{ActionError, ErrorClass};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The largest answer read from an API server (a list of pods in a large
/// namespace fits; anything larger is refused rather than buffered).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Per request, connect included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the bearer token is found for each request.
#[derive(Debug, Clone)]
pub enum Bearer {
    Token(String),
    /// Read for every request (projected tokens rotate).
    File(PathBuf),
}

#[derive(Clone)]
pub struct KubeClient {
    cluster: String,
    base: String,
    http: reqwest::Client,
    bearer: Bearer,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("cluster", &self.cluster)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The patch formats the API server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// RFC 7386.
    Merge,
    /// Kubernetes' strategic merge patch (lists merged on their key).
    Strategic,
}

impl PatchKind {
    fn content_type(self) -> &'static str {
        match self {
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
        }
    }
}

/// The URL path of the collection of `K` (in `namespace` if namespaced),
/// or of the object `name` in it.
pub fn path_of<K: Resource>(namespace: Option<&str>, name: Option<&str>) -> String {
    let mut path = if K::GROUP.is_empty() {
        format!("/api/{}", K::VERSION)
    } else {
        format!("/apis/{}/{}", K::GROUP, K::VERSION)
    };
    if let Some(ns) = namespace {
        path.push_str("/namespaces/");
        path.push_str(ns);
    }
    path.push('/');
    path.push_str(K::URL_PATH_SEGMENT);
    if let Some(name) = name {
        path.push('/');
        path.push_str(name);
    }
    path
}

impl KubeClient {
    /// A client of the API server at `base` (`https://host[:port]`; plain
    /// `http://` only on loopback), trusting `ca_pem` if given, else the
    /// system's roots.
    pub fn new(
        cluster: &str,
        base: &str,
        ca_pem: Option<&[u8]>,
        bearer: Bearer,
    ) -> Result<KubeClient, ActionError> {
        let bad = |why: String| ActionError::not_configured(format!("cluster {cluster}: {why}"));
        let url = reqwest::Url::parse(base).map_err(|e| bad(format!("server {base}: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => {
                return Err(bad(format!(
                    "server {base}: must be https:// (plain http only on loopback)"
                )))
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| bad(format!("CA: {e}")))?;
            if certs.is_empty() {
                return Err(bad("CA: no certificate in it".into()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(KubeClient {
            cluster: cluster.to_string(),
            base: base.trim_end_matches('/').to_string(),
            http,
            bearer,
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    fn token(&self) -> Result<String, ActionError> {
        match &self.bearer {
            Bearer::Token(t) => Ok(t.clone()),
            Bearer::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    ActionError::not_configured(format!(
                        "cluster {}: reading token_file {}: {e}",
                        self.cluster,
                        path.display()
                    ))
                }),
        }
    }

    /// One request; `Ok(None)` for 404.
    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<(&'static str, Vec<u8>)>,
        what: &str,
    ) -> Result<Option<Value>, ActionError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.token()?)
            .header("Accept", "application/json");
        if let Some((ctype, bytes)) = body {
            request = request.header("Content-Type", ctype).body(bytes);
        }
        let mut response = request.send().await.map_err(|e| {
            ActionError::new(
                ErrorClass::Transient,
                format!("cluster {}: {what}: {e}", self.cluster),
            )
        })?;
        let code = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            ActionError::new(
                ErrorClass::Transient,
                format!("cluster {}: {what}: reading the answer: {e}", self.cluster),
            )
        })? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ActionError::invalid(format!(
                    "cluster {}: {what}: answer larger than {MAX_ANSWER_BYTES} bytes",
                    self.cluster
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if code == 404 {
            return Ok(None);
        }
        if (200..300).contains(&code) {
            return Ok(Some(value));
        }
        Err(status_error(&self.cluster, what, code, &value))
    }

    /// The object at `path`, or `None` if it does not exist.
    pub async fn get<K: DeserializeOwned>(&self, path: &str) -> Result<Option<K>, ActionError> {
        match self
            .send(reqwest::Method::GET, path, None, &format!("get {path}"))
            .await?
        {
            Some(v) => Ok(Some(decode(&self.cluster, path, v)?)),
            None => Ok(None),
        }
    }

    /// The items of the collection at `path` that match `label_selector`.
    pub async fn list<K: DeserializeOwned>(
        &self,
        path: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<K>, ActionError> {
        let query = match label_selector {
            Some(sel) => format!("{path}?labelSelector={}", query_escape(sel)),
            None => path.to_string(),
        };
        let list = self
            .send(reqwest::Method::GET, &query, None, &format!("list {path}"))
            .await?
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::NotFound,
                    format!("cluster {}: {path} is not served", self.cluster),
                )
            })?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        items
            .into_iter()
            .map(|v| decode(&self.cluster, path, v))
            .collect()
    }

    /// Creates `object` in the collection at `path`. `Ok(None)`: an object
    /// of that name already exists (409 AlreadyExists).
    pub async fn create<K: Serialize + DeserializeOwned>(
        &self,
        path: &str,
        object: &K,
    ) -> Result<Option<K>, ActionError> {
        let body = serde_json::to_vec(object).expect("plain object");
        let what = format!("create in {path}");
        match self
            .send(
                reqwest::Method::POST,
                path,
                Some(("application/json", body)),
                &what,
            )
            .await
        {
            Ok(Some(v)) => Ok(Some(decode(&self.cluster, path, v)?)),
            Ok(None) => Err(ActionError::new(
                ErrorClass::NotFound,
                format!("cluster {}: {what}: not found", self.cluster),
            )),
            Err(e) if e.message.contains("(409 AlreadyExists)") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Patches the object at `path`; `None` if it does not exist.
    pub async fn patch<K: DeserializeOwned>(
        &self,
        path: &str,
        kind: PatchKind,
        patch: &Value,
    ) -> Result<Option<K>, ActionError> {
        let body = serde_json::to_vec(patch).expect("plain JSON");
        match self
            .send(
                reqwest::Method::PATCH,
                path,
                Some((kind.content_type(), body)),
                &format!("patch {path}"),
            )
            .await?
        {
            Some(v) => Ok(Some(decode(&self.cluster, path, v)?)),
            None => Ok(None),
        }
    }

    /// Deletes the object at `path` (dependents in the background, as
    /// `kubectl delete` does). `false`: it did not exist.
    pub async fn delete(&self, path: &str) -> Result<bool, ActionError> {
        let options = serde_json::json!({
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        });
        let body = serde_json::to_vec(&options).expect("plain JSON");
        Ok(self
            .send(
                reqwest::Method::DELETE,
                path,
                Some(("application/json", body)),
                &format!("delete {path}"),
            )
            .await?
            .is_some())
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn decode<K: DeserializeOwned>(cluster: &str, path: &str, v: Value) -> Result<K, ActionError> {
    serde_json::from_value(v).map_err(|e| {
        ActionError::invalid(format!("cluster {cluster}: {path}: unexpected answer: {e}"))
    })
}

/// An error from the API's answer (a `Status` object, if it sent one).
pub fn status_error(cluster: &str, what: &str, code: u16, body: &Value) -> ActionError {
    let reason = body["reason"].as_str().unwrap_or("");
    let message: String = body["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(500)
        .collect();
    let class = match code {
        401 | 403 => ErrorClass::AccessDenied,
        404 | 410 => ErrorClass::NotFound,
        // A stale resourceVersion: read again and retry.
        409 if reason == "Conflict" => ErrorClass::Transient,
        429 => ErrorClass::Throttled,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Invalid,
    };
    let hint = if class == ErrorClass::AccessDenied {
        " (see `rectify kube-rbac` for the ClusterRole rectify needs)"
    } else {
        ""
    };
    ActionError::new(
        class,
        format!("cluster {cluster}: {what}: {message} ({code} {reason}){hint}"),
    )
}

/// Percent-encoding of a query value.
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    #[test]
    fn paths_follow_the_api_layout() {
        assert_eq!(
            path_of::<Pod>(Some("ns"), Some("p")),
            "/api/v1/namespaces/ns/pods/p"
        );
        assert_eq!(path_of::<Node>(None, Some("n")), "/api/v1/nodes/n");
        assert_eq!(
            path_of::<Deployment>(Some("ns"), None),
            "/apis/apps/v1/namespaces/ns/deployments"
        );
        assert_eq!(
            path_of::<NetworkPolicy>(Some("ns"), Some("x")),
            "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/x"
        );
    }

    #[test]
    fn status_codes_map_to_classes() {
        let body = serde_json::json!({"kind": "Status", "reason": "Forbidden", "message": "no"});
        assert_eq!(
            status_error("c", "x", 403, &body).class,
            ErrorClass::AccessDenied
        );
        let conflict = serde_json::json!({"reason": "Conflict"});
        assert_eq!(
            status_error("c", "x", 409, &conflict).class,
            ErrorClass::Transient
        );
        assert_eq!(
            status_error("c", "x", 422, &Value::Null).class,
            ErrorClass::Invalid
        );
        assert_eq!(
            status_error("c", "x", 503, &Value::Null).class,
            ErrorClass::Transient
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(
            KubeClient::new("c", "http://127.0.0.1:1", None, Bearer::Token("t".into())).is_ok()
        );
        assert!(KubeClient::new("c", "http://10.0.0.1", None, Bearer::Token("t".into())).is_err());
        assert!(KubeClient::new("c", "https://10.0.0.1", None, Bearer::Token("t".into())).is_ok());
    }
}
