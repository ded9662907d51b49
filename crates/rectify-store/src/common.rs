//! Helpers shared by the back ends: JSON columns, ASFF field extraction,
//! job decoding and the audit chain walk.

use rectify_model::{AuditRecord, Job, JobState, Mode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::audit::{self, GENESIS_HASH};
use crate::{timefmt, AuditVerdict, Result, StoreError};

/// Rows per round trip when streaming the audit log.
pub(crate) const AUDIT_PAGE: usize = 1000;
/// Settings key prefix of a paused rule; the value is the reason.
pub(crate) const SETTING_RULE_PAUSED: &str = "rule.paused:";

/// When a slot taken at `last` frees up, or `None` when it already has.
pub(crate) fn slot_free_at(last: &str, min_interval: std::time::Duration) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let last = time::OffsetDateTime::parse(last, &Rfc3339).ok()?;
    let interval = time::Duration::try_from(min_interval).ok()?;
    let free = last + interval;
    (free > time::OffsetDateTime::now_utc()).then(|| crate::timefmt::format(free))
}

pub(crate) const SETTING_PAUSED: &str = "paused";
/// The row [`crate::Store::probe_write`] rewrites.
pub(crate) const SETTING_HEALTH_PROBE: &str = "health.probe";
/// Settings key of a polling source's cursor.
pub(crate) fn cursor_setting(source: &str) -> String {
    format!("cursor:{source}")
}

pub(crate) fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot encode {what}: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Decode {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn opt_json<T: Serialize>(what: &str, v: &Option<T>) -> Result<Option<String>> {
    v.as_ref().map(|v| to_json(what, v)).transpose()
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The indexed fields of an ASFF finding.
#[derive(Clone)]
pub(crate) struct FindingFields {
    pub(crate) id: String,
    pub(crate) product_arn: String,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) control: Option<String>,
    pub(crate) workflow_status: Option<String>,
    pub(crate) asff_updated_at: Option<String>,
}

impl FindingFields {
    pub(crate) fn from_asff(f: &Value) -> Result<Self> {
        let required = |key: &str| {
            str_at(f, &[key])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| StoreError::Invalid(format!("finding has no {key}")))
        };
        let region = str_at(f, &["Region"])
            .or_else(|| {
                f.get("Resources")
                    .and_then(|r| r.get(0))
                    .and_then(|r| str_at(r, &["Region"]))
            })
            .unwrap_or_default()
            .to_owned();
        Ok(FindingFields {
            id: required("Id")?,
            product_arn: required("ProductArn")?,
            account: str_at(f, &["AwsAccountId"]).unwrap_or_default().to_owned(),
            region,
            control: str_at(f, &["Compliance", "SecurityControlId"])
                .or_else(|| str_at(f, &["ProductFields", "ControlId"]))
                .map(str::to_owned),
            workflow_status: str_at(f, &["Workflow", "Status"]).map(str::to_owned),
            asff_updated_at: str_at(f, &["UpdatedAt"])
                .map(|s| timefmt::normalize(s, "UpdatedAt").unwrap_or_else(|_| s.to_owned())),
        })
    }
}

/// The job with times in the store's format.
pub(crate) fn normalized(job: &Job) -> Result<Job> {
    normalize(job.clone())
}

fn normalize(mut job: Job) -> Result<Job> {
    // Names for errors are built only on error: this runs per job on the
    // ingest path.
    let named = |e: StoreError, field: &str| match e {
        StoreError::Invalid(m) => StoreError::Invalid(format!("job {} {field} {m}", job.id)),
        other => other,
    };
    job.created_at = timefmt::normalize(&job.created_at, "").map_err(|e| named(e, "created_at"))?;
    job.updated_at = timefmt::normalize(&job.updated_at, "").map_err(|e| named(e, "updated_at"))?;
    job.next_run_at = match job.next_run_at.as_deref() {
        Some(t) => Some(timefmt::normalize(t, "").map_err(|e| named(e, "next_run_at"))?),
        None => None,
    };
    Ok(job)
}

/// A job ready to insert: times in the store's format and its JSON columns
/// serialised, by the caller (off the single writer's thread).
#[derive(Clone)]
pub struct NewJob {
    pub(crate) job: Job,
    pub(crate) target: String,
    pub(crate) params: String,
    pub(crate) finding: Option<String>,
    pub(crate) notify: String,
    pub(crate) plan: Option<String>,
    pub(crate) outcome: Option<String>,
}

