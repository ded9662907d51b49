//! Queue: makes submissions durable with group commit.
//!
//! Every submission (an HTTP request, a polled page, a file) hands its
//! already serialised events, findings, jobs and audit entry to one
//! committer task. The committer writes whatever has gathered as ONE store
//! transaction ([`Store::ingest`]) and answers each submitter. While a
//! transaction runs the next submissions gather, so under load commits
//! grow and stay few, and when the store is idle a lone event is committed
//! at once: throughput of large batches, latency of small ones.
//!
//! One submission the store refuses (a value PostgreSQL cannot hold, a
//! constraint) must not fail the others that share its transaction: when
//! a transaction of several submissions fails and the store is not
//! unavailable, the group is split in halves and each half committed again,
//! down to single submissions, so only the refused one gets the error.

use std::sync::Arc;

use rectify_store::{Enqueued, EventRow, FindingUpsert, IngestBatch, NewJob, Store, StoreError};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::committer::Committer;

/// Events one transaction takes at most (a single larger submission still
/// goes in whole: it is never split).
const MAX_GROUP_EVENTS: usize = 5_000;

/// Builds one submission's audit entry `(kind, subject, data)` from its
/// results: which of its events were new, what became of its jobs. It may
/// be called again when a failed transaction is tried once more.
pub(crate) type AuditEntry =
    Box<dyn Fn(&[bool], &[Enqueued]) -> (String, String, Value) + Send + Sync>;

/// One submission, ready to write.
pub(crate) struct Prepared {
    pub(crate) events: Vec<EventRow>,
    pub(crate) findings: Vec<FindingUpsert>,
    pub(crate) jobs: Vec<NewJob>,
    pub(crate) audit: AuditEntry,
}

/// One submission's share of a committed transaction.
pub(crate) struct Committed {
    pub(crate) fresh: Vec<bool>,
    pub(crate) jobs: Vec<Enqueued>,
}

type Reply = Result<Committed, CommitError>;

/// Why a submission was not stored: the store refused it, or could not be
/// reached; [`CommitError::is_unavailable`] tells which.
#[derive(Debug, Clone)]
pub struct CommitError(Failure);

#[derive(Debug, Clone)]
enum Failure {
    Store(Arc<StoreError>),
    /// The committer went away (its runtime is shutting down).
    Stopped,
}

impl CommitError {
    /// The store could not be reached or cannot write now: the submission
    /// may pass as it is later. Otherwise the store refused this
    /// submission's own content, and trying it again will not help.
    pub fn is_unavailable(&self) -> bool {
        match &self.0 {
            Failure::Store(e) => e.is_unavailable(),
            Failure::Stopped => true,
        }
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Failure::Store(e) => e.fmt(f),
            Failure::Stopped => f.write_str(
                "the store's committer stopped before answering; the submission may not be stored",
            ),
        }
    }
}

impl std::error::Error for CommitError {}

/// Whether an error of [`crate::Engine::submit`] means the store is
/// unavailable (retry the same later) rather than that it refused what was
/// submitted (or that the submission could not be prepared at all).
pub fn store_unavailable(e: &anyhow::Error) -> bool {
    if let Some(e) = e.downcast_ref::<CommitError>() {
        return e.is_unavailable();
    }
    e.downcast_ref::<StoreError>()
        .is_some_and(StoreError::is_unavailable)
}

struct Pending {
    prepared: Prepared,
    reply: oneshot::Sender<Reply>,
}

/// The handle submitters share (see [`Committer`]).
pub(crate) struct GroupCommit {
    committer: Committer<Pending>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> GroupCommit {
        GroupCommit {
            committer: Committer::new(move |receiver| {
                tokio::spawn(committer(store.clone(), receiver));
            }),
        }
    }

    /// Writes `prepared` durably (together with whatever else is waiting)
    /// and returns its results. An error (a [`CommitError`]) means nothing
    /// of it was written.
    pub(crate) async fn commit(&self, prepared: Prepared) -> anyhow::Result<Committed> {
        let (reply, answer) = oneshot::channel();
        self.committer.send(Pending { prepared, reply });
        match answer.await {
            Ok(Ok(committed)) => Ok(committed),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(CommitError(Failure::Stopped).into()),
        }
    }
}

