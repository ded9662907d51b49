//! The Kubernetes containment actions, one file per action (spec, params,
//! RBAC, check, plan, apply, verify, revert, tests), and what they share:
//! the target's object and client, the guards every action applies before
//! it reads or writes, params parsing and recorded states.

use std::sync::Arc;

use rectify_model::params::{params_object, reject_unknown};
use rectify_model::{ActionError, Target};
use serde_json::{Map, Value};

use crate::client::KubeClient;
use crate::target::{KubeRef, POD};
use crate::Kube;

pub mod deployment_scale_to_zero;
pub mod job_run;
pub mod node_cordon;
pub mod pod_delete;
pub mod pod_quarantine;
pub mod serviceaccount_contain_role;

/// The label and annotation keys rectify writes.
pub const QUARANTINE_LABEL: &str = "rectify.io/quarantine";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "rectify";
/// The namespace of the cluster's own components: acted in only when a
/// rule says so (`allow_kube_system: true`).
pub const KUBE_SYSTEM: &str = "kube-system";
/// The param every `kube.*` action takes.
pub const ALLOW_KUBE_SYSTEM: &str = "allow_kube_system";

/// One RBAC rule of the ClusterRole an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RbacRule {
    pub api_group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

/// The Kubernetes RBAC an action needs, by action id (the `ActionSpec`'s
/// `permissions` are the IAM side: `eks:DescribeCluster` for EKS).
pub fn rbac_of(action: &str) -> &'static [RbacRule] {
    match action {
        pod_quarantine::ID => pod_quarantine::RBAC,
        node_cordon::ID => node_cordon::RBAC,
        deployment_scale_to_zero::ID => deployment_scale_to_zero::RBAC,
        pod_delete::ID => pod_delete::RBAC,
        job_run::ID => job_run::RBAC,
        serviceaccount_contain_role::ID => serviceaccount_contain_role::RBAC,
        _ => &[],
    }
}

/// Every Kubernetes action, sharing one set of cluster clients.
pub fn catalog(kube: &Arc<Kube>) -> Vec<Arc<dyn rectify_model::Action>> {
    vec![
        Arc::new(pod_quarantine::PodQuarantine::new(kube.clone())),
        Arc::new(node_cordon::NodeCordon::new(kube.clone())),
        Arc::new(deployment_scale_to_zero::DeploymentScaleToZero::new(
            kube.clone(),
        )),
        Arc::new(pod_delete::PodDelete::new(kube.clone())),
        Arc::new(job_run::JobRun::new(kube.clone())),
        Arc::new(serviceaccount_contain_role::ServiceAccountContainRole::new(
            kube.clone(),
        )),
    ]
}

/// The params of an action: `allow_kube_system` plus the action's own
/// keys (`known`). Returns the object and the kube-system permission.
pub(crate) fn parse_params(
    params: &Value,
    action: &str,
    known: &[&str],
) -> Result<(Map<String, Value>, bool), String> {
    let map = params_object(params)?;
    let mut all = vec![ALLOW_KUBE_SYSTEM];
    all.extend_from_slice(known);
    reject_unknown(&map, &all, action)?;
    let allow = match map.get(ALLOW_KUBE_SYSTEM) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(format!(
                "params.{ALLOW_KUBE_SYSTEM}: expected a boolean, got {v}"
            ))
        }
    };
    Ok((map, allow))
}

/// The params of an action that takes only `allow_kube_system`: whether
/// the rule allows it to act in `kube-system` (`Invalid` otherwise).
pub(crate) fn allows_kube_system(params: &Value, action: &str) -> Result<bool, ActionError> {
    parse_params(params, action, &[])
        .map(|(_, allow)| allow)
        .map_err(ActionError::invalid)
}

/// `spec`, `validate_params` and `target` of an action that takes only
/// `allow_kube_system` and acts on objects of the kinds given, inside its
/// `impl Action` (the file holds `SPEC` and `ID`, the type `kube`).
macro_rules! object_action_basics {
    ($($kind:expr),+) => {
        fn spec(&self) -> &'static rectify_model::ActionSpec {
            &SPEC
        }

        fn validate_params(&self, params: &serde_json::Value) -> Result<(), String> {
            $crate::actions::parse_params(params, ID, &[]).map(|_| ())
        }

        fn target(
            &self,
            event: &rectify_model::Event,
        ) -> Result<rectify_model::Target, rectify_model::ActionError> {
            $crate::target::kube_target(event, &[$($kind),+], self.kube.settings())
                .map_err(rectify_model::ActionError::invalid)
        }
    };
}
pub(crate) use object_action_basics;

/// The object a target names, its cluster's client, after the guards:
/// nothing in `kube-system` unless the rule allows it, never rectify's own
/// namespace or pod.
pub(crate) async fn object_and_client(
    kube: &Kube,
    target: &Target,
    allow_kube_system: bool,
) -> Result<(KubeRef, KubeClient), ActionError> {
    let r = guarded(kube, target, allow_kube_system)?;
    let client = kube.client(&r.cluster).await?;
    Ok((r, client))
}

