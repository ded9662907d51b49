//! Lease renewal of the running jobs, all of them at once.
//!
//! A claimed job's lease must be renewed while it runs, or another worker
//! takes the job when the lease runs out. Renewed one job at a time, every
//! running job costs its own statement per tick; here the jobs of one
//! engine are held in one set, and one task renews every lease in the set
//! with one call ([`Store::renew_many`]: one statement on PostgreSQL) at a
//! third of the lease. A job's lease is thus renewed within a third of the
//! lease of its claim, and every third of it after that, as before.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rectify_store::Store;
use tokio::sync::mpsc;

use crate::committer::Committer;

enum Lease {
    Hold(String),
    Release(String),
}

/// The engine's running jobs whose leases are renewed (see the module).
pub(crate) struct Leases {
    renewer: Committer<Lease>,
}

/// A job's lease kept renewed until this is dropped.
pub(crate) struct Held<'a> {
    leases: &'a Leases,
    job_id: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.job_id);
        self.leases.renewer.send_if_running(Lease::Release(id));
    }
}

impl Leases {
    pub(crate) fn new(store: Arc<dyn Store>, worker: String, lease: Duration) -> Leases {
        Leases {
            renewer: Committer::new(move |receiver| {
                tokio::spawn(renew(store.clone(), worker.clone(), lease, receiver));
            }),
        }
    }

    /// Keeps `job_id`'s lease renewed while the result lives.
    pub(crate) fn hold(&self, job_id: &str) -> Held<'_> {
        self.renewer.send(Lease::Hold(job_id.to_string()));
        Held {
            leases: self,
            job_id: job_id.to_string(),
        }
    }
}

/// Renews every held lease at a third of the lease's length, until the
/// engine (the sending side) is gone.
async fn renew(
    store: Arc<dyn Store>,
    worker: String,
    lease: Duration,
    mut receiver: mpsc::UnboundedReceiver<Lease>,
) {
    let every = (lease / 3).max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            message = receiver.recv() => match message {
                Some(message) => apply(&mut held, message),
                None => return,
            },
            _ = ticks.tick() => {
                if held.is_empty() {
                    continue;
                }
                let ids: Vec<String> = held.iter().cloned().collect();
                match store.renew_many(&ids, &worker, lease).await {
                    Ok(renewed) => {
                        // Jobs that finished meanwhile are not lost leases.
                        while let Ok(message) = receiver.try_recv() {
                            apply(&mut held, message);
                        }
                        let renewed: HashSet<&String> = renewed.iter().collect();
                        for id in ids.iter().filter(|id| !renewed.contains(id) && held.contains(*id)) {
                            // The job's final save is then refused by the store.
                            tracing::warn!(job = %id, "the job's lease was lost while it ran");
                        }
                    }
                    Err(e) => tracing::warn!(
                        jobs = ids.len(),
                        error = %e,
                        "could not renew the running jobs' leases"
                    ),
                }
            }
        }
    }
}

fn apply(held: &mut HashSet<String>, message: Lease) {
    match message {
        Lease::Hold(id) => {
            held.insert(id);
        }
        Lease::Release(id) => {
            held.remove(&id);
        }
    }
}
