//! `Job` (a planned remediation in the durable queue), its `Outcome`, and
//! the `AuditRecord` every step leaves behind.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Change, Mode, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Pending,
    WaitingApproval,
    Running,
    Retrying,
    Succeeded,
    Skipped,
    Failed,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Pending,
        JobState::WaitingApproval,
        JobState::Running,
        JobState::Retrying,
        JobState::Succeeded,
        JobState::Skipped,
        JobState::Failed,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::WaitingApproval => "waiting-approval",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Succeeded => "succeeded",
            JobState::Skipped => "skipped",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether the job will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Skipped | JobState::Failed | JobState::Dead
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A remediation planned for one (event, rule, resource).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub idempotency_key: String,
    pub event_id: String,
    pub rule_id: String,
    pub action: String,
    pub mode: Mode,
    pub target: Target,
    pub params: Value,
    /// Security Hub finding this job answers: `{Id, ProductArn}`.
    pub finding: Option<FindingRef>,
    pub control: Option<String>,
    pub notify: Vec<String>,
    pub state: JobState,
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
    pub next_run_at: Option<String>,
    pub last_error: Option<String>,
    /// Who approved the job (`approve` mode), once someone has.
    #[serde(default)]
    pub approved_by: Option<String>,
    /// The change planned when the job was created (shown for approval).
    pub plan: Option<Change>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingRef {
    pub id: String,
    pub product_arn: String,
    /// The finding's `GeneratorId` as the event carried it: what the job
    /// judged, compared with the live finding before any update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_id: Option<String>,
    /// The finding's `Severity.Label` as the event carried it: what
    /// notifications are routed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// The change was applied and read back.
    Changed,
    /// The target already complied; nothing was written.
    AlreadyCompliant,
    /// Dry-run: the plan was recorded, nothing was written.
    Planned,
    /// Waiting for `rectify jobs approve`.
    AwaitingApproval,
    /// A guardrail stopped it (exemption tag, unknown account, paused...).
    Skipped,
    /// The action failed.
    Failed,
    /// The event matched no rule; recorded and acknowledged.
    Unmatched,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Changed => "changed",
            OutcomeKind::AlreadyCompliant => "already-compliant",
            OutcomeKind::Planned => "planned",
            OutcomeKind::AwaitingApproval => "awaiting-approval",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Unmatched => "unmatched",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// Why: the skip reason, the error, or the change summary.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// State read back by `verify` after a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// What became of the Security Hub finding behind the job: `set
    /// RESOLVED`, `refused: ...` (it is not the finding the job judged),
    /// `failed: ...`, ... None when the job has no finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_update: Option<String>,
    /// Why the state found may be meant to be so (a website bucket, a
    /// group in use, ...): the job waits for a person's approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intent: Vec<String>,
    /// What rectify left in place on purpose (an exemption, a port outside
    /// the action's scope, an excepted snapshot): the finding is then
    /// `NOTIFIED` with these reasons, never `RESOLVED`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_in_place: Vec<String>,
}

impl Outcome {
    pub fn new(kind: OutcomeKind, reason: impl Into<String>) -> Self {
        Outcome {
            kind,
            reason: reason.into(),
            change: None,
            after: None,
            finding_update: None,
            intent: Vec::new(),
            left_in_place: Vec::new(),
        }
    }

    /// Whether the finding update failed or was refused: the job's own
    /// result stands, but the record in Security Hub does not show it.
    pub fn finding_update_failed(&self) -> bool {
        self.finding_update
            .as_deref()
            .is_some_and(|u| u.starts_with("failed") || u.starts_with("refused"))
    }
}

/// One entry in the hash-chained audit log. `hash` is
/// `sha256(prev_hash || canonical JSON of the other fields)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// The chain the record is linked into: `prev_hash` is the hash of the
    /// previous record of the same lane. A log on PostgreSQL spreads its
    /// records over several lanes, so that appends on different replicas
    /// do not wait for each other; lane 0 is the only one in a single-lane
    /// log (SQLite), and is left out of the JSON.
    #[serde(default, skip_serializing_if = "is_lane_zero")]
    pub lane: u32,
    pub time: String,
    /// `event.received`, `event.unmatched`, `job.planned`, `job.applied`...
    pub kind: String,
    pub subject: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

fn is_lane_zero(lane: &u32) -> bool {
    *lane == 0
}
