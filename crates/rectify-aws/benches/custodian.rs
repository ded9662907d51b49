//! rectify's side of the comparison with Cloud Custodian
//! (`scripts/bench-custodian`, docs/performance.md "Calls per fix"): the
//! actions driven directly, one fix at a time, each timed alone: check,
//! plan, intent (none expected), apply, verify (the read-back must
//! comply). S3.8 with `aws.s3.block-public-access`, EC2.13 with
//! `aws.ec2.revoke-public-admin-ingress` (`ports: [22]`), in the account
//! the script prepared, reached through the role rectify assumes there.
//!
//! `custodian --resources FILE --account ID --from I --to J --out FILE`
//! writes `{"s3": [ms, ...], "ec2": [ms, ...]}`. `AWS_ENDPOINT_URL`
//! points at moto (or at the counting proxy).

use std::sync::Arc;
use std::time::Instant;

use rectify_aws::{AccountAccess, Aws, AwsSettings};
use rectify_model::{Action, Target};
use serde_json::{json, Value};

const REGION: &str = "us-east-1";

fn arg(args: &[String], name: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .unwrap_or_else(|| panic!("{name} is required"))
        .clone()
}

async fn fix(action: &dyn Action, target: &Target, params: &Value) -> f64 {
    let started = Instant::now();
    let observed = action.check(target, params).await.unwrap();
    assert!(
        !observed.compliant,
        "{}: already compliant",
        target.resource_id
    );
    let change = action.plan(target, params, &observed).unwrap();
    let intent = action.intent(target, params, &observed);
    assert!(intent.is_empty(), "{}: {intent:?}", target.resource_id);
    action.apply(target, params, &change).await.unwrap();
    let after = action.verify(target, params).await.unwrap();
    assert!(after.compliant, "{}: {}", target.resource_id, after.state);
    let _ = action.left_in_place(target, params, &after);
    started.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--resources") {
        // `cargo bench` without the script: nothing to measure against.
        eprintln!("run scripts/bench-custodian");
        return;
    }
    let resources: Value =
        serde_json::from_str(&std::fs::read_to_string(arg(&args, "--resources")).unwrap()).unwrap();
    let account = arg(&args, "--account");
    let from: usize = arg(&args, "--from").parse().unwrap();
    let to: usize = arg(&args, "--to").parse().unwrap();
    let out = arg(&args, "--out");

    let mut settings = AwsSettings::new(REGION);
    settings.accounts = vec![AccountAccess {
        id: account.clone(),
        role_arn: Some(format!("arn:aws:iam::{account}:role/rectify")),
        external_id: None,
    }];
    let aws = Arc::new(Aws::new(settings).await);
    // The role is assumed once, before the first fix (credentials are
    // cached for the run, as in production).
    aws.config_for(&account, REGION).await.unwrap();
    let catalog = rectify_aws::catalog(aws);
    let action = |id: &str| {
        catalog
            .iter()
            .find(|a| a.spec().id == id)
            .unwrap_or_else(|| panic!("{id} is not in the catalog"))
            .clone()
    };

    let ids = |key: &str| -> Vec<String> {
        resources["rectify"][key].as_array().unwrap()[from..to]
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let mut times = json!({"s3": [], "ec2": []});

    let s3 = action("aws.s3.block-public-access");
    for bucket in ids("buckets") {
        let target = Target::listed(
            &account,
            REGION,
            "AwsS3Bucket",
            format!("arn:aws:s3:::{bucket}"),
        );
        let ms = fix(s3.as_ref(), &target, &json!({})).await;
        times["s3"].as_array_mut().unwrap().push(json!(ms));
    }

    let ec2 = action("aws.ec2.revoke-public-admin-ingress");
    for group in ids("groups") {
        let target = Target::listed(
            &account,
            REGION,
            "AwsEc2SecurityGroup",
            format!("arn:aws:ec2:{REGION}:{account}:security-group/{group}"),
        );
        let ms = fix(ec2.as_ref(), &target, &json!({"ports": [22]})).await;
        times["ec2"].as_array_mut().unwrap().push(json!(ms));
    }
    std::fs::write(out, times.to_string()).unwrap();
}
