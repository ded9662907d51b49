//! `aws.lambda.remove-public-permissions`: the statements of a Lambda
//! function policy that let anyone invoke it (Security Hub Lambda.1, a
//! critical control) are removed (`RemovePermission` by `Sid`): a principal
//! `*` (or `{"AWS": "*"}`), or the S3 service principal, with no condition
//! that narrows who (`aws:SourceAccount`, `aws:SourceArn`,
//! `aws:PrincipalOrgID`, `aws:SourceOwner`, `aws:PrincipalAccount`, fixed
//! values), as AWS Config's lambda-function-public-access-prohibited
//! evaluates. Every other statement stays. A statement for a public
//! function URL (`lambda:InvokeFunctionUrl`) or a service's invocations
//! waits for a person's approval: callers lose access. Each removed
//! statement is recorded and re-added by an undo (`AddPermission` with its
//! principal, action and conditions).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::event_resources::{bad_id, plain_name, target_of, Place};
use crate::actions::resource_policy::{grants_everyone, parse, statements, strings};
use crate::actions::{changed_since, client_for, recorded, takes_no_params};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.lambda.remove-public-permissions";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Remove the statements of a Lambda function policy that let anyone invoke the function; restricted statements stay.",
    controls: &["Lambda.1"],
    resource_types: &["AwsLambdaFunction"],
    account_wide: false,
    permissions: &[
        "lambda:GetPolicy",
        "lambda:RemovePermission",
        "lambda:AddPermission",
    ],
    params: &[],
    // Read the policy, remove one statement, read the policy back.
    calls_per_fix: 3,
    approval_by_default: false,
};

/// Condition keys that narrow who may invoke.
const NARROWING_KEYS: &[&str] = &[
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:principalorgid",
    "aws:sourceowner",
    "aws:principalaccount",
    "aws:sourceorgid",
];

/// Operators under which a narrowing key narrows (not `...IfExists`, not
/// the negations).
const NARROWING_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
];

/// Whether a statement's conditions narrow who may invoke to fixed
/// values, through one of `keys` (lower case).
fn narrowed(statement: &Value, keys: &[&str]) -> bool {
    let Some(ops) = statement["Condition"].as_object() else {
        return false;
    };
    ops.iter()
        .filter(|(op, _)| NARROWING_OPERATORS.contains(&op.as_str()))
        .filter_map(|(_, keys)| keys.as_object())
        .flat_map(|keys| keys.iter())
        .any(|(key, values)| {
            let values = strings(values);
            keys.contains(&key.to_ascii_lowercase().as_str())
                && !values.is_empty()
                && values
                    .iter()
                    .all(|v| !v.contains('*') && !v.contains('?') && !v.contains("${"))
        })
}

/// The service principals of a statement.
fn services(statement: &Value) -> Vec<&str> {
    match &statement["Principal"] {
        Value::Object(o) => o.get("Service").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether an `Allow` statement lets anyone invoke the function: a
/// principal `*` not narrowed, or S3 without the bucket owner's account
/// (a bucket ARN names no account: any account's bucket of that name).
fn is_public(statement: &Value) -> bool {
    if statement["Effect"].as_str() != Some("Allow") {
        return false;
    }
    let s3_keys: Vec<&str> = NARROWING_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "aws:sourcearn")
        .collect();
    (grants_everyone(statement) && !narrowed(statement, NARROWING_KEYS))
        || (services(statement).contains(&"s3.amazonaws.com") && !narrowed(statement, &s3_keys))
}

/// The function a target names: `(name, qualifier)`.
fn function_of(target: &Target) -> Result<(&str, Option<&str>), ActionError> {
    let id = target.resource_id.as_str();
    let (name, qualifier) = match id.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts[..] {
                [_, "lambda", _, _, "function", name] => (name, None),
                [_, "lambda", _, _, "function", name, q] => (name, Some(q)),
                _ => return Err(bad_id(ID, "Lambda function", target)),
            }
        }
        None => (id, None),
    };
    let name = plain_name(name, 64, "-_").ok_or_else(|| bad_id(ID, "Lambda function", target))?;
    match qualifier {
        Some(q) if plain_name(q, 128, "-_$").is_none() => {
            Err(bad_id(ID, "Lambda function", target))
        }
        q => Ok((name, q)),
    }
}