/// The guards alone (pure): see [`object_and_client`].
pub(crate) fn guarded(
    kube: &Kube,
    target: &Target,
    allow_kube_system: bool,
) -> Result<KubeRef, ActionError> {
    let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
    let settings = kube.settings();
    if let Some(ns) = &r.namespace {
        if ns == KUBE_SYSTEM && !allow_kube_system {
            return Err(ActionError::invalid(format!(
                "{} is in {KUBE_SYSTEM}: rectify does not act on the cluster's own components \
                 unless the rule sets params.{ALLOW_KUBE_SYSTEM}: true",
                r.id()
            )));
        }
        if settings.own_namespace.as_deref() == Some(ns.as_str()) {
            return Err(ActionError::invalid(format!(
                "{} is in rectify's own namespace {ns} (kubernetes.own_namespace): refused",
                r.id()
            )));
        }
        if r.kind == POD && settings.own_pod.as_ref() == Some(&(ns.clone(), r.name.clone())) {
            return Err(ActionError::invalid(format!(
                "{} is rectify's own pod: refused",
                r.id()
            )));
        }
    }
    Ok(r)
}

/// A state an action recorded, read back as the action's own type.
pub(crate) fn recorded<T: serde::de::DeserializeOwned>(
    value: &Value,
    action: &str,
) -> Result<T, ActionError> {
    serde_json::from_value(value.clone())
        .map_err(|e| ActionError::invalid(format!("{action}: unexpected recorded state: {e}")))
}

/// The refusal of an undo when the object is no longer as the change left
/// it.
pub(crate) fn changed_since(object: &str, now: &Value, left: &Value) -> ActionError {
    ActionError::invalid(format!(
        "{object} has changed since the change: it is now {now}, the change left it {left}; \
         rectify will not overwrite what was done since (set it back by hand, or undo it first)"
    ))
}

/// The object is gone (`check` of a target that no longer exists).
pub(crate) fn gone(r: &KubeRef) -> ActionError {
    ActionError::new(
        rectify_model::ErrorClass::NotFound,
        format!("{} does not exist", r.id()),
    )
}

/// A short stable id made from `parts` (hex of SHA-256): names and label
/// values that must be the same on every retry of the same change.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::cluster::{ClusterAccess, ClusterSettings, KubeSettings, TokenSource};

    /// A `Kube` with one cluster `lab` (nothing is contacted until a
    /// client is asked for).
    pub async fn kube() -> Arc<Kube> {
        let aws = Arc::new(rectify_aws::Aws::new(rectify_aws::AwsSettings::new("us-east-1")).await);
        Arc::new(Kube::new(
            KubeSettings {
                clusters: vec![ClusterSettings {
                    name: "lab".into(),
                    access: ClusterAccess::Server {
                        server: "http://127.0.0.1:1".into(),
                        ca_file: None,
                        token: TokenSource::Env("NO_SUCH_TOKEN_VAR".into()),
                    },
                }],
                own_namespace: Some("rectify".into()),
                own_pod: Some(("ops".into(), "rectify-0".into())),
            },
            aws,
        ))
    }

    pub fn pod(ns: &str, name: &str) -> Target {
        KubeRef {
            cluster: "lab".into(),
            kind: POD,
            namespace: Some(ns.into()),
            name: name.into(),
        }
        .to_target("111122223333", "eu-west-1")
    }

    #[tokio::test]
    async fn guards_refuse_kube_system_and_own_objects() {
        let kube = kube().await;
        let err = guarded(&kube, &pod("kube-system", "coredns-1"), false).unwrap_err();
        assert!(err.message.contains("allow_kube_system"), "{}", err.message);
        assert!(guarded(&kube, &pod("kube-system", "coredns-1"), true).is_ok());
        let err = guarded(&kube, &pod("rectify", "any"), true).unwrap_err();
        assert!(err.message.contains("own namespace"), "{}", err.message);
        let err = guarded(&kube, &pod("ops", "rectify-0"), true).unwrap_err();
        assert!(err.message.contains("own pod"), "{}", err.message);
        assert!(guarded(&kube, &pod("ops", "rectify-1"), false).is_ok());
    }

    #[tokio::test]
    async fn specs_are_complete_and_params_checked() {
        let actions = catalog(&kube().await);
        let ids: std::collections::BTreeSet<&str> = actions.iter().map(|a| a.spec().id).collect();
        assert_eq!(ids.len(), actions.len());
        for action in &actions {
            let spec = action.spec();
            assert!(spec.id.starts_with("kube."), "{}", spec.id);
            assert!(spec.approval_by_default, "{}", spec.id);
            assert!(!rbac_of(spec.id).is_empty(), "{}", spec.id);
            assert_eq!(spec.permissions[0], "eks:DescribeCluster", "{}", spec.id);
            for p in spec.params {
                let default: Value = serde_json::from_str(p.default).unwrap();
                action
                    .validate_params(&serde_json::json!({ p.name: default }))
                    .unwrap();
            }
            action.validate_params(&serde_json::json!({})).unwrap();
            action.validate_params(&Value::Null).unwrap();
            let err = action
                .validate_params(&serde_json::json!({"no_such_param": 1}))
                .unwrap_err();
            assert!(err.contains("params.no_such_param"), "{err}");
            assert!(action.validate_params(&serde_json::json!([1])).is_err());
        }
    }

    #[test]
    fn params_take_allow_kube_system_only_as_a_boolean() {
        assert!(
            parse_params(&serde_json::json!({"allow_kube_system": true}), "a", &[])
                .unwrap()
                .1
        );
        assert!(parse_params(&serde_json::json!({"allow_kube_system": "yes"}), "a", &[]).is_err());
        let err = parse_params(&serde_json::json!({"x": 1}), "a", &[]).unwrap_err();
        assert!(err.contains("params.x"), "{err}");
    }
}
