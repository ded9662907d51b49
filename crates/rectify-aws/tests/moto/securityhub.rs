use std::sync::Arc;

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Resource, Severity, SeverityLabel, StringFilter,
    StringFilterComparison,
};
use rectify_aws::{Aws, SecurityHubUpdater};
use rectify_model::{ErrorClass, FindingRef, FindingUpdater};
use serde_json::Value;

use crate::support::{harness, http_get, settings, test_sdk_config, unique, Account, REGION};

/// The stand-in's URL, or `None` (with the reason printed) when its file is
/// not there. A stand-in that exists but does not start fails the test.
fn standin() -> Option<String> {
    match &harness().securityhub_url {
        Ok(url) => Some(url.clone()),
        Err(reason) if reason.ends_with("is missing") => {
            eprintln!("SKIPPED: Security Hub stand-in unavailable: {reason}");
            None
        }
        Err(reason) => panic!("{reason}"),
    }
}

async fn client(url: &str) -> aws_sdk_securityhub::Client {
    let conf = aws_sdk_securityhub::config::Builder::from(&test_sdk_config().await)
        .endpoint_url(url)
        .build();
    aws_sdk_securityhub::Client::from_conf(conf)
}

fn finding(account: &str) -> FindingRef {
    FindingRef {
        id: format!(
            "arn:aws:securityhub:{REGION}:{account}:security-control/S3.8/finding/{}",
            unique("f")
        ),
        product_arn: format!("arn:aws:securityhub:{REGION}::product/aws/securityhub"),
        generator_id: None,
    }
}

async fn import(hub: &aws_sdk_securityhub::Client, account: &str, f: &FindingRef) {
    let now = "2025-01-01T00:00:00Z";
    let finding = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id("security-control/S3.8")
        .aws_account_id(account)
        .types("Software and Configuration Checks/Industry and Regulatory Standards")
        .created_at(now)
        .updated_at(now)
        .severity(Severity::builder().label(SeverityLabel::High).build())
        .title("S3 general purpose buckets should block public access")
        .description("S3.8")
        .resources(
            Resource::builder()
                .r#type("AwsS3Bucket")
                .id("arn:aws:s3:::b")
                .build(),
        )
        .build();
    let out = hub
        .batch_import_findings()
        .findings(finding)
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_count(), Some(0));
}

async fn read(hub: &aws_sdk_securityhub::Client, f: &FindingRef) -> AwsSecurityFinding {
    let out = hub
        .get_findings()
        .filters(
            AwsSecurityFindingFilters::builder()
                .id(StringFilter::builder()
                    .value(&f.id)
                    .comparison(StringFilterComparison::Equals)
                    .build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.findings().len(), 1);
    out.findings()[0].clone()
}

#[tokio::test]
async fn resolves_a_finding_with_a_note() {
    let Some(url) = standin() else { return };
    let hub = client(&url).await;
    let account = Account::new().await;
    let f = finding(&account.id);
    import(&hub, &account.id, &f).await;

    // Through a Security Hub role (assumed in moto), in the aggregator region.
    let mut s = settings(vec![]);
    s.securityhub_role_arn = Some(format!(
        "arn:aws:iam::{}:role/rectify-securityhub",
        account.id
    ));
    s.securityhub_region = Some("eu-west-1".into());
    let aws = Arc::new(Aws::new(s).await);
    let updater = SecurityHubUpdater::new(aws.clone());

    let note = format!(
        "rectify job-1: turned on Block Public Access. {}",
        "é".repeat(600)
    );
    updater
        .update_workflow(&f, "us-east-1", "RESOLVED", &note)
        .await
        .unwrap();
    assert_eq!(aws.assume_role_calls(), 1);

    let read_back = read(&hub, &f).await;
    assert_eq!(
        read_back.workflow().unwrap().status().unwrap().as_str(),
        "RESOLVED"
    );
    let n = read_back.note().unwrap();
    assert_eq!(n.updated_by(), Some("rectify"));
    let text = n.text().unwrap();
    assert_eq!(text.chars().count(), 512);
    assert!(text.starts_with("rectify job-1: turned on Block Public Access. éé"));
    assert!(text.ends_with('…'));

    // The stand-in checked the request against the service model.
    let log: Value = serde_json::from_str(&http_get(&format!("{url}/_standin/requests"))).unwrap();
    let mine: Vec<&Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["operation"] == "BatchUpdateFindings" && r["body"].to_string().contains(&f.id)
        })
        .collect();
    assert_eq!(mine.len(), 1, "{log}");
    assert_eq!(mine[0]["valid"], Value::Bool(true), "{}", mine[0]);
    assert_eq!(mine[0]["body"]["Workflow"]["Status"], "RESOLVED");
    assert_eq!(
        mine[0]["body"]["FindingIdentifiers"][0]["ProductArn"],
        Value::String(f.product_arn.clone())
    );

    // NOTIFIED with own credentials, short note, no role.
    let own = SecurityHubUpdater::new(Arc::new(Aws::new(settings(vec![])).await));
    own.update_workflow(&f, "us-east-1", "NOTIFIED", "waiting for approval")
        .await
        .unwrap();
    let read_back = read(&hub, &f).await;
    assert_eq!(
        read_back.workflow().unwrap().status().unwrap().as_str(),
        "NOTIFIED"
    );
    assert_eq!(
        read_back.note().unwrap().text(),
        Some("waiting for approval")
    );
}

