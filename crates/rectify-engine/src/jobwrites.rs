//! Group commit of the workers' store writes.
//!
//! Every running job writes to the store a few times (its intent record
//! and `applying` mark before it touches the account, its audit records
//! before the effects, its final state after them), and each write must be
//! durable before the job goes on. Written one transaction each, every job
//! waits for its own commit (on PostgreSQL its own WAL flush). Here the
//! jobs hand their writes ([`JobWrite`]) to one committer task per engine,
//! which writes whatever has gathered as ONE transaction
//! ([`Store::write_jobs`]) and answers each job with its own result (for a
//! final save: whether the worker still held the job's lease). While a
//! transaction runs the next writes gather, so under load transactions
//! grow and stay few; a lone write is committed at once.
//!
//! A batch the store refuses (a value it cannot hold, a deadlock, a lost
//! connection) must not fail the other jobs' writes: the committer then
//! writes each of them in a transaction of its own, so only the write at
//! fault gets the error.

use std::sync::Arc;

use rectify_store::{JobWrite, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::committer::Committer;

/// Writes one transaction takes at most.
const MAX_GROUP: usize = 256;

struct Pending {
    write: JobWrite,
    reply: oneshot::Sender<rectify_store::Result<bool>>,
}

/// The handle the jobs share (see [`Committer`]).
pub(crate) struct JobCommit {
    committer: Committer<Pending>,
}

impl JobCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> JobCommit {
        JobCommit {
            committer: Committer::new(move |receiver| {
                tokio::spawn(committer(store.clone(), receiver));
            }),
        }
    }

    /// Writes `write` durably (together with whatever other jobs' writes
    /// are waiting) and returns its answer (see [`Store::write_jobs`]). An
    /// error means nothing of this write was stored.
    pub(crate) async fn write(&self, write: JobWrite) -> rectify_store::Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.committer.send(Pending { write, reply });
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Task {
                op: "write_jobs".into(),
                reason: "the job writes' committer stopped before answering; \
                         the write may not be stored"
                    .into(),
            })
        })
    }
}

async fn committer(store: Arc<dyn Store>, mut receiver: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        commit_group(store.as_ref(), group).await;
    }
}

/// One transaction for the group; when it fails, one for each write.
async fn commit_group(store: &dyn Store, group: Vec<Pending>) {
    if group.len() == 1 {
        let Pending { write, reply } = group.into_iter().next().expect("one write");
        let answer = store
            .write_jobs(std::slice::from_ref(&write))
            .await
            .and_then(only);
        let _ = reply.send(answer);
        return;
    }
    let (writes, replies): (Vec<JobWrite>, Vec<_>) =
        group.into_iter().map(|p| (p.write, p.reply)).unzip();
    match store.write_jobs(&writes).await {
        Ok(answers) if answers.len() == writes.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A job that went away still had its write stored.
                let _ = reply.send(Ok(answer));
            }
        }
        failed => {
            let error = match failed {
                Ok(answers) => format!("{} answers for {} writes", answers.len(), writes.len()),
                Err(e) => e.to_string(),
            };
            tracing::warn!(
                writes = writes.len(),
                %error,
                "a batch of job writes failed; writing each job's on its own"
            );
            for (write, reply) in writes.into_iter().zip(replies) {
                let answer = store
                    .write_jobs(std::slice::from_ref(&write))
                    .await
                    .and_then(only);
                let _ = reply.send(answer);
            }
        }
    }
}

