use serde_json::{json, Value};

use super::*;

fn spec(v: Value) -> Spec {
    Spec::from_value(&v).unwrap_or_else(|e| panic!("{e:?}"))
}

fn failed_login(n: u32, ip: &str, user: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "eventType": "AwsConsoleSignIn", "eventTime": format!("2026-11-30T08:00:{:02}Z", n),
        "eventID": format!("e{n}"), "awsRegion": "us-east-1", "sourceIPAddress": ip,
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "principalId": "", "accountId": "111122223333", "accessKeyId": "", "userName": user},
        "responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication",
    })
}

fn brute_force(count: u64) -> Spec {
    spec(json!({
        "id": "brute", "title": "Brute force", "severity": "HIGH",
        "technique": {"id": "T1110", "name": "Brute Force", "tactic": "Credential Access"},
        "pattern": {"source": ["aws.signin"], "detail-type": ["AWS Console Sign In via CloudTrail"],
                    "detail": {"responseElements": {"ConsoleLogin": ["Failure"]}}},
        "threshold": {"count": count, "window_seconds": 600, "group_by": ["source_ip"]},
    }))
}

#[test]
fn one_pattern_serves_log_file_records_and_eventbridge_events() {
    let mut d = SignatureDetector::new(vec![brute_force(1)], &Settings::default()).unwrap();
    let bare = failed_login(1, "192.0.2.1", "admin");
    assert_eq!(d.observe(Record::new(&bare)).len(), 1);
    // The same record as EventBridge delivers it.
    let event = json!({"detail-type": "AWS Console Sign In via CloudTrail", "source": "aws.signin",
                       "detail": failed_login(2, "192.0.2.2", "admin")});
    let found = crate::records(&event);
    assert_eq!(d.observe(Record::new(found[0])).len(), 1);
}

#[test]
fn a_threshold_fires_once_per_key_and_window() {
    let mut d = SignatureDetector::new(vec![brute_force(5)], &Settings::default()).unwrap();
    let mut fired = Vec::new();
    for n in 0..4 {
        fired.extend(d.observe(Record::new(&failed_login(n, "192.0.2.1", "admin"))));
    }
    assert!(fired.is_empty(), "below the threshold");
    // Another address does not add to the first one's count.
    fired.extend(d.observe(Record::new(&failed_login(4, "192.0.2.9", "admin"))));
    assert!(fired.is_empty());
    for n in 5..20 {
        fired.extend(d.observe(Record::new(&failed_login(n, "192.0.2.1", "admin"))));
    }
    assert_eq!(
        fired.len(),
        1,
        "one detection for the window, not one per record past it"
    );
    let det = &fired[0];
    assert_eq!(det.count, 5);
    assert_eq!(
        det.evidence["eventIDs"],
        json!(["e0", "e1", "e2", "e3", "e5"])
    );
    assert_eq!(det.technique.as_ref().unwrap().id, "T1110");
    assert!(det.key.starts_with("192.0.2.1/"), "{}", det.key);
    assert_eq!(det.first_seen, "2026-11-30T08:00:00Z");
}

#[test]
fn records_outside_the_window_do_not_count() {
    let mut d = SignatureDetector::new(vec![brute_force(3)], &Settings::default()).unwrap();
    let mut at = |minute: u32, n: u32| {
        let mut r = failed_login(n, "192.0.2.1", "admin");
        r["eventTime"] = json!(format!("2026-11-30T08:{minute:02}:00Z"));
        d.observe(Record::new(&r))
    };
    assert!(at(0, 1).is_empty());
    assert!(at(5, 2).is_empty());
    // Eleven minutes after the first: the first has left the window.
    assert!(at(11, 3).is_empty());
    assert_eq!(at(12, 4).len(), 1);
}

