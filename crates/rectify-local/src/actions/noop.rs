//! `local.noop`: plans a change and applies nothing. For load tests of the
//! pipeline itself.

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde_json::{json, Value};

pub struct Noop;

static SPEC: ActionSpec = ActionSpec {
    id: "local.noop",
    summary: "Does nothing; the target is never compliant, so every job runs the full check-plan-apply-verify path.",
    controls: &[],
    resource_types: &[],
    permissions: &[],
    params: &[],
};

#[async_trait]
impl Action for Noop {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        match params.as_object() {
            Some(map) if map.is_empty() => Ok(()),
            _ => Err("local.noop takes no params".into()),
        }
    }

    async fn check(&self, _: &Target, _: &Value) -> Result<Observed, ActionError> {
        Ok(Observed {
            compliant: false,
            state: json!({}),
            tags: Default::default(),
        })
    }

    fn plan(&self, target: &Target, _: &Value, _: &Observed) -> Result<Change, ActionError> {
        Ok(Change {
            summary: format!("do nothing to {}", target.resource_id),
            before: json!({}),
            after: json!({}),
        })
    }

    async fn apply(&self, _: &Target, _: &Value, _: &Change) -> Result<(), ActionError> {
        Ok(())
    }

    async fn verify(&self, _: &Target, _: &Value) -> Result<Observed, ActionError> {
        Ok(Observed {
            compliant: true,
            state: json!({}),
            tags: Default::default(),
        })
    }
}
