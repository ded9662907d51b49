use super::*;
use serde_json::json;

fn finding(id: &str) -> serde_json::Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": id,
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "AwsAccountId": "111122223333",
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}]
    })
}

fn imported(findings: Vec<serde_json::Value>) -> serde_json::Value {
    json!({
        "version": "0",
        "id": "ev-1",
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": "111122223333",
        "time": "2026-11-29T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:securityhub:us-east-1::product/aws/securityhub/f"],
        "detail": {"findings": findings}
    })
}

fn parse(text: &str) -> Result<Vec<Event>, IngestError> {
    parse_body(text.as_bytes(), &Limits::default())
}

#[test]
fn one_event_with_three_findings_becomes_three_events() {
    let body = imported(vec![finding("a"), finding("b"), finding("c")]).to_string();
    let events = parse(&body).unwrap();
    assert_eq!(events.len(), 3);
    for (i, (event, id)) in events.iter().zip(["a", "b", "c"]).enumerate() {
        assert_eq!(event.id, format!("ev-1#{i}"));
        assert_eq!(event.body["id"], event.id.as_str());
        let findings = event.body["detail"]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0]["Id"], id);
        assert_eq!(event.finding().unwrap().id, id);
    }
}

#[test]
fn a_single_finding_keeps_its_event_id() {
    let events = parse(&imported(vec![finding("a")]).to_string()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, "ev-1");
    assert_eq!(events[0].source, "aws.securityhub");
    assert_eq!(events[0].account, "111122223333");
    assert_eq!(events[0].resources.len(), 1);
}

#[test]
fn other_detail_types_are_not_fanned_out() {
    let mut event = imported(vec![finding("a"), finding("b")]);
    event["detail-type"] = json!("Security Hub Insight Results");
    let events = parse(&event.to_string()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].body["detail"]["findings"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn arrays_and_json_lines() {
    let a = imported(vec![finding("a")]);
    let mut b = imported(vec![finding("b")]);
    b["id"] = json!("ev-2");
    let array = json!([a, b]).to_string();
    assert_eq!(parse(&array).unwrap().len(), 2);
    let lines = format!("{a}\n\n{b}\n");
    let events = parse(&lines).unwrap();
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["ev-1", "ev-2"]
    );
}

#[test]
fn malformed_json_names_the_byte_offset() {
    let err = parse(r#"{"source": "x", "detail-type": }"#).unwrap_err();
    assert_eq!(
        err,
        IngestError::Malformed {
            offset: 31,
            message: "expected value".into()
        }
    );
    // In JSON lines the offset counts from the start of the body.
    let good = imported(vec![finding("a")]).to_string();
    let body = format!("{good}\n{{\"source\": tru}}\n");
    match parse(&body).unwrap_err() {
        IngestError::Malformed { offset, .. } => {
            assert!(offset > good.len() && offset < body.len(), "{offset}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_and_non_utf8_bodies_are_refused() {
    assert_eq!(parse("  \n").unwrap_err(), IngestError::Empty);
    assert!(matches!(
        parse_body(b"{\"a\": \"\xff\"}", &Limits::default()).unwrap_err(),
        IngestError::Malformed { offset: 7, .. }
    ));
}

#[test]
fn oversized_events_are_refused() {
    let mut f = finding("a");
    f["Description"] = json!("x".repeat(MAX_EVENT_BYTES));
    let err = parse(&imported(vec![f]).to_string()).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::TooLarge {
                index: 0,
                limit: MAX_EVENT_BYTES,
                ..
            }
        ),
        "{err}"
    );
    // Just under the limit is fine.
    let small = imported(vec![finding("a")]).to_string();
    let limits = Limits {
        max_event_bytes: small.len(),
        ..Limits::default()
    };
    assert!(parse_body(small.as_bytes(), &limits).is_ok());
    let limits = Limits {
        max_event_bytes: small.len() - 1,
        ..Limits::default()
    };
    assert!(parse_body(small.as_bytes(), &limits).is_err());
}

#[test]
fn envelope_fields_are_checked() {
    let cases = [
        (
            json!({"detail-type": "x", "detail": {}}),
            "source",
            "missing",
        ),
        (
            json!({"source": "x", "detail": {}}),
            "detail-type",
            "missing",
        ),
        (
            json!({"source": "x", "detail-type": "y"}),
            "detail",
            "missing",
        ),
        (
            json!({"source": "x", "detail-type": "y", "detail": []}),
            "detail",
            "expected an object",
        ),
        (
            json!({"source": 1, "detail-type": "y", "detail": {}}),
            "source",
            "expected a string",
        ),
        (
            json!({"source": "x", "detail-type": "y", "detail": {}, "resources": [1]}),
            "resources[0]",
            "expected a string",
        ),
    ];
    for (event, field, message) in cases {
        match parse(&event.to_string()).unwrap_err() {
            IngestError::Invalid {
                field: f,
                message: m,
                ..
            } => {
                assert_eq!(f, field);
                assert!(m.contains(message), "{m}");
            }
            other => panic!("{event}: {other:?}"),
        }
    }
    let err = parse("[1]").unwrap_err();
    assert!(
        err.to_string()
            .contains("event 0: field `(event)`: expected a JSON object"),
        "{err}"
    );
}

#[test]
fn a_missing_id_is_derived_from_the_bytes() {
    let body = r#"{"source": "x", "detail-type": "y", "detail": {}}"#;
    let a = parse(body).unwrap();
    let b = parse(body).unwrap();
    assert!(a[0].id.starts_with("sha256:"));
    assert_eq!(a[0].id, b[0].id);
}

#[test]
fn sns_notifications_are_unwrapped() {
    let inner = imported(vec![finding("a"), finding("b")]).to_string();
    let sns = json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:111122223333:findings",
        "Message": inner,
    });
    let events = parse(&sns.to_string()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].finding().unwrap().id, "b");
}

