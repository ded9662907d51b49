//! The Kubernetes side of rectify: the clusters of `kubernetes.clusters`
//! (EKS through the role assumed in the cluster's account, or an API server
//! with a bearer token), how findings name their objects, and the
//! containment actions (`kube.*`) in them.

use std::sync::Arc;

use rectify_model::Action;

pub mod actions;
pub mod client;
pub mod cluster;
pub mod eks;
pub mod rbac;
pub mod target;

pub use cluster::{ClusterAccess, ClusterSettings, Kube, KubeSettings, TokenSource};

/// Every Kubernetes action, sharing one set of cluster clients.
pub fn catalog(kube: Arc<Kube>) -> Vec<Arc<dyn Action>> {
    actions::catalog(&kube)
}