#[tokio::test]
async fn rejected_updates_are_errors() {
    let Some(url) = standin() else { return };
    let hub = client(&url).await;
    let account = Account::new().await;
    let f = finding(&account.id);
    import(&hub, &account.id, &f).await;
    let updater = SecurityHubUpdater::new(Arc::new(Aws::new(settings(vec![])).await));

    // Not a workflow status: the service rejects the request.
    let err = updater
        .update_workflow(&f, REGION, "FIXED", "x")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid, "{}", err.message);
    assert!(
        err.message
            .starts_with("securityhub:BatchUpdateFindings: InvalidInputException"),
        "{}",
        err.message
    );

    // A finding Security Hub does not know: reported as unprocessed (only
    // a strict stand-in answers as Security Hub does).
    let health: Value = serde_json::from_str(&http_get(&format!("{url}/_standin/health"))).unwrap();
    if health["strict"] == Value::Bool(true) {
        let unknown = finding(&account.id);
        let err = updater
            .update_workflow(&unknown, REGION, "RESOLVED", "x")
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::NotFound, "{}", err.message);
        assert!(err.message.contains("FindingNotFound"), "{}", err.message);
        assert!(err.message.contains(&unknown.id), "{}", err.message);
    } else {
        eprintln!("the stand-in is not --strict: UnprocessedFindings not exercised");
    }
}

#[tokio::test]
async fn reads_a_controls_parameters_customised_or_default() {
    use aws_sdk_securityhub::types::{ParameterConfiguration, ParameterValue, ParameterValueType};

    let Some(url) = standin() else { return };
    let hub = client(&url).await;
    let updater = SecurityHubUpdater::new(Arc::new(Aws::new(settings(vec![])).await));
    let account = Account::new().await;

    // AWS's defaults.
    let iam = updater
        .control_parameters(&account.id, "IAM.7", REGION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(iam["MinimumPasswordLength"]["Value"]["Integer"], 8);
    assert_eq!(iam["MaxPasswordAge"]["ValueType"], "DEFAULT");
    // No parameters, or no such control: none.
    assert!(updater
        .control_parameters(&account.id, "EC2.19", REGION)
        .await
        .unwrap()
        .is_none());
    assert!(updater
        .control_parameters(&account.id, "EC2.999", REGION)
        .await
        .unwrap()
        .is_none());

    // Customised by a person (a superset of the default, so that other
    // tests running now see what they expect).
    hub.update_security_control()
        .security_control_id("EC2.18")
        .parameters(
            "authorizedTcpPorts",
            ParameterConfiguration::builder()
                .value_type(ParameterValueType::Custom)
                .value(ParameterValue::IntegerList(vec![80, 443, 8443]))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ec2 = updater
        .control_parameters(&account.id, "EC2.18", REGION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ec2["authorizedTcpPorts"]["ValueType"], "CUSTOM");
    assert_eq!(
        ec2["authorizedTcpPorts"]["Value"]["IntegerList"],
        serde_json::json!([80, 443, 8443])
    );

    // The request went through the service model.
    let log: Value = serde_json::from_str(&http_get(&format!("{url}/_standin/requests"))).unwrap();
    assert!(log["requests"].as_array().unwrap().iter().any(|r| {
        r["operation"] == "BatchGetSecurityControls"
            && r["valid"] == Value::Bool(true)
            && r["body"]["SecurityControlIds"] == serde_json::json!(["EC2.18"])
    }));
}