impl NewJob {
    /// Fails on a time that is not RFC 3339 or a value that cannot be
    /// encoded, naming the job and the field.
    pub fn new(job: Job) -> Result<NewJob> {
        let job = normalize(job)?;
        let json = |v: Result<String>, field: &str| {
            v.map_err(|e| match e {
                StoreError::Invalid(m) => {
                    StoreError::Invalid(format!("job {} {field}: {m}", job.id))
                }
                other => other,
            })
        };
        let opt = |v: Option<Result<String>>, field: &str| v.map(|v| json(v, field)).transpose();
        Ok(NewJob {
            target: json(to_json("target", &job.target), "target")?,
            params: json(to_json("params", &job.params), "params")?,
            finding: opt(
                job.finding.as_ref().map(|f| to_json("finding", f)),
                "finding",
            )?,
            notify: json(to_json("notify", &job.notify), "notify")?,
            plan: opt(job.plan.as_ref().map(|p| to_json("plan", p)), "plan")?,
            outcome: opt(
                job.outcome.as_ref().map(|o| to_json("outcome", o)),
                "outcome",
            )?,
            job,
        })
    }

    pub fn job(&self) -> &Job {
        &self.job
    }
}

/// Where a streaming verify of one lane stands between pages.
pub(crate) struct VerifyState {
    /// The seq of the last record checked (0 before the first).
    pub(crate) last_seq: i64,
    pub(crate) prev_hash: String,
    pub(crate) records: u64,
    /// Records that verified under the key.
    pub(crate) keyed: u64,
    /// The lowest seq of a keyed record and the highest of an unkeyed one:
    /// across lanes, no unkeyed record may come after a keyed one.
    first_keyed: Option<i64>,
    last_unkeyed: Option<i64>,
    key: Option<audit::AuditKey>,
    lane: u32,
    /// Seqs must follow each other without gaps: a single-lane log. In a
    /// log of several lanes the other lanes take the seqs in between.
    gap_free: bool,
}

/// "record 7", or "record 7 (lane 3)" outside lane 0.
fn record_name(seq: i64, lane: u32) -> String {
    if lane == 0 {
        format!("record {seq}")
    } else {
        format!("record {seq} (lane {lane})")
    }
}

/// Checks one record against the chain so far; the verdict if it is bad.
pub(crate) fn check_record(
    state: &mut VerifyState,
    r: &AuditRecord,
    data_raw: &str,
) -> Option<AuditVerdict> {
    let expected = state.last_seq + 1;
    if state.gap_free && r.seq != expected {
        return Some(AuditVerdict::Broken {
            seq: expected,
            reason: format!(
                "gap in seq: record {expected} is missing (the next record is {})",
                r.seq
            ),
        });
    }
    let name = record_name(r.seq, state.lane);
    if r.seq < expected || r.lane != state.lane {
        return Some(AuditVerdict::Broken {
            seq: r.seq,
            reason: format!("out of order: {name} follows record {}", state.last_seq),
        });
    }
    if r.prev_hash != state.prev_hash {
        return Some(AuditVerdict::Broken {
            seq: r.seq,
            reason: format!(
                "prev_hash mismatch: {name} has prev_hash {} but the previous record's hash is {}",
                r.prev_hash, state.prev_hash
            ),
        });
    }
    let hash = |key| {
        audit::record_hash_in_lane(
            key,
            r.lane,
            &r.prev_hash,
            r.seq,
            &r.time,
            &r.kind,
            &r.subject,
            data_raw,
        )
    };
    let keyed = state.key.as_ref().map(|k| hash(Some(k)));
    if keyed.as_deref() == Some(r.hash.as_str()) {
        state.keyed += 1;
        state.first_keyed.get_or_insert(r.seq);
    } else {
        let plain = hash(None);
        if plain != r.hash {
            let hint = if state.key.is_none() {
                " (a keyed log verifies only with its audit key configured)"
            } else {
                ""
            };
            return Some(AuditVerdict::Broken {
                seq: r.seq,
                reason: format!(
                    "hash mismatch: {name} stores hash {} but its contents hash to {}{hint}",
                    r.hash,
                    keyed.unwrap_or(plain)
                ),
            });
        }
        // Unkeyed records may only come before the first keyed one (a log
        // started before the key was configured); after it, an unkeyed
        // record was written by someone without the key.
        if state.keyed > 0 {
            return Some(AuditVerdict::Broken {
                seq: r.seq,
                reason: format!(
                    "unkeyed record: {name} is hashed without the audit key but follows \
                     keyed records (written by someone without the key)"
                ),
            });
        }
        state.last_unkeyed = Some(r.seq);
    }
    state.last_seq = r.seq;
    state.prev_hash = r.hash.clone();
    state.records += 1;
    None
}