/// A function as a CloudTrail call or Config names it (a name, a partial
/// or a full ARN) as its ARN.
fn function_arn(place: &Place, id: &str) -> Option<String> {
    if id.starts_with("arn:") {
        return Some(id.to_string());
    }
    // `123456789012:function:name` (a partial ARN).
    if let [account, "function", name] = id.split(':').collect::<Vec<_>>()[..] {
        return Some(format!(
            "arn:{}:lambda:{}:{account}:function:{name}",
            place.partition, place.region
        ));
    }
    plain_name(id, 64, "-_").map(|name| {
        format!(
            "arn:{}:lambda:{}:{}:function:{name}",
            place.partition, place.region, place.account
        )
    })
}

/// The function's policy as `check` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PolicyState {
    function: String,
    #[serde(default)]
    qualifier: Option<String>,
    /// The statements that let anyone invoke, as the policy holds them.
    public: Vec<Value>,
    /// The `Sid` of every statement.
    sids: Vec<String>,
}

pub struct LambdaRemovePublicPermissions {
    aws: Arc<Aws>,
}

impl LambdaRemovePublicPermissions {
    pub fn new(aws: Arc<Aws>) -> Self {
        LambdaRemovePublicPermissions { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_lambda::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_lambda::Client::new).await
    }

    /// The function's policy: its public statements and every `Sid`. No
    /// policy at all: nothing public.
    async fn read(&self, target: &Target) -> Result<PolicyState, ActionError> {
        let (name, qualifier) = function_of(target)?;
        let lambda = self.client(target).await?;
        let out = lambda
            .get_policy()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await;
        let policy = match out {
            Ok(out) => parse(out.policy().unwrap_or("{}"), &format!("function {name}"))?,
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Value::Null,
            Err(e) => return Err(sdk_error_on("lambda:GetPolicy", name, e)),
        };
        let all = statements(&policy);
        Ok(PolicyState {
            function: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            public: all
                .iter()
                .filter(|s| is_public(s))
                .map(|s| (*s).clone())
                .collect(),
            sids: all
                .iter()
                .filter_map(|s| s["Sid"].as_str().map(str::to_string))
                .collect(),
        })
    }
}

/// What `AddPermission` needs to re-add a statement: its `Sid`, action,
/// principal, and each condition as the parameter that sets it.
#[derive(Debug, Default)]
struct Grant {
    sid: String,
    action: String,
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    principal_org_id: Option<String>,
    function_url_auth_type: Option<String>,
    event_source_token: Option<String>,
    invoked_via_function_url: Option<bool>,
}

