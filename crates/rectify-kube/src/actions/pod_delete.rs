//! `kube.pod.delete`: deletes a pod. Irreversible: the pod's memory, its
//! processes and its emptyDir volumes are gone, so evidence is lost
//! (quarantine keeps them). A controller that owns the pod (a ReplicaSet of
//! a Deployment, a StatefulSet, a DaemonSet, a Job) makes a new one from
//! the same template: the plan names it, because the new pod runs the same
//! image and may be compromised the same way. Every job of this action
//! waits for a person's approval, whatever the rule's mode.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{allows_kube_system, object_and_client, recorded, RbacRule};
use crate::client::{path_of, KubeClient};
use crate::target::{KubeRef, POD};
use crate::Kube;

pub const ID: &str = "kube.pod.delete";

pub const RBAC: &[RbacRule] = &[
    RbacRule {
        api_group: "",
        resource: "pods",
        verbs: &["get", "delete"],
    },
    RbacRule {
        api_group: "apps",
        resource: "replicasets",
        verbs: &["get"],
    },
];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deletes a pod. Irreversible (its memory and emptyDir volumes are lost); the plan names the controller that will recreate it. Always waits for approval.",
    controls: &[],
    resource_types: &[POD],
    // IAM, for EKS clusters; the Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &["eks:DescribeCluster"],
    account_wide: false,
    params: &[ParamSpec {
        name: super::ALLOW_KUBE_SYSTEM,
        kind: "boolean",
        default: "false",
        doc: "act on pods in kube-system too",
    }],
    calls_per_fix: 5,
    approval_by_default: true,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodState {
    pub exists: bool,
    /// The pod's uid (the one the change deletes).
    pub uid: Option<String>,
    /// The controller that recreates it: `ReplicaSet shop/web-7d9f8
    /// (of Deployment web)`; none for a bare pod.
    pub owner: Option<String>,
}

pub struct PodDelete {
    kube: Arc<Kube>,
}

impl PodDelete {
    pub fn new(kube: Arc<Kube>) -> Self {
        PodDelete { kube }
    }
}

/// The controller of `pod`, and for a ReplicaSet, the Deployment that owns
/// it.
async fn owner_of(client: &KubeClient, ns: &str, pod: &Pod) -> Result<Option<String>, ActionError> {
    let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    else {
        return Ok(None);
    };
    let mut text = format!("{} {ns}/{}", owner.kind, owner.name);
    if owner.kind == "ReplicaSet" && super::super::target::check_name(&owner.name).is_ok() {
        let rs: Option<ReplicaSet> = client
            .get(&path_of::<ReplicaSet>(Some(ns), Some(&owner.name)))
            .await?;
        if let Some(deployment) = rs.and_then(|rs| {
            rs.metadata
                .owner_references
                .into_iter()
                .flatten()
                .find(|o| o.controller == Some(true) && o.kind == "Deployment")
        }) {
            text.push_str(&format!(" (of Deployment {})", deployment.name));
        }
    }
    Ok(Some(text))
}

#[async_trait]
impl Action for PodDelete {
    super::object_action_basics!(POD);

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let pod: Option<Pod> = client.get(&path_of::<Pod>(Some(ns), Some(&r.name))).await?;
        let state = match pod {
            None => PodState {
                exists: false,
                uid: None,
                owner: None,
            },
            Some(pod) => PodState {
                exists: true,
                uid: pod.metadata.uid.clone(),
                owner: owner_of(&client, ns, &pod).await?,
            },
        };
        Ok(Observed::new(!state.exists, state, Default::default()))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        let state: PodState = recorded(&observed.state, ID)?;
        let recreated = match &state.owner {
            Some(owner) => format!(
                "{owner} will recreate it from the same template (same image: it may be compromised the same way)"
            ),
            None => "no controller owns it: it will not come back".to_string(),
        };
        Ok(Change::new(
            format!(
                "delete pod {} (irreversible: its memory and emptyDir volumes are lost; quarantine keeps them). {recreated}",
                r.id()
            ),
            observed.state.clone(),
            PodState {
                exists: false,
                uid: None,
                owner: None,
            },
        ))
    }

    fn intent(&self, _: &Target, _: &Value, _: &Observed) -> Vec<String> {
        vec!["deleting a pod cannot be undone: a person approves every deletion".into()]
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let path = path_of::<Pod>(Some(ns), Some(&r.name));
        // Only the pod that was approved: a pod of the same name made since
        // (a StatefulSet's) is another pod.
        let approved: PodState = recorded(&change.before, ID)?;
        let now: Option<Pod> = client.get(&path).await?;
        match now {
            None => Ok(()),
            Some(pod) if pod.metadata.uid == approved.uid => {
                client.delete(&path).await?;
                Ok(())
            }
            Some(_) => Err(ActionError::invalid(format!(
                "pod {} is not the pod that was approved for deletion (its uid changed): refused",
                r.id()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_plan_names_the_recreating_controller_and_cannot_be_undone() {
        let action = PodDelete::new(super::super::testing::kube().await);
        let t = super::super::testing::pod("shop", "web-1");
        let observed = Observed::new(
            false,
            PodState {
                exists: true,
                uid: Some("u".into()),
                owner: Some("ReplicaSet shop/web-7d9f8 (of Deployment web)".into()),
            },
            Default::default(),
        );
        let change = action.plan(&t, &json!({}), &observed).unwrap();
        assert!(
            change.summary.contains("irreversible"),
            "{}",
            change.summary
        );
        assert!(
            change.summary.contains("Deployment web"),
            "{}",
            change.summary
        );
        assert!(!action.intent(&t, &json!({}), &observed).is_empty());
        assert!(action
            .revert_plan(&t, &json!({}), &change, &observed)
            .is_err());
        assert!(SPEC.approval_by_default);
    }
}
