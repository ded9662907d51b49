//! Harm scenarios: EBS snapshots and EBS default encryption. Only the
//! snapshot an event names is touched; a public AMI's snapshot waits for
//! a person; snapshots shared with a named account, excepted or exempt
//! stay as they are and their findings are never RESOLVED while they are
//! public; the default KMS key is the one chosen.

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::{
    ebs_default_encryption, new_volume, public_ami, share_snapshot, snapshot_permissions,
};
use crate::support::*;

/// A snapshot of a fresh volume in `account`, tagged with `tags`.
async fn snapshot(ec2: &aws_sdk_ec2::Client, tags: &[(&str, &str)]) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let volume = new_volume(ec2, &format!("{REGION}a")).await;
    let mut request = ec2.create_snapshot().volume_id(volume);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Snapshot);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        request = request.tag_specifications(spec.build());
    }
    request.send().await.unwrap().snapshot_id.unwrap()
}

fn snapshot_arn(id: &str) -> String {
    format!("arn:aws:ec2:{REGION}::snapshot/{id}")
}

/// The CloudTrail call that made `id` public, as EventBridge delivers it.
fn made_public(account: &str, id: &str) -> Value {
    api_call(
        account,
        "aws.ec2",
        "ModifySnapshotAttribute",
        json!({"snapshotId": id, "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
        &format!("arn:aws:sts::{account}:assumed-role/release/ci"),
    )
}

/// One Security Hub EC2.1 finding on `resource_type`/`resource_id`, run
/// through the pack: the job and the finding's id.
fn run_finding(
    site: &Site,
    account: &str,
    control: &str,
    resource_type: &str,
    resource_id: &str,
) -> (Value, String) {
    let f = finding(account, control, resource_type, resource_id);
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("finding.json", &imported(account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    (jobs[0].clone(), id)
}

fn notified(finding_id: &str) -> bool {
    securityhub_updates(finding_id)
        .iter()
        .any(|u| u["body"]["Workflow"]["Status"] == "NOTIFIED")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_amis_snapshot_stays_public_until_approved() {
    let (account, _inbox, site) = auto_site("harm-ami").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let (ami, snap) = public_ami(&ec2, &format!("published-{}", rand_suffix())).await;
    share_snapshot(&ec2, &snap, None).await;

    let jobs = site.process(
        &site.write_event("call.json", &made_public(&account, &snap)),
        &[],
    );
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    let why = reason(&jobs[0]);
    assert!(
        why.contains(&format!("backs public AMI {ami}")) && why.contains("approve"),
        "{why}"
    );
    assert_eq!(snapshot_permissions(&ec2, &snap).await, ["all"]);

    // Security Hub's account-level EC2.1 finding changes nothing either,
    // and is NOTIFIED with the snapshot named, never RESOLVED.
    let (job, finding_id) = run_finding(
        &site,
        &account,
        "EC2.1",
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    );
    assert!(reason(&job).contains(&snap), "{job}");
    never_resolved(&finding_id);
    assert!(notified(&finding_id));
    assert_eq!(snapshot_permissions(&ec2, &snap).await, ["all"]);
}

/// One account-level EC2.1 finding no longer makes every public snapshot
/// of the account private: it names none, so it changes none, and says
/// which are public and how each becomes a job of its own.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_finding_sweeps_nothing() {
    let (account, _inbox, site) = auto_site("harm-sweep").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let a = snapshot(&ec2, &[]).await;
    let b = snapshot(&ec2, &[]).await;
    share_snapshot(&ec2, &a, None).await;
    share_snapshot(&ec2, &b, None).await;
    let (job, finding_id) = run_finding(
        &site,
        &account,
        "EC2.1",
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    );
    let why = reason(&job);
    assert!(
        why.contains(&a) && why.contains(&b) && why.contains("rectify scan"),
        "{why}"
    );
    never_resolved(&finding_id);
    assert!(notified(&finding_id));
    assert_eq!(snapshot_permissions(&ec2, &a).await, ["all"]);
    assert_eq!(snapshot_permissions(&ec2, &b).await, ["all"]);
}

/// Shared with one named account only: not public, nothing changes, and
/// the sharing stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_shared_with_a_partner_is_left_alone() {
    let (account, _inbox, site) = auto_site("harm-partner").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let snap = snapshot(&ec2, &[]).await;
    share_snapshot(&ec2, &snap, Some("444455556666")).await;
    let (job, _) = run_finding(
        &site,
        &account,
        "EC2.1",
        "AwsEc2Snapshot",
        &snapshot_arn(&snap),
    );
    assert_eq!(outcome(&job), "already-compliant", "{job}");
    assert_eq!(snapshot_permissions(&ec2, &snap).await, ["444455556666"]);
}

/// Excepted by the action's tag: stays public, and the finding is
/// NOTIFIED with the tag named, never RESOLVED.
#[tokio::test(flavor = "multi_thread")]
async fn an_excepted_public_snapshot_is_notified_not_resolved() {
    let (account, _inbox, site) = auto_site("harm-excepted").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let snap = snapshot(&ec2, &[("rectify:public-snapshot", "datasets")]).await;
    share_snapshot(&ec2, &snap, None).await;
    let (job, finding_id) = run_finding(
        &site,
        &account,
        "EC2.1",
        "AwsEc2Snapshot",
        &snapshot_arn(&snap),
    );
    let why = reason(&job);
    assert!(
        why.contains("stays public") && why.contains("rectify:public-snapshot"),
        "{why}"
    );
    never_resolved(&finding_id);
    assert!(notified(&finding_id));
    assert_eq!(snapshot_permissions(&ec2, &snap).await, ["all"]);
}

/// The global exemption tag on one snapshot: skipped, nothing written;
/// the call that made another snapshot public still gets that one fixed.
#[tokio::test(flavor = "multi_thread")]
async fn an_exempt_snapshot_is_skipped() {
    let (account, _inbox, site) = auto_site("harm-exempt").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let exempt = snapshot(&ec2, &[("rectify:exempt", "legal hold")]).await;
    let other = snapshot(&ec2, &[]).await;
    share_snapshot(&ec2, &exempt, None).await;
    share_snapshot(&ec2, &other, None).await;

    let (job, finding_id) = run_finding(
        &site,
        &account,
        "EC2.1",
        "AwsEc2Snapshot",
        &snapshot_arn(&exempt),
    );
    assert_eq!(outcome(&job), "skipped", "{job}");
    assert!(reason(&job).contains("rectify:exempt"), "{job}");
    never_resolved(&finding_id);
    let jobs = site.process(
        &site.write_event("call.json", &made_public(&account, &exempt)),
        &[],
    );
    assert_eq!(outcome(&jobs[0]), "skipped", "{}", jobs[0]);
    assert_eq!(snapshot_permissions(&ec2, &exempt).await, ["all"]);

    // Only the snapshot the call names is changed.
    let jobs = site.process(
        &site.write_event("other.json", &made_public(&account, &other)),
        &[],
    );
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    assert!(snapshot_permissions(&ec2, &other).await.is_empty());
    assert_eq!(snapshot_permissions(&ec2, &exempt).await, ["all"]);

    // Published on purpose after all: the undo gives `all` back.
    let id = jobs[0]["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    let undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&undo), "changed", "{undo}");
    assert_eq!(snapshot_permissions(&ec2, &other).await, ["all"]);
}

/// EC2.7 with a customer managed key chosen by the rule's param (an
/// override of the pack's rule): encryption on with that key, the plan
/// naming both keys; `rectify jobs revert --approve` restores both.
#[tokio::test(flavor = "multi_thread")]
async fn ebs_default_encryption_with_a_chosen_key_and_its_undo() {
    let account = new_account();
    let cfg = account_config(&account).await;
    let key = aws_sdk_kms::Client::new(&cfg)
        .create_key()
        .description("EBS volumes")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let inbox = Inbox::new(&format!("harm-ebs-{account}")).await;
    let config = format!(
        "{PACK_IN_AUTO}overrides:\n  ec2-ebs-default-encryption:\n    params: {{kms_key_id: \"{}\"}}\n",
        key.key_id
    );
    let site = Site::new(&account, "auto", &inbox.topic_arn, &config);
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let read = || ebs_default_encryption(&ec2);
    assert_eq!(read().await, (false, "alias/aws/ebs".to_string()));

    let (job, finding_id) = run_finding(
        &site,
        &account,
        "EC2.7",
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    );
    assert_eq!(outcome(&job), "changed", "{job}");
    let summary = job["outcome"]["change"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("default KMS key set to {}", key.key_id))
            && summary.contains("was alias/aws/ebs"),
        "{summary}"
    );
    assert_eq!(read().await, (true, key.arn.clone().unwrap()));
    assert!(securityhub_updates(&finding_id)
        .iter()
        .any(|u| u["body"]["Workflow"]["Status"] == "RESOLVED"));

    let id = job["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    let undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&undo), "changed", "{undo}");
    assert_eq!(read().await, (false, "alias/aws/ebs".to_string()));
    assert_audit_intact(&site);
}

/// The account-wide sweep is the scanner's: `rectify scan` makes each
/// public snapshot a job of its own; the excepted one stays public.
#[tokio::test(flavor = "multi_thread")]
async fn the_scanner_makes_each_public_snapshot_a_job() {
    let (account, _inbox, site) = auto_site("harm-scan-snapshots").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let a = snapshot(&ec2, &[]).await;
    let b = snapshot(&ec2, &[]).await;
    let published = snapshot(&ec2, &[("rectify:public-snapshot", "yes")]).await;
    for id in [&a, &b, &published] {
        share_snapshot(&ec2, id, None).await;
    }
    let out = site.rectify(&["scan", "--feed", "--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("scan prints JSON");
    let mut snapshots: Vec<(String, String)> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["rule_id"] == "ec2-snapshots-private")
        .map(|j| {
            (
                j["target"]["resource_id"].as_str().unwrap().to_string(),
                outcome(j).to_string(),
            )
        })
        .collect();
    snapshots.sort();
    let mut want = vec![
        (snapshot_arn(&a), "changed".to_string()),
        (snapshot_arn(&b), "changed".to_string()),
    ];
    want.sort();
    assert_eq!(snapshots, want);
    assert!(snapshot_permissions(&ec2, &a).await.is_empty());
    assert!(snapshot_permissions(&ec2, &b).await.is_empty());
    assert_eq!(snapshot_permissions(&ec2, &published).await, ["all"]);
}
