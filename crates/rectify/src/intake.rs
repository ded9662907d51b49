//! The engine as an [`Intake`] for polling sources (SQS, Lambda, the
//! Security Hub poll): each body is parsed on its own, so that one
//! malformed message does not hold back the others, and the good ones are
//! submitted together as one commit. When the store refuses that commit
//! for what one body holds (not because it is unavailable), each body is
//! submitted on its own, so that only the refused one is left to its
//! dead-letter queue.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_engine::Engine;
use rectify_model::{Event, Intake, IntakeError};

pub struct EngineIntake {
    engine: Arc<Engine>,
}

impl EngineIntake {
    pub fn new(engine: Arc<Engine>) -> EngineIntake {
        EngineIntake { engine }
    }
}

impl EngineIntake {
    /// Parses each body on its own and submits the events of the good ones
    /// as one commit; with `skip_known`, less the events already stored. A
    /// commit the store refuses is tried again body by body.
    async fn submit(
        &self,
        bodies: &[&[u8]],
        origin: &str,
        skip_known: bool,
    ) -> Result<Vec<Result<usize, String>>, IntakeError> {
        let limits = rectify_ingest::Limits::default();
        // Each body's events, for the bodies that parse.
        let mut parts: Vec<(usize, Vec<Event>)> = Vec::new();
        let mut verdicts = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            match rectify_ingest::parse_body(body, &limits) {
                Ok(parsed) => {
                    verdicts.push(Ok(parsed.len()));
                    parts.push((i, parsed));
                }
                // Any parse error is this body's alone.
                Err(e) => verdicts.push(Err(e.to_string())),
            }
        }
        if skip_known && !parts.is_empty() {
            let ids: Vec<String> = parts
                .iter()
                .flat_map(|(_, events)| events.iter().map(|e| e.id.clone()))
                .collect();
            let known = self
                .engine
                .store()
                .known_events(&ids)
                .await
                .map_err(|e| IntakeError(e.to_string()))?;
            for (_, events) in &mut parts {
                events.retain(|e| !known.contains(&e.id));
            }
        }
        parts.retain(|(_, events)| !events.is_empty());
        let first = parts.first().map(|(i, _)| *i);
        // Kept only while a refusal could still be split among bodies.
        let apart = (parts.len() > 1).then(|| parts.clone());
        let events: Vec<Event> = parts.into_iter().flat_map(|(_, events)| events).collect();
        if !events.is_empty() {
            match self.engine.submit(events, origin).await {
                Ok(_) => {}
                Err(e) if rectify_engine::store_unavailable(&e) => {
                    return Err(IntakeError(format!("{e:#}")));
                }
                Err(e) => match apart {
                    Some(parts) => {
                        tracing::warn!(
                            origin,
                            error = %format!("{e:#}"),
                            "the store refused a batch; submitting its messages one by one"
                        );
                        self.submit_apart(parts, origin, &mut verdicts).await?;
                    }
                    None => {
                        // One body had events: the refusal is its own.
                        if let Some(i) = first {
                            verdicts[i] = Err(format!("refused by the store: {e:#}"));
                        }
                    }
                },
            }
        }
        let taken = verdicts.iter().filter(|v| v.is_ok()).count() as u64;
        self.engine
            .metrics()
            .source_messages(origin, taken, verdicts.len() as u64 - taken);
        Ok(verdicts)
    }

    /// Submits each body's events as its own submission (the group commit
    /// still writes them together, and apart only the one it refuses); a
    /// body the store refuses gets its verdict, an unavailable store fails
    /// the whole call.
    async fn submit_apart(
        &self,
        parts: Vec<(usize, Vec<Event>)>,
        origin: &str,
        verdicts: &mut [Result<usize, String>],
    ) -> Result<(), IntakeError> {
        let mut submissions = tokio::task::JoinSet::new();
        for (i, events) in parts {
            let (engine, origin) = (self.engine.clone(), origin.to_string());
            submissions.spawn(async move { (i, engine.submit(events, &origin).await) });
        }
        let mut unavailable = None;
        while let Some(joined) = submissions.join_next().await {
            let (i, result) = joined.map_err(|e| IntakeError(format!("submitting: {e}")))?;
            match result {
                Ok(_) => {}
                Err(e) if rectify_engine::store_unavailable(&e) => {
                    unavailable = Some(IntakeError(format!("{e:#}")));
                }
                Err(e) => verdicts[i] = Err(format!("refused by the store: {e:#}")),
            }
        }
        // The bodies committed meanwhile come back and are recognised by
        // their events' ids.
        unavailable.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Intake for EngineIntake {
    async fn take(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, IntakeError> {
        self.submit(bodies, origin, false).await
    }

    async fn take_new(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, IntakeError> {
        self.submit(bodies, origin, true).await
    }

    async fn cursor(&self, source: &str) -> Result<Option<String>, IntakeError> {
        self.engine
            .store()
            .source_cursor(source)
            .await
            .map_err(|e| IntakeError(e.to_string()))
    }

    async fn save_cursor(&self, source: &str, value: &str) -> Result<(), IntakeError> {
        self.engine
            .store()
            .set_source_cursor(source, value)
            .await
            .map_err(|e| IntakeError(e.to_string()))
    }
}
