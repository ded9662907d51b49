//! The pipeline after ingest:
//!
//! ```text
//! Event -> route -> plan -> queue -> execute -> effects
//! ```
//!
//! [`Engine::submit`] routes events and turns every match into a durable
//! [`Job`] (plan stage: no I/O outside the store, so ingest stays fast).
//! Workers then claim jobs and [`execute`] them against the target
//! account; [`effects`] update the finding, notify and audit.

pub mod coalesce;
mod committer;
pub mod digest;
pub mod effects;
pub mod execute;
mod jobwrites;
mod leases;
pub mod metrics;
pub mod outbox;
pub mod plan;
mod queue;
pub mod quiet;
pub mod retry;
pub mod revert;
pub mod scan;
mod tickets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rectify_config::Config;
use rectify_model::{Action, Event, FindingUpdater, Job, JobState, Notifier, Outcome};
use rectify_route::Router;
use rectify_store::{Enqueued, EventRow, FindingUpsert, NewJob, Store};
use serde::Serialize;
use serde_json::json;

pub use queue::{store_unavailable, CommitError};
pub use retry::RetryPolicy;

/// Knobs that are not in the config file.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Forces every rule into dry-run (`rectify process --dry-run`).
    pub force_dry_run: bool,
    /// Identifies this process's leases on jobs.
    pub worker_id: String,
    pub lease: Duration,
    pub retry: RetryPolicy,
    /// Jobs one worker runs at once.
    pub concurrency: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            force_dry_run: false,
            worker_id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            concurrency: 4,
        }
    }
}

/// What became of one event at submission.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub event_id: String,
    /// False when the event id was seen before (a redelivery).
    pub new: bool,
    pub matched: Vec<String>,
    pub jobs: Vec<SubmittedJob>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubmittedJob {
    pub id: String,
    pub rule_id: String,
    pub state: JobState,
    /// An unfinished job with the same idempotency key already existed.
    pub duplicate: bool,
}

pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<Config>,
    router: Router,
    pub(crate) actions: HashMap<String, Arc<dyn Action>>,
    pub(crate) updater: Arc<dyn FindingUpdater>,
    pub(crate) notifier: Arc<dyn Notifier>,
    /// Tickets per finding (ServiceNow, Jira), when the config has any.
    pub(crate) tickets: Option<Arc<dyn rectify_model::Tickets>>,
    pub(crate) options: EngineOptions,
    pub(crate) metrics: metrics::Metrics,
    /// `guardrails.max_concurrent_per_account_region` within this replica,
    /// one semaphore per `account/region` (the store's slots bound it
    /// across replicas).
    pub(crate) region_slots: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Makes submissions durable, several per transaction.
    queue: queue::GroupCommit,
    /// The workers' store writes, group-committed ([`jobwrites`]).
    job_writes: jobwrites::JobCommit,
    /// The running jobs' leases, renewed together ([`leases`]).
    pub(crate) leases: leases::Leases,
    /// Resource counts per `action/account/region` for the share breaker,
    /// with when they were taken.
    pub(crate) inventory: std::sync::Mutex<HashMap<String, (std::time::Instant, u64)>>,
    /// Control parameters read from Security Hub per
    /// `account/region/control`, with when they were read.
    pub(crate) control_parameters: std::sync::Mutex<ControlParameters>,
    /// Jobs settled at plan time whose effects the workers still owe.
    settled_at_plan: std::sync::Mutex<Vec<Job>>,
    /// Reads each submission and may add events to it (the threat
    /// detectors, in `rectify serve`).
    tap: Option<Arc<dyn rectify_model::EventTap>>,
    /// What the last scan's action checks read of resources out of
    /// compliance, for the jobs made from its findings (see
    /// [`scan::Scanned`]); in memory only, so no event can put a state
    /// there.
    pub(crate) scanned: scan::Scanned,
}