#[test]
fn shared_sample_findings_parse_as_asff() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asff");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let raw = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let findings = match value.get("detail") {
            Some(d) => d["findings"].as_array().cloned().unwrap_or_default(),
            None => vec![value.clone()],
        };
        for f in findings {
            let typed: rectify_model::Finding = serde_json::from_value(f.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!typed.id.is_empty());
            assert_eq!(typed.aws_account_id.len(), 12, "{}", path.display());
            assert!(!typed.resources.is_empty());
            // Every field survives a round trip, typed or not.
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                f,
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 6, "only {seen} sample findings");
}

#[test]
fn bare_findings_and_get_findings_answers_get_an_envelope() {
    let one = parse(&finding("a").to_string()).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].source, "aws.securityhub");
    assert_eq!(one[0].detail_type, "Security Hub Findings - Imported");
    assert_eq!(one[0].account, "111122223333");
    assert_eq!(one[0].region, "us-east-1");
    assert_eq!(one[0].finding().unwrap().id, "a");
    assert!(one[0].id.starts_with("asff:"));
    // The same finding twice gives the same event id (redelivery dedupe).
    assert_eq!(parse(&finding("a").to_string()).unwrap()[0].id, one[0].id);

    let answer = json!({"Findings": [finding("a"), finding("b")], "NextToken": "x"}).to_string();
    let events = parse(&answer).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.finding().unwrap().id.clone())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let array = json!([finding("c"), finding("d")]).to_string();
    assert_eq!(parse(&array).unwrap().len(), 2);

    // Every shared sample finding goes through as an event.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asff");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let events = parse_body(&std::fs::read(&path).unwrap(), &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(events.len(), 1, "{}", path.display());
    }
}

/// An event as EventBridge sends it keeps the text it was parsed from (it
/// is stored as received); one that ingest changed does not.
#[test]
fn only_unchanged_events_keep_their_received_text() {
    let one = serde_json::to_string_pretty(&imported(vec![finding("a")])).unwrap();
    let events = parse(&format!("[{one}, {one}]")).unwrap();
    for event in &events {
        let text = event.received_text().expect("a plain event keeps its text");
        assert_eq!(&**text, one.as_str());
        let reparsed: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(reparsed, event.body);
    }
    // Split into one event per finding: each body differs from the text.
    let split = parse(&imported(vec![finding("a"), finding("b")]).to_string()).unwrap();
    assert!(split.iter().all(|e| e.received_text().is_none()));
    // A bare finding gets an envelope; an SNS notification loses one.
    let bare = parse(&finding("a").to_string()).unwrap();
    assert!(bare[0].received_text().is_none());
    let sns = json!({
        "Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:111122223333:t",
        "Message": imported(vec![finding("a")]).to_string(),
    });
    let unwrapped = parse(&sns.to_string()).unwrap();
    assert_eq!(unwrapped[0].id, "ev-1");
    assert!(unwrapped[0].received_text().is_none());
    // A clone may be changed: it forgets the text.
    assert!(events[0].clone().received_text().is_none());
}