#[test]
fn tracked_keys_are_capped_and_the_oldest_goes() {
    let settings = Settings {
        max_keys: 100,
        ..Settings::default()
    };
    let mut d = SignatureDetector::new(vec![brute_force(2)], &settings).unwrap();
    // One failure from each of 1,000 addresses: state stays bounded.
    for n in 0..1000u32 {
        let ip = format!("10.0.{}.{}", n / 250, n % 250);
        assert!(d
            .observe(Record::new(&failed_login(n % 60, &ip, "admin")))
            .is_empty());
    }
    assert!(d.tracked_keys() <= 100, "{}", d.tracked_keys());
    // A recent address still counts; the first one was forgotten.
    assert_eq!(
        d.observe(Record::new(&failed_login(1, "10.0.3.249", "admin")))
            .len(),
        1
    );
    assert!(d
        .observe(Record::new(&failed_login(1, "10.0.0.0", "admin")))
        .is_empty());
}

#[test]
fn distinct_values_count_once() {
    let s = spec(json!({
        "id": "secrets", "title": "Secrets", "severity": "HIGH",
        "technique": {"id": "T1555.006", "name": "x", "tactic": "Credential Access"},
        "pattern": {"source": ["aws.secretsmanager"], "detail": {"eventName": ["GetSecretValue", "BatchGetSecretValue"]}},
        "threshold": {"count": 3, "window_seconds": 600, "group_by": ["principal"],
                      "distinct": ["requestParameters.secretId", "requestParameters.secretIdList"]},
    }));
    let mut d = SignatureDetector::new(vec![s], &Settings::default()).unwrap();
    let read = |n: u32, request: Value| {
        json!({"eventSource": "secretsmanager.amazonaws.com", "eventName": if request.get("secretIdList").is_some() {"BatchGetSecretValue"} else {"GetSecretValue"},
               "eventTime": format!("2026-11-30T08:00:{n:02}Z"), "eventID": format!("s{n}"),
               "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/app/x",
                                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/app"}}},
               "requestParameters": request})
    };
    for n in 0..10 {
        assert!(d
            .observe(Record::new(&read(n, json!({"secretId": "db"}))))
            .is_empty());
    }
    assert!(d
        .observe(Record::new(&read(10, json!({"secretId": "api"}))))
        .is_empty());
    // A batch naming two more makes three distinct.
    let found = d.observe(Record::new(&read(
        11,
        json!({"secretIdList": ["db", "smtp"]}),
    )));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].principal.as_deref(),
        Some("arn:aws:iam::1:role/app")
    );
}

fn admin_pair() -> Spec {
    spec(json!({
        "id": "admin-user", "title": "New admin", "severity": "HIGH",
        "technique": {"id": "T1136.003", "name": "x", "tactic": "Persistence"},
        "pattern": {"source": ["aws.iam"], "detail": {"eventName": ["AttachUserPolicy"],
                    "requestParameters": {"policyArn": [{"suffix": "/AdministratorAccess"}]}}},
        "paired_with": {"pattern": {"source": ["aws.iam"], "detail": {"eventName": ["CreateUser"]}},
                        "within_seconds": 3600, "key": "requestParameters.userName"},
        "resource": {"type": "AwsIamUser", "fields": ["requestParameters.userName"],
                     "arn": "arn:{partition}:iam::{account}:user/{value}"},
    }))
}

fn iam(name: &str, user: &str, time: &str, extra: Value) -> Value {
    let mut request = json!({"userName": user});
    if let Value::Object(m) = extra {
        request.as_object_mut().unwrap().extend(m);
    }
    json!({"eventSource": "iam.amazonaws.com", "eventName": name, "eventTime": time,
           "eventID": format!("{name}-{user}"), "recipientAccountId": "111122223333",
           "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory", "userName": "mallory"},
           "requestParameters": request})
}

