//! `local.noop`: plans a change and applies nothing. For load tests of the
//! pipeline itself.

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde_json::{json, Value};

pub struct Noop;

static SPEC: ActionSpec = ActionSpec {
    id: "local.noop",
    summary: "Does nothing; the target is never compliant, so every job runs the full check-plan-apply-verify path.",
    controls: &[],
    resource_types: &[],
    account_wide: false,
    permissions: &[],
    params: &[
        ParamSpec {
            name: "delay_ms",
            kind: "integer",
            default: "0",
            doc: "how long apply takes, to model slow actions",
        },
        ParamSpec {
            name: "inventory",
            kind: "integer",
            default: "none",
            doc: "how many resources of the target's type the account is said to have (for the max_percent_of_type_per_hour breaker)",
        },
    ],
    calls_per_fix: 0,
    approval_by_default: false,
};

#[async_trait]
impl Action for Noop {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        let map = params.as_object().ok_or("params must be a mapping")?;
        for (key, value) in map {
            match key.as_str() {
                "delay_ms" | "inventory" if value.as_u64().is_some() => {}
                "delay_ms" => {
                    return Err("params.delay_ms: expected a whole number of milliseconds".into())
                }
                "inventory" => {
                    return Err("params.inventory: expected a whole number of resources".into())
                }
                other => {
                    return Err(format!(
                        "params.{other}: unknown; local.noop takes `delay_ms` and `inventory`"
                    ))
                }
            }
        }
        Ok(())
    }

    async fn inventory(&self, _: &Target, params: &Value) -> Result<Option<u64>, ActionError> {
        Ok(params.get("inventory").and_then(Value::as_u64))
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

    async fn apply(&self, _: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        if let Some(ms) = params.get("delay_ms").and_then(Value::as_u64) {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
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
