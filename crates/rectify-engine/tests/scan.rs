//! The posture scanner over actions that list fixed resources: per region
//! for regional settings, once per account for account-wide ones, exempt
//! resources counted and left out, and what it finds planned as jobs with
//! no Security Hub finding behind them.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde_json::{json, Value};

static REGIONAL: ActionSpec = ActionSpec {
    id: "test.regional",
    summary: "A setting of each account and region.",
    controls: &["T.1"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &["test:Get"],
    params: &[],
    calls_per_fix: 0,
    approval_by_default: false,
};

static GLOBAL: ActionSpec = ActionSpec {
    id: "test.global",
    summary: "A setting of each account.",
    controls: &["T.2"],
    resource_types: &["AwsAccount"],
    account_wide: true,
    permissions: &["test:Get"],
    params: &[],
    calls_per_fix: 0,
    approval_by_default: false,
};

/// Lists the account (and, for the regional one, an exempt bucket) and
/// finds everything out of compliance.
struct Listed(&'static ActionSpec);

#[async_trait]
impl Action for Listed {
    fn spec(&self) -> &'static ActionSpec {
        self.0
    }

    fn validate_params(&self, _: &Value) -> Result<(), String> {
        Ok(())
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let mut all = vec![Target::listed(
            account,
            region,
            "AwsAccount",
            format!("AWS::::Account:{account}"),
        )];
        if !self.0.account_wide {
            all.push(Target::listed(
                account,
                region,
                "AwsS3Bucket",
                format!("arn:aws:s3:::exempt-{region}"),
            ));
        }
        Ok(all)
    }

    async fn check(&self, target: &Target, _: &Value) -> Result<Observed, ActionError> {
        let mut tags = serde_json::Map::new();
        if target.resource_type == "AwsS3Bucket" {
            tags.insert("rectify:exempt".into(), json!("on purpose"));
        }
        Ok(Observed {
            compliant: false,
            state: json!({"on": false}),
            tags,
        })
    }

    fn plan(&self, _: &Target, _: &Value, observed: &Observed) -> Result<Change, ActionError> {
        Ok(Change {
            summary: "turn it on".into(),
            before: observed.state.clone(),
            after: json!({"on": true}),
        })
    }

    async fn apply(&self, _: &Target, _: &Value, _: &Change) -> Result<(), ActionError> {
        Ok(())
    }
}

#[tokio::test]
async fn scans_each_region_once_and_account_wide_settings_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scan.db").display());
    let rule = |id: &str, action: &str, control: &str| {
        format!(
            "  - id: {id}\n    pattern: {{source: [rectify.scanner], detail: {{findings: {{Compliance: {{SecurityControlId: [{control}]}}}}}}}}\n    action: {action}\n    mode: dry-run\n"
        )
    };
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\n    regions: [eu-west-1, eu-central-1]\n  - id: \"444455556666\"\nrules:\n{}{}",
        rule("regional", "test.regional", "T.1"),
        rule("global", "test.global", "T.2"),
    );
    let config = Loader::new()
        .load_str(&yaml, std::path::Path::new("scan.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let actions: Vec<Arc<dyn Action>> =
        vec![Arc::new(Listed(&REGIONAL)), Arc::new(Listed(&GLOBAL))];
    let engine = Engine::new(
        Arc::new(config),
        rectify_store::open(&url).await.unwrap(),
        actions,
        Arc::new(NoFindingUpdates),
        Arc::new(NoNotifications),
        EngineOptions::default(),
    )
    .unwrap();

    let report = engine.scan(&["111122223333".to_string()]).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // The account (its regional setting judged in two regions, its
    // account-wide one once) and an exempt bucket per region: three
    // resources, five verdicts.
    assert_eq!(report.checked, 3);
    assert_eq!(report.verdicts, 5);
    assert_eq!(report.exempt, 2);
    let mut found: Vec<(String, String, String)> = report
        .events
        .iter()
        .map(|e| {
            let f = &e.body["detail"]["findings"][0];
            (
                f["Compliance"]["SecurityControlId"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                e.region.clone(),
                f["Resources"][0]["Id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let account = "AWS::::Account:111122223333".to_string();
    assert_eq!(
        found,
        [
            (
                "T.1".to_string(),
                "eu-central-1".to_string(),
                account.clone()
            ),
            ("T.1".to_string(), "eu-west-1".to_string(), account.clone()),
            ("T.2".to_string(), "eu-west-1".to_string(), account.clone()),
        ]
    );
    assert!(report.events.iter().all(|e| e.source == "rectify.scanner"));

    // Through the rules: a job each, with no Security Hub finding to update.
    let submitted = engine.submit(report.events, "scanner").await.unwrap();
    let jobs: Vec<_> = submitted.iter().flat_map(|s| s.jobs.clone()).collect();
    assert_eq!(jobs.len(), 3);
    for job in &jobs {
        let stored = engine.store().get_job(&job.id).await.unwrap().unwrap();
        assert!(stored.finding.is_none(), "{stored:?}");
        assert!(stored.control.is_some());
    }
    // Scanned again while those jobs are open: nothing new is queued.
    // (All accounts now: the second one, in the home region, adds its
    // setting, its exempt bucket and its account-wide setting: two
    // resources, three verdicts.)
    let again = engine.scan(&[]).await;
    assert_eq!((again.checked, again.verdicts), (3 + 2, 5 + 3));
    let resubmitted = engine.submit(again.events, "scanner").await.unwrap();
    let (duplicates, created): (Vec<_>, Vec<_>) = resubmitted
        .iter()
        .flat_map(|s| s.jobs.iter())
        .partition(|j| j.duplicate);
    assert_eq!((duplicates.len(), created.len()), (3, 2));

    // Only some regions (`scan.regions` of a scheduled scan): nothing
    // judged elsewhere, and the account-wide setting still judged once,
    // in the first region scanned.
    let options = rectify_engine::scan::ScanOptions {
        regions: vec!["eu-central-1".to_string()],
        ..Default::default()
    };
    let only = engine
        .scan_with(&["111122223333".to_string()], &options)
        .await;
    assert!(only.errors.is_empty(), "{:?}", only.errors);
    assert!(only
        .results
        .iter()
        .all(|r| r.verdict.region == "eu-central-1"));
    let checks = |id: &str| only.results.iter().filter(|r| r.check == id).count();
    assert_eq!(checks("test.regional"), 2, "{:?}", only.results);
    assert_eq!(checks("test.global"), 1);

    // A scan that feeds nothing (`rectify scan` without --feed): the same
    // verdicts, and no finding event held for the rules.
    let full = engine.scan(&[]).await;
    let report_only = engine
        .scan_with(
            &[],
            &rectify_engine::scan::ScanOptions {
                report_only: true,
                ..Default::default()
            },
        )
        .await;
    assert!(!full.events.is_empty());
    assert!(report_only.events.is_empty());
    let verdicts = |r: &rectify_engine::scan::ScanReport| {
        r.results
            .iter()
            .map(|c| {
                (
                    c.check.clone(),
                    c.verdict.resource_id.clone(),
                    c.verdict.pass,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&full), verdicts(&report_only));
    assert_eq!(
        (full.checked, full.exempt),
        (report_only.checked, report_only.exempt)
    );
}

static CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

static COUNTED: ActionSpec = ActionSpec {
    id: "test.counted",
    summary: "A setting whose reads are counted.",
    controls: &["T.3"],
    resource_types: &["AwsAccount"],
    account_wide: true,
    permissions: &["test:Get"],
    params: &[],
    calls_per_fix: 0,
    approval_by_default: false,
};

/// Out of compliance, and counts its checks.
struct Counted;

#[async_trait]
impl Action for Counted {
    fn spec(&self) -> &'static ActionSpec {
        &COUNTED
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(vec![Target::listed(
            account,
            region,
            "AwsAccount",
            format!("AWS::::Account:{account}"),
        )])
    }

    async fn check(&self, _: &Target, _: &Value) -> Result<Observed, ActionError> {
        CHECKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Observed {
            compliant: false,
            state: json!({"on": false}),
            tags: Default::default(),
        })
    }

    fn plan(&self, _: &Target, _: &Value, observed: &Observed) -> Result<Change, ActionError> {
        Ok(Change {
            summary: "turn it on".into(),
            before: observed.state.clone(),
            after: json!({"on": true}),
        })
    }

    async fn apply(&self, _: &Target, _: &Value, _: &Change) -> Result<(), ActionError> {
        Ok(())
    }
}

/// A job made from a scan's finding that writes nothing now (dry-run, or
/// waiting for approval) plans from what the scan read: no second read.
#[tokio::test]
async fn jobs_from_a_scan_that_write_nothing_do_not_read_again() {
    use std::sync::atomic::Ordering::SeqCst;
    for mode in ["dry-run", "approve"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("scan.db").display());
        let yaml = format!(
            "store: {url}\naccounts:\n  - id: \"111122223333\"\n  - id: \"444455556666\"\nrules:\n  - id: counted\n    pattern: {{source: [rectify.scanner]}}\n    action: test.counted\n    mode: {mode}\n"
        );
        let config = Loader::new()
            .load_str(&yaml, std::path::Path::new("scan.yaml"))
            .unwrap_or_else(|d| panic!("{d:?}"));
        let engine = Engine::new(
            Arc::new(config),
            rectify_store::open(&url).await.unwrap(),
            vec![Arc::new(Counted) as Arc<dyn Action>],
            Arc::new(NoFindingUpdates),
            Arc::new(NoNotifications),
            EngineOptions::default(),
        )
        .unwrap();
        CHECKS.store(0, SeqCst);
        let report = engine.scan(&[]).await;
        assert_eq!(report.checked, 2);
        assert_eq!(CHECKS.load(SeqCst), 2, "one read per account");
        let submitted = engine.submit(report.events, "scanner").await.unwrap();
        engine.drain().await.unwrap();
        assert_eq!(
            CHECKS.load(SeqCst),
            2,
            "{mode}: planned from the scan's read"
        );
        let jobs: Vec<_> = submitted.iter().flat_map(|s| s.jobs.iter()).collect();
        assert_eq!(jobs.len(), 2);
        for job in jobs {
            let job = engine.store().get_job(&job.id).await.unwrap().unwrap();
            if mode == "dry-run" {
                let kind = job.outcome.as_ref().map(|o| o.kind);
                assert_eq!(kind, Some(rectify_model::OutcomeKind::Planned), "{job:?}");
            } else {
                assert_eq!(
                    job.state,
                    rectify_model::JobState::WaitingApproval,
                    "{job:?}"
                );
            }
            assert!(job.plan.is_some(), "{job:?}");
        }
    }
}
