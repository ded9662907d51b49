//! `kube.job.run`: runs a remediation Job made from a template in the
//! rule's params: rebuild an image with patched packages, roll a
//! deployment to a fixed image, collect evidence from a node. The Job's
//! name is made from the target and the template, so a retry finds the Job
//! it made before instead of starting a second one. Verify reads the Job's
//! status, waiting up to `wait_seconds` for it to finish; a Job still
//! running or failed is not a fix. Undo deletes the Job (and its pods);
//! what the Job did is the Job's to undo.
//!
//! In the template's strings `{{cluster}}`, `{{namespace}}`, `{{name}}`
//! and `{{kind}}` are replaced with the target's cluster, namespace, name
//! and type (`KubernetesPod`, `KubernetesDeployment`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    changed_since, object_and_client, parse_params, recorded, stable_id, RbacRule, MANAGED_BY,
    MANAGED_BY_LABEL,
};
use crate::client::path_of;
use crate::target::{check_name, kube_target, KubeRef, DEPLOYMENT, POD};
use crate::Kube;

pub const ID: &str = "kube.job.run";

pub const RBAC: &[RbacRule] = &[RbacRule {
    api_group: "batch",
    resource: "jobs",
    verbs: &["get", "create", "delete"],
}];

/// The longest verify waits for a Job to finish.
pub const MAX_WAIT_SECONDS: u64 = 900;
const POLL: Duration = Duration::from_secs(2);

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Runs a remediation Job from a template in the rule's params (its spec; {{cluster}}, {{namespace}}, {{name}}, {{kind}} replaced), named after the target and template so a retry does not start a second one; verify waits for it to succeed. Undo deletes the Job.",
    controls: &[],
    resource_types: &[POD, DEPLOYMENT],
    // IAM, for EKS clusters; the Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &["eks:DescribeCluster"],
    account_wide: false,
    params: &[
        ParamSpec {
            name: "template",
            kind: "object",
            default: "null",
            doc: "required: the Job to run: `spec` (a batch/v1 JobSpec) and optional `metadata.labels` / `metadata.annotations`",
        },
        ParamSpec {
            name: "namespace",
            kind: "string",
            default: "null",
            doc: "where the Job runs; default: the target's namespace",
        },
        ParamSpec {
            name: "wait_seconds",
            kind: "integer",
            default: "60",
            doc: "how long verify waits for the Job to finish (0 to 900)",
        },
        ParamSpec {
            name: super::ALLOW_KUBE_SYSTEM,
            kind: "boolean",
            default: "false",
            doc: "act on targets in kube-system, and run Jobs there",
        },
    ],
    calls_per_fix: 3,
    approval_by_default: true,
};

#[derive(Debug, Clone)]
struct JobParams {
    template: Map<String, Value>,
    namespace: Option<String>,
    wait: Duration,
    allow_kube_system: bool,
}

fn parse(params: &Value) -> Result<JobParams, String> {
    let (map, allow_kube_system) =
        parse_params(params, ID, &["template", "namespace", "wait_seconds"])?;
    let template = match map.get("template") {
        Some(Value::Object(t)) => t.clone(),
        // Absent: the catalog's own check of defaults passes; a rule that
        // uses the action is told at check time.
        None | Some(Value::Null) => Map::new(),
        Some(v) => return Err(format!("params.template: expected an object, got {v}")),
    };
    if !template.is_empty() {
        for key in template.keys() {
            if key != "spec" && key != "metadata" {
                return Err(format!(
                    "params.template.{key}: a template has `spec` and `metadata` only"
                ));
            }
        }
        let spec = template
            .get("spec")
            .ok_or("params.template.spec: required (a batch/v1 JobSpec)")?;
        let parsed: JobSpec = serde_json::from_value(spec.clone())
            .map_err(|e| format!("params.template.spec: not a JobSpec: {e}"))?;
        if parsed
            .template
            .spec
            .as_ref()
            .is_none_or(|s| s.containers.is_empty())
        {
            return Err(
                "params.template.spec.template.spec.containers: at least one container".into(),
            );
        }
        if let Some(meta) = template.get("metadata") {
            let meta = meta
                .as_object()
                .ok_or("params.template.metadata: expected an object")?;
            for key in meta.keys() {
                if key != "labels" && key != "annotations" {
                    return Err(format!(
                        "params.template.metadata.{key}: only labels and annotations (rectify names the Job)"
                    ));
                }
            }
        }
    }
    let namespace = match map.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) => {
            check_name(ns).map_err(|e| format!("params.namespace: {e}"))?;
            Some(ns.clone())
        }
        Some(v) => return Err(format!("params.namespace: expected a string, got {v}")),
    };
    let wait = match map.get("wait_seconds") {
        None => 60,
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                format!("params.wait_seconds: expected 0 to {MAX_WAIT_SECONDS}, got {v}")
            })?,
    };
    Ok(JobParams {
        template,
        namespace,
        wait: Duration::from_secs(wait),
        allow_kube_system,
    })
}

