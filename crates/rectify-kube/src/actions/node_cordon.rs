//! `kube.node.cordon`: marks a node unschedulable (`spec.unschedulable:
//! true`, what `kubectl cordon` does), so no new pod lands on a node a
//! finding says is compromised. Pods already there keep running: rectify
//! does not drain. Undo uncordons, unless the node was already cordoned
//! before the change (then there was no change to undo).

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{allows_kube_system, changed_since, gone, object_and_client, recorded, RbacRule};
use crate::client::{path_of, PatchKind};
use crate::target::{KubeRef, NODE};
use crate::Kube;

pub const ID: &str = "kube.node.cordon";

pub const RBAC: &[RbacRule] = &[RbacRule {
    api_group: "",
    resource: "nodes",
    verbs: &["get", "patch"],
}];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Cordons a node (spec.unschedulable: true) so no new pod is scheduled on it; running pods stay (no drain). Undo uncordons unless it was cordoned before.",
    controls: &[],
    resource_types: &[NODE],
    // IAM, for EKS clusters; the Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &["eks:DescribeCluster"],
    account_wide: false,
    params: &[ParamSpec {
        name: super::ALLOW_KUBE_SYSTEM,
        kind: "boolean",
        default: "false",
        doc: "accepted for uniformity; nodes have no namespace",
    }],
    calls_per_fix: 3,
    approval_by_default: true,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CordonState {
    pub unschedulable: bool,
}

pub struct NodeCordon {
    kube: Arc<Kube>,
}

impl NodeCordon {
    pub fn new(kube: Arc<Kube>) -> Self {
        NodeCordon { kube }
    }
}

impl NodeCordon {
    async fn set(
        &self,
        target: &Target,
        params: &Value,
        unschedulable: bool,
    ) -> Result<(), ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        // `null` removes the field, as `kubectl uncordon` leaves it.
        let value = if unschedulable {
            json!(true)
        } else {
            Value::Null
        };
        client
            .patch::<Node>(
                &path_of::<Node>(None, Some(&r.name)),
                PatchKind::Merge,
                &json!({"spec": {"unschedulable": value}}),
            )
            .await?
            .ok_or_else(|| gone(&r))?;
        Ok(())
    }
}

#[async_trait]
impl Action for NodeCordon {
    super::object_action_basics!(NODE);

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let node: Node = client
            .get(&path_of::<Node>(None, Some(&r.name)))
            .await?
            .ok_or_else(|| gone(&r))?;
        let unschedulable = node.spec.and_then(|s| s.unschedulable).unwrap_or(false);
        Ok(Observed::new(
            unschedulable,
            CordonState { unschedulable },
            Default::default(),
        ))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        Ok(Change::new(
            format!(
                "cordon node {}: no new pods are scheduled on it (pods running there stay)",
                r.id()
            ),
            observed.state.clone(),
            CordonState {
                unschedulable: true,
            },
        ))
    }

    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        self.set(target, params, true).await
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
        let before: CordonState = recorded(&applied.before, ID)?;
        let current: CordonState = recorded(&now.state, ID)?;
        if !current.unschedulable {
            return Err(changed_since(&r.id(), &now.state, &applied.after));
        }
        if before.unschedulable {
            return Err(ActionError::invalid(format!(
                "node {} was already cordoned before the change: rectify leaves it cordoned",
                r.id()
            )));
        }
        Ok(Change::new(
            format!("uncordon node {}", r.id()),
            now.state.clone(),
            before,
        ))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        let restore: CordonState = recorded(&change.after, ID)?;
        self.set(target, params, restore.unschedulable).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_target() -> Target {
        KubeRef {
            cluster: "lab".into(),
            kind: NODE,
            namespace: None,
            name: "ip-10-0-1-23.eu-west-1.compute.internal".into(),
        }
        .to_target("111122223333", "eu-west-1")
    }

    #[tokio::test]
    async fn a_node_cordoned_before_is_left_cordoned() {
        let action = NodeCordon::new(super::super::testing::kube().await);
        let t = node_target();
        let cordoned = Observed::new(
            true,
            CordonState {
                unschedulable: true,
            },
            Default::default(),
        );
        let applied = Change::new(
            "x".into(),
            json!({"unschedulable": true}),
            CordonState {
                unschedulable: true,
            },
        );
        let err = action
            .revert_plan(&t, &json!({}), &applied, &cordoned)
            .unwrap_err();
        assert!(err.message.contains("already cordoned"), "{}", err.message);
        let applied = Change::new(
            "x".into(),
            json!({"unschedulable": false}),
            CordonState {
                unschedulable: true,
            },
        );
        let undo = action
            .revert_plan(&t, &json!({}), &applied, &cordoned)
            .unwrap();
        assert_eq!(undo.after, json!({"unschedulable": false}));
        let uncordoned = Observed::new(
            false,
            CordonState {
                unschedulable: false,
            },
            Default::default(),
        );
        assert!(action
            .revert_plan(&t, &json!({}), &applied, &uncordoned)
            .is_err());
    }
}
