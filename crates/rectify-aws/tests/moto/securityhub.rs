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
        severity: None,
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

// ---------------------------------------------------------------------------
// The new Security Hub's OCSF findings: GetFindingsV2 and
// BatchUpdateFindingsV2. moto has neither; the stand-in checks each request
// against the service model. OCSF findings come from AWS services (there is
// no import call), so the test puts them into the stand-in directly.
// ---------------------------------------------------------------------------

/// POSTs a JSON body to the stand-in's test-only endpoint.
fn standin_post(url: &str, path: &str, body: &Value) -> Value {
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://").expect("http URL");
    let text = body.to_string();
    let mut sock = std::net::TcpStream::connect(host).unwrap();
    write!(
        sock,
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    serde_json::from_str(body).unwrap()
}

fn ocsf_finding(account: &str, uid: &str, bucket: &str) -> Value {
    serde_json::json!({
        "class_uid": 2003, "class_name": "Compliance Finding",
        "metadata": {"uid": uid, "product": {"uid": format!("arn:aws:securityhub:{REGION}::productv2/aws/securityhub")}},
        "finding_info": {"uid": format!("fi-{uid}"), "title": "S3 general purpose buckets should block public access"},
        "cloud": {"account": {"uid": account}, "region": REGION, "provider": "AWS"},
        "compliance": {"control": "S3.8", "status": "Fail"},
        "resources": [{"uid": format!("arn:aws:s3:::{bucket}"), "type": "AWS::S3::Bucket"}],
        "status_id": 1, "status": "New", "severity_id": 4, "severity": "High"
    })
}

/// The OCSF finding as the test's own client reads it.
async fn read_v2(hub: &aws_sdk_securityhub::Client, uid: &str) -> Value {
    use aws_sdk_securityhub::types::{
        CompositeFilter, OcsfFindingFilters, OcsfStringField, OcsfStringFilter,
    };
    let out = hub
        .get_findings_v2()
        .filters(
            OcsfFindingFilters::builder()
                .composite_filters(
                    CompositeFilter::builder()
                        .string_filters(
                            OcsfStringFilter::builder()
                                .field_name(OcsfStringField::MetadataUid)
                                .filter(
                                    StringFilter::builder()
                                        .value(uid)
                                        .comparison(StringFilterComparison::Equals)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.findings().len(), 1, "{uid}");
    document_json(&out.findings()[0])
}

fn document_json(d: &aws_smithy_types::Document) -> Value {
    use aws_smithy_types::{Document, Number};
    match d {
        Document::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), document_json(v)))
                .collect(),
        ),
        Document::Array(a) => Value::Array(a.iter().map(document_json).collect()),
        Document::Number(Number::PosInt(n)) => serde_json::json!(n),
        Document::Number(Number::NegInt(n)) => serde_json::json!(n),
        Document::Number(Number::Float(f)) => serde_json::json!(f),
        Document::String(s) => Value::String(s.clone()),
        Document::Bool(b) => Value::Bool(*b),
        Document::Null => Value::Null,
    }
}