fn params_of(params: &Value) -> Result<JobParams, ActionError> {
    let p = parse(params).map_err(ActionError::invalid)?;
    if p.template.is_empty() {
        return Err(ActionError::not_configured(format!(
            "{ID} needs params.template (the Job to run) on the rule"
        )));
    }
    Ok(p)
}

/// Every string of `v` with the placeholders replaced.
fn substitute(v: &Value, r: &KubeRef) -> Value {
    match v {
        Value::String(s) => Value::String(
            s.replace("{{cluster}}", &r.cluster)
                .replace("{{namespace}}", r.namespace.as_deref().unwrap_or_default())
                .replace("{{name}}", &r.name)
                .replace("{{kind}}", r.kind),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| substitute(i, r)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, r)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The namespace and name of the Job for target `r` and these params.
fn job_identity(r: &KubeRef, p: &JobParams) -> Result<(String, String), ActionError> {
    let ns = p
        .namespace
        .clone()
        .or_else(|| r.namespace.clone())
        .ok_or_else(|| {
            ActionError::not_configured(format!(
                "{ID}: the target {} has no namespace: set params.namespace",
                r.id()
            ))
        })?;
    if ns == super::KUBE_SYSTEM && !p.allow_kube_system {
        return Err(ActionError::invalid(format!(
            "{ID}: a Job in {} needs params.{}: true",
            super::KUBE_SYSTEM,
            super::ALLOW_KUBE_SYSTEM
        )));
    }
    let template = serde_json::to_string(&p.template).expect("plain JSON");
    Ok((
        ns,
        format!("rectify-job-{}", stable_id(&[&r.id(), &template])),
    ))
}

/// The Job as it is created.
fn job_of(r: &KubeRef, p: &JobParams, ns: &str, name: &str) -> Result<Job, ActionError> {
    let template = substitute(&Value::Object(p.template.clone()), r);
    let mut labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert("rectify.io/target".into(), json!(r.id()));
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": template["spec"],
    }))
    .map_err(|e| ActionError::invalid(format!("{ID}: the template does not make a Job: {e}")))
}

/// What check and verify read of the Job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// `namespace/name` of the Job, when it exists.
    pub job: Option<String>,
    /// `absent`, `running`, `succeeded` or `failed`.
    pub phase: String,
}

fn phase_of(job: &Job) -> &'static str {
    let Some(status) = &job.status else {
        return "running";
    };
    let condition = |kind: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == kind && c.status == "True")
    };
    if condition("Failed") {
        "failed"
    } else if condition("Complete") || condition("SuccessCriteriaMet") {
        "succeeded"
    } else {
        "running"
    }
}

pub struct JobRun {
    kube: Arc<Kube>,
}

impl JobRun {
    pub fn new(kube: Arc<Kube>) -> Self {
        JobRun { kube }
    }

    async fn read(
        &self,
        target: &Target,
        p: &JobParams,
    ) -> Result<(KubeRef, JobState), ActionError> {
        let (r, client) = object_and_client(&self.kube, target, p.allow_kube_system).await?;
        let (ns, name) = job_identity(&r, p)?;
        let job: Option<Job> = client.get(&path_of::<Job>(Some(&ns), Some(&name))).await?;
        let state = match job {
            None => JobState {
                job: None,
                phase: "absent".into(),
            },
            Some(job) => JobState {
                job: Some(format!("{ns}/{name}")),
                phase: phase_of(&job).into(),
            },
        };
        Ok((r, state))
    }
}

