//! The engine as an [`Intake`] for polling sources (SQS, Lambda, the
//! Security Hub poll): each body is parsed on its own, so that one
//! malformed message does not hold back the others, and the good ones are
//! submitted together as one commit.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_engine::Engine;
use rectify_model::{Intake, IntakeError};

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
    /// as one commit; with `skip_known`, less the events already stored.
    async fn submit(
        &self,
        bodies: &[&[u8]],
        origin: &str,
        skip_known: bool,
    ) -> Result<Vec<Result<usize, String>>, IntakeError> {
        let limits = rectify_ingest::Limits::default();
        let mut events = Vec::new();
        let mut verdicts = Vec::with_capacity(bodies.len());
        for body in bodies {
            match rectify_ingest::parse_body(body, &limits) {
                Ok(parsed) => {
                    verdicts.push(Ok(parsed.len()));
                    events.extend(parsed);
                }
                Err(e) => verdicts.push(Err(e.to_string())),
            }
        }
        if skip_known && !events.is_empty() {
            let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            let known = self
                .engine
                .store()
                .known_events(&ids)
                .await
                .map_err(|e| IntakeError(e.to_string()))?;
            events.retain(|e| !known.contains(&e.id));
        }
        if !events.is_empty() {
            self.engine
                .submit(events, origin)
                .await
                .map_err(|e| IntakeError(format!("{e:#}")))?;
        }
        let taken = verdicts.iter().filter(|v| v.is_ok()).count() as u64;
        self.engine
            .metrics()
            .source_messages(origin, taken, verdicts.len() as u64 - taken);
        Ok(verdicts)
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
