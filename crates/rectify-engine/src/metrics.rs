//! What this process did, and the state of the queue, as Prometheus text
//! (format 0.0.4, what `promtool check metrics` reads), on the `prometheus`
//! crate.
//!
//! The hot path only touches atomics: counters and histograms are created
//! once (per label value) when the engine starts, and a histogram observe
//! is lock-free. Gauges of the queue and the paused rules are read from the
//! store when `/metrics` is scraped ([`Metrics::render`]).

use std::future::Future;
use std::time::Instant;

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use rectify_model::{ErrorClass, OutcomeKind};
use rectify_store::Store;

/// The commit this build is from (see build.rs), `unknown` when no git
/// checkout or `RECTIFY_COMMIT` was there at build time.
pub const BUILD_COMMIT: &str = env!("RECTIFY_COMMIT");
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

const OUTCOMES: [OutcomeKind; 7] = [
    OutcomeKind::Changed,
    OutcomeKind::AlreadyCompliant,
    OutcomeKind::Planned,
    OutcomeKind::AwaitingApproval,
    OutcomeKind::Skipped,
    OutcomeKind::Failed,
    OutcomeKind::Unmatched,
];
const CLASSES: [ErrorClass; 6] = [
    ErrorClass::Throttled,
    ErrorClass::Transient,
    ErrorClass::AccessDenied,
    ErrorClass::NotFound,
    ErrorClass::Invalid,
    ErrorClass::NotConfigured,
];

/// Seconds: an ingest commit takes milliseconds, a job from seconds (an
/// account's API) to days (waiting for a person's approval).
const INGEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0,
];
const API_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub struct Metrics {
    registry: Registry,
    events: IntCounter,
    jobs_created: IntCounter,
    outcomes: [IntCounter; 7],
    errors: [IntCounter; 6],
    retries: IntCounter,
    dead: IntCounter,
    /// Messages of polling sources (SQS, Lambda), by source and result
    /// (taken, refused); counted once per batch.
    source_messages: IntCounterVec,
    ingest_seconds: Histogram,
    /// Per outcome, in the order of [`OUTCOMES`].
    job_seconds: [Histogram; 7],
    /// By action id and call (check, apply, verify, revert, inventory).
    action_seconds: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn class_name(c: ErrorClass) -> &'static str {
    match c {
        ErrorClass::Throttled => "throttled",
        ErrorClass::Transient => "transient",
        ErrorClass::AccessDenied => "access-denied",
        ErrorClass::NotFound => "not-found",
        ErrorClass::Invalid => "invalid",
        ErrorClass::NotConfigured => "not-configured",
    }
}

