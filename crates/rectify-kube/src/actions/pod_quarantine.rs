//! `kube.pod.quarantine`: cuts a pod off the network. rectify labels the
//! pod `rectify.io/quarantine=<id>` and creates, in its namespace, a
//! NetworkPolicy `rectify-quarantine-<id>` that selects that label with
//! policy types Ingress and Egress and no rules: all traffic to and from
//! the pod is denied. The pod keeps running, so its memory and disk stay
//! there for forensics. `<id>` is the same on every retry of the same
//! change (made from the pod's uid).
//!
//! NetworkPolicies add up: another policy that selects the pod and allows
//! traffic still lets it through, so the check lists them, and the finding
//! is not marked resolved while one exists. Policies are enforced only by a
//! network plugin that implements them (the VPC CNI with network policy
//! turned on, Calico, Cilium).
//!
//! The policy is created before the label is set, so the pod is never
//! labelled without being isolated. Undo: remove the label, delete the
//! policy.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    allows_kube_system, changed_since, gone, object_and_client, recorded, stable_id, RbacRule,
    MANAGED_BY, MANAGED_BY_LABEL, QUARANTINE_LABEL,
};
use crate::client::{path_of, PatchKind};
use crate::target::{KubeRef, POD};
use crate::Kube;

pub const ID: &str = "kube.pod.quarantine";

pub const RBAC: &[RbacRule] = &[
    RbacRule {
        api_group: "",
        resource: "pods",
        verbs: &["get", "patch"],
    },
    RbacRule {
        api_group: "networking.k8s.io",
        resource: "networkpolicies",
        verbs: &["get", "list", "create", "delete"],
    },
];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Isolates a pod: labels it rectify.io/quarantine=<id> and creates a deny-all NetworkPolicy (Ingress and Egress, no rules) selecting that label in its namespace. The pod keeps running for forensics. Undo removes both.",
    controls: &[],
    resource_types: &[POD],
    // IAM, for EKS clusters; the Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &["eks:DescribeCluster"],
    account_wide: false,
    params: &[ParamSpec {
        name: super::ALLOW_KUBE_SYSTEM,
        kind: "boolean",
        default: "false",
        doc: "act on pods in kube-system too (the cluster's own components: DNS, the network plugin)",
    }],
    calls_per_fix: 6,
    approval_by_default: true,
};

/// What the check reads: the pod's quarantine label, whether the deny-all
/// policy for it exists as rectify makes it, and the other policies that
/// select the pod and allow some traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineState {
    /// The pod's uid: the quarantine id is made from it.
    pub uid: String,
    /// The value of the pod's `rectify.io/quarantine` label.
    pub label: Option<String>,
    /// The deny-all policy `rectify-quarantine-<label>`, if it exists and
    /// denies everything to pods with that label.
    pub policy: Option<String>,
    /// Other NetworkPolicies of the namespace that (may) select the pod and
    /// allow traffic: they let traffic through despite the quarantine.
    #[serde(default)]
    pub allowing_policies: Vec<String>,
}

/// What the change writes (and what an undo restores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    pub label: Option<String>,
    pub policy: Option<String>,
}

pub struct PodQuarantine {
    kube: Arc<Kube>,
}

impl PodQuarantine {
    pub fn new(kube: Arc<Kube>) -> Self {
        PodQuarantine { kube }
    }
}

/// The name of the deny-all policy for quarantine id `id`.
pub fn policy_name(id: &str) -> String {
    format!("rectify-quarantine-{id}")
}

/// The deny-all policy for the pods labelled `rectify.io/quarantine=<id>`.
pub fn deny_all_policy(namespace: &str, id: &str, pod: &str) -> NetworkPolicy {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(id),
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, QUARANTINE_LABEL: id},
            "annotations": {"rectify.io/quarantined-pod": pod},
        },
        "spec": {
            "podSelector": {"matchLabels": {QUARANTINE_LABEL: id}},
            "policyTypes": ["Ingress", "Egress"],
        },
    }))
    .expect("a NetworkPolicy")
}