async fn committer(store: Arc<dyn Store>, mut receiver: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut events = first.prepared.events.len();
        let mut group = vec![first];
        while events < MAX_GROUP_EVENTS {
            match receiver.try_recv() {
                Ok(next) => {
                    events += next.prepared.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        commit_group(store.as_ref(), group).await;
    }
}

/// One submission inside a group: what it writes, and whom to answer.
struct Part {
    /// How many events and jobs it has, for slicing its answer.
    counts: (usize, usize),
    events: Vec<EventRow>,
    findings: Vec<FindingUpsert>,
    jobs: Vec<NewJob>,
    audit: Arc<AuditEntry>,
    reply: oneshot::Sender<Reply>,
}

/// One transaction for the whole group; each submitter gets its slice. A
/// group the store refuses is split in halves, each committed on its own,
/// until the refused submission is alone; an unavailable store fails the
/// group as it is.
async fn commit_group(store: &dyn Store, group: Vec<Pending>) {
    let parts: Vec<Part> = group
        .into_iter()
        .map(|Pending { prepared, reply }| Part {
            counts: (prepared.events.len(), prepared.jobs.len()),
            events: prepared.events,
            findings: prepared.findings,
            jobs: prepared.jobs,
            audit: Arc::new(prepared.audit),
            reply,
        })
        .collect();
    // Groups still to commit, the next one last.
    let mut todo = vec![parts];
    while let Some(mut chunk) = todo.pop() {
        match store.ingest(batch_of(&mut chunk)).await {
            Ok(ingested) => {
                let mut fresh = ingested.fresh.into_iter();
                let mut jobs = ingested.jobs.into_iter();
                for part in chunk {
                    let (ne, nj) = part.counts;
                    let share = Committed {
                        fresh: fresh.by_ref().take(ne).collect(),
                        jobs: jobs.by_ref().take(nj).collect(),
                    };
                    // A submitter that went away still had its events stored.
                    let _ = part.reply.send(Ok(share));
                }
            }
            Err(e) if chunk.len() > 1 && !e.is_unavailable() => {
                tracing::warn!(
                    submissions = chunk.len(),
                    error = %e,
                    "the store refused a group commit; committing its submissions apart"
                );
                let back = chunk.split_off(chunk.len() / 2);
                todo.push(back);
                todo.push(chunk);
            }
            Err(e) => {
                let e = CommitError(Failure::Store(Arc::new(e)));
                for part in chunk {
                    let _ = part.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The chunk's submissions as one batch. The rows are copied while the
/// chunk could still be split after a failure; a lone submission hands
/// over its own, as it is never tried again.
fn batch_of(chunk: &mut [Part]) -> IngestBatch {
    let (mut events, mut findings, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
    let shares: Vec<(usize, usize)> = chunk.iter().map(|p| p.counts).collect();
    let audits: Vec<Arc<AuditEntry>> = chunk.iter().map(|p| p.audit.clone()).collect();
    if let [part] = chunk {
        events = std::mem::take(&mut part.events);
        findings = std::mem::take(&mut part.findings);
        jobs = std::mem::take(&mut part.jobs);
    } else {
        for part in chunk.iter() {
            events.extend(part.events.iter().cloned());
            findings.extend(part.findings.iter().cloned());
            jobs.extend(part.jobs.iter().cloned());
        }
    }
    let audit = Box::new(move |fresh: &[bool], jobs: &[Enqueued]| {
        let (mut e, mut j) = (0, 0);
        audits
            .iter()
            .zip(&shares)
            .map(|(entry, &(ne, nj))| {
                let out = entry(&fresh[e..e + ne], &jobs[j..j + nj]);
                e += ne;
                j += nj;
                out
            })
            .collect()
    });
    IngestBatch {
        events,
        findings,
        jobs,
        audit,
    }
}