/// Registers `metric` under `registry`; the names are fixed here, so a
/// failure is a programming error caught by every test.
fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique and valid");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("valid counter"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        HistogramVec::new(opts, labels).expect("valid histogram"),
    )
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let outcomes = counter_vec(
            r,
            "rectify_job_outcomes_total",
            "Jobs settled, by outcome.",
            &["outcome"],
        );
        let errors = counter_vec(
            r,
            "rectify_action_errors_total",
            "Action errors, by class.",
            &["class"],
        );
        let job_seconds = histogram_vec(
            r,
            "rectify_job_duration_seconds",
            "Jobs settled by a worker: seconds from the job's creation to its outcome (a wait for approval included), by outcome.",
            JOB_BUCKETS,
            &["outcome"],
        );
        let build = registered(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "rectify_build_info",
                    "The running build: version and commit; always 1.",
                ),
                &["version", "commit"],
            )
            .expect("valid gauge"),
        );
        build
            .with_label_values(&[BUILD_VERSION, BUILD_COMMIT])
            .set(1);
        Metrics {
            events: counter(
                r,
                "rectify_events_total",
                "Events submitted (after fan-out).",
            ),
            jobs_created: counter(r, "rectify_jobs_created_total", "Jobs created."),
            outcomes: OUTCOMES.map(|k| outcomes.with_label_values(&[k.as_str()])),
            errors: CLASSES.map(|c| errors.with_label_values(&[class_name(c)])),
            retries: counter(
                r,
                "rectify_job_retries_total",
                "Attempts scheduled again after a retryable error.",
            ),
            dead: counter(
                r,
                "rectify_jobs_dead_total",
                "Jobs that ran out of attempts or time.",
            ),
            source_messages: counter_vec(
                r,
                "rectify_source_messages_total",
                "Messages of polling sources: taken (committed), refused (left for the dead-letter queue).",
                &["source", "result"],
            ),
            ingest_seconds: registered(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "rectify_ingest_duration_seconds",
                        "Seconds from a submission of events to its commit (routed, planned, stored with its jobs), one observation per submission.",
                    )
                    .buckets(INGEST_BUCKETS.to_vec()),
                )
                .expect("valid histogram"),
            ),
            job_seconds: OUTCOMES.map(|k| job_seconds.with_label_values(&[k.as_str()])),
            action_seconds: histogram_vec(
                r,
                "rectify_action_call_duration_seconds",
                "Seconds an action's calls to the account took, by action and call (check, apply, verify, revert, inventory).",
                API_BUCKETS,
                &["action", "call"],
            ),
            registry,
        }
    }

    pub(crate) fn events(&self, n: usize) {
        self.events.inc_by(n as u64);
    }

    pub(crate) fn jobs_created(&self, n: usize) {
        self.jobs_created.inc_by(n as u64);
    }

    pub(crate) fn outcome(&self, kind: OutcomeKind) {
        if let Some(i) = OUTCOMES.iter().position(|k| *k == kind) {
            self.outcomes[i].inc();
        }
    }

    pub(crate) fn error(&self, class: ErrorClass) {
        if let Some(i) = CLASSES.iter().position(|c| *c == class) {
            self.errors[i].inc();
        }
    }

    pub(crate) fn retry(&self) {
        self.retries.inc();
    }

    pub(crate) fn dead(&self) {
        self.dead.inc();
    }

    pub(crate) fn ingested(&self, started: Instant) {
        self.ingest_seconds.observe(started.elapsed().as_secs_f64());
    }

    /// A job settled by a worker, `age` after it was created.
    pub(crate) fn job_settled(&self, kind: OutcomeKind, age: std::time::Duration) {
        if let Some(i) = OUTCOMES.iter().position(|k| *k == kind) {
            self.job_seconds[i].observe(age.as_secs_f64());
        }
    }

    /// Runs one call of an action to the account and records how long it
    /// took, whatever its result.
    pub(crate) async fn timed<T>(
        &self,
        action: &str,
        call: &'static str,
        work: impl Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let result = work.await;
        self.action_seconds
            .with_label_values(&[action, call])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Counts a polling source's batch: messages taken (their events
    /// committed) and refused (left for the source's dead-letter queue).
    pub fn source_messages(&self, source: &str, taken: u64, refused: u64) {
        self.source_messages
            .with_label_values(&[source, "taken"])
            .inc_by(taken);
        self.source_messages
            .with_label_values(&[source, "refused"])
            .inc_by(refused);
    }

    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    /// The Prometheus text of this process's metrics, `extra` (another
    /// part's, such as the HTTP server's counters) and the store's gauges:
    /// jobs per state, the age of the oldest due job, the kill switch and
    /// the paused rules. A store that cannot be read leaves its gauges out
    /// (and says so in the log) rather than failing the scrape.
    pub async fn render(&self, store: &dyn Store, extra: Vec<MetricFamily>) -> String {
        let mut families = self.registry.gather();
        families.extend(extra);
        match store_gauges(store).await {
            Ok(gauges) => families.extend(gauges),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: could not read the queue from the store")
            }
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %e, "metrics: could not encode");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counters another part keeps itself (`(name, help, value)`), as metric
/// families for [`Metrics::render`].
pub fn counter_families(counters: &[(&str, &str, u64)]) -> Vec<MetricFamily> {
    let registry = Registry::new();
    for (name, help, value) in counters {
        counter(&registry, name, help).inc_by(*value);
    }
    registry.gather()
}

/// Gauges read from the store at scrape time.
async fn store_gauges(store: &dyn Store) -> rectify_store::Result<Vec<MetricFamily>> {
    let registry = Registry::new();
    let r = &registry;
    let jobs = registered(
        r,
        IntGaugeVec::new(
            Opts::new("rectify_jobs", "Jobs in the store by state."),
            &["state"],
        )
        .expect("valid gauge"),
    );
    for (state, n) in store.count_jobs().await? {
        jobs.with_label_values(&[&state])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let oldest = registered(
        r,
        Gauge::new(
            "rectify_queue_oldest_due_seconds",
            "Seconds the job that has waited longest to run has been due (pending or retrying, from its creation or its retry time); 0 when none is due.",
        )
        .expect("valid gauge"),
    );
    if let Some(due) = store.oldest_due().await? {
        oldest.set(seconds_since(&due).max(0.0));
    }
    let paused = registered(
        r,
        IntGauge::new(
            "rectify_paused",
            "1 while all remediation is paused (`rectify pause`), else 0.",
        )
        .expect("valid gauge"),
    );
    paused.set(i64::from(store.is_paused().await?));
    let rules = store.paused_rules().await?;
    let by_rule = registered(
        r,
        IntGaugeVec::new(
            Opts::new(
                "rectify_rule_paused",
                "1 for each paused rule, with the cause: breaker (a blast-radius breaker tripped) or person (paused by hand).",
            ),
            &["rule", "cause"],
        )
        .expect("valid gauge"),
    );
    let mut tripped = 0;
    for (rule, reason) in &rules {
        let breaker = crate::execute::tripped_breaker(reason);
        tripped += i64::from(breaker);
        let cause = if breaker { "breaker" } else { "person" };
        by_rule.with_label_values(&[rule, cause]).set(1);
    }
    registered(
        r,
        IntGauge::new(
            "rectify_rules_paused",
            "Rules paused, by hand or by a breaker.",
        )
        .expect("valid gauge"),
    )
    .set(i64::try_from(rules.len()).unwrap_or(i64::MAX));
    registered(
        r,
        IntGauge::new(
            "rectify_breakers_tripped",
            "Rules paused by a tripped blast-radius breaker, until `rectify resume --rule`.",
        )
        .expect("valid gauge"),
    )
    .set(tripped);
    Ok(registry.gather())
}

/// Seconds from an RFC 3339 time to now (negative for a time ahead; 0 when
/// it cannot be read).
fn seconds_since(rfc3339: &str) -> f64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| (time::OffsetDateTime::now_utc() - t).as_seconds_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_counters_histograms_and_store_gauges() {
        let store = rectify_store::open("sqlite::memory:").await.unwrap();
        store
            .set_rule_paused(
                "a",
                Some("blast-radius breaker: 3 changes"),
                "blast-radius breaker",
            )
            .await
            .unwrap();
        store
            .set_rule_paused("b", Some("paused by ops"), "ops")
            .await
            .unwrap();
        let m = Metrics::new();
        m.events(3);
        m.outcome(OutcomeKind::Changed);
        m.job_settled(OutcomeKind::Changed, std::time::Duration::from_secs(2));
        m.timed("aws.x", "check", async {}).await;
        m.source_messages("sqs", 4, 1);
        let text = m.render(store.as_ref(), Vec::new()).await;
        for line in [
            "rectify_events_total 3",
            "rectify_job_outcomes_total{outcome=\"changed\"} 1",
            "rectify_job_outcomes_total{outcome=\"failed\"} 0",
            "rectify_job_duration_seconds_bucket{outcome=\"changed\",le=\"2.5\"} 1",
            "rectify_job_duration_seconds_bucket{outcome=\"changed\",le=\"1\"} 0",
            "rectify_action_call_duration_seconds_count{action=\"aws.x\",call=\"check\"} 1",
            "rectify_source_messages_total{result=\"refused\",source=\"sqs\"} 1",
            "rectify_jobs{state=\"pending\"} 0",
            "rectify_queue_oldest_due_seconds 0",
            "rectify_paused 0",
            "rectify_rules_paused 2",
            "rectify_breakers_tripped 1",
            "rectify_rule_paused{cause=\"breaker\",rule=\"a\"} 1",
            "rectify_rule_paused{cause=\"person\",rule=\"b\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        let build = format!(
            "rectify_build_info{{commit=\"{BUILD_COMMIT}\",version=\"{BUILD_VERSION}\"}} 1"
        );
        assert!(text.lines().any(|l| l == build), "{text}");
        assert!(!BUILD_COMMIT.is_empty());
    }
}
