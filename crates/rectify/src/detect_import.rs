//! Detections to Security Hub (`detect.security_hub: true`): each is
//! imported as a finding of the account's own custom product with
//! `BatchImportFindings`, besides going through the rules.

use std::sync::Arc;

use rectify_detect::Detection;
use serde_json::Value;

use crate::context::Loaded;

/// Detections waiting for Security Hub in `rectify serve`, at most; more
/// are dropped (counted in the log), never waited for.
const QUEUE: usize = 10_000;

/// Imports `detections` now, grouped per region; failures are warnings.
pub async fn import_now(loaded: &Loaded, detections: &[Detection]) {
    let mut by_region: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for d in detections {
        let region = if d.region.is_empty() {
            loaded.config.aws.region.clone()
        } else {
            d.region.clone()
        };
        by_region.entry(region).or_default().push(d.finding());
    }
    for (region, findings) in by_region {
        match rectify_aws::effects::securityhub_import::import_to_hub(
            &loaded.aws,
            &region,
            &findings,
        )
        .await
        {
            Ok(imported) => {
                for refused in imported.failed {
                    eprintln!("warning: Security Hub refused finding {refused}");
                }
                tracing::info!(
                    region,
                    count = findings.len(),
                    "detections imported into Security Hub"
                );
            }
            Err(e) => eprintln!(
                "warning: importing {} detections into Security Hub ({region}): {e}",
                findings.len()
            ),
        }
    }
}

/// A sink for the engine's detector tap that hands detections to a task
/// importing them into Security Hub, so that a submission never waits on
/// Security Hub.
pub fn background_sink(loaded: Loaded) -> rectify_detect::run::DetectionSink {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Detection>(QUEUE);
    let loaded = Arc::new(loaded);
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < rectify_aws::effects::securityhub_import::BATCH {
                match rx.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            import_now(&loaded, &batch).await;
            batch.clear();
        }
    });
    Box::new(move |detections: &[Detection]| {
        for d in detections {
            if tx.try_send(d.clone()).is_err() {
                tracing::warn!(detector = %d.detector, "Security Hub import queue full; detection not imported (it still goes through the rules)");
            }
        }
    })
}