fn v2_requests(url: &str, operation: &str, uid: &str) -> Vec<Value> {
    let log: Value = serde_json::from_str(&http_get(&format!("{url}/_standin/requests"))).unwrap();
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == operation && r["body"].to_string().contains(uid))
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_ocsf_finding_is_read_back_then_resolved_through_v2() {
    let Some(url) = standin() else { return };
    let hub = client(&url).await;
    let account = Account::new().await;
    let uid = unique("ocsf");
    let bucket = unique("b");
    standin_post(
        &url,
        "/_standin/findings-v2",
        &serde_json::json!({"Findings": [ocsf_finding(&account.id, &uid, &bucket)]}),
    );
    let updater = SecurityHubUpdater::new(Arc::new(Aws::new(settings(vec![])).await));

    // The read-back before the update: the finding the job judged.
    let live = updater.read_finding_v2(&uid, REGION).await.unwrap();
    let live = live.expect("the stand-in holds the finding");
    assert_eq!(live["metadata"]["uid"], Value::String(uid.clone()));
    assert_eq!(live["cloud"]["account"]["uid"], account.id.as_str());
    assert_eq!(live["compliance"]["control"], "S3.8");
    assert!(live.get("comment").is_none(), "{live}");
    let prefix = "rectify rule s3-bucket-block-public-access (";

    let comment = format!(
        "{prefix}aws.s3.block-public-access): changed: {}",
        "é".repeat(600)
    );
    updater
        .update_finding_v2(&uid, REGION, Some(4), &comment)
        .await
        .unwrap();

    // Read back with the test's own client.
    let after = read_v2(&hub, &uid).await;
    assert_eq!(after["status_id"], 4, "{after}");
    assert_eq!(after["status"], "Resolved");
    let text = after["comment"].as_str().unwrap();
    assert_eq!(text.chars().count(), 512);
    assert!(text.starts_with(prefix) && text.ends_with('…'), "{text}");
    // What rectify reads before a second update: already settled.
    let again = updater
        .read_finding_v2(&uid, REGION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again["status_id"], 4);
    assert!(again["comment"].as_str().unwrap().starts_with(prefix));

    // Both requests were valid against the service model.
    let reads = v2_requests(&url, "GetFindingsV2", &uid);
    let writes = v2_requests(&url, "BatchUpdateFindingsV2", &uid);
    assert!(!reads.is_empty());
    assert_eq!(writes.len(), 1, "{writes:?}");
    for r in reads.iter().chain(&writes) {
        assert_eq!(r["valid"], Value::Bool(true), "{r}");
    }
    assert_eq!(writes[0]["body"]["MetadataUids"], serde_json::json!([uid]));
    assert_eq!(writes[0]["body"]["StatusId"], 4);
}

#[tokio::test]
async fn notified_ocsf_findings_keep_their_status_and_unknown_ones_are_errors() {
    let Some(url) = standin() else { return };
    let hub = client(&url).await;
    let account = Account::new().await;
    let uid = unique("ocsf");
    standin_post(
        &url,
        "/_standin/findings-v2",
        &serde_json::json!({"Findings": [ocsf_finding(&account.id, &uid, &unique("b"))]}),
    );
    let updater = SecurityHubUpdater::new(Arc::new(Aws::new(settings(vec![])).await));

    // No status given (NOTIFIED has no OCSF twin): the comment alone.
    updater
        .update_finding_v2(
            &uid,
            REGION,
            None,
            "rectify rule r (a): left in place: port 3306",
        )
        .await
        .unwrap();
    let after = read_v2(&hub, &uid).await;
    assert_eq!(after["status_id"], 1, "{after}");
    assert_eq!(
        after["comment"],
        "rectify rule r (a): left in place: port 3306"
    );
    let writes = v2_requests(&url, "BatchUpdateFindingsV2", &uid);
    assert_eq!(writes.len(), 1);
    assert!(writes[0]["body"].get("StatusId").is_none(), "{}", writes[0]);

    // A finding Security Hub does not hold: nothing to read, and the update
    // is reported unprocessed, an error.
    let unknown = unique("ocsf");
    assert_eq!(
        updater.read_finding_v2(&unknown, REGION).await.unwrap(),
        None
    );
    let err = updater
        .update_finding_v2(&unknown, REGION, Some(4), "x")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound, "{}", err.message);
    assert!(
        err.message.contains("ResourceNotFoundException") && err.message.contains(&unknown),
        "{}",
        err.message
    );
    // A status the API does not know is refused before anything changes.
    let err = updater
        .update_finding_v2(&uid, REGION, Some(7), "x")
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid, "{}", err.message);
    assert!(
        err.message
            .starts_with("securityhub:BatchUpdateFindingsV2: ValidationException"),
        "{}",
        err.message
    );
    assert_eq!(read_v2(&hub, &uid).await["status_id"], 1);
}