impl VerifyState {
    /// The walk of a single-lane log, whose seqs have no gaps.
    pub(crate) fn new(key: Option<audit::AuditKey>) -> Self {
        VerifyState {
            last_seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
            records: 0,
            keyed: 0,
            first_keyed: None,
            last_unkeyed: None,
            key,
            lane: 0,
            gap_free: true,
        }
    }

    /// The walk of one lane of a log of several lanes.
    pub(crate) fn lane(key: Option<audit::AuditKey>, lane: u32) -> Self {
        VerifyState {
            lane,
            gap_free: false,
            ..VerifyState::new(key)
        }
    }

    /// Checks one page of the walk, in seq order: the verdict of the first
    /// bad record, or the error of the first that cannot be read (each back
    /// end reads its pages its own way; the chain is judged here alike).
    pub(crate) fn check_page(
        &mut self,
        page: impl IntoIterator<Item = Result<(AuditRecord, String)>>,
    ) -> Result<Option<AuditVerdict>> {
        for read in page {
            let (record, data_raw) = read?;
            if let Some(broken) = check_record(self, &record, &data_raw) {
                return Ok(Some(broken));
            }
        }
        Ok(None)
    }

    /// The verdict once every record up to the head read before the walk
    /// has been checked: the recorded head must be the last record seen,
    /// and must exist once there are records.
    pub(crate) fn finish(self, head: Option<(i64, String)>) -> AuditVerdict {
        let key = self.key.is_some();
        match self.finish_lane(head) {
            Some(broken) => broken,
            None => lanes_verdict(key, &[self]),
        }
    }

    /// [`finish`](Self::finish) for one lane: the verdict if the lane is
    /// broken.
    pub(crate) fn finish_lane(&self, head: Option<(i64, String)>) -> Option<AuditVerdict> {
        let last_seq = self.last_seq;
        let lane = if self.lane == 0 {
            String::new()
        } else {
            format!(" of lane {}", self.lane)
        };
        let Some((head_seq, head_hash)) = head else {
            if self.records > 0 {
                return Some(AuditVerdict::Broken {
                    seq: last_seq,
                    reason: format!(
                        "missing head: the log{lane} holds {} records but the recorded \
                         chain head is gone (deleted with records from the end?)",
                        self.records
                    ),
                });
            }
            return None;
        };
        if head_seq > last_seq {
            let reason = if self.gap_free {
                format!(
                    "gap in seq: the log ends at seq {last_seq} but the recorded head is \
                     seq {head_seq} (records deleted from the end)"
                )
            } else {
                format!(
                    "truncated: the log{lane} ends at seq {last_seq} but its recorded head is \
                     seq {head_seq} (records deleted from the end)"
                )
            };
            return Some(AuditVerdict::Broken {
                seq: if self.gap_free {
                    last_seq + 1
                } else {
                    head_seq
                },
                reason,
            });
        }
        if last_seq > head_seq {
            return Some(AuditVerdict::Broken {
                seq: last_seq,
                reason: format!(
                    "past the head: {} follows the recorded head{lane} (seq {head_seq}): \
                     written without moving the head, or the head was set back",
                    record_name(last_seq, self.lane)
                ),
            });
        }
        if head_hash != self.prev_hash {
            return Some(AuditVerdict::Broken {
                seq: head_seq,
                reason: format!(
                    "hash mismatch: {} has hash {} but the recorded head is {head_hash}",
                    record_name(head_seq, self.lane),
                    self.prev_hash
                ),
            });
        }
        None
    }
}

/// The verdict on a log whose lanes each verified: intact, unless it is
/// verified with a key and not one record is keyed.
pub(crate) fn lanes_verdict(key: bool, lanes: &[VerifyState]) -> AuditVerdict {
    let records: u64 = lanes.iter().map(|l| l.records).sum();
    let keyed: u64 = lanes.iter().map(|l| l.keyed).sum();
    let last_seq = lanes.iter().map(|l| l.last_seq).max().unwrap_or(0);
    // Verifying with a key, a log without a single keyed record was
    // written entirely by someone without it: a rewrite, or a log from
    // before the key whose next record will be the first keyed one.
    if key && records > 0 && keyed == 0 {
        return AuditVerdict::Broken {
            seq: last_seq,
            reason: format!(
                "no keyed record: none of the {records} records is keyed with the \
                 configured audit key (rewritten by someone without the key, or written \
                 before the key was set and nothing recorded since)"
            ),
        };
    }
    // Lanes are written side by side, but the seq still says which record
    // came later: an unkeyed record after the first keyed one of any lane
    // was written by someone without the key.
    let first_keyed = lanes.iter().filter_map(|l| l.first_keyed).min();
    let last_unkeyed = lanes.iter().filter_map(|l| l.last_unkeyed).max();
    if let (Some(keyed_seq), Some(unkeyed_seq)) = (first_keyed, last_unkeyed) {
        if unkeyed_seq > keyed_seq {
            return AuditVerdict::Broken {
                seq: unkeyed_seq,
                reason: format!(
                    "unkeyed record: record {unkeyed_seq} is hashed without the audit key but \
                     comes after the keyed record {keyed_seq} (written by someone without the key)"
                ),
            };
        }
    }
    AuditVerdict::Intact { records, keyed }
}

