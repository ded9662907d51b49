//! `rectify serve`: the HTTP API, the polling sources (SQS, Security Hub)
//! and the job workers, until SIGTERM.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rectify_aws::{FindingFilters, PollSettings, QueueSettings, SecurityHubSource, SqsSource};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::Intake;

use crate::context;
use crate::intake::EngineIntake;

pub async fn run(
    config: Option<&Path>,
    listen: Option<String>,
    worker_id: Option<String>,
    grace: Duration,
) -> anyhow::Result<u8> {
    let worker_id = worker_id.unwrap_or_else(|| format!("serve@{}", context::hostname()));
    let options = EngineOptions {
        worker_id: worker_id.clone(),
        ..EngineOptions::default()
    };
    let (engine, loaded) = context::engine(config, options).await?;
    // accounts.from_organizations: read before the first job; a failure is
    // said and the list read again every refresh_seconds.
    crate::organizations::load_once(&loaded).await;
    if loaded.config.api.tokens.is_empty() {
        eprintln!(
            "error: api.tokens is empty: every request must be authenticated, so `serve` needs at least one token"
        );
        return Ok(2);
    }
    match &loaded.config.audit.key {
        rectify_config::AuditKeySetting::Unset => eprintln!(
            "rectify: warning: the audit log is not keyed: anyone who can write the database \
             can rewrite it undetected. Set audit.key_env, audit.key_file or audit.kms_key_id \
             (or `audit: {{key: none}}` to run unkeyed on purpose)"
        ),
        rectify_config::AuditKeySetting::Disabled => {
            eprintln!("rectify: the audit log is unkeyed (audit.key: none)")
        }
        _ => {}
    }
    // Fail at start, not at the first interval, when anchors cannot be
    // written.
    if loaded.config.audit.anchor.is_some() {
        super::audit::check_anchoring(&loaded).await?;
    }
    let recovered =
        engine.store().release_owned(&worker_id).await? + engine.store().recover_expired().await?;
    if recovered > 0 {
        tracing::warn!(recovered, "picked up jobs cut off by an earlier stop");
    }
    // Fail at start, not in the server's task, on a certificate that
    // cannot be served.
    rectify_server::check_tls(&loaded.config.api)?;
    let address = listen.unwrap_or_else(|| loaded.config.api.listen.clone());
    let stop_signal = stop_signal();
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let scheme = if loaded.config.api.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "rectify: listening on {scheme}://{}",
        listener.local_addr()?
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let organizations = tokio::spawn(crate::organizations::keep_fresh(
        loaded.clone(),
        stop_tx.subscribe(),
    ));
    let worker = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.work(stop_rx).await })
    };
    let mut stop_http = stop_tx.subscribe();
    let shutdown = async move {
        let _ = stop_http.wait_for(|s| *s).await;
    };
    let mut sources = start_sources(&engine, &loaded, &stop_tx).await?;
    if let Some(anchor) = &loaded.config.audit.anchor {
        sources.push(start_anchoring(
            engine.clone(),
            loaded.clone(),
            Duration::from_secs(anchor.interval_seconds),
            stop_tx.subscribe(),
        ));
    }
    if let Some(tickets) = engine.tickets().cloned() {
        sources.push(start_ticket_polls(
            tickets,
            Duration::from_secs(loaded.config.tickets.poll_seconds),
            stop_tx.subscribe(),
        ));
    }
    if let Some(settings) = loaded.config.scan.clone() {
        sources.push(super::scan::scheduled::start(
            engine.clone(),
            loaded.clone(),
            settings,
            worker_id.clone(),
            stop_tx.subscribe(),
        ));
    }
    sources.push(start_detector_timer(
        engine.clone(),
        DETECTOR_TICK,
        stop_tx.subscribe(),
    ));
    sources.push(start_outbox_delivery(
        engine.clone(),
        OUTBOX_INTERVAL,
        stop_tx.subscribe(),
    ));
    let api = console_extras(rectify_server::Api::new(engine.clone()), &engine, &loaded);
    let server = tokio::spawn(rectify_server::serve(api, listener, shutdown));
    stop_signal.await;
    eprintln!(
        "rectify: stopping: no new work; running jobs get {}s",
        grace.as_secs()
    );
    let _ = stop_tx.send(true);
    if tokio::time::timeout(grace, worker).await.is_err() {
        // Jobs still running are handed back now rather than after their
        // lease: their next run checks before it writes.
        let released = engine.store().release_owned(&worker_id).await.unwrap_or(0);
        eprintln!("rectify: {released} unfinished jobs left pending");
    }
    // The head as the workers left it, so that nothing recorded since the
    // last interval is left unanchored by a planned stop.
    if loaded.config.audit.anchor.is_some() {
        let last = super::audit::write_anchor(engine.store().as_ref(), &loaded);
        match tokio::time::timeout(Duration::from_secs(10), last).await {
            Ok(Ok(Some((key, anchor)))) => {
                eprintln!(
                    "rectify: audit chain anchored at seq {} ({key})",
                    anchor.seq
                )
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => eprintln!("rectify: warning: audit anchor not written: {e:#}"),
            Err(_) => eprintln!("rectify: warning: audit anchor not written: timed out"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), organizations).await;
    for source in sources {
        let _ = tokio::time::timeout(Duration::from_secs(5), source).await;
    }
    // Nothing is submitted any more: the detector's state as it is now,
    // open buckets included, so that the next start continues from it.
    if tokio::time::timeout(Duration::from_secs(30), engine.save_tap_state(true))
        .await
        .is_err()
    {
        eprintln!("rectify: warning: the anomaly detector's state was not saved: timed out");
    }
    Ok(0)
}

/// One polling task per `sources.sqs` queue (rectify's own credentials in
/// the queue's region), and one for `sources.securityhub` (Security Hub's
/// region and role from `aws.securityhub`); each stops when `stop` turns
/// true.
async fn start_sources(
    engine: &Arc<Engine>,
    loaded: &context::Loaded,
    stop: &tokio::sync::watch::Sender<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let intake: Arc<dyn Intake> = Arc::new(EngineIntake::new(engine.clone()));
    let mut tasks = Vec::new();
    for queue in &loaded.config.sources.sqs {
        let source = SqsSource::new(
            &loaded.aws.own_config(&queue.region),
            QueueSettings {
                queue_url: queue.queue_url.clone(),
                wait_seconds: queue.wait_seconds,
                max_messages: queue.max_messages,
            },
        );
        eprintln!("rectify: taking events from {}", queue.queue_url);
        let intake = intake.clone();
        let stop = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            source.run(intake.as_ref(), stop).await;
        }));
    }
    if let Some(poll) = &loaded.config.sources.securityhub {
        // Fail at start, not at the first poll, when the role can not be
        // assumed.
        loaded
            .aws
            .securityhub_config(&loaded.config.aws.region)
            .await
            .map_err(|e| anyhow::anyhow!("sources.securityhub: {}", e.message))?;
        let source = SecurityHubSource::new(
            loaded.aws.clone(),
            &loaded.config.aws.region,
            PollSettings {
                interval: Duration::from_secs(poll.interval_seconds),
                overlap: Duration::from_secs(poll.overlap_seconds),
                first_lookback: Duration::from_secs(poll.start_hours_ago * 3600),
                filters: FindingFilters {
                    workflow_status: poll.workflow_status.clone(),
                    record_state: poll.record_state.clone(),
                    compliance_status: poll.compliance_status.clone(),
                    severity_label: poll.severity_label.clone(),
                    product_name: poll.product_name.clone(),
                },
            },
        );
        eprintln!(
            "rectify: polling Security Hub findings every {}s",
            poll.interval_seconds
        );
        let intake = intake.clone();
        let stop = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            source.run(intake.as_ref(), stop).await;
        }));
    }
    Ok(tasks)
}