/// Whether `policy` denies all traffic to the pods labelled with `id` (as
/// rectify makes it: that selector, both policy types, no rules).
fn denies_all(policy: &NetworkPolicy, id: &str) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    let selects = spec
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .is_some_and(|m| m.len() == 1 && m.get(QUARANTINE_LABEL).map(String::as_str) == Some(id))
        && spec
            .pod_selector
            .as_ref()
            .is_some_and(|s| s.match_expressions.as_ref().is_none_or(|e| e.is_empty()));
    let types = spec.policy_types.clone().unwrap_or_default();
    selects
        && types.iter().any(|t| t == "Ingress")
        && types.iter().any(|t| t == "Egress")
        && spec.ingress.as_ref().is_none_or(|r| r.is_empty())
        && spec.egress.as_ref().is_none_or(|r| r.is_empty())
}

/// Whether `policy` may select a pod with `labels` and allows some
/// traffic. Selectors with expressions count as selecting (the check errs
/// on the side of reporting).
fn may_allow(policy: &NetworkPolicy, labels: &std::collections::BTreeMap<String, String>) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    let selector = spec.pod_selector.clone().unwrap_or_default();
    let selects = selector
        .match_labels
        .unwrap_or_default()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let allows = spec.ingress.as_ref().is_some_and(|r| !r.is_empty())
        || spec.egress.as_ref().is_some_and(|r| !r.is_empty());
    selects && allows
}

impl PodQuarantine {
    async fn read(
        &self,
        target: &Target,
        params: &Value,
    ) -> Result<(KubeRef, Pod, QuarantineState), ActionError> {
        let allow = allows_kube_system(params, ID)?;
        let (r, client) = object_and_client(&self.kube, target, allow).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let pod: Pod = client
            .get(&path_of::<Pod>(Some(ns), Some(&r.name)))
            .await?
            .ok_or_else(|| gone(&r))?;
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let label = labels.get(QUARANTINE_LABEL).cloned();
        let policies: Vec<NetworkPolicy> = client
            .list(&path_of::<NetworkPolicy>(Some(ns), None), None)
            .await?;
        let ours = label.as_ref().map(|id| policy_name(id));
        let policy = policies
            .iter()
            .find(|p| p.metadata.name == ours && label.as_ref().is_some_and(|id| denies_all(p, id)))
            .and_then(|p| p.metadata.name.clone());
        let allowing_policies = policies
            .iter()
            .filter(|p| p.metadata.name != ours && may_allow(p, &labels))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        Ok((
            r,
            pod,
            QuarantineState {
                uid,
                label,
                policy,
                allowing_policies,
            },
        ))
    }
}