/// The error for a body, which must be refused.
fn refused(body: &str) -> IngestError {
    parse(body).expect_err("the body must be refused")
}

#[test]
fn an_import_with_more_than_100_findings_is_refused_naming_the_event() {
    let hundred: Vec<_> = (0..100).map(|i| finding(&format!("f{i}"))).collect();
    assert_eq!(
        parse(&imported(hundred.clone()).to_string()).unwrap().len(),
        100
    );

    let mut over = hundred;
    over.push(finding("f100"));
    let body = json!([imported(vec![finding("ok")]), imported(over)]).to_string();
    let err = refused(&body);
    assert_eq!(
        err,
        IngestError::TooManyFindings {
            index: 1,
            findings: 101,
            limit: 100
        }
    );
    assert_eq!(err.index(), Some(1));
    assert!(
        err.to_string().starts_with("event 1 holds 101 findings"),
        "{err}"
    );
}

#[test]
fn the_events_per_body_cap_counts_findings_after_the_split() {
    assert_eq!(Limits::default().max_events, 10_000);
    let limits = Limits {
        max_events: 5,
        ..Limits::default()
    };
    let three = imported((0..3).map(|i| finding(&format!("f{i}"))).collect());
    let two = json!([three, three]).to_string();
    assert_eq!(
        parse_body(two.as_bytes(), &limits).unwrap_err(),
        IngestError::TooManyEvents { limit: 5 }
    );
    let body = json!([three, imported(vec![finding("x"), finding("y")])]).to_string();
    assert_eq!(parse_body(body.as_bytes(), &limits).unwrap().len(), 5);

    // Too many events before any split: refused before each is parsed.
    let lines: String = (0..10_001)
        .map(|i| {
            format!("{{\"source\":\"s\",\"detail-type\":\"t\",\"id\":\"e{i}\",\"detail\":{{}}}}\n")
        })
        .collect();
    assert_eq!(
        refused(&lines),
        IngestError::TooManyEvents { limit: 10_000 }
    );
}

