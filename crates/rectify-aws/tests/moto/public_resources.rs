//! Resources shared with the public, against moto: RDS snapshots (RDS.1),
//! RDS DB instances (RDS.2), Lambda function policies (Lambda.1) and SSM
//! documents (SSM.4, SSM.7). Each change, its intent checks and its undo,
//! every write read back with the test's own SDK client.

use rectify_aws::actions::rds::make_instance_private::RdsMakeInstancePrivate;
use rectify_aws::actions::rds::make_snapshots_private::RdsMakeSnapshotsPrivate;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{
    account_finding_target, api_call, assert_fixed_with_nothing_to_do, assert_undo_refused,
    config_evaluation, finding_event, finding_target, unique, Account, REGION,
};

// ---- RDS.1 ----------------------------------------------------------------

pub(crate) async fn new_instance(account: &Account, public: bool) -> String {
    let name = unique("db").to_lowercase();
    account
        .rds()
        .create_db_instance()
        .db_instance_identifier(&name)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin1")
        .master_user_password("a-long-password-1")
        .allocated_storage(20)
        .publicly_accessible(public)
        .send()
        .await
        .unwrap();
    name
}

pub(crate) async fn new_snapshot(account: &Account, instance: &str, tag: Option<&str>) -> String {
    let name = unique("snap").to_lowercase();
    let mut request = account
        .rds()
        .create_db_snapshot()
        .db_instance_identifier(instance)
        .db_snapshot_identifier(&name);
    if let Some(key) = tag {
        request = request.tags(
            aws_sdk_rds::types::Tag::builder()
                .key(key)
                .value("yes")
                .build(),
        );
    }
    request.send().await.unwrap();
    name
}

pub(crate) async fn share_snapshot(account: &Account, snapshot: &str, with: &[&str]) {
    account
        .rds()
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier(snapshot)
        .attribute_name("restore")
        .set_values_to_add(Some(with.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .unwrap();
}

/// The `restore` values of a DB snapshot, sorted, read by the test.
pub(crate) async fn restore_of(account: &Account, snapshot: &str) -> Vec<String> {
    let out = account
        .rds()
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier(snapshot)
        .send()
        .await
        .unwrap();
    let mut values: Vec<String> = out
        .db_snapshot_attributes_result()
        .unwrap()
        .db_snapshot_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("restore"))
        .flat_map(|a| a.attribute_values().to_vec())
        .collect();
    values.sort();
    values
}

pub(crate) fn snapshot_arn(account: &str, kind: &str, name: &str) -> String {
    format!("arn:aws:rds:{REGION}:{account}:{kind}:{name}")
}

/// RDS.1 from a Security Hub finding: `all` removed, the account shared by
/// name keeps access (read back); the undo gives `all` back; an undo after
/// a later change is refused.
#[tokio::test]
async fn rds_snapshot_made_private_keeps_named_accounts_and_is_undone() {
    let account = Account::new().await;
    let instance = new_instance(&account, false).await;
    let snapshot = new_snapshot(&account, &instance, None).await;
    share_snapshot(&account, &snapshot, &["all", "444455556666"]).await;
    let action = RdsMakeSnapshotsPrivate::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "RDS.1",
        "AwsRdsDbSnapshot",
        &snapshot_arn(&account.id, "snapshot", &snapshot),
    );
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("keeps access (444455556666)"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(restore_of(&account, &snapshot).await, ["444455556666"]);

    // Compliant now: a second check plans no change.
    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);
    assert!(action
        .plan(&target, &params, &again)
        .unwrap()
        .summary
        .contains("is not public"));

    let undo = action
        .revert_plan(&target, &params, &change, &again)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        restore_of(&account, &snapshot).await,
        ["444455556666", "all"]
    );

    // Public again since: the first change's state is gone, undo refused.
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// RDS.1 from a CloudTrail call and from a Config evaluation: the snapshot
/// they name is the target; a snapshot tagged public on purpose asks for
/// approval; a snapshot ARN of another account is refused.
#[tokio::test]
async fn rds_snapshot_targets_and_intent() {
    let account = Account::new().await;
    let instance = new_instance(&account, false).await;
    let snapshot = new_snapshot(&account, &instance, Some("rectify:public-snapshot")).await;
    share_snapshot(&account, &snapshot, &["all"]).await;
    let action = RdsMakeSnapshotsPrivate::new(account.aws().await);
    let params = json!({});

    let call = api_call(
        &account.id,
        "aws.rds",
        "ModifyDBSnapshotAttribute",
        json!({"dBSnapshotIdentifier": snapshot, "attributeName": "restore",
               "valuesToAdd": ["all"]}),
    );
    let target = action.target(&call).unwrap();
    assert_eq!(
        (target.resource_type.as_str(), target.resource_id.clone()),
        (
            "AwsRdsDbSnapshot",
            snapshot_arn(&account.id, "snapshot", &snapshot)
        )
    );
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let reasons = action.intent(&target, &params, &observed);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("rectify:public-snapshot"));
    assert_eq!(restore_of(&account, &snapshot).await, ["all"]);

    let config = config_evaluation(
        &account.id,
        "rds-snapshots-public-prohibited",
        "AWS::RDS::DBSnapshot",
        &snapshot,
    );
    assert_eq!(
        action.target(&config).unwrap().resource_id,
        target.resource_id
    );

    let foreign = api_call(
        &account.id,
        "aws.rds",
        "ModifyDBSnapshotAttribute",
        json!({"dBSnapshotIdentifier": snapshot_arn("444455556666", "snapshot", "s")}),
    );
    assert!(action.target(&foreign).is_err());

    // The scanner finds the public snapshot.
    let found = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].resource_id, target.resource_id);
}

