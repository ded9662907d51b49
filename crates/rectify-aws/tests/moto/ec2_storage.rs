//! EC2.7 (EBS encryption by default) and EC2.1 (public snapshots) against
//! moto: each change, its intent checks, what it leaves in place, and its
//! undo, every write read back with the test's own SDK client.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use rectify_aws::{Ec2EnableEbsDefaultEncryption, Ec2MakeSnapshotsPrivate};
use rectify_model::{Action, Event, Target};
use serde_json::json;

use crate::support::{
    account_finding_target, assert_undo_refused, ebs_default_encryption, new_volume, public_ami,
    share_snapshot, snapshot_permissions, unique, Account, REGION,
};

fn account_target(account: &str) -> Target {
    Target::listed(
        account,
        REGION,
        "AwsAccount",
        format!("AWS::::Account:{account}"),
    )
}

async fn encryption(account: &Account) -> (bool, String) {
    ebs_default_encryption(&account.ec2()).await
}

/// EC2.7: turned on with the account's default key left as it is and
/// shown in the plan; undone (read back); an undo of a setting changed
/// since is refused.
#[tokio::test]
async fn ebs_default_encryption_shows_the_key_and_is_undone() {
    let account = Account::new().await;
    let action = Ec2EnableEbsDefaultEncryption::new(account.aws().await);
    let target = account_finding_target(&action, &account.id, "EC2.7");
    let params = json!({});
    assert_eq!(encryption(&account).await, (false, "alias/aws/ebs".into()));

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"ebs_encryption_by_default": false, "kms_key_id": "alias/aws/ebs"})
    );
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains("default KMS key alias/aws/ebs (the AWS managed key) (left as it is)"),
        "{}",
        change.summary
    );
    assert!(action.intent(&target, &params, &observed).is_empty());
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(encryption(&account).await, (true, "alias/aws/ebs".into()));

    // Undo: back to off, read back.
    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(undo.summary.contains("back to off"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(encryption(&account).await, (false, "alias/aws/ebs".into()));

    // Now off again: the state the change left is gone, a second undo is
    // refused and says why.
    assert_undo_refused(&action, &target, &params, &change).await;

    // Another region of the same account is a setting of its own; the
    // scanner lists the setting as the account, in the region asked.
    let other = Target {
        region: "eu-west-1".into(),
        ..target.clone()
    };
    assert!(!action.check(&other, &params).await.unwrap().compliant);
    let listed = action.discover(&account.id, "eu-west-1").await.unwrap();
    assert_eq!(
        (listed[0].region.as_str(), listed[0].resource_type.as_str()),
        ("eu-west-1", "AwsAccount")
    );
}

/// EC2.7 with a customer managed key chosen by param: encryption on and
/// the key set (read back); the undo restores both.
#[tokio::test]
async fn ebs_default_key_chosen_by_param_and_restored() {
    let account = Account::new().await;
    let key = account
        .kms()
        .create_key()
        .description("volumes")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let (key_id, key_arn) = (key.key_id, key.arn.unwrap());
    let action = Ec2EnableEbsDefaultEncryption::new(account.aws().await);
    let target = account_target(&account.id);
    let params = json!({ "kms_key_id": key_id });
    action.validate_params(&params).unwrap();

    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains(&format!(
            "default KMS key set to {key_id} (was alias/aws/ebs (the AWS managed key))"
        )),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(encryption(&account).await, (true, key_arn.clone()));
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{:?}", after.state);

    // Encryption on but with another key than the param's: not done yet.
    let default_key = action.check(&target, &json!({})).await.unwrap();
    assert!(default_key.compliant);
    let other = json!({"kms_key_id": "00000000-0000-0000-0000-000000000000"});
    assert!(!action.check(&target, &other).await.unwrap().compliant);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(
        undo.summary
            .contains("default KMS key back to alias/aws/ebs"),
        "{}",
        undo.summary
    );
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(encryption(&account).await, (false, "alias/aws/ebs".into()));
}

/// Snapshots of one volume, with the test's client.
struct Snapshots {
    ec2: aws_sdk_ec2::Client,
    volume: String,
}

impl Snapshots {
    async fn new(account: &Account) -> Snapshots {
        let ec2 = account.ec2();
        let volume = new_volume(&ec2, &format!("{REGION}a")).await;
        Snapshots { ec2, volume }
    }

    async fn make(&self, tag: Option<&str>) -> String {
        let mut request = self.ec2.create_snapshot().volume_id(&self.volume);
        if let Some(key) = tag {
            request = request.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .tags(Tag::builder().key(key).value("yes").build())
                    .build(),
            );
        }
        request.send().await.unwrap().snapshot_id.unwrap()
    }

    async fn share(&self, id: &str, with: Option<&str>) {
        share_snapshot(&self.ec2, id, with).await
    }

    /// The create-volume permission: `all` and the named accounts.
    async fn permissions(&self, id: &str) -> Vec<String> {
        snapshot_permissions(&self.ec2, id).await
    }
}