/// Checks a batch of findings up front; one without `Id` or `ProductArn`
/// fails the batch, naming its event.
pub(crate) fn finding_rows(findings: &[(String, Value)]) -> Result<Vec<crate::FindingUpsert>> {
    findings
        .iter()
        .map(|(event_id, finding)| crate::FindingUpsert::new(event_id, finding))
        .collect()
}

/// Event rows for a batch of `(event, origin)`.
pub(crate) fn event_rows(
    events: &[(rectify_model::Event, String)],
) -> Result<Vec<crate::EventRow>> {
    events
        .iter()
        .map(|(event, origin)| crate::EventRow::new(event, origin))
        .collect()
}

/// A job's columns as stored (JSON columns as text), decoded by
/// [`RawJob::decode`].
pub(crate) struct RawJob {
    pub(crate) id: String,
    pub(crate) idempotency_key: String,
    pub(crate) event_id: String,
    pub(crate) rule_id: String,
    pub(crate) action: String,
    pub(crate) mode: String,
    pub(crate) target: String,
    pub(crate) params: String,
    pub(crate) finding: Option<String>,
    pub(crate) control: Option<String>,
    pub(crate) notify: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) next_run_at: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) plan: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) approved_by: Option<String>,
}

impl RawJob {
    pub(crate) fn decode(self) -> Result<Job> {
        let id = self.id;
        let what = |field: &str| format!("job {id} {field}");
        let mode: Mode =
            serde_json::from_value(Value::String(self.mode.clone())).map_err(|_| {
                StoreError::Decode {
                    what: what("mode"),
                    reason: format!("unknown mode {:?}", self.mode),
                }
            })?;
        let state = JobState::parse(&self.state).ok_or_else(|| StoreError::Decode {
            what: what("state"),
            reason: format!("unknown state {:?}", self.state),
        })?;
        Ok(Job {
            idempotency_key: self.idempotency_key,
            event_id: self.event_id,
            rule_id: self.rule_id,
            action: self.action,
            mode,
            target: from_json(&what("target"), &self.target)?,
            params: from_json(&what("params"), &self.params)?,
            finding: self
                .finding
                .map(|f| from_json(&what("finding"), &f))
                .transpose()?,
            control: self.control,
            notify: from_json(&what("notify"), &self.notify)?,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: self.created_at,
            updated_at: self.updated_at,
            next_run_at: self.next_run_at,
            last_error: self.last_error,
            plan: self
                .plan
                .map(|p| from_json(&what("plan"), &p))
                .transpose()?,
            outcome: self
                .outcome
                .map(|p| from_json(&what("outcome"), &p))
                .transpose()?,
            approved_by: self.approved_by,
            id,
        })
    }
}

/// An audit record read back, with its `data` column as stored text.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_record(
    seq: i64,
    lane: u32,
    time: String,
    kind: String,
    subject: String,
    data_raw: String,
    prev_hash: String,
    hash: String,
) -> (AuditRecord, String) {
    let record = AuditRecord {
        seq,
        lane,
        time,
        kind,
        subject,
        data: serde_json::from_str(&data_raw).unwrap_or(Value::String(data_raw.clone())),
        prev_hash,
        hash,
    };
    (record, data_raw)
}

/// A new record following (`prev_seq`, `prev_hash`) in a single-lane log:
/// its time is now and its `data` canonical JSON text (returned beside it,
/// as it is to be stored).
pub(crate) fn next_record(
    key: Option<&audit::AuditKey>,
    prev_seq: i64,
    prev_hash: String,
    kind: &str,
    subject: &str,
    data: Value,
) -> (AuditRecord, String) {
    new_record(key, 0, prev_seq + 1, prev_hash, kind, subject, data)
}

