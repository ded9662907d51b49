//! The Security Hub source against the stand-in (GetFindings checked
//! against botocore's model): pages in update order, the cursor, the
//! overlap window read again without taking anything twice, filters.

use std::time::Duration;

use aws_sdk_securityhub::types::{AwsSecurityFinding, Resource, Severity, SeverityLabel};
use rectify_aws::{FindingFilters, PollSettings, SecurityHubSource};

use crate::support::{harness, test_sdk_config, unique, MemoryIntake, REGION};

fn at(ago: Duration) -> String {
    rectify_model::rfc3339_before(ago)
}

fn finding(product: &str, n: usize, updated: &str) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(format!(
            "arn:aws:securityhub:{REGION}:111122223333:security-control/S3.8/finding/{product}-{n}"
        ))
        .product_arn(format!(
            "arn:aws:securityhub:{REGION}::product/aws/securityhub"
        ))
        .product_name(product)
        .generator_id("security-control/S3.8")
        .aws_account_id("111122223333")
        .types("Software and Configuration Checks/Industry and Regulatory Standards")
        .created_at(updated)
        .updated_at(updated)
        .severity(Severity::builder().label(SeverityLabel::High).build())
        .title("S3 general purpose buckets should block public access")
        .description("S3.8")
        .resources(
            Resource::builder()
                .r#type("AwsS3Bucket")
                .id(format!("arn:aws:s3:::{product}-{n}"))
                .build(),
        )
        .build()
}

async fn import(hub: &aws_sdk_securityhub::Client, findings: Vec<AwsSecurityFinding>) {
    for chunk in findings.chunks(100) {
        let out = hub
            .batch_import_findings()
            .set_findings(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_count(), Some(0));
    }
}

fn ids(intake: &MemoryIntake) -> Vec<String> {
    intake
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|f| {
            f["Id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn polls_pages_in_update_order_and_takes_nothing_twice() {
    let url = match &harness().securityhub_url {
        Ok(url) => url.clone(),
        Err(reason) => panic!("{reason}"),
    };
    let config = test_sdk_config()
        .await
        .to_builder()
        .endpoint_url(&url)
        .build();
    let hub = aws_sdk_securityhub::Client::new(&config);
    // The product name keeps this test's findings apart from other tests'.
    let product = unique("poll");
    let mut findings: Vec<AwsSecurityFinding> = (0..150)
        .map(|n| finding(&product, n, &at(Duration::from_secs(600 - n as u64))))
        .collect();
    // Too old for the first poll, and another product's.
    findings.push(finding(&product, 900, &at(Duration::from_secs(7200))));
    findings.push(finding(&unique("other"), 1, &at(Duration::from_secs(60))));
    import(&hub, findings).await;

    let settings = PollSettings {
        interval: Duration::from_secs(60),
        overlap: Duration::from_secs(120),
        first_lookback: Duration::from_secs(3600),
        filters: FindingFilters {
            record_state: vec!["ACTIVE".into()],
            workflow_status: vec!["NEW".into()],
            product_name: vec![product.clone()],
            ..FindingFilters::default()
        },
    };
    // Through rectify's `Aws`, as `serve` builds it (the harness points
    // Security Hub at the stand-in).
    let aws = std::sync::Arc::new(rectify_aws::Aws::new(crate::support::settings(vec![])).await);
    let source = SecurityHubSource::new(aws, REGION, settings);
    let intake = MemoryIntake::default();
    let polled = source.poll_once(&intake).await.unwrap();
    assert_eq!((polled.pages, polled.findings), (2, 150));
    let expected: Vec<String> = (0..150).map(|n| format!("{product}-{n}")).collect();
    assert_eq!(ids(&intake), expected, "oldest first, each once");
    assert!(intake.origins.lock().unwrap().iter().all(|o| o == "poll"));
    // The findings are handed over as sent (the raw answer, not the SDK's
    // typed copy): the product name is there.
    assert_eq!(
        intake.taken.lock().unwrap()[0]["ProductName"],
        product.as_str()
    );
    let cursor = intake.cursors.lock().unwrap()["securityhub"].clone();
    let newest = rectify_model::parse_rfc3339(&at(Duration::from_secs(451))).unwrap();
    let saved = rectify_model::parse_rfc3339(&cursor).unwrap();
    // The newest finding's UpdatedAt (now - 451 s, give or take the run).
    assert!(
        (saved - newest).abs() < time::Duration::seconds(5),
        "{cursor}"
    );

    // Again: the overlap is read, nothing is taken twice.
    let polled = source.poll_once(&intake).await.unwrap();
    assert!(polled.findings < 150, "{polled:?}");
    assert_eq!(ids(&intake).len(), 150);

    // A finding updated since: taken once more, as its new generation.
    import(
        &hub,
        vec![finding(&product, 7, &at(Duration::from_secs(1)))],
    )
    .await;
    source.poll_once(&intake).await.unwrap();
    let all = ids(&intake);
    assert_eq!(all.len(), 151);
    assert_eq!(
        all.last().map(String::as_str),
        Some(format!("{product}-7").as_str())
    );
    let taken = intake.taken.lock().unwrap();
    assert_ne!(taken[7]["UpdatedAt"], taken[150]["UpdatedAt"]);
}
