//! The clusters rectify may act in, and a client per cluster.
//!
//! An EKS cluster is reached with the credentials of the role rectify
//! assumes in the cluster's account (the same sessions as the AWS actions):
//! `DescribeCluster` gives the endpoint and CA, and the bearer token is made
//! from the role's credentials as `aws eks get-token` makes it. Any other
//! cluster is named by its API server URL, a CA file and a bearer token
//! (from an environment variable or a file, re-read as it rotates). No
//! kubeconfig is read and no exec plugin is run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials as _;
use rectify_aws::Aws;
use rectify_model::{ActionError, ErrorClass};

use crate::client::{Bearer, KubeClient};
use crate::eks;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubeSettings {
    pub clusters: Vec<ClusterSettings>,
    /// The namespace rectify itself runs in: never acted on.
    pub own_namespace: Option<String>,
    /// rectify's own pod (`namespace/name`), from the downward API
    /// (`POD_NAMESPACE`, `POD_NAME`): never acted on.
    pub own_pod: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The name rules and findings use for the cluster.
    pub name: String,
    pub access: ClusterAccess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAccess {
    Eks {
        account: String,
        region: String,
        cluster_name: String,
        /// Reach the API server here instead of at the endpoint
        /// `DescribeCluster` returns (a private endpoint through a tunnel
        /// or proxy).
        endpoint: Option<String>,
        /// Trust this CA (PEM file) instead of the cluster CA
        /// `DescribeCluster` returns; goes with `endpoint`.
        ca_file: Option<PathBuf>,
    },
    Server {
        /// `https://...` (or `http://` on loopback, for tests).
        server: String,
        /// PEM file of the CA that signed the server's certificate; unset:
        /// the system's roots.
        ca_file: Option<PathBuf>,
        token: TokenSource,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The name of an environment variable holding the token.
    Env(String),
    /// A file holding the token (a projected service account token): read
    /// again as it changes.
    File(PathBuf),
}

impl KubeSettings {
    pub fn cluster(&self, name: &str) -> Option<&ClusterSettings> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The configured cluster an EKS finding names: by EKS cluster name,
    /// account and region. None: rectify is not set up to act there.
    pub fn eks_cluster(
        &self,
        account: &str,
        region: &str,
        cluster_name: &str,
    ) -> Option<&ClusterSettings> {
        self.clusters.iter().find(|c| match &c.access {
            ClusterAccess::Eks {
                account: a,
                region: r,
                cluster_name: n,
                ..
            } => a == account && r == region && n == cluster_name,
            ClusterAccess::Server { .. } => false,
        })
    }

    /// The own pod from `POD_NAMESPACE` and `POD_NAME`, if both are set.
    pub fn own_pod_from_env() -> Option<(String, String)> {
        let ns = std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|s| !s.is_empty())?;
        let name = std::env::var("POD_NAME").ok().filter(|s| !s.is_empty())?;
        Some((ns, name))
    }
}

/// How long a client (and the token in it) is kept.
const CLIENT_REUSE: std::time::Duration = eks::TOKEN_REUSE;

/// Clients per cluster, built on first use and renewed before an EKS token
/// would expire.
pub struct Kube {
    settings: KubeSettings,
    aws: Arc<Aws>,
    clients: tokio::sync::Mutex<HashMap<String, (KubeClient, Instant)>>,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn misconfigured(cluster: &str, why: impl std::fmt::Display) -> ActionError {
    ActionError::not_configured(format!("cluster {cluster}: {why}"))
}

impl Kube {
    pub fn new(settings: KubeSettings, aws: Arc<Aws>) -> Kube {
        Kube {
            settings,
            aws,
            clients: Default::default(),
        }
    }

    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }

    pub fn aws(&self) -> &Arc<Aws> {
        &self.aws
    }

    /// A client for the configured cluster `name`.
    pub async fn client(&self, name: &str) -> Result<KubeClient, ActionError> {
        let mut clients = self.clients.lock().await;
        if let Some((client, made)) = clients.get(name) {
            if made.elapsed() < CLIENT_REUSE {
                return Ok(client.clone());
            }
        }
        let cluster = self.settings.cluster(name).ok_or_else(|| {
            ActionError::invalid(format!(
                "cluster {name} is not in kubernetes.clusters; rectify acts only in configured clusters"
            ))
        })?;
        let client = self.make_client(cluster).await?;
        clients.insert(name.to_string(), (client.clone(), Instant::now()));
        Ok(client)
    }

    async fn make_client(&self, cluster: &ClusterSettings) -> Result<KubeClient, ActionError> {
        let name = &cluster.name;
        match &cluster.access {
            ClusterAccess::Server {
                server,
                ca_file,
                token,
            } => {
                let ca = match ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        misconfigured(name, format!("reading ca_file {}: {e}", path.display()))
                    })?),
                    None => None,
                };
                let bearer = match token {
                    TokenSource::Env(var) => Bearer::Token(
                        std::env::var(var)
                            .map_err(|_| {
                                misconfigured(name, format!("token_env {var} is not set"))
                            })?
                            .trim()
                            .to_string(),
                    ),
                    TokenSource::File(path) => Bearer::File(path.clone()),
                };
                KubeClient::new(name, server, ca.as_deref(), bearer)
            }
            ClusterAccess::Eks {
                account,
                region,
                cluster_name,
                endpoint: endpoint_override,
                ca_file,
            } => {
                let sdk = self.aws.config_for(account, region).await?;
                let eks_client = aws_sdk_eks::Client::new(&sdk);
                let endpoint = eks::describe_cluster(&eks_client, cluster_name).await?;
                let credentials = sdk
                    .credentials_provider()
                    .ok_or_else(|| misconfigured(name, "no AWS credentials for its account"))?
                    .provide_credentials()
                    .await
                    .map_err(|e| {
                        ActionError::new(
                            ErrorClass::AccessDenied,
                            format!("cluster {name}: credentials for account {account}: {e}"),
                        )
                    })?;
                let sts = eks::sts_endpoint(region, sdk.endpoint_url());
                let token = eks::token(&credentials, region, cluster_name, &sts, SystemTime::now())
                    .map_err(|e| misconfigured(name, e))?;
                let ca = match ca_file {
                    Some(path) => std::fs::read(path).map_err(|e| {
                        misconfigured(name, format!("reading ca_file {}: {e}", path.display()))
                    })?,
                    None => endpoint.ca_pem,
                };
                let server = endpoint_override.clone().unwrap_or(endpoint.endpoint);
                KubeClient::new(name, &server, Some(&ca), Bearer::Token(token))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_cluster_matches_account_region_and_name() {
        let settings = KubeSettings {
            clusters: vec![ClusterSettings {
                name: "prod".into(),
                access: ClusterAccess::Eks {
                    account: "111122223333".into(),
                    region: "eu-west-1".into(),
                    cluster_name: "prod-eks".into(),
                    endpoint: None,
                    ca_file: None,
                },
            }],
            ..Default::default()
        };
        assert!(settings
            .eks_cluster("111122223333", "eu-west-1", "prod-eks")
            .is_some());
        assert!(settings
            .eks_cluster("999999999999", "eu-west-1", "prod-eks")
            .is_none());
        assert!(settings
            .eks_cluster("111122223333", "us-east-1", "prod-eks")
            .is_none());
    }
}