impl Engine {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        actions: Vec<Arc<dyn Action>>,
        updater: Arc<dyn FindingUpdater>,
        notifier: Arc<dyn Notifier>,
        options: EngineOptions,
    ) -> anyhow::Result<Engine> {
        let rules = config.rules.iter().map(|r| r.rule.clone()).collect();
        let router = Router::new(rules).map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("rule {}: pattern: {}", p.rule_id, p.error))
                .collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?;
        let mut options = options;
        options.retry = RetryPolicy::from_config(&config.execution);
        options.concurrency = config.execution.concurrency;
        options.lease = Duration::from_secs(config.execution.lease_seconds);
        let actions = actions
            .into_iter()
            .map(|a| (a.spec().id.to_string(), a))
            .collect();
        Ok(Engine {
            queue: queue::GroupCommit::new(store.clone()),
            job_writes: jobwrites::JobCommit::new(store.clone()),
            leases: leases::Leases::new(store.clone(), options.worker_id.clone(), options.lease),
            inventory: Default::default(),
            settled_at_plan: Default::default(),
            scanned: Default::default(),
            control_parameters: Default::default(),
            store,
            config,
            router,
            actions,
            updater,
            notifier,
            tickets: None,
            options,
            metrics: metrics::Metrics::default(),
            region_slots: Default::default(),
            tap: None,
        })
    }

    /// Every submission goes through `tap` first; the events it gives back
    /// are submitted with the ones they came from (one transaction).
    pub fn with_tap(mut self, tap: Arc<dyn rectify_model::EventTap>) -> Engine {
        self.tap = Some(tap);
        self
    }

    /// What the tap makes as time passes ([`rectify_model::EventTap::tick`]),
    /// submitted; the events submitted (none without a tap).
    pub async fn tick_tap(&self, now: i64, origin: &str) -> anyhow::Result<usize> {
        let Some(tap) = &self.tap else {
            return Ok(0);
        };
        let events = tap.tick(now);
        if events.is_empty() {
            return Ok(0);
        }
        Ok(self.submit(events, origin).await?.len())
    }

    /// Writes the tap's state ([`rectify_model::EventTap::save_state`]).
    pub async fn save_tap_state(&self, force: bool) {
        if let Some(tap) = &self.tap {
            tap.save_state(force).await;
        }
    }

    /// Each settled job's finding gets its ticket through `tickets`.
    pub fn with_tickets(mut self, tickets: Arc<dyn rectify_model::Tickets>) -> Engine {
        self.tickets = Some(tickets);
        self
    }

    /// The ticket effect, when the config has ticket systems.
    pub fn tickets(&self) -> Option<&Arc<dyn rectify_model::Tickets>> {
        self.tickets.as_ref()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Counters and histograms since this process started (Prometheus
    /// text via [`metrics::Metrics::render`]).
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Records the events, routes them and enqueues a job per match, all
    /// before returning: once this returns Ok, nothing is lost on a crash.
    /// Routing, planning and serialising happen on the caller's thread; the
    /// writes go through the group committer ([`queue`]) as one transaction
    /// (shared with whatever other submissions arrive meanwhile).
    pub async fn submit(&self, events: Vec<Event>, origin: &str) -> anyhow::Result<Vec<Submitted>> {
        let started = std::time::Instant::now();
        let mut events = events;
        if let Some(tap) = &self.tap {
            let derived = tap.derive(&events);
            events.extend(derived);
        }
        // Matching and planning are CPU work: for a batch, on a
        // multi-threaded runtime, this worker thread's other tasks move to
        // another thread meanwhile. (One event is bounded by the matcher's
        // visit budget; handing off would cost more than it saves.)
        let routed = if events.len() > OFF_RUNTIME_BATCH
            && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| self.route_and_plan(&events, origin))?
        } else {
            self.route_and_plan(&events, origin)?
        };
        let Routed {
            rows,
            findings,
            jobs,
            owners,
            mut out,
            received,
            kinds,
        } = routed;
        // One audit record per submission, written in the same transaction
        // as what it describes (see `ingest_record`).
        let subject = match out.as_slice() {
            [one] => one.event_id.clone(),
            many => format!("{} events", many.len()),
        };
        let unmatched: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].matched.is_empty())
            .collect();
        let origin_name = origin.to_string();
        let job_owners = owners.clone();
        // Callable again: a refused group commit is retried in parts.
        let audit: queue::AuditEntry = Box::new(move |fresh, enqueued| {
            let data = ingest_record(IngestFacts {
                origin: &origin_name,
                events: received.clone(),
                kinds: kinds.clone(),
                fresh,
                unmatched: unmatched.clone(),
                enqueued,
                owners: &job_owners,
            });
            ("ingest".to_string(), subject.clone(), data)
        });
        let committed = self
            .queue
            .commit(queue::Prepared {
                events: rows,
                findings,
                jobs,
                audit,
            })
            .await?;

        let mut created = 0;
        let mut settled_now = Vec::new();
        for (submitted, new) in out.iter_mut().zip(committed.fresh) {
            submitted.new = new;
        }
        for (result, owner) in committed.jobs.into_iter().zip(owners) {
            let (job, duplicate) = match result {
                Enqueued::Created(job) => (job, false),
                Enqueued::Duplicate(job) => (job, true),
            };
            out[owner].jobs.push(SubmittedJob {
                id: job.id.clone(),
                rule_id: job.rule_id.clone(),
                state: job.state,
                duplicate,
            });
            if !duplicate {
                created += 1;
                if job.state.is_final() {
                    settled_now.push(job);
                }
            }
        }
        self.metrics.ingested(started);
        self.metrics.events(out.len());
        self.metrics.jobs_created(created);
        for job in &settled_now {
            self.metrics.outcome(outcome_of(job).kind);
        }
        // Jobs settled at plan time (unknown account, exemption) have their
        // effects on the workers, not inside the submitter's request.
        if !settled_now.is_empty() {
            self.settled_at_plan
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(settled_now);
        }
        Ok(out)
    }

    /// The stored rows, jobs and per-event report of a submission.
    fn route_and_plan(&self, events: &[Event], origin: &str) -> anyhow::Result<Routed> {
        let mut routed = Routed {
            rows: Vec::with_capacity(events.len()),
            findings: Vec::new(),
            jobs: Vec::new(),
            owners: Vec::new(),
            out: Vec::with_capacity(events.len()),
            received: Vec::with_capacity(events.len()),
            kinds: Default::default(),
        };
        for (index, event) in events.iter().enumerate() {
            routed.rows.push(EventRow::new(event, origin)?);
            // Only findings that parse as ASFF (Id, ProductArn, ...) are
            // tracked.
            if event.finding().is_some() {
                if let Some(finding) = event.finding_value() {
                    routed
                        .findings
                        .push(FindingUpsert::in_event(&event.id, finding)?);
                }
            }
            let rules = self.router.route(event);
            for rule in &rules {
                routed
                    .jobs
                    .push(NewJob::new(plan::plan(self, event, rule))?);
                routed.owners.push(index);
            }
            let matched: Vec<String> = rules.iter().map(|r| r.id.clone()).collect();
            routed.received.push(event.id.clone());
            *routed
                .kinds
                .entry(format!("{} / {}", event.source, event.detail_type))
                .or_insert(0usize) += 1;
            routed.out.push(Submitted {
                event_id: event.id.clone(),
                new: false,
                matched,
                jobs: Vec::new(),
            });
        }
        Ok(routed)
    }

    /// Claims and runs jobs until none is runnable now. Returns the jobs it
    /// finished (or left waiting), in the order they settled.
    pub async fn run_ready(&self) -> anyhow::Result<Vec<Job>> {
        let mut done = Vec::new();
        self.settle_planned().await;
        loop {
            let claimed = self.claim_runnable(self.options.concurrency).await?;
            if claimed.is_empty() {
                return Ok(done);
            }
            let runs = claimed.into_iter().map(|job| execute::run(self, job));
            for job in futures_util::future::join_all(runs).await {
                done.push(job?);
            }
        }
    }

    /// Runs jobs until every job is settled or waiting for approval,
    /// sleeping through retry backoff, then sends what is due in the
    /// notification outbox. For one-shot commands.
    pub async fn drain(&self) -> anyhow::Result<Vec<Job>> {
        let done = self.drain_jobs().await?;
        self.deliver_outbox().await;
        Ok(done)
    }

    async fn drain_jobs(&self) -> anyhow::Result<Vec<Job>> {
        let mut done = Vec::new();
        loop {
            done.extend(self.run_ready().await?);
            if self.store.is_paused().await? {
                return Ok(done);
            }
            let waiting = self
                .store
                .list_jobs(&rectify_store::JobFilter {
                    state: Some(JobState::Retrying),
                    rule_id: None,
                    limit: 1,
                    ..Default::default()
                })
                .await?;
            let pending = self
                .store
                .list_jobs(&rectify_store::JobFilter {
                    state: Some(JobState::Pending),
                    rule_id: None,
                    limit: 1,
                    ..Default::default()
                })
                .await?;
            if waiting.is_empty() && pending.is_empty() {
                return Ok(done);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The worker loop of `rectify serve`: keeps up to `concurrency` jobs
    /// running, claiming more as slots free up. When `stop` turns true it
    /// claims nothing more and returns once the jobs in hand are finished
    /// (the caller bounds that wait; jobs still unfinished then are
    /// released by `Store::release_owned`).
    pub async fn work(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        // Each job runs on its own task, so that a job holding a store
        // connection (a PostgreSQL transaction) always makes progress while
        // this loop waits for the store to claim more.
        let mut running = tokio::task::JoinSet::new();
        // Slots are filled a few at a time: a claim is a committed
        // transaction, and jobs whose writes were committed together
        // finish together. A lone free slot is filled after a short wait.
        let claim_batch = (self.options.concurrency / 4).max(1);
        let mut waited = false;
        loop {
            let stopping = *stop.borrow();
            if stopping && running.is_empty() {
                self.settle_planned().await;
                return Ok(());
            }
            if !stopping {
                self.settle_planned().await;
            }
            let free = self.options.concurrency.saturating_sub(running.len());
            let claim_now = free >= claim_batch || running.is_empty() || waited;
            waited = false;
            let mut claimed_any = false;
            if !stopping && free > 0 && claim_now {
                match self.claim_runnable(free).await {
                    Ok(jobs) => {
                        claimed_any = !jobs.is_empty();
                        for job in jobs {
                            let engine = self.clone();
                            running.spawn(async move { execute::run(&engine, job).await });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "worker: store error; backing off"),
                }
            }
            if claimed_any && running.len() < self.options.concurrency {
                continue;
            }
            let idle = if !stopping && free > 0 && !claim_now {
                Duration::from_millis(10)
            } else {
                Duration::from_millis(200)
            };
            tokio::select! {
                Some(result) = running.join_next(), if !running.is_empty() => {
                    job_finished(result);
                    // Every other job that finished meanwhile, so that
                    // their slots are filled by one claim.
                    while let Some(result) = running.try_join_next() {
                        job_finished(result);
                    }
                }
                _ = tokio::time::sleep(idle) => waited = true,
                _ = stop.changed(), if !stopping => {}
            }
        }
    }

    /// Runs the effects of jobs settled at plan time (their audit record
    /// is already in the store with the job; what remains is the message
    /// to the rule's channels).
    pub async fn settle_planned(&self) {
        let jobs = std::mem::take(
            &mut *self
                .settled_at_plan
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for mut job in jobs {
            let save = effects::settle(self, &mut job, Vec::new()).await;
            if save.records.is_empty() && save.finding.is_none() {
                continue;
            }
            let write = rectify_store::JobWrite::Save(save);
            if let Err(e) = self.job_writes.write(write).await {
                tracing::error!(job = %job.id, error = %e, "could not record the effects of a job settled at plan time");
            }
        }
    }

    /// A slot for one job in `account/region` when the config bounds them.
    pub(crate) async fn region_slot(
        &self,
        account: &str,
        region: &str,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let limit = self.config.guardrails.max_concurrent_per_account_region?;
        let semaphore = {
            let mut slots = self.region_slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .entry(format!("{account}/{region}"))
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limit)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }

    /// The ids of the rules `event` matches, as a submission would route
    /// it (nothing is stored).
    pub fn matching_rules(&self, event: &Event) -> Vec<String> {
        self.router
            .route(event)
            .iter()
            .map(|r| r.id.clone())
            .collect()
    }

    /// Claims up to `limit` jobs unless remediation is paused (the flag
    /// read by the claim itself where the store can).
    async fn claim_runnable(&self, limit: usize) -> anyhow::Result<Vec<Job>> {
        Ok(self
            .store
            .claim_unpaused(&self.options.worker_id, self.options.lease, limit)
            .await?)
    }

    /// Queues a dead or failed job again, as a new job with a full set of
    /// attempts (the old one stays as it was, for the record).
    pub async fn retry(&self, id: &str, by: &str) -> anyhow::Result<Job> {
        let old = self
            .store
            .get_job(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no job {id}"))?;
        if !matches!(old.state, JobState::Dead | JobState::Failed) {
            anyhow::bail!(
                "job {} is {}; only dead or failed jobs can be retried",
                old.id,
                old.state
            );
        }
        let now = rectify_model::now_rfc3339();
        let job = Job {
            id: uuid::Uuid::now_v7().to_string(),
            state: JobState::Pending,
            attempts: 0,
            created_at: now.clone(),
            updated_at: now,
            next_run_at: None,
            last_error: None,
            outcome: None,
            plan: None,
            ..old.clone()
        };
        let job = match self.store.enqueue(&job).await? {
            Enqueued::Created(job) => job,
            Enqueued::Duplicate(other) => {
                anyhow::bail!(
                    "job {} for the same finding, rule and resource is already queued",
                    other.id
                )
            }
        };
        self.store
            .append_audit(
                "job.retried",
                &job.id,
                &json!({"retry_of": old.id, "by": by, "previous_error": old.last_error}),
            )
            .await?;
        Ok(job)
    }

    /// A person says no to a job waiting for approval: it ends `skipped`
    /// with who and why (and a `job.rejected` audit record, written by the
    /// store in the same transaction), and the job's channels are told as
    /// for any other outcome, with `kind: rejected`.
    pub async fn reject(&self, id: &str, by: &str, reason: &str) -> rectify_store::Result<Job> {
        let job = self.store.reject(id, by, reason).await?;
        crate::effects::notify_rejected(self, &job).await;
        Ok(job)
    }

    /// Approves a job waiting for approval; it runs at the next claim. The
    /// approval is bound to the change planned now (its digest is in the
    /// `job.approved` record): if the job finds another change to make
    /// when it runs, it waits for approval again.
    pub async fn approve(&self, id: &str, by: &str) -> anyhow::Result<Job> {
        self.approve_shown(id, by, None).await
    }

    /// Like [`Engine::approve`], refused when `plan_digest` is given and is
    /// not the digest of the job's planned change: the person approved a
    /// change that is no longer the one planned.
    pub async fn approve_shown(
        &self,
        id: &str,
        by: &str,
        plan_digest: Option<&str>,
    ) -> anyhow::Result<Job> {
        if let Some(shown) = plan_digest {
            let job = self
                .store
                .get_job(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no job {id}"))?;
            let planned = job.plan.as_ref().map(rectify_model::Change::digest);
            if planned.as_deref() != Some(shown) {
                anyhow::bail!(
                    "job {} now plans another change than the one shown (digest {}); show it again and approve what it plans now",
                    job.id,
                    planned.as_deref().unwrap_or("none")
                );
            }
        }
        Ok(self.store.approve(id, by).await?)
    }
}

/// Parameters of controls as read, by `account/region/control`.
pub(crate) type ControlParameters =
    HashMap<String, (std::time::Instant, Option<serde_json::Value>)>;

/// Submissions of more events than this are routed off the runtime's
/// worker thread.
const OFF_RUNTIME_BATCH: usize = 4;

/// A submission routed and planned, ready to be committed.
struct Routed {
    rows: Vec<EventRow>,
    findings: Vec<FindingUpsert>,
    jobs: Vec<NewJob>,
    /// Per job: the index of its event.
    owners: Vec<usize>,
    out: Vec<Submitted>,
    received: Vec<String>,
    kinds: std::collections::BTreeMap<String, usize>,
}

/// What one submission did, for its audit record.
struct IngestFacts<'a> {
    origin: &'a str,
    /// Event ids in the order received.
    events: Vec<String>,
    /// Events per "source / detail-type".
    kinds: std::collections::BTreeMap<String, usize>,
    /// Per event: false when it was a redelivery (seen before).
    fresh: &'a [bool],
    /// Indexes of the events no rule matched.
    unmatched: Vec<usize>,
    enqueued: &'a [Enqueued],
    /// Per job: the index of its event.
    owners: &'a [usize],
}

/// The ingest audit record, compact because one is written for every
/// submission on the hot path (it was a third of the bytes stored per
/// event):
///
/// ```json
/// {"origin": "http", "events": ["id", ...], "kinds": {"source / detail-type": 2},
///  "redelivered": [1], "unmatched": [0],
///  "jobs": {"rule-id": {"action": "aws.s3...", "mode": "auto",
///           "created": [["job-id", 1, "account/region/type/resource", "pending"]]}}}
/// ```
///
/// `redelivered`, `unmatched` and the second field of a created job are
/// indexes into `events`. A job settled at plan time (out of scope,
/// exempt) carries its outcome as a fifth field. Duplicates of
/// queued jobs are not listed: the earlier job's records cover them.
fn ingest_record(facts: IngestFacts<'_>) -> serde_json::Value {
    /// The jobs one rule created.
    #[derive(Serialize)]
    struct RuleJobs<'a> {
        action: &'a str,
        mode: rectify_model::Mode,
        created: Vec<serde_json::Value>,
    }
    let mut jobs: std::collections::BTreeMap<&str, RuleJobs> = Default::default();
    for (result, &owner) in facts.enqueued.iter().zip(facts.owners) {
        let Enqueued::Created(job) = result else {
            continue;
        };
        let mut created = json!([job.id, owner, job.target.key(), job.state.as_str()]);
        if let (Some(outcome), Some(fields)) = (&job.outcome, created.as_array_mut()) {
            fields.push(json!(outcome));
        }
        jobs.entry(&job.rule_id)
            .or_insert_with(|| RuleJobs {
                action: &job.action,
                mode: job.mode,
                created: Vec::new(),
            })
            .created
            .push(created);
    }
    let mut record = json!({
        "origin": facts.origin, "events": facts.events, "kinds": facts.kinds, "jobs": jobs,
    });
    let redelivered: Vec<usize> = (0..facts.fresh.len())
        .filter(|&i| !facts.fresh[i])
        .collect();
    if !redelivered.is_empty() {
        record["redelivered"] = json!(redelivered);
    }
    if !facts.unmatched.is_empty() {
        record["unmatched"] = json!(facts.unmatched);
    }
    record
}

/// The outcome, or a placeholder for jobs that have none yet.
pub fn outcome_of(job: &Job) -> Outcome {
    job.outcome.clone().unwrap_or_else(|| {
        Outcome::new(
            rectify_model::OutcomeKind::Skipped,
            format!("job is {}", job.state),
        )
    })
}

/// Logs what went wrong with a job task of the worker loop.
fn job_finished(result: Result<anyhow::Result<Job>, tokio::task::JoinError>) {
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "worker: could not save a job"),
        Err(e) => tracing::error!(error = %e, "worker: a job task failed"),
    }
}
