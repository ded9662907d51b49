//! `kube.deployment.scale-to-zero`: stops a deployment a finding says runs
//! something it must not (a miner, a privileged container) by setting
//! `spec.replicas: 0`; its pods are removed by the deployment's controller.
//! The replica count before is recorded and undo restores it. A
//! HorizontalPodAutoscaler on the deployment scales it up again: its
//! `minReplicas` must be set to 0 by hand, or the autoscaler removed.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{allows_kube_system, changed_since, gone, object_and_client, recorded, RbacRule};
use crate::client::{path_of, PatchKind};
use crate::target::{KubeRef, DEPLOYMENT};
use crate::Kube;

pub const ID: &str = "kube.deployment.scale-to-zero";

pub const RBAC: &[RbacRule] = &[RbacRule {
    api_group: "apps",
    resource: "deployments",
    verbs: &["get", "patch"],
}];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Scales a deployment to zero replicas (its pods stop); the replica count before is recorded and undo restores it.",
    controls: &[],
    resource_types: &[DEPLOYMENT],
    // IAM, for EKS clusters; the Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &["eks:DescribeCluster"],
    account_wide: false,
    params: &[ParamSpec {
        name: super::ALLOW_KUBE_SYSTEM,
        kind: "boolean",
        default: "false",
        doc: "act on deployments in kube-system too (CoreDNS, controllers)",
    }],
    calls_per_fix: 3,
    approval_by_default: true,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaState {
    pub replicas: i32,
}

pub struct DeploymentScaleToZero {
    kube: Arc<Kube>,
}

impl DeploymentScaleToZero {
    pub fn new(kube: Arc<Kube>) -> Self {
        DeploymentScaleToZero { kube }
    }

    async fn set(&self, target: &Target, params: &Value, replicas: i32) -> Result<(), ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        client
            .patch::<Deployment>(
                &path_of::<Deployment>(Some(ns), Some(&r.name)),
                PatchKind::Merge,
                &json!({"spec": {"replicas": replicas}}),
            )
            .await?
            .ok_or_else(|| gone(&r))?;
        Ok(())
    }
}

#[async_trait]
impl Action for DeploymentScaleToZero {
    super::object_action_basics!(DEPLOYMENT);

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let deployment: Deployment = client
            .get(&path_of::<Deployment>(Some(ns), Some(&r.name)))
            .await?
            .ok_or_else(|| gone(&r))?;
        // An unset replica count means 1 (the API's default).
        let replicas = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
        Ok(Observed::new(
            replicas == 0,
            ReplicaState { replicas },
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
        let before: ReplicaState = recorded(&observed.state, ID)?;
        Ok(Change::new(
            format!(
                "scale deployment {} from {} replica(s) to 0: its pods stop",
                r.id(),
                before.replicas
            ),
            observed.state.clone(),
            ReplicaState { replicas: 0 },
        ))
    }

    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        self.set(target, params, 0).await
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
        let before: ReplicaState = recorded(&applied.before, ID)?;
        let current: ReplicaState = recorded(&now.state, ID)?;
        if current.replicas != 0 {
            return Err(changed_since(&r.id(), &now.state, &applied.after));
        }
        Ok(Change::new(
            format!(
                "scale deployment {} back to {} replica(s)",
                r.id(),
                before.replicas
            ),
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
        let restore: ReplicaState = recorded(&change.after, ID)?;
        self.set(target, params, restore.replicas).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn undo_restores_the_recorded_count_unless_scaled_since() {
        let action = DeploymentScaleToZero::new(super::super::testing::kube().await);
        let t = KubeRef {
            cluster: "lab".into(),
            kind: DEPLOYMENT,
            namespace: Some("shop".into()),
            name: "checkout".into(),
        }
        .to_target("111122223333", "eu-west-1");
        let applied = Change::new(
            "x".into(),
            json!({"replicas": 3}),
            ReplicaState { replicas: 0 },
        );
        let zero = Observed::new(true, ReplicaState { replicas: 0 }, Default::default());
        let undo = action.revert_plan(&t, &json!({}), &applied, &zero).unwrap();
        assert_eq!(undo.after, json!({"replicas": 3}));
        let scaled = Observed::new(false, ReplicaState { replicas: 2 }, Default::default());
        assert!(action
            .revert_plan(&t, &json!({}), &applied, &scaled)
            .is_err());
    }
}
