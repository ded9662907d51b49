//! The `kubernetes` section: the clusters rectify's `kube.*` actions may
//! act in.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubernetesSettings {
    pub clusters: Vec<KubeCluster>,
    /// The namespace rectify runs in (never acted on).
    pub own_namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeCluster {
    /// The name rules, findings (`k8s://NAME`) and `rectify kube-rbac` use.
    pub name: String,
    pub access: KubeAccess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeAccess {
    /// An EKS cluster, reached with the role rectify assumes in `account`.
    Eks {
        account: String,
        region: String,
        cluster_name: String,
        /// Reach the API server here instead of at DescribeCluster's
        /// endpoint (a private endpoint through a tunnel or proxy).
        endpoint: Option<String>,
        /// Trust this CA file instead of DescribeCluster's; with `endpoint`.
        ca_file: Option<PathBuf>,
    },
    /// Any API server, with a bearer token.
    Server {
        server: String,
        ca_file: Option<PathBuf>,
        token: KubeToken,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeToken {
    /// Read from this environment variable when the client is made.
    Env(String),
    /// Read from this file for every request (it may rotate).
    File(PathBuf),
}