#[async_trait]
impl Action for JobRun {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse(params).map(|_| ())
    }

    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        kube_target(event, &[POD, DEPLOYMENT], self.kube.settings()).map_err(ActionError::invalid)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let p = params_of(params)?;
        let (_, state) = self.read(target, &p).await?;
        Ok(Observed::new(
            state.phase == "succeeded",
            state,
            Default::default(),
        ))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = params_of(params)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        let (ns, name) = job_identity(&r, &p)?;
        let job = job_of(&r, &p, &ns, &name)?;
        let images: Vec<String> = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|s| {
                s.containers
                    .iter()
                    .filter_map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Change::new(
            format!(
                "run Job {ns}/{name} for {} (image {})",
                r.id(),
                if images.is_empty() {
                    "unset".into()
                } else {
                    images.join(", ")
                }
            ),
            observed.state.clone(),
            JobState {
                job: Some(format!("{ns}/{name}")),
                phase: "succeeded".into(),
            },
        ))
    }

    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        let p = params_of(params)?;
        let (r, client) = object_and_client(&self.kube, target, p.allow_kube_system).await?;
        let (ns, name) = job_identity(&r, &p)?;
        let job = job_of(&r, &p, &ns, &name)?;
        // Already there: made by an earlier try of this change.
        client
            .create(&path_of::<Job>(Some(&ns), None), &job)
            .await?;
        Ok(())
    }

    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let p = params_of(params)?;
        let deadline = Instant::now() + p.wait;
        loop {
            let (_, state) = self.read(target, &p).await?;
            let finished =
                state.phase == "succeeded" || state.phase == "failed" || state.phase == "absent";
            if finished || Instant::now() + POLL > deadline {
                return Ok(Observed::new(
                    state.phase == "succeeded",
                    state,
                    Default::default(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        params_of(params)?;
        let r = KubeRef::from_target(target).map_err(ActionError::invalid)?;
        let current: JobState = recorded(&now.state, ID)?;
        let left: JobState = recorded(&applied.after, ID)?;
        if current.job.is_none() || current.job != left.job {
            return Err(changed_since(&r.id(), &now.state, &applied.after));
        }
        Ok(Change::new(
            format!(
                "delete Job {} and its pods (what the Job changed stays)",
                current.job.as_deref().unwrap_or_default()
            ),
            now.state.clone(),
            JobState {
                job: None,
                phase: "absent".into(),
            },
        ))
    }

    async fn revert(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        let p = params_of(params)?;
        let (r, client) = object_and_client(&self.kube, target, p.allow_kube_system).await?;
        let (ns, name) = job_identity(&r, &p)?;
        client
            .delete(&path_of::<Job>(Some(&ns), Some(&name)))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn template() -> Value {
        json!({"template": {
            "metadata": {"labels": {"purpose": "patch"}},
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "patch", "image": "registry.example/patcher:1",
                                    "args": ["--namespace", "{{namespace}}", "--workload", "{{name}}"]}]
                }}
            }
        }})
    }

    #[test]
    fn params_are_checked_at_load() {
        assert!(parse(&template()).is_ok());
        assert!(parse(&json!({})).is_ok());
        let err = parse(&json!({"template": {"spec": {"template": {"spec": {"containers": []}}}}}))
            .unwrap_err();
        assert!(err.contains("containers"), "{err}");
        let err = parse(&json!({"template": {"kind": "Pod"}})).unwrap_err();
        assert!(err.contains("params.template.kind"), "{err}");
        let err = parse(&json!({"template": {"metadata": {"name": "x"}, "spec": {}}})).unwrap_err();
        assert!(err.contains("params.template"), "{err}");
        assert!(parse(&json!({"wait_seconds": 901})).is_err());
        assert!(parse(&json!({"namespace": "Bad_NS"})).is_err());
    }

    #[test]
    fn the_job_name_is_stable_and_placeholders_are_filled() {
        let r = KubeRef {
            cluster: "lab".into(),
            kind: DEPLOYMENT,
            namespace: Some("shop".into()),
            name: "checkout".into(),
        };
        let p = params_of(&template()).unwrap();
        let (ns, a) = job_identity(&r, &p).unwrap();
        let (_, b) = job_identity(&r, &p).unwrap();
        assert_eq!((ns.as_str(), &a), ("shop", &b));
        let job = job_of(&r, &p, &ns, &a).unwrap();
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--namespace", "shop", "--workload", "checkout"])
        );
        assert_eq!(v["metadata"]["labels"][MANAGED_BY_LABEL], json!("rectify"));
        assert_eq!(v["metadata"]["labels"]["purpose"], json!("patch"));
    }
}
