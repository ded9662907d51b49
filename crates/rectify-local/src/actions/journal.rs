//! `local.journal`: appends the target's resource id as one line to a
//! journal file. The check reads the journal, so a job that runs again
//! after a crash finds its line and writes nothing: exactly one effect per
//! target, which is what the crash tests count. A revert takes the line
//! out again (for the tests of `rectify jobs revert`).

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use rectify_model::{
    Action, ActionError, ActionSpec, Change, ErrorClass, Observed, ParamSpec, Target,
};
use serde_json::{json, Value};

pub struct Journal;

static SPEC: ActionSpec = ActionSpec {
    id: "local.journal",
    summary: "Appends the target's resource id to a local journal file, once.",
    controls: &[],
    resource_types: &[],
    account_wide: false,
    permissions: &[],
    params: &[ParamSpec {
        name: "path",
        kind: "string",
        default: "\"rectify-journal.txt\"",
        doc: "journal file, relative to the working folder",
    }],
    calls_per_fix: 0,
    approval_by_default: false,
};

fn path(params: &Value) -> PathBuf {
    PathBuf::from(
        params
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("rectify-journal.txt"),
    )
}

fn io_error(e: std::io::Error) -> ActionError {
    ActionError::new(ErrorClass::Transient, format!("journal: {e}"))
}

async fn contains(params: &Value, line: &str) -> Result<bool, ActionError> {
    match tokio::fs::read_to_string(path(params)).await {
        Ok(text) => Ok(text.lines().any(|l| l == line)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(e)),
    }
}

#[async_trait]
impl Action for Journal {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        let map = params.as_object().ok_or("params must be a mapping")?;
        for (key, value) in map {
            match key.as_str() {
                "path" if value.is_string() => {}
                "path" => return Err("params.path: expected a string".into()),
                other => {
                    return Err(format!(
                        "params.{other}: unknown; local.journal takes `path`"
                    ))
                }
            }
        }
        Ok(())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let present = contains(params, &target.resource_id).await?;
        Ok(Observed {
            compliant: present,
            state: json!({ "recorded": present }),
            tags: Default::default(),
        })
    }

    fn plan(&self, target: &Target, _: &Value, _: &Observed) -> Result<Change, ActionError> {
        Ok(Change {
            summary: format!("record {} in the journal", target.resource_id),
            before: json!({ "recorded": false }),
            after: json!({ "recorded": true }),
        })
    }

    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        let path = path(params);
        let line = format!("{}\n", target.resource_id);
        tokio::task::spawn_blocking(move || {
            // One write() of a short line with O_APPEND: lines never interleave.
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| ActionError::new(ErrorClass::Transient, format!("journal: {e}")))?
        .map_err(io_error)
    }

    /// The undo takes the target's line out again; refused when the line
    /// is not there (someone took it out since).
    fn revert_plan(
        &self,
        target: &Target,
        _: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        if now.state != applied.after {
            return Err(ActionError::invalid(format!(
                "the journal no longer holds {}: it changed since; nothing to undo",
                target.resource_id
            )));
        }
        Ok(Change {
            summary: format!("take {} out of the journal", target.resource_id),
            before: now.state.clone(),
            after: applied.before.clone(),
        })
    }

    async fn revert(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        let path = path(params);
        let line = target.resource_id.clone();
        tokio::task::spawn_blocking(move || {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            let kept: String = text
                .lines()
                .filter(|l| *l != line)
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&path, kept)
        })
        .await
        .map_err(|e| ActionError::new(ErrorClass::Transient, format!("journal: {e}")))?
        .map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        Target {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            resource_type: String::new(),
            resource_id: id.into(),
            tags: Default::default(),
            details: Value::Null,
        }
    }

    #[tokio::test]
    async fn records_once() {
        let dir = tempfile::tempdir().unwrap();
        let params = json!({"path": dir.path().join("j.txt").to_str().unwrap()});
        let t = target("arn:aws:s3:::a");
        let first = Journal.check(&t, &params).await.unwrap();
        assert!(!first.compliant);
        let change = Journal.plan(&t, &params, &first).unwrap();
        Journal.apply(&t, &params, &change).await.unwrap();
        assert!(Journal.verify(&t, &params).await.unwrap().compliant);
        assert!(
            !Journal
                .check(&target("arn:aws:s3:::b"), &params)
                .await
                .unwrap()
                .compliant
        );
        let text = std::fs::read_to_string(dir.path().join("j.txt")).unwrap();
        assert_eq!(text, "arn:aws:s3:::a\n");
        assert!(Journal.validate_params(&json!({"path": 1})).is_err());
        assert!(Journal.validate_params(&json!({"other": "x"})).is_err());
    }
}