/// Anchors the audit chain's head in S3 every `interval` (and once at
/// start) while it moves; a failure is logged and tried again at the next
/// interval.
fn start_anchoring(
    engine: Arc<Engine>,
    loaded: context::Loaded,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Option<i64> = None;
        loop {
            let head = engine
                .store()
                .audit_head()
                .await
                .ok()
                .flatten()
                .map(|h| h.0);
            if head.is_some() && head != last {
                match super::audit::write_anchor(engine.store().as_ref(), &loaded).await {
                    Ok(Some((key, anchor))) => {
                        tracing::info!(seq = anchor.seq, object = %key, "audit chain anchored");
                        last = Some(anchor.seq);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "audit anchor not written"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

/// Asks the ticket systems about open tickets every `interval`, so that
/// a ticket a person closed closes its finding without a webhook.
fn start_ticket_polls(
    tickets: Arc<dyn rectify_model::Tickets>,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    every(interval, stop, move || {
        let tickets = tickets.clone();
        async move {
            let changed = tickets.poll().await;
            if changed > 0 {
                tracing::info!(changed, "tickets changed state");
            }
        }
    })
}

/// Runs `work` every `interval` (the first time one interval after the
/// start) until `stop` turns true; a run in progress is finished first.
fn every<F, Fut>(
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut work: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            work().await;
        }
    })
}

/// How often `serve` closes the anomaly buckets of entities gone quiet and
/// saves the detector's state when `save_interval_seconds` has passed.
const DETECTOR_TICK: Duration = Duration::from_secs(60);

/// Every `interval`: what the detectors make as time passes is submitted
/// (an anomalous last minute of an entity that went quiet), and their
/// state saved when due. A failed save is retried at the next tick; it
/// never holds up submissions.
fn start_detector_timer(
    engine: Arc<rectify_engine::Engine>,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    every(interval, stop, move || {
        let engine = engine.clone();
        async move {
            let now = rectify_model::now_epoch_seconds();
            match engine.tick_tap(now, "detector").await {
                Ok(0) => {}
                Ok(submitted) => tracing::info!(submitted, "detections of entities gone quiet"),
                Err(e) => tracing::warn!("detections of entities gone quiet not submitted: {e:#}"),
            }
            engine.save_tap_state(false).await;
        }
    })
}

/// How often `serve` sends notifications whose earlier attempt failed.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

/// Sends what is due in the notification outbox every `interval`: retries
/// after a channel failed, and messages a crashed process had claimed.
fn start_outbox_delivery(
    engine: Arc<rectify_engine::Engine>,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    every(interval, stop, move || {
        let engine = engine.clone();
        async move {
            let sent = engine.deliver_outbox().await;
            if sent > 0 {
                tracing::info!(sent, "notifications sent from the outbox");
            }
        }
    })
}

/// Registers for SIGTERM and SIGINT at once, before anything starts that
/// a caller may wait on (a first audit anchor, the listening socket): a
/// signal that comes early then stops serve in order instead of killing
/// it. The future waits for either.
#[cfg(unix)]
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn stop_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Anchors the console's audit page lists (the newest).
const CONSOLE_ANCHORS: usize = 20;

/// What the console shows beyond the store: the catalog's coverage per
/// standard, and the audit anchors' check when `audit.anchor` is set.
fn console_extras(
    mut api: rectify_server::Api,
    engine: &Arc<Engine>,
    loaded: &context::Loaded,
) -> rectify_server::Api {
    if let Ok(rules) = super::catalog::builtin_rules() {
        let report = super::catalog::coverage_report(&loaded.actions, &rules);
        if let Ok(coverage) = serde_json::to_value(&report) {
            api = api.with_coverage(coverage);
        }
    }
    if loaded.config.audit.anchor.is_some() {
        let store = engine.store().clone();
        let loaded = loaded.clone();
        api = api.with_anchors(Arc::new(move || -> rectify_server::AnchorFuture {
            let (store, loaded) = (store.clone(), loaded.clone());
            Box::pin(async move {
                let report = super::audit::check_anchors(store.as_ref(), &loaded).await?;
                // The newest few: the bucket may hold thousands.
                let newest: Vec<_> = report.anchors.iter().rev().take(CONSOLE_ANCHORS).collect();
                Ok(serde_json::json!({
                    "configured": true,
                    "checked": report.checked,
                    "problems": report.problems,
                    "newest": newest,
                }))
            })
        }));
    }
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CloudTrail call by `user` at `time`, as EventBridge delivers it.
    fn cloudtrail_event(user: &str, n: usize, time: &str) -> serde_json::Value {
        serde_json::json!({
            "version": "0", "id": format!("ct-{user}-{n}"), "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.s3", "account": "111122223333", "region": "us-east-1", "time": time,
            "resources": [],
            "detail": {
                "eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                                 "arn": format!("arn:aws:iam::111122223333:user/{user}")},
                "eventID": format!("{user}-{n}"), "recipientAccountId": "111122223333"
            }
        })
    }

    /// serve's detector timer closes the buckets of entities gone quiet and
    /// saves the anomaly detector's state in the store once
    /// `save_interval_seconds` has passed since the last save, not before
    /// (here every 100 ms instead of every minute).
    #[tokio::test(flavor = "multi_thread")]
    async fn the_detector_timer_saves_the_anomaly_state_once_the_interval_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rectify.db").display());
        let config = dir.path().join("rectify.yaml");
        std::fs::write(
            &config,
            format!(
                "store: {url}\naudit: {{key: none}}\ndetect:\n  builtin: false\n  anomaly:\n    enabled: true\n    save_interval_seconds: 2\nrules: []\n"
            ),
        )
        .unwrap();
        let loaded = context::load(Some(&config)).await.unwrap();
        let (engine, _) = context::engine_from(loaded, EngineOptions::default())
            .await
            .unwrap();
        let loaded_at = std::time::Instant::now();
        // Calls of two users in one minute an hour ago: their buckets stay
        // open until a later record or the timer closes them.
        let events: Vec<rectify_model::Event> = (0..20)
            .map(|n| {
                let user = if n % 2 == 0 { "alice" } else { "bob" };
                let body = cloudtrail_event(user, n, "2026-12-06T06:00:05Z").to_string();
                rectify_ingest::parse_body(body.as_bytes(), &rectify_ingest::Limits::default())
                    .unwrap()
                    .remove(0)
            })
            .collect();
        engine.submit(events, "test").await.unwrap();
        let store = rectify_store::open(&url).await.unwrap();
        let rows = |detector: &'static str| {
            let store = store.clone();
            async move { store.detector_state(detector).await.unwrap() }
        };
        assert!(rows("anomaly-principal").await.is_empty(), "no save yet");

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let timer = start_detector_timer(engine.clone(), Duration::from_millis(100), stopped);
        // Ticks come every 100 ms; the save only once 2 s have passed.
        while loaded_at.elapsed() < Duration::from_millis(1500) {
            assert!(
                rows("anomaly-principal").await.is_empty(),
                "saved before the interval passed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let principals = loop {
            let found = rows("anomaly-principal").await;
            if !found.is_empty() {
                break found;
            }
            assert!(std::time::Instant::now() < deadline, "never saved");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(loaded_at.elapsed() >= Duration::from_secs(2));
        let mut keys: Vec<&str> = principals.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        // The forest (under the empty key) and both users.
        assert_eq!(
            keys,
            [
                "",
                "arn:aws:iam::111122223333:user/alice",
                "arn:aws:iam::111122223333:user/bob"
            ]
        );
        // The timer closed the users' quiet minute before saving: no open
        // bucket is left in what was saved, and each has one closed.
        for (key, state) in principals.iter().filter(|(k, _)| !k.is_empty()) {
            let state: serde_json::Value = serde_json::from_str(state).unwrap();
            assert!(state["open"].is_null(), "{key}: {state}");
            assert_eq!(state["buckets"], 1, "{key}: {state}");
        }
        let accounts = rows("anomaly-account").await;
        assert!(
            accounts.iter().any(|(k, _)| k == "111122223333"),
            "{accounts:?}"
        );
        stop.send(true).unwrap();
        timer.await.unwrap();
    }
}