/// A new record `seq` of `lane`, following `prev_hash` (that lane's head).
pub(crate) fn new_record(
    key: Option<&audit::AuditKey>,
    lane: u32,
    seq: i64,
    prev_hash: String,
    kind: &str,
    subject: &str,
    data: Value,
) -> (AuditRecord, String) {
    let time = timefmt::now();
    let canonical = audit::canonical_json(&data);
    let hash =
        audit::record_hash_in_lane(key, lane, &prev_hash, seq, &time, kind, subject, &canonical);
    let record = AuditRecord {
        seq,
        lane,
        time,
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        data,
        prev_hash,
        hash,
    };
    (record, canonical)
}

/// The `tally_jobs` query, written once for both back ends: `kind`,
/// `reason`, `left` and `account` are the dialect's expressions for the
/// outcome's kind, its reason, the length of its `left_in_place` and the
/// target's account; `from` and `to` its two parameters. A skip is
/// `refused` when rectify left the state in place on purpose (an exemption
/// tag, a person's repeated change) or a paused rule or breaker stopped it
/// (the reasons `rectify-engine`'s guard writes).
pub(crate) fn tally_sql(
    kind: &str,
    reason: &str,
    left: &str,
    account: &str,
    from: &str,
    to: &str,
) -> String {
    format!(
        "SELECT rule_id, {account}, control, \
           CASE \
             WHEN state IN ('pending', 'running', 'retrying') THEN 'open' \
             WHEN state = 'waiting-approval' THEN 'waiting' \
             WHEN state IN ('failed', 'dead') THEN 'failed' \
             WHEN {kind} = 'changed' AND event_id LIKE 'revert:%' THEN 'reverted' \
             WHEN {kind} = 'changed' THEN 'fixed' \
             WHEN {kind} = 'already-compliant' THEN 'compliant' \
             WHEN {kind} = 'planned' THEN 'dry-run' \
             WHEN {kind} = 'failed' THEN 'failed' \
             WHEN COALESCE({left}, 0) > 0 \
               OR {reason} LIKE 'blast-radius breaker%' \
               OR {reason} LIKE 'rule % is paused (%' THEN 'refused' \
             ELSE 'skipped' \
           END AS report_outcome, COUNT(*) \
         FROM jobs WHERE created_at >= {from} AND created_at < {to} \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
}

/// The query of [`crate::Store::finding_spans`]: `field(name)` is the
/// text of the finding's top-level ASFF field `name` (its own document,
/// else its event's first finding), `severity` its `Severity.Label`,
/// `join` the findings joined with their last events as `f` and `e`.
pub(crate) fn finding_spans_sql(
    field: impl Fn(&str) -> String,
    severity: &str,
    join: &str,
) -> String {
    format!(
        "SELECT f.account, f.control, upper({severity}), \
           substr(COALESCE({first}, {created}, f.updated_at), 1, 10), \
           CASE WHEN f.workflow_status IN ('RESOLVED', 'SUPPRESSED') \
             THEN substr(f.updated_at, 1, 10) END, \
           COUNT(*) \
         FROM {join} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        first = field("FirstObservedAt"),
        created = field("CreatedAt"),
    )
}

/// The query of [`crate::Store::fixes_by_day`], with the back end's
/// expressions for the outcome's kind, the target's account and the
/// finding's severity, and the window's bounds; `fixed` as
/// [`tally_sql`] counts it.
pub(crate) fn fixes_sql(kind: &str, account: &str, severity: &str, from: &str, to: &str) -> String {
    format!(
        "SELECT substr(updated_at, 1, 10), {account}, control, upper({severity}), COUNT(*) \
         FROM jobs WHERE created_at >= {from} AND created_at < {to} \
           AND state NOT IN ('pending', 'running', 'retrying', 'waiting-approval', 'failed', 'dead') \
           AND {kind} = 'changed' AND event_id NOT LIKE 'revert:%' \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
}

/// The outcome of a job a person rejected: skipped, naming who and why.
pub(crate) fn rejected_outcome(job: &Job, by: &str, reason: &str) -> rectify_model::Outcome {
    let mut outcome = rectify_model::Outcome::new(
        rectify_model::OutcomeKind::Skipped,
        format!("{}{by}: {reason}", crate::REJECTED_BY),
    );
    outcome.change = job.plan.clone();
    outcome
}

/// The `job.rejected` audit record's data.
pub(crate) fn rejected_record(job: &Job, by: &str, reason: &str) -> serde_json::Value {
    serde_json::json!({
        "by": by,
        "reason": reason,
        "rule": job.rule_id,
        "action": job.action,
        "target": job.target.key(),
        "plan_digest": job.plan.as_ref().map(rectify_model::Change::digest),
    })
}