#[test]
fn a_nul_character_anywhere_is_refused_naming_the_event_and_where() {
    let mut bad = imported(vec![finding("a")]);
    bad["id"] = json!("ev-nul");
    bad["detail"]["findings"][0]["Title"] = json!("bucket\u{0}name");
    let body = json!([imported(vec![finding("ok")]), bad]).to_string();
    assert!(body.contains("\\u0000"), "{body}");
    match refused(&body) {
        IngestError::Unstorable { index, id, reason } => {
            assert_eq!(index, 1);
            assert_eq!(id.as_deref(), Some("ev-nul"));
            assert!(reason.contains("detail.findings[0].Title"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // In a key, in a non-Security Hub event, and inside an SNS message.
    let key = r#"{"source":"s","detail-type":"t","detail":{"a\u0000b":1}}"#;
    assert!(matches!(
        refused(key),
        IngestError::Unstorable { index: 0, .. }
    ));
    let message = json!({"source": "s", "detail-type": "t", "detail": {"x": "\u{0}"}}).to_string();
    let sns = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": message});
    let err = refused(&sns.to_string());
    assert!(err.to_string().contains("detail.x"), "{err}");
    // An escaped backslash followed by "u0000" is no NUL.
    let text = r#"{"source":"s","detail-type":"t","detail":{"x":"\\u0000"}}"#;
    assert_eq!(parse(text).unwrap().len(), 1);
}

#[test]
fn findings_without_a_usable_id_or_product_arn_are_refused() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!(""), "`Id` is empty"),
        (json!(12), "`Id` must be a string, found a number"),
        (json!(null), "`Id` must be a string, found null"),
        (
            json!("x".repeat(513)),
            "`Id` is 513 bytes; the limit is 512",
        ),
    ];
    for (id, want) in cases {
        let mut f = finding("ignored");
        f["Id"] = id;
        let body = json!([
            imported(vec![finding("ok")]),
            imported(vec![finding("a"), f])
        ]);
        match refused(&body.to_string()) {
            IngestError::Unstorable { index, reason, .. } => {
                assert_eq!(index, 1);
                assert_eq!(reason, format!("finding 1: {want}"));
            }
            other => panic!("{want}: {other:?}"),
        }
    }
    let mut f = finding("a");
    f.as_object_mut().unwrap().remove("ProductArn");
    match refused(&imported(vec![f]).to_string()) {
        IngestError::Unstorable { index, id, reason } => {
            assert_eq!((index, id.as_deref()), (0, Some("a")));
            assert_eq!(reason, "finding 0: `ProductArn` is missing");
        }
        other => panic!("{other:?}"),
    }
    let mut f = finding("a");
    f["ProductArn"] = json!("");
    assert!(refused(&imported(vec![f]).to_string())
        .to_string()
        .contains("`ProductArn` is empty"));
    let err = refused(&imported(vec![json!("not a finding")]).to_string());
    assert!(err.to_string().contains("found a string"), "{err}");
    // A bare finding with an empty Id gets its envelope, then is refused.
    let mut bare = finding("");
    bare["SchemaVersion"] = json!("2018-10-08");
    assert!(matches!(
        refused(&bare.to_string()),
        IngestError::Unstorable { index: 0, .. }
    ));
    // 512 bytes is still fine.
    assert_eq!(
        parse(&imported(vec![finding(&"x".repeat(512))]).to_string())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn event_ids_must_be_strings_of_at_most_512_bytes() {
    let mut e = imported(vec![finding("a")]);
    e["id"] = json!(7);
    match refused(&e.to_string()) {
        IngestError::Unstorable { index, id, reason } => {
            assert_eq!((index, id), (0, None));
            assert_eq!(reason, "the event id must be a string, found a number");
        }
        other => panic!("{other:?}"),
    }
    e["id"] = json!("e".repeat(513));
    let err = refused(&e.to_string());
    assert!(
        err.to_string().contains("the event id is 513 bytes"),
        "{err}"
    );
    // The id quoted in the message is cut short.
    assert!(err.to_string().len() < 400, "{err}");
    e["id"] = json!("e".repeat(512));
    assert_eq!(parse(&e.to_string()).unwrap().len(), 1);
}

#[test]
fn other_events_need_no_finding_fields() {
    let guardduty = json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding",
                           "detail": {"findings": [{"no": "id"}]}});
    assert_eq!(parse(&guardduty.to_string()).unwrap().len(), 1);
}

#[test]
fn a_custom_action_on_several_findings_becomes_one_event_per_finding() {
    let mut event = imported(vec![finding("a"), finding("b")]);
    event["detail-type"] = json!("Security Hub Findings - Custom Action");
    event["resources"] =
        json!(["arn:aws:securityhub:us-east-1:111122223333:action/custom/Remediate"]);
    event["detail"]["actionName"] = json!("Remediate");
    event["detail"]["actionDescription"] = json!("Fix it with rectify");
    let events = parse(&event.to_string()).unwrap();
    assert_eq!(events.len(), 2);
    for (i, (e, id)) in events.iter().zip(["a", "b"]).enumerate() {
        assert_eq!(e.id, format!("ev-1#{i}"));
        assert_eq!(e.finding().unwrap().id, id);
        assert_eq!(e.body["detail"]["actionName"], "Remediate");
    }
    // Over 100 findings is refused as for an import.
    let mut many = event.clone();
    many["detail"]["findings"] = json!((0..101)
        .map(|i| finding(&format!("f{i}")))
        .collect::<Vec<_>>());
    assert!(matches!(
        parse(&many.to_string()),
        Err(IngestError::TooManyFindings { .. })
    ));
}

#[test]
fn ocsf_findings_of_the_new_security_hub_are_taken() {
    let ocsf = json!({
        "class_uid": 2003, "class_name": "Compliance Finding",
        "metadata": {"uid": "arn:aws:securityhub:us-east-1:111122223333:finding/1", "product": {"name": "Security Hub"}},
        "compliance": {"control": "S3.8", "status": "Fail"},
        "cloud": {"account": {"uid": "111122223333"}, "region": "us-east-1"},
        "resources": [{"uid": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]
    });
    let body = json!({
        "version": "0", "id": "v2-1", "detail-type": "Findings Imported V2",
        "source": "aws.securityhub", "account": "111122223333", "time": "2026-12-05T10:00:00Z",
        "region": "us-east-1", "resources": ["e51603d1054aad9d"],
        "detail": {"findings": [ocsf]}
    });
    let events = parse(&body.to_string()).unwrap();
    assert_eq!(events.len(), 1);
    // Not ASFF: no typed finding, but the event is kept whole.
    assert!(events[0].finding().is_none());
    assert_eq!(
        events[0].body["detail"]["findings"][0]["compliance"]["control"],
        "S3.8"
    );
}

#[test]
fn a_finding_without_a_consolidated_id_is_stored_as_received() {
    // CIS v1.2.0 4.1: routing sees EC2.13, the event stored is the one sent.
    let mut f = finding("a");
    f["GeneratorId"] =
        json!("arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/4.1");
    f["Compliance"] = json!({"Status": "FAILED"});
    f["ProductFields"] = json!({"StandardsGuideArn": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0", "RuleId": "4.1"});
    let text = imported(vec![f]).to_string();
    let events = parse(&text).unwrap();
    assert_eq!(events[0].received_text().map(|t| &**t), Some(text.as_str()));
    assert!(events[0].body["detail"]["findings"][0]["Compliance"]
        .get("SecurityControlId")
        .is_none());
    assert_eq!(
        events[0]
            .routing_body()
            .pointer("/detail/findings/0/Compliance/SecurityControlId"),
        Some(&json!("EC2.13"))
    );
    assert_eq!(events[0].finding().unwrap().control_id(), Some("EC2.13"));
}

#[test]
fn bare_ocsf_findings_get_the_v2_envelope() {
    let ocsf = json!({
        "class_uid": 2003, "metadata": {"uid": "arn:aws:securityhub:us-east-1:111122223333:finding/1"},
        "compliance": {"control": "S3.8", "status": "Fail"},
        "cloud": {"account": {"uid": "111122223333"}, "region": "us-east-1"},
        "resources": [{"uid": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]
    });
    for body in [
        ocsf.clone(),
        json!({"Findings": [ocsf.clone(), finding("asff-1")]}),
    ] {
        let events = parse(&body.to_string()).unwrap();
        assert_eq!(events[0].detail_type, "Findings Imported V2");
        assert_eq!(events[0].source, "aws.securityhub");
        assert_eq!(events[0].account, "111122223333");
        assert_eq!(events[0].region, "us-east-1");
        assert!(events[0].id.starts_with("ocsf:"), "{}", events[0].id);
        assert_eq!(events[0].body["detail"]["findings"][0], ocsf);
        if events.len() == 2 {
            // An ASFF finding in the same answer keeps its own envelope.
            assert_eq!(events[1].detail_type, "Security Hub Findings - Imported");
        }
    }
}

#[test]
fn events_carrying_rectifys_own_sources_are_refused_from_outside() {
    // HTTP, SQS and Lambda all parse bodies here: one door for all three.
    for source in ["rectify.detector", "rectify.scanner"] {
        let forged = json!({
            "version": "0", "id": "forged-1", "source": source,
            "detail-type": "Security Hub Findings - Imported", "account": "111122223333",
            "region": "us-east-1", "time": "2026-12-06T07:00:00Z", "resources": [],
            "detail": {"findings": [finding("rectify-detector/guardduty-disabled/x")]},
        });
        // Alone, after a good event in an array, and in JSON lines.
        let good = imported(vec![finding("a")]);
        for body in [
            forged.to_string(),
            json!([good, forged]).to_string(),
            format!("{good}\n{forged}\n"),
        ] {
            let err = parse_body(body.as_bytes(), &Limits::default()).unwrap_err();
            assert!(
                matches!(&err, IngestError::ReservedSource { name, .. } if name == source),
                "{err}"
            );
            assert!(
                err.to_string().contains("never taken from outside"),
                "{err}"
            );
        }
        // `rectify test` fixtures may hold them.
        let allowed = Limits {
            allow_own_sources: true,
            ..Limits::default()
        };
        assert_eq!(
            parse_body(forged.to_string().as_bytes(), &allowed)
                .unwrap()
                .len(),
            1
        );
    }
}