/// A CloudTrail `ModifySnapshotAttribute` call that made `snapshot`
/// public, as EventBridge delivers it.
fn made_public(account: &str, snapshot: &str) -> Event {
    let body = json!({
        "version": "0", "id": unique("ct"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": account, "time": "2026-12-05T10:00:05Z",
        "region": REGION, "resources": [],
        "detail": {
            "eventSource": "ec2.amazonaws.com", "eventName": "ModifySnapshotAttribute",
            "awsRegion": REGION, "recipientAccountId": account,
            "requestParameters": {"snapshotId": snapshot, "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}
        }
    });
    Event {
        id: body["id"].as_str().unwrap().to_string(),
        source: "aws.ec2".into(),
        detail_type: "AWS API Call via CloudTrail".into(),
        account: account.into(),
        region: REGION.into(),
        time: "2026-12-05T10:00:05Z".into(),
        resources: Vec::new(),
        body,
        parsed: Default::default(),
    }
}

/// EC2.1 from a CloudTrail call: only the snapshot it names is made
/// private (another public one stays for its own job), sharing with a
/// named account stays; the undo gives `all` back, and an undo of a
/// permission changed since is refused.
#[tokio::test]
async fn only_the_named_snapshot_is_made_private_and_undone() {
    let account = Account::new().await;
    let snaps = Snapshots::new(&account).await;
    let named = snaps.make(None).await;
    let other = snaps.make(None).await;
    snaps.share(&named, None).await;
    snaps.share(&named, Some("444455556666")).await;
    snaps.share(&other, None).await;

    let action = Ec2MakeSnapshotsPrivate::new(account.aws().await);
    let target = action.target(&made_public(&account.id, &named)).unwrap();
    assert_eq!(target.resource_type, "AwsEc2Snapshot");
    assert_eq!(
        target.resource_id,
        format!("arn:aws:ec2:{REGION}::snapshot/{named}")
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains(&named) && change.summary.contains("444455556666"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(snaps.permissions(&named).await, ["444455556666"]);
    assert_eq!(snaps.permissions(&other).await, ["all"]);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(snaps.permissions(&named).await, ["444455556666", "all"]);

    // Public again: what the change left is gone; a second undo refuses.
    assert_undo_refused(&action, &target, &params, &change).await;

    // The scanner lists each public snapshot as a target of its own.
    let mut listed: Vec<String> = action
        .discover(&account.id, REGION)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.resource_type, "AwsEc2Snapshot");
            t.resource_name().to_string()
        })
        .collect();
    listed.sort();
    let mut want = vec![named.clone(), other.clone()];
    want.sort();
    assert_eq!(listed, want);
    // The share breaker's count: every snapshot of the account, public or not.
    let _private = snaps.make(None).await;
    assert_eq!(action.inventory(&target, &params).await.unwrap(), Some(3));
}

/// A snapshot backing a public AMI: intent, naming the AMI.
#[tokio::test]
async fn a_public_amis_snapshot_is_intent() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let (ami, snapshot) = public_ami(&ec2, &unique("published")).await;
    let snaps = Snapshots {
        ec2: ec2.clone(),
        volume: String::new(),
    };
    snaps.share(&snapshot, None).await;

    let action = Ec2MakeSnapshotsPrivate::new(account.aws().await);
    let target = action.target(&made_public(&account.id, &snapshot)).unwrap();
    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &json!({}), &observed);
    assert_eq!(intent.len(), 1, "{intent:?}");
    assert!(
        intent[0].contains(&format!("backs public AMI {ami}")),
        "{intent:?}"
    );
    assert_eq!(snaps.permissions(&snapshot).await, ["all"]);
}

/// Excepted snapshots stay public and are reported as left in place; an
/// account-level finding (Security Hub's EC2.1) changes nothing and lists
/// every public snapshot.
#[tokio::test]
async fn excepted_snapshots_and_account_findings_are_left_in_place() {
    let account = Account::new().await;
    let snaps = Snapshots::new(&account).await;
    let published = snaps.make(Some("rectify:public-snapshot")).await;
    let public = snaps.make(None).await;
    let private = snaps.make(None).await;
    snaps.share(&published, None).await;
    snaps.share(&public, None).await;

    let action = Ec2MakeSnapshotsPrivate::new(account.aws().await);
    let params = json!({});
    let target = action
        .target(&made_public(&account.id, &published))
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    // Nothing for the action to do, but the finding is not fixed.
    assert!(observed.compliant);
    let left = action.left_in_place(&target, &params, &observed);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].contains(&published) && left[0].contains("rectify:public-snapshot"),
        "{left:?}"
    );
    assert_eq!(
        observed.tags.get("rectify:public-snapshot"),
        Some(&json!("yes"))
    );

    let whole = account_finding_target(&action, &account.id, "EC2.1");
    assert_eq!(whole.resource_type, "AwsAccount");
    let observed = action.check(&whole, &params).await.unwrap();
    assert!(observed.compliant);
    assert_eq!(
        observed.state,
        json!({"public_snapshots": [public], "excepted": [published]})
    );
    let left = action.left_in_place(&whole, &params, &observed);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].contains(&public) && left[0].contains("rectify scan"));
    assert!(action.plan(&whole, &params, &observed).is_err());
    assert_eq!(snaps.permissions(&public).await, ["all"]);
    assert_eq!(snaps.permissions(&published).await, ["all"]);
    assert!(snaps.permissions(&private).await.is_empty());
}