/// RDS.1 for a DB cluster snapshot: made private through
/// ModifyDBClusterSnapshotAttribute (read back), and undone.
#[tokio::test]
async fn rds_cluster_snapshot_made_private_and_undone() {
    let account = Account::new().await;
    let rds = account.rds();
    let cluster = unique("cl").to_lowercase();
    rds.create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("admin1")
        .master_user_password("a-long-password-1")
        .send()
        .await
        .unwrap();
    let snapshot = unique("csnap").to_lowercase();
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier(&cluster)
        .db_cluster_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    rds.modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier(&snapshot)
        .attribute_name("restore")
        .values_to_add("all")
        .send()
        .await
        .unwrap();
    let restore = || async {
        let out = account
            .rds()
            .describe_db_cluster_snapshot_attributes()
            .db_cluster_snapshot_identifier(&snapshot)
            .send()
            .await
            .unwrap();
        out.db_cluster_snapshot_attributes_result()
            .unwrap()
            .db_cluster_snapshot_attributes()
            .iter()
            .flat_map(|a| a.attribute_values().to_vec())
            .collect::<Vec<String>>()
    };
    let action = RdsMakeSnapshotsPrivate::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "RDS.1",
        "AwsRdsDbClusterSnapshot",
        &snapshot_arn(&account.id, "cluster-snapshot", &snapshot),
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("DB cluster snapshot"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert!(restore().await.is_empty(), "{:?}", restore().await);

    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(restore().await, ["all"]);
}

// ---- RDS.2 ----------------------------------------------------------------

pub(crate) async fn publicly_accessible(account: &Account, instance: &str) -> bool {
    account
        .rds()
        .describe_db_instances()
        .db_instance_identifier(instance)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .publicly_accessible()
        .unwrap()
}

/// RDS.2: approval by default; PubliclyAccessible turned off (read back);
/// the undo turns it on again; an undo after a later change is refused.
#[tokio::test]
async fn rds_instance_made_private_and_undone() {
    let account = Account::new().await;
    let instance = new_instance(&account, true).await;
    let action = RdsMakeInstancePrivate::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let target = finding_target(
        &action,
        &account.id,
        "RDS.2",
        "AwsRdsDbInstance",
        &format!("arn:aws:rds:{REGION}:{}:db:{instance}", account.id),
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains("clients on the internet lose access"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert!(!publicly_accessible(&account, &instance).await);

    // Compliant now: nothing more to do.
    let now = action.check(&target, &params).await.unwrap();
    assert!(now.compliant);
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(publicly_accessible(&account, &instance).await);

    assert_undo_refused(&action, &target, &params, &change).await;
}

/// RDS.2 intent: a security group that opens the database's port to the
/// internet says it is reached from there on purpose; a CloudTrail
/// ModifyDBInstance call and a Config evaluation by resource id name the
/// instance; the scanner lists the public instance.
#[tokio::test]
async fn rds_instance_open_to_the_internet_asks_and_targets_resolve() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let vpc = ec2
        .describe_vpcs()
        .send()
        .await
        .unwrap()
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id().map(str::to_string));
    let mut group = ec2
        .create_security_group()
        .group_name(unique("db"))
        .description("db");
    if let Some(vpc) = vpc {
        group = group.vpc_id(vpc);
    }
    let group = group.send().await.unwrap().group_id.unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let name = unique("db").to_lowercase();
    account
        .rds()
        .create_db_instance()
        .db_instance_identifier(&name)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin1")
        .master_user_password("a-long-password-1")
        .allocated_storage(20)
        .publicly_accessible(true)
        .vpc_security_group_ids(&group)
        .send()
        .await
        .unwrap();
    let action = RdsMakeInstancePrivate::new(account.aws().await);
    let params = json!({});
    let call = api_call(
        &account.id,
        "aws.rds",
        "ModifyDBInstance",
        json!({"dBInstanceIdentifier": name, "publiclyAccessible": true}),
    );
    let target = action.target(&call).unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let reasons = action.intent(&target, &params, &observed);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains(&format!("{group} allows port 5432 from 0.0.0.0/0")),
        "{reasons:?}"
    );
    assert!(publicly_accessible(&account, &name).await);

    // Config names instances by resource id.
    let resource_id = account
        .rds()
        .describe_db_instances()
        .db_instance_identifier(&name)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .dbi_resource_id()
        .unwrap()
        .to_string();
    let config = config_evaluation(
        &account.id,
        "rds-instance-public-access-check",
        "AWS::RDS::DBInstance",
        &resource_id,
    );
    let by_id = action.target(&config).unwrap();
    let checked = action.check(&by_id, &params).await.unwrap();
    assert_eq!(checked.state["instance"], name.as_str());

    let found = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].resource_id.ends_with(&format!(":db:{name}")));
}

