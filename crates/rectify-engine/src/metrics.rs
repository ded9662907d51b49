//! Counters of what this process did, rendered as Prometheus text.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use rectify_model::{ErrorClass, OutcomeKind};

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

#[derive(Default)]
pub struct Metrics {
    events: AtomicU64,
    jobs_created: AtomicU64,
    outcomes: [AtomicU64; 7],
    errors: [AtomicU64; 6],
    retries: AtomicU64,
    dead: AtomicU64,
    /// Messages of polling sources (SQS, Lambda), by source: (taken,
    /// refused).
    source_messages: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
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

impl Metrics {
    pub(crate) fn events(&self, n: usize) {
        self.events.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn jobs_created(&self, n: usize) {
        self.jobs_created.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn outcome(&self, kind: OutcomeKind) {
        if let Some(i) = OUTCOMES.iter().position(|k| *k == kind) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn error(&self, class: ErrorClass) {
        if let Some(i) = CLASSES.iter().position(|c| *c == class) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dead(&self) {
        self.dead.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a polling source's batch: messages taken (their events
    /// committed) and refused (left for the source's dead-letter queue).
    pub fn source_messages(&self, source: &str, taken: u64, refused: u64) {
        let mut all = self
            .source_messages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(source.to_string()).or_default();
        entry.0 += taken;
        entry.1 += refused;
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "rectify_events_total",
            "Events submitted (after fan-out).",
            vec![(String::new(), load(&self.events))],
        );
        counter(
            "rectify_jobs_created_total",
            "Jobs created.",
            vec![(String::new(), load(&self.jobs_created))],
        );
        counter(
            "rectify_job_outcomes_total",
            "Jobs settled, by outcome.",
            OUTCOMES
                .iter()
                .zip(&self.outcomes)
                .map(|(k, v)| (format!("{{outcome=\"{}\"}}", k.as_str()), load(v)))
                .collect(),
        );
        counter(
            "rectify_action_errors_total",
            "Action errors, by class.",
            CLASSES
                .iter()
                .zip(&self.errors)
                .map(|(c, v)| (format!("{{class=\"{}\"}}", class_name(*c)), load(v)))
                .collect(),
        );
        counter(
            "rectify_job_retries_total",
            "Attempts scheduled again after a retryable error.",
            vec![(String::new(), load(&self.retries))],
        );
        counter(
            "rectify_jobs_dead_total",
            "Jobs that ran out of attempts or time.",
            vec![(String::new(), load(&self.dead))],
        );
        let sources = self
            .source_messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !sources.is_empty() {
            counter(
                "rectify_source_messages_total",
                "Messages of polling sources: taken (committed), refused (left for the dead-letter queue).",
                sources
                    .iter()
                    .flat_map(|(source, (taken, refused))| {
                        [
                            (format!("{{source=\"{source}\",result=\"taken\"}}"), *taken),
                            (format!("{{source=\"{source}\",result=\"refused\"}}"), *refused),
                        ]
                    })
                    .collect(),
            );
        }
        out
    }
}