#[async_trait]
impl Action for PodQuarantine {
    super::object_action_basics!(POD);

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (_, _, state) = self.read(target, params).await?;
        let compliant = state.label.is_some() && state.policy.is_some();
        Ok(Observed::new(compliant, &state, Default::default()))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        let state: QuarantineState = recorded(&observed.state, ID)?;
        let id = state
            .label
            .clone()
            .unwrap_or_else(|| format!("q-{}", stable_id(&[&r.id(), &state.uid])));
        let before = Quarantined {
            label: state.label.clone(),
            policy: state.policy.clone(),
        };
        let after = Quarantined {
            label: Some(id.clone()),
            policy: Some(policy_name(&id)),
        };
        Ok(Change::new(
            format!(
                "isolate pod {}: label it {QUARANTINE_LABEL}={id} and create the deny-all NetworkPolicy {} (Ingress and Egress, no rules) in namespace {}",
                r.id(),
                policy_name(&id),
                r.namespace.as_deref().unwrap_or_default()
            ),
            serde_json::to_value(before).expect("plain struct"),
            after,
        ))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        let allow = allows_kube_system(params, ID)?;
        let (r, client) = object_and_client(&self.kube, target, allow).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let after: Quarantined = recorded(&change.after, ID)?;
        let id = after
            .label
            .ok_or_else(|| ActionError::invalid(format!("{ID}: the change sets no label")))?;
        // The policy first: a labelled pod is never left unisolated.
        let policy = deny_all_policy(ns, &id, &r.name);
        if client
            .create(&path_of::<NetworkPolicy>(Some(ns), None), &policy)
            .await?
            .is_none()
        {
            // Created by an earlier try: it must be ours and deny all.
            let existing: Option<NetworkPolicy> = client
                .get(&path_of::<NetworkPolicy>(Some(ns), Some(&policy_name(&id))))
                .await?;
            if !existing.as_ref().is_some_and(|p| denies_all(p, &id)) {
                return Err(ActionError::invalid(format!(
                    "NetworkPolicy {ns}/{} exists and is not the deny-all policy rectify makes; refused",
                    policy_name(&id)
                )));
            }
        }
        let patch = json!({"metadata": {"labels": {QUARANTINE_LABEL: id}}});
        client
            .patch::<Pod>(
                &path_of::<Pod>(Some(ns), Some(&r.name)),
                PatchKind::Merge,
                &patch,
            )
            .await?
            .ok_or_else(|| gone(&r))?;
        Ok(())
    }

    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = serde_json::from_value::<QuarantineState>(observed.state.clone()) else {
            return Vec::new();
        };
        state
            .allowing_policies
            .iter()
            .map(|p| format!("NetworkPolicy {p} also selects the pod and allows traffic: the quarantine does not block what it allows"))
            .collect()
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        let state: QuarantineState = recorded(&now.state, ID)?;
        let left: Quarantined = recorded(&applied.after, ID)?;
        let restore: Quarantined = recorded(&applied.before, ID)?;
        let current = Quarantined {
            label: state.label.clone(),
            policy: state.policy.clone(),
        };
        if current != left {
            return Err(changed_since(
                &r.id(),
                &serde_json::to_value(&current).expect("plain struct"),
                &applied.after,
            ));
        }
        Ok(Change::new(
            format!(
                "release pod {}: remove its {QUARANTINE_LABEL} label and delete NetworkPolicy {}",
                r.id(),
                left.policy.as_deref().unwrap_or_default()
            ),
            serde_json::to_value(&current).expect("plain struct"),
            restore,
        ))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        let allow = allows_kube_system(params, ID)?;
        let (r, client) = object_and_client(&self.kube, target, allow).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let now: Quarantined = recorded(&change.before, ID)?;
        let restore: Quarantined = recorded(&change.after, ID)?;
        // The label first: the pod is never isolated by a policy that is
        // about to go, and a policy left behind selects nothing.
        let patch = json!({"metadata": {"labels": {QUARANTINE_LABEL: restore.label}}});
        client
            .patch::<Pod>(
                &path_of::<Pod>(Some(ns), Some(&r.name)),
                PatchKind::Merge,
                &patch,
            )
            .await?
            .ok_or_else(|| gone(&r))?;
        if let Some(policy) = now.policy.filter(|p| Some(p) != restore.policy.as_ref()) {
            client
                .delete(&path_of::<NetworkPolicy>(Some(ns), Some(&policy)))
                .await?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let (_, _, state) = self.read(target, params).await?;
        let restore: Quarantined = recorded(&change.after, ID)?;
        Ok(state.label == restore.label && state.policy == restore.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_denies_everything_to_the_label() {
        let p = deny_all_policy("shop", "q-1", "web-1");
        assert!(denies_all(&p, "q-1"));
        assert!(!denies_all(&p, "q-2"));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert!(v["spec"].get("ingress").is_none() && v["spec"].get("egress").is_none());
        let mut allowing = p.clone();
        allowing.spec.as_mut().unwrap().ingress = Some(vec![Default::default()]);
        assert!(!denies_all(&allowing, "q-1"));
    }

    #[test]
    fn other_allowing_policies_are_found() {
        let labels: std::collections::BTreeMap<String, String> =
            [("app".to_string(), "web".to_string())].into();
        let p: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "allow-web"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}
        }))
        .unwrap();
        assert!(may_allow(&p, &labels));
        let other: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "allow-db"},
            "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]}
        }))
        .unwrap();
        assert!(!may_allow(&other, &labels));
    }

    #[tokio::test]
    async fn plan_makes_the_same_id_for_the_same_pod() {
        let action = PodQuarantine::new(super::super::testing::kube().await);
        let target = super::super::testing::pod("shop", "web-1");
        let observed = Observed::new(
            false,
            QuarantineState {
                uid: "u-1".into(),
                label: None,
                policy: None,
                allowing_policies: vec![],
            },
            Default::default(),
        );
        let a = action.plan(&target, &json!({}), &observed).unwrap();
        let b = action.plan(&target, &json!({}), &observed).unwrap();
        assert_eq!(a, b);
        assert!(
            a.summary.contains("rectify.io/quarantine=q-"),
            "{}",
            a.summary
        );
    }
}