#[test]
fn a_pairing_fires_in_either_order_within_the_window() {
    let admin = json!({"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"});
    let mut d = SignatureDetector::new(vec![admin_pair()], &Settings::default()).unwrap();
    // Attach logged before create (same second), as real logs show.
    assert!(d
        .observe(Record::new(&iam(
            "AttachUserPolicy",
            "evil",
            "2026-11-30T08:00:00Z",
            admin.clone()
        )))
        .is_empty());
    let found = d.observe(Record::new(&iam(
        "CreateUser",
        "evil",
        "2026-11-30T08:00:00Z",
        json!({}),
    )));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].resources[0].id,
        "arn:aws:iam::111122223333:user/evil"
    );
    assert_eq!(found[0].count, 2);
    // Admin given to a user created long before: no pairing.
    assert!(d
        .observe(Record::new(&iam(
            "CreateUser",
            "old",
            "2026-11-30T01:00:00Z",
            json!({})
        )))
        .is_empty());
    assert!(d
        .observe(Record::new(&iam(
            "AttachUserPolicy",
            "old",
            "2026-11-30T08:00:00Z",
            admin
        )))
        .is_empty());
    // Read-only given to a new user: the main pattern does not match.
    let ro = json!({"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"});
    assert!(d
        .observe(Record::new(&iam(
            "CreateUser",
            "new",
            "2026-11-30T08:00:00Z",
            json!({})
        )))
        .is_empty());
    assert!(d
        .observe(Record::new(&iam(
            "AttachUserPolicy",
            "new",
            "2026-11-30T08:00:01Z",
            ro
        )))
        .is_empty());
}

#[test]
fn hostile_records_are_read_without_panics() {
    let mut d = SignatureDetector::new(crate::pack::builtin(), &Settings::default()).unwrap();
    let odd = [
        json!({"eventSource": "iam.amazonaws.com", "eventName": "UpdateAssumeRolePolicy", "requestParameters": {"policyDocument": "%7B%ZZ"}}),
        json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateRole", "requestParameters": {"assumeRolePolicyDocument": 5}}),
        json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy", "requestParameters": {"bucketPolicy": {"Statement": "x"}}}),
        json!({"eventSource": "ec2.amazonaws.com", "eventName": "ModifySnapshotAttribute", "requestParameters": {"createVolumePermission": {"add": {"items": [[], null, {"userId": 7}]}}}}),
        json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventTime": "not a time", "userIdentity": "root"}),
        json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketLifecycle", "requestParameters": {"bucketName": ["a"], "LifecycleConfiguration": {"Rule": [1, "x"]}}}),
    ];
    for r in &odd {
        let _ = d.observe(Record::new(r));
    }
    // An id too long to store is hashed in the finding id.
    let long = json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
                      "eventID": "x".repeat(10_000), "requestParameters": {"name": "t"}});
    let found = d.observe(Record::new(&long));
    assert_eq!(found.len(), 1);
    assert!(
        found[0].finding_id().len() < 200,
        "{}",
        found[0].finding_id().len()
    );
}

#[test]
fn specs_are_checked_with_the_field_at_fault() {
    let bad = json!({
        "id": "Bad Id", "title": "", "severity": "SEVERE",
        "technique": {"id": "1110", "name": "x", "tactic": "y"},
        "pattern": {"detail": {"eventName": "StopLogging"}},
        "threshold": {"count": 0, "window_seconds": 100000, "group_by": ["resource"]},
    });
    let problems = Spec::from_value(&bad).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for f in [
        "id",
        "title",
        "severity",
        "technique.id",
        "pattern.detail.eventName",
        "threshold.count",
        "threshold.window_seconds",
        "threshold.group_by",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    let unknown = json!({"id": "x", "title": "x", "severity": "LOW",
        "technique": {"id": "T1110", "name": "x", "tactic": "y"}, "pattern": {"source": ["aws.iam"]}, "colour": "red"});
    let e = Spec::from_value(&unknown).unwrap_err();
    assert!(e[0].message.contains("unknown field `colour`"), "{e:?}");
}

#[test]
fn the_eventbridge_text_is_the_eventbridge_shape() {
    let r = failed_login(1, "192.0.2.1", "admin");
    let mut text = Vec::new();
    eventbridge_text(&Record::new(&r), &mut text);
    let parsed: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(parsed, eventbridge_shape(&Record::new(&r)));
    assert_eq!(parsed["source"], "aws.signin");
    assert_eq!(parsed["detail-type"], "AWS Console Sign In via CloudTrail");
    assert_eq!(parsed["account"], "111122223333");
}
