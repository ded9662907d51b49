//! Queue: makes submissions durable with group commit.
//!
//! Every submission (an HTTP request, a polled page, a file) hands its
//! already serialised events, findings, jobs and audit entry to one
//! committer task. The committer writes whatever has gathered as ONE store
//! transaction ([`Store::ingest`]) and answers each submitter. While a
//! transaction runs the next submissions gather, so under load commits
//! grow and stay few, and when the store is idle a lone event is committed
//! at once: throughput of large batches, latency of small ones.

use std::sync::{Arc, Mutex};

use rectify_store::{Enqueued, EventRow, FindingUpsert, IngestBatch, NewJob, Store, StoreError};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Events one transaction takes at most (a single larger submission still
/// goes in whole: it is never split).
const MAX_GROUP_EVENTS: usize = 5_000;

/// Builds one submission's audit entry `(kind, subject, data)` from its
/// results: which of its events were new, what became of its jobs.
pub(crate) type AuditEntry =
    Box<dyn FnOnce(&[bool], &[Enqueued]) -> (String, String, Value) + Send>;

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

type Reply = Result<Committed, Arc<StoreError>>;

struct Pending {
    prepared: Prepared,
    reply: oneshot::Sender<Reply>,
}

/// The handle submitters share; the committer task starts on first use
/// (and again if the runtime that ran it has gone away).
pub(crate) struct GroupCommit {
    store: Arc<dyn Store>,
    sender: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> GroupCommit {
        GroupCommit {
            store,
            sender: Mutex::new(None),
        }
    }

    /// Writes `prepared` durably (together with whatever else is waiting)
    /// and returns its results. An error means nothing of it was written.
    pub(crate) async fn commit(&self, prepared: Prepared) -> anyhow::Result<Committed> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { prepared, reply };
        loop {
            let sender = self.sender();
            match sender.send(pending) {
                Ok(()) => break,
                // The committer's runtime is gone: start a new one here.
                Err(mpsc::error::SendError(back)) => {
                    pending = back;
                    self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
                }
            }
        }
        match answer.await {
            Ok(Ok(committed)) => Ok(committed),
            Ok(Err(e)) => Err(anyhow::anyhow!("{e}")),
            Err(_) => Err(anyhow::anyhow!(
                "the store's committer stopped before answering; the submission may not be stored"
            )),
        }
    }

    fn sender(&self) -> mpsc::UnboundedSender<Pending> {
        let mut slot = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(committer(self.store.clone(), receiver));
        *slot = Some(sender.clone());
        sender
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

/// One transaction for the whole group; each submitter gets its slice.
async fn commit_group(store: &dyn Store, group: Vec<Pending>) {
    let (mut events, mut findings, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
    // (events, jobs) of each submission, in order.
    let mut shares = Vec::with_capacity(group.len());
    let mut audits = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    for Pending { prepared, reply } in group {
        shares.push((prepared.events.len(), prepared.jobs.len()));
        events.extend(prepared.events);
        findings.extend(prepared.findings);
        jobs.extend(prepared.jobs);
        audits.push(prepared.audit);
        replies.push(reply);
    }
    let audit_shares = shares.clone();
    let audit = Box::new(move |fresh: &[bool], jobs: &[Enqueued]| {
        let (mut e, mut j) = (0, 0);
        audits
            .into_iter()
            .zip(audit_shares)
            .map(|(entry, (ne, nj))| {
                let out = entry(&fresh[e..e + ne], &jobs[j..j + nj]);
                e += ne;
                j += nj;
                out
            })
            .collect()
    });
    let batch = IngestBatch {
        events,
        findings,
        jobs,
        audit,
    };
    match store.ingest(batch).await {
        Ok(ingested) => {
            let mut fresh = ingested.fresh.into_iter();
            let mut jobs = ingested.jobs.into_iter();
            for (reply, (ne, nj)) in replies.into_iter().zip(shares) {
                let share = Committed {
                    fresh: fresh.by_ref().take(ne).collect(),
                    jobs: jobs.by_ref().take(nj).collect(),
                };
                // A submitter that went away still had its events stored.
                let _ = reply.send(Ok(share));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