/// The single string of a policy value (a string, or a list of one).
fn single(v: &Value) -> Option<String> {
    match (strings(v).as_slice(), v) {
        ([one], _) => Some(one.to_string()),
        (_, Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

impl Grant {
    /// The grant of `statement`, or why `AddPermission` cannot make it.
    fn of(statement: &Value) -> Result<Grant, String> {
        let sid = statement["Sid"].as_str().ok_or("a statement has no Sid")?;
        let action = single(&statement["Action"])
            .ok_or_else(|| format!("statement {sid:?} has not exactly one action"))?;
        let principal = match &statement["Principal"] {
            Value::Object(o) if o.len() == 1 => o.values().next().and_then(single),
            other => single(other),
        }
        .ok_or_else(|| format!("statement {sid:?} has not exactly one principal"))?;
        let mut grant = Grant {
            sid: sid.to_string(),
            action,
            principal,
            ..Grant::default()
        };
        for (op, keys) in statement["Condition"].as_object().into_iter().flatten() {
            for (key, value) in keys.as_object().into_iter().flatten() {
                let one = single(value).ok_or_else(|| {
                    format!("statement {sid:?}: condition {op} {key} has several values")
                })?;
                let slot = match (op.as_str(), key.to_ascii_lowercase().as_str()) {
                    ("ArnLike" | "ArnEquals", "aws:sourcearn") => &mut grant.source_arn,
                    ("StringEquals", "aws:sourceaccount") => &mut grant.source_account,
                    ("StringEquals", "aws:principalorgid") => &mut grant.principal_org_id,
                    ("StringEquals", "lambda:functionurlauthtype") => {
                        &mut grant.function_url_auth_type
                    }
                    ("StringEquals", "lambda:eventsourcetoken") => &mut grant.event_source_token,
                    ("Bool", "lambda:invokedviafunctionurl") => {
                        grant.invoked_via_function_url = Some(one == "true");
                        continue;
                    }
                    _ => {
                        return Err(format!(
                        "statement {sid:?}: condition {op} {key} cannot be given to AddPermission"
                    ))
                    }
                };
                *slot = Some(one);
            }
        }
        Ok(grant)
    }

    /// The `AddPermission` request that makes it on the function of `state`.
    fn request(
        self,
        lambda: &aws_sdk_lambda::Client,
        state: &PolicyState,
    ) -> aws_sdk_lambda::operation::add_permission::builders::AddPermissionFluentBuilder {
        lambda
            .add_permission()
            .function_name(&state.function)
            .set_qualifier(state.qualifier.clone())
            .statement_id(self.sid)
            .action(self.action)
            .principal(self.principal)
            .set_source_arn(self.source_arn)
            .set_source_account(self.source_account)
            .set_principal_org_id(self.principal_org_id)
            .set_function_url_auth_type(
                self.function_url_auth_type
                    .map(|t| aws_sdk_lambda::types::FunctionUrlAuthType::from(t.as_str())),
            )
            .set_event_source_token(self.event_source_token)
            .set_invoked_via_function_url(self.invoked_via_function_url)
    }
}

#[async_trait]
impl Action for LambdaRemovePublicPermissions {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// An `AddPermission` call (its function), a Config evaluation of a
    /// function (its name), or a finding's function.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let mut target = target_of(
            event,
            &["AwsLambdaFunction", "AWS::Lambda::Function"],
            "AwsLambdaFunction",
            |place, detail| {
                let params = &detail["requestParameters"];
                let arn = function_arn(place, params["functionName"].as_str()?)?;
                match params["qualifier"].as_str() {
                    Some(q) if !arn.ends_with(&format!(":{q}")) => Some(format!("{arn}:{q}")),
                    _ => Some(arn),
                }
            },
            "AWS::Lambda::Function",
            function_arn,
        )?;
        if target.resource_type == "AWS::Lambda::Function" {
            target.resource_type = "AwsLambdaFunction".into();
        }
        function_of(&target)?;
        Ok(target)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let state = self.read(target).await?;
        Ok(Observed::new(
            state.public.is_empty(),
            state,
            Default::default(),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: PolicyState = recorded(&observed.state, ID)?;
        let sids: Vec<&str> = before
            .public
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        if sids.len() != before.public.len() {
            return Err(ActionError::invalid(format!(
                "function {}: a public statement has no Sid; RemovePermission cannot name it (edit the policy by hand)",
                before.function
            )));
        }
        let summary = if sids.is_empty() {
            format!(
                "the policy of function {} lets no one invoke it publicly",
                before.function
            )
        } else {
            format!(
                "remove the statement{} {} from the policy of function {}: {} let anyone invoke it; the other statements stay",
                if sids.len() == 1 { "" } else { "s" },
                sids.join(", "),
                before.function,
                if sids.len() == 1 { "it lets" } else { "they let" },
            )
        };
        let after = PolicyState {
            public: Vec::new(),
            sids: before
                .sids
                .iter()
                .filter(|s| !sids.contains(&s.as_str()))
                .cloned()
                .collect(),
            ..before.clone()
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    /// Removes each public statement by its `Sid`; one already gone (a
    /// job run again) is skipped.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: PolicyState = recorded(&change.before, ID)?;
        let lambda = self.client(target).await?;
        for sid in before.public.iter().filter_map(|s| s["Sid"].as_str()) {
            match lambda
                .remove_permission()
                .function_name(&before.function)
                .set_qualifier(before.qualifier.clone())
                .statement_id(sid)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code_of(&e) == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(sdk_error_on("lambda:RemovePermission", sid, e)),
            }
        }
        Ok(())
    }

    /// A public function URL, or a service's invocations: callers lose
    /// access.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<PolicyState>(&observed.state, ID) else {
            return Vec::new();
        };
        let mut reasons = Vec::new();
        for s in &state.public {
            let sid = s["Sid"].as_str().unwrap_or("?");
            if strings(&s["Action"])
                .iter()
                .any(|a| a.eq_ignore_ascii_case("lambda:InvokeFunctionUrl"))
            {
                let auth = crate::actions::resource_policy::condition_values(
                    s,
                    "StringEquals",
                    "lambda:FunctionUrlAuthType",
                );
                let auth = auth
                    .first()
                    .or(s["FunctionUrlAuthType"]
                        .as_str()
                        .map(str::to_string)
                        .as_ref())
                    .cloned()
                    .unwrap_or_else(|| "?".into());
                reasons.push(format!(
                    "statement {sid:?} of function {} serves a public function URL (auth type {auth}): \
                     it looks public on purpose, and its callers lose access",
                    state.function
                ));
            }
            for service in services(s) {
                reasons.push(format!(
                    "statement {sid:?} of function {} lets {service} invoke it with no aws:SourceAccount: \
                     removing it stops those invocations (re-add it with SourceAccount to keep them)",
                    state.function
                ));
            }
        }
        if !reasons.is_empty() {
            reasons.push(
                "approve the job to remove the statements anyway, or tag the function with the exemption tag"
                    .to_string(),
            );
        }
        reasons
    }

    /// Re-adds the removed statements; refuses when the policy has public
    /// statements again, or a removed `Sid` is taken since, or a statement
    /// cannot be given to `AddPermission` as it was.
    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: PolicyState = recorded(&applied.before, ID)?;
        let current: PolicyState = recorded(&now.state, ID)?;
        let taken: Vec<&str> = before
            .public
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .filter(|sid| current.sids.iter().any(|c| c == sid))
            .collect();
        if !current.public.is_empty() || !taken.is_empty() {
            return Err(changed_since(
                &format!("the policy of function {}", before.function),
                &serde_json::json!({"public": current.public, "sids": current.sids}),
                &serde_json::json!({"public": [], "without": taken}),
            ));
        }
        for s in &before.public {
            Grant::of(s).map_err(|why| {
                ActionError::invalid(format!(
                    "{ID}: the policy of function {} cannot be restored by rectify: {why}",
                    before.function
                ))
            })?;
        }
        let sids: Vec<&str> = before
            .public
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        Ok(Change {
            summary: format!(
                "re-add the statement{} {} to the policy of function {} (anyone may invoke it again)",
                if sids.len() == 1 { "" } else { "s" },
                sids.join(", "),
                before.function
            ),
            before: serde_json::to_value(&current).expect("plain struct"),
            after: serde_json::to_value(&before).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let now: PolicyState = recorded(&change.before, ID)?;
        let restore: PolicyState = recorded(&change.after, ID)?;
        let lambda = self.client(target).await?;
        for s in &restore.public {
            let sid = s["Sid"].as_str().unwrap_or_default();
            if now.sids.iter().any(|c| c == sid) {
                continue;
            }
            Grant::of(s)
                .map_err(ActionError::invalid)?
                .request(&lambda, &restore)
                .send()
                .await
                .map_err(|e| sdk_error_on("lambda:AddPermission", sid, e))?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        takes_no_params(params, ID)?;
        let now = self.read(target).await?;
        let restore: PolicyState = recorded(&change.after, ID)?;
        Ok(restore
            .public
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .all(|sid| now.public.iter().any(|p| p["Sid"] == sid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use serde_json::json;

    #[test]
    fn public_statements_as_the_control_sees_them() {
        let star = json!({"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"});
        assert!(is_public(&star));
        let aws_star = json!({"Sid": "b", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "lambda:InvokeFunction"});
        assert!(is_public(&aws_star));
        let narrowed = json!({"Sid": "c", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"}}});
        assert!(!is_public(&narrowed));
        let wildcard = json!({"Sid": "d", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"StringLike": {"aws:SourceAccount": "*"}}});
        assert!(is_public(&wildcard));
        let if_exists = json!({"Sid": "e", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}}});
        assert!(is_public(&if_exists));
        let s3 = json!({"Sid": "f", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}});
        assert!(is_public(&s3));
        let s3_account = json!({"Sid": "g", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"}}});
        assert!(!is_public(&s3_account));
        let account = json!({"Sid": "h", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "lambda:InvokeFunction"});
        assert!(!is_public(&account));
        let deny = json!({"Sid": "i", "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"});
        assert!(!is_public(&deny));
        let grant = Grant::of(&s3).unwrap();
        assert_eq!(
            (grant.principal.as_str(), grant.source_arn.as_deref()),
            ("s3.amazonaws.com", Some("arn:aws:s3:::b"))
        );
        let odd = json!({"Sid": "j", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}});
        assert!(Grant::of(&odd)
            .unwrap_err()
            .contains("cannot be given to AddPermission"));
    }

    #[test]
    fn functions_of_targets() {
        let t = target(
            "AwsLambdaFunction",
            "arn:aws:lambda:us-east-1:111122223333:function:orders:live",
            Value::Null,
        );
        assert_eq!(function_of(&t).unwrap(), ("orders", Some("live")));
        let plain = target("AwsLambdaFunction", "orders", Value::Null);
        assert_eq!(function_of(&plain).unwrap(), ("orders", None));
        let bad = target("AwsLambdaFunction", "orders/../x", Value::Null);
        assert!(function_of(&bad).is_err());
        let place = Place {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
        };
        assert_eq!(
            function_arn(&place, "444455556666:function:f").unwrap(),
            "arn:aws:lambda:us-east-1:444455556666:function:f"
        );
    }
}