/// The one answer of a batch of one.
fn only(answers: Vec<bool>) -> rectify_store::Result<bool> {
    match answers.as_slice() {
        [answer] => Ok(*answer),
        _ => Err(StoreError::Invalid(format!(
            "{} answers for one job write",
            answers.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    //! The committer against the real back ends: SQLite in a temporary
    //! directory, PostgreSQL at `RECTIFY_TEST_POSTGRES_URL` (default
    //! `postgres://postgres@127.0.0.1:5432/postgres`) in a schema of its
    //! own. One job's final save is refused by the store (PostgreSQL
    //! refuses a NUL character in text; on SQLite a trigger refuses the
    //! same value, as a constraint would); the other jobs of its batch are
    //! saved with their records and only that one gets the error.

    use super::*;
    use rectify_model::{Job, JobState, Outcome, OutcomeKind};
    use rectify_store::JobSave;

    const JOBS: usize = 24;
    const BAD: usize = 9;

    fn job(i: usize) -> Job {
        let now = rectify_model::now_rfc3339();
        Job {
            id: format!("commit-{i:04}"),
            idempotency_key: format!("k-{i}"),
            event_id: format!("e-{i}"),
            rule_id: "rule-a".into(),
            action: "local.noop".into(),
            mode: rectify_model::Mode::Auto,
            target: rectify_model::Target {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                partition: "aws".into(),
                resource_type: "AwsS3Bucket".into(),
                resource_id: format!("arn:aws:s3:::b-{i}"),
                tags: Default::default(),
                details: serde_json::Value::Null,
            },
            params: serde_json::json!({}),
            finding: None,
            control: None,
            notify: vec![],
            state: JobState::Pending,
            attempts: 0,
            created_at: now.clone(),
            updated_at: now,
            next_run_at: None,
            last_error: None,
            approved_by: None,
            plan: None,
            outcome: None,
        }
    }

    async fn refused_save_does_not_fail_the_batch(store: Arc<dyn Store>) {
        let jobs: Vec<Job> = (0..JOBS).map(job).collect();
        store.enqueue_many(&jobs).await.unwrap();
        let claimed = store
            .claim("w", std::time::Duration::from_secs(300), JOBS)
            .await
            .unwrap();
        assert_eq!(claimed.len(), JOBS);
        let commit = Arc::new(JobCommit::new(store.clone()));
        // On this single-threaded runtime every write is queued before the
        // committer runs: one batch of all of them.
        let writes = claimed.iter().map(|j| {
            let mut done = j.clone();
            done.state = JobState::Succeeded;
            done.outcome = Some(Outcome::new(OutcomeKind::Changed, "fixed"));
            if j.id == format!("commit-{BAD:04}") {
                done.last_error = Some("poison\u{0}".into());
            }
            let commit = commit.clone();
            async move {
                let save = JobSave {
                    records: vec![(
                        "job.succeeded".to_string(),
                        done.id.clone(),
                        serde_json::json!({}),
                    )],
                    finding: None,
                    job: Some((done.clone(), Some("w".to_string()))),
                };
                (done.id.clone(), commit.write(JobWrite::Save(save)).await)
            }
        });
        let answers = futures_util::future::join_all(writes).await;
        for (id, answer) in &answers {
            if *id == format!("commit-{BAD:04}") {
                let e = answer.as_ref().expect_err("the bad save must be refused");
                assert!(!e.is_unavailable(), "a refusal, not an outage: {e}");
            } else {
                assert!(matches!(answer, Ok(true)), "{id}: {answer:?}");
            }
        }
        // Read back: every good job settled with its record, the bad one
        // still running and without one; the chain verifies.
        for i in 0..JOBS {
            let id = format!("commit-{i:04}");
            let stored = store.get_job(&id).await.unwrap().unwrap();
            let records = store
                .audit_about(std::slice::from_ref(&id), 10)
                .await
                .unwrap();
            if i == BAD {
                assert_eq!(stored.state, JobState::Running);
                assert!(records.is_empty());
            } else {
                assert_eq!(stored.state, JobState::Succeeded, "{id}");
                assert_eq!(records.len(), 1, "{id}");
                assert_eq!(records[0].kind, "job.succeeded");
            }
        }
        assert!(store.verify_audit().await.unwrap().is_intact());
        // The next write goes through as usual.
        let mut good = claimed[BAD].clone();
        good.state = JobState::Failed;
        let save = JobSave {
            job: Some((good, Some("w".into()))),
            ..JobSave::default()
        };
        assert!(commit.write(JobWrite::Save(save)).await.unwrap());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sqlite_refused_save_does_not_fail_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("commit.db");
        let store = rectify_store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE UPDATE OF last_error ON jobs \
             WHEN NEW.last_error LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
        refused_save_does_not_fail_the_batch(store).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn postgres_refused_save_does_not_fail_the_batch() {
        let server = std::env::var("RECTIFY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let schema = format!("jobwrites_{}", std::process::id());
        let sep = if server.contains('?') { '&' } else { '?' };
        let store = rectify_store::open(&format!("{server}{sep}schema={schema}"))
            .await
            .unwrap();
        refused_save_does_not_fail_the_batch(store).await;
        let _ = std::process::Command::new("psql")
            .args([
                server.as_str(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            ])
            .output();
    }
}