// ---- Lambda.1 -------------------------------------------------------------

/// An empty zip archive (its end-of-central-directory record alone): the
/// code of the test functions, which are never invoked.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub(crate) async fn new_function(account: &Account) -> String {
    let role = account
        .iam()
        .create_role()
        .role_name(unique("fn"))
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let name = unique("fn");
    account
        .lambda()
        .create_function()
        .function_name(&name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    name
}

/// The function's policy statements by Sid, read by the test.
pub(crate) async fn statements_of(account: &Account, function: &str) -> Vec<(String, Value)> {
    let policy = match account
        .lambda()
        .get_policy()
        .function_name(function)
        .send()
        .await
    {
        Ok(out) => serde_json::from_str::<Value>(out.policy().unwrap()).unwrap(),
        Err(_) => return Vec::new(),
    };
    let mut all: Vec<(String, Value)> = policy["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_string(), s))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn sids(statements: &[(String, Value)]) -> Vec<&str> {
    statements.iter().map(|(s, _)| s.as_str()).collect()
}

/// Lambda.1: the statement open to anyone is removed, the one narrowed by
/// aws:SourceAccount and the one naming an account stay (read back); the
/// undo re-adds it with its principal and action; an undo after the Sid
/// was taken again is refused.
#[tokio::test]
async fn lambda_public_statement_removed_others_kept_and_undone() {
    use rectify_aws::actions::lambda::remove_public_permissions::LambdaRemovePublicPermissions;
    let account = Account::new().await;
    let function = new_function(&account).await;
    let lambda = account.lambda();
    let add = |sid: &str, principal: &str| {
        lambda
            .add_permission()
            .function_name(&function)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
    };
    add("open", "*").send().await.unwrap();
    add("narrowed", "*")
        .source_account(&account.id)
        .send()
        .await
        .unwrap();
    add("partner", "444455556666").send().await.unwrap();
    let action = LambdaRemovePublicPermissions::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "Lambda.1",
        "AwsLambdaFunction",
        &format!("arn:aws:lambda:{REGION}:{}:function:{function}", account.id),
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("remove the statement open"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert_eq!(
        sids(&statements_of(&account, &function).await),
        ["narrowed", "partner"]
    );

    let now = action.check(&target, &params).await.unwrap();
    assert!(now.compliant);
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    let back = statements_of(&account, &function).await;
    assert_eq!(sids(&back), ["narrowed", "open", "partner"]);
    let open = &back.iter().find(|(s, _)| s == "open").unwrap().1;
    assert_eq!(open["Principal"], "*");
    assert_eq!(open["Action"], "lambda:InvokeFunction");

    // Public again since: an undo of the first change is refused.
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// Lambda.1 intent: a public function URL statement and an S3 statement
/// with no aws:SourceAccount ask for approval (nothing is removed by the
/// check); an S3 statement with aws:SourceAccount is not public. A
/// CloudTrail AddPermission call and a Config evaluation name the function.
#[tokio::test]
async fn lambda_function_url_and_service_statements_ask_first() {
    use rectify_aws::actions::lambda::remove_public_permissions::LambdaRemovePublicPermissions;
    let account = Account::new().await;
    let function = new_function(&account).await;
    let lambda = account.lambda();
    lambda
        .add_permission()
        .function_name(&function)
        .statement_id("url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name(&function)
        .statement_id("bucket")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name(&function)
        .statement_id("own-bucket")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_account(&account.id)
        .send()
        .await
        .unwrap();
    let action = LambdaRemovePublicPermissions::new(account.aws().await);
    let call = api_call(
        &account.id,
        "aws.lambda",
        "AddPermission20150331v2",
        json!({"functionName": function, "statementId": "url", "action": "lambda:InvokeFunctionUrl",
               "principal": "*", "functionUrlAuthType": "NONE"}),
    );
    let target = action.target(&call).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let public: Vec<&str> = observed.state["public"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(public, ["url", "bucket"]);
    let reasons = action.intent(&target, &params, &observed);
    assert!(
        reasons.iter().any(|r| r.contains("public function URL")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("lets s3.amazonaws.com invoke it")),
        "{reasons:?}"
    );
    // Nothing written by the check.
    assert_eq!(
        sids(&statements_of(&account, &function).await),
        ["bucket", "own-bucket", "url"]
    );

    let config = config_evaluation(
        &account.id,
        "lambda-function-public-access-prohibited",
        "AWS::Lambda::Function",
        &function,
    );
    assert_eq!(
        action.target(&config).unwrap().resource_id,
        target.resource_id
    );
    let foreign = api_call(
        &account.id,
        "aws.lambda",
        "AddPermission20150331v2",
        json!({"functionName": "arn:aws:lambda:us-east-1:444455556666:function:f", "principal": "*"}),
    );
    assert!(action.target(&foreign).is_err());
}

// ---- SSM.4 and SSM.7 ------------------------------------------------------

pub(crate) async fn new_document(account: &Account, tag: Option<&str>) -> String {
    let name = unique("Ops-Doc");
    let mut request = account
        .ssm()
        .create_document()
        .name(&name)
        .document_type(aws_sdk_ssm::types::DocumentType::Command)
        .content(
            json!({"schemaVersion": "2.2", "description": "restart",
                "mainSteps": [{"action": "aws:runShellScript", "name": "restart",
                    "inputs": {"runCommand": ["true"]}}]})
            .to_string(),
        );
    if let Some(key) = tag {
        request = request.tags(
            aws_sdk_ssm::types::Tag::builder()
                .key(key)
                .value("yes")
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
    name
}

/// Who a document is shared with, read by the test.
pub(crate) async fn shared_with(account: &Account, document: &str) -> Vec<String> {
    let mut ids = account
        .ssm()
        .describe_document_permission()
        .name(document)
        .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
        .send()
        .await
        .unwrap()
        .account_ids()
        .to_vec();
    ids.sort();
    ids
}

pub(crate) async fn share_document(account: &Account, document: &str) {
    account
        .ssm()
        .modify_document_permission()
        .name(document)
        .permission_type(aws_sdk_ssm::types::DocumentPermissionType::Share)
        .account_ids_to_add("All")
        .send()
        .await
        .unwrap();
}

/// SSM.4: a public document stops being public (read back); the undo
/// shares it with everyone again; an undo after a later change is refused.
#[tokio::test]
async fn ssm_document_made_private_and_undone() {
    use rectify_aws::actions::ssm::make_document_private::SsmMakeDocumentPrivate;
    let account = Account::new().await;
    let document = new_document(&account, None).await;
    share_document(&account, &document).await;
    assert_eq!(shared_with(&account, &document).await, ["All"]);
    let action = SsmMakeDocumentPrivate::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "SSM.4",
        "AwsSsmDocument",
        &format!("arn:aws:ssm:{REGION}:{}:document/{document}", account.id),
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert!(shared_with(&account, &document).await.is_empty());

    let now = action.check(&target, &params).await.unwrap();
    assert!(now.compliant);
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(shared_with(&account, &document).await, ["All"]);

    assert_undo_refused(&action, &target, &params, &change).await;
}

/// SSM.4 intent: a document tagged as shared on purpose asks for approval;
/// a CloudTrail ModifyDocumentPermission call and a Config evaluation name
/// the document.
#[tokio::test]
async fn ssm_document_shared_on_purpose_asks_first() {
    use rectify_aws::actions::ssm::make_document_private::SsmMakeDocumentPrivate;
    let account = Account::new().await;
    let document = new_document(&account, Some("public")).await;
    share_document(&account, &document).await;
    let action = SsmMakeDocumentPrivate::new(account.aws().await);
    let call = api_call(
        &account.id,
        "aws.ssm",
        "ModifyDocumentPermission",
        json!({"name": document, "permissionType": "Share", "accountIdsToAdd": ["All"]}),
    );
    let target = action.target(&call).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    let reasons = action.intent(&target, &params, &observed);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("tag public"), "{reasons:?}");
    assert_eq!(shared_with(&account, &document).await, ["All"]);
    let config = config_evaluation(
        &account.id,
        "ssm-document-not-public",
        "AWS::SSM::Document",
        &document,
    );
    assert_eq!(
        action.target(&config).unwrap().resource_id,
        target.resource_id
    );
}

/// The setting SSM.7 is about.
const PUBLIC_SHARING: &str = "/ssm/documents/console/public-sharing-permission";

/// The public sharing setting's value, status and last modifying user, read
/// by the test. moto 5.2.5 lacks the service-setting calls: they are the
/// stand-in of tests/standins/moto_ssm_extras.py, checked against
/// botocore's model of SSM.
pub(crate) async fn public_sharing(account: &Account) -> (String, String, Option<String>) {
    let out = account
        .ssm()
        .get_service_setting()
        .setting_id(PUBLIC_SHARING)
        .send()
        .await
        .unwrap();
    let s = out.service_setting().unwrap();
    (
        s.setting_value().unwrap().to_string(),
        s.status().unwrap().to_string(),
        s.last_modified_user().map(str::to_string),
    )
}

/// Sets the public sharing setting with the test's own client.
pub(crate) async fn set_public_sharing(account: &Account, value: &str) {
    account
        .ssm()
        .update_service_setting()
        .setting_id(PUBLIC_SHARING)
        .setting_value(value)
        .send()
        .await
        .unwrap();
}

fn default_sharing() -> (String, String, Option<String>) {
    ("Enable".into(), "Default".into(), None)
}

/// SSM.7 (against the service-setting stand-in, moto_ssm_extras.py): the
/// default (sharing allowed) is blocked and read back as Disable; a
/// dry run (check and plan, no apply) changes nothing; the undo resets the
/// setting to its default (read back); a second undo is refused.
#[tokio::test]
async fn ssm_public_sharing_blocked_read_back_and_reset_by_the_undo() {
    use rectify_aws::actions::ssm::block_public_document_sharing::SsmBlockPublicDocumentSharing;
    let account = Account::new().await;
    let action = SsmBlockPublicDocumentSharing::new(account.aws().await);
    let target = account_finding_target(&action, &account.id, "SSM.7");
    let params = json!({});
    assert_eq!(public_sharing(&account).await, default_sharing());
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(listed[0].resource_id, target.resource_id);

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"value": "Enable", "status": "Default"})
    );
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("set to Disable"),
        "{}",
        change.summary
    );
    // Dry run: the plan is all; the setting is as it was.
    assert_eq!(public_sharing(&account).await, default_sharing());

    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let (value, status, user) = public_sharing(&account).await;
    assert_eq!((value.as_str(), status.as_str()), ("Disable", "Customized"));
    assert!(user.is_some());
    let after = assert_fixed_with_nothing_to_do(&action, &target, &params).await;

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(
        undo.summary.contains("reset to its default"),
        "{}",
        undo.summary
    );
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(public_sharing(&account).await, default_sharing());
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// SSM.7: an account that already blocks public sharing is left alone
/// (no write: the last modifying user is still the test's own); a
/// setting a person chose (Enable, customised) is restored by the undo as
/// that value, not reset; and after a person opens it again, the undo is
/// refused rather than overwrite their change.
#[tokio::test]
async fn ssm_public_sharing_compliant_left_alone_and_a_chosen_value_restored() {
    use rectify_aws::actions::ssm::block_public_document_sharing::SsmBlockPublicDocumentSharing;
    let account = Account::new().await;
    let action = SsmBlockPublicDocumentSharing::new(account.aws().await);
    let target = account_finding_target(&action, &account.id, "SSM.7");
    let params = json!({});

    set_public_sharing(&account, "Disable").await;
    let mine = public_sharing(&account).await;
    let observed = action.check(&target, &params).await.unwrap();
    assert!(observed.compliant);
    let noop = action.plan(&target, &params, &observed).unwrap();
    assert!(noop.summary.contains("already blocked"), "{}", noop.summary);
    action.apply(&target, &params, &noop).await.unwrap();
    assert_eq!(public_sharing(&account).await, mine);

    // Sharing allowed on purpose (a value of its own, not the default).
    set_public_sharing(&account, "Enable").await;
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(public_sharing(&account).await.0, "Disable");
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    assert!(undo.summary.contains("set to Enable"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    let (value, status, _) = public_sharing(&account).await;
    assert_eq!((value.as_str(), status.as_str()), ("Enable", "Customized"));

    // Fixed again, then opened by a person: the undo is refused and the
    // person's value stays.
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    set_public_sharing(&account, "Enable").await;
    assert_undo_refused(&action, &target, &params, &change).await;
    assert_eq!(public_sharing(&account).await.0, "Enable");
}

/// SSM.7 exemption: a service setting has no tags, so the check reports
/// none and the exemption tag can only come with the finding (its account
/// resource's tags), which the target carries for the engine to skip.
#[tokio::test]
async fn ssm_public_sharing_exemption_comes_with_the_finding() {
    use rectify_aws::actions::ssm::block_public_document_sharing::SsmBlockPublicDocumentSharing;
    let account = Account::new().await;
    let action = SsmBlockPublicDocumentSharing::new(account.aws().await);
    let mut event = finding_event(
        &account.id,
        "SSM.7",
        "AwsAccount",
        &format!("AWS::::Account:{}", account.id),
        Value::Null,
    );
    event.body["detail"]["findings"][0]["Resources"][0]["Tags"] =
        json!({"rectify:exempt": "CHG-9: public runbooks"});
    let target = action.target(&event).unwrap();
    assert_eq!(target.tags["rectify:exempt"], "CHG-9: public runbooks");
    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    assert!(observed.tags.is_empty());
    assert_eq!(public_sharing(&account).await, default_sharing());
}
