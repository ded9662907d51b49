//! The AWS remediation actions, one module per service and one file per
//! action (spec, params, check, plan, apply, verify, revert, tests), and
//! what they share: clients, params parsing, paging, recorded states.

use serde_json::{Map, Value};

// The params checks live with the `Action` trait, whose default
// `validate_params` (an action that takes none) uses them.
pub(crate) use rectify_model::params::{kind_of, no_params, params_object, reject_unknown};

pub(crate) mod event_resources;
pub mod policy;
pub mod resource_policy;

// One module per service, one file per action.
pub mod cloudtrail;
pub mod cloudwatch;
pub mod config;
pub mod ec2;
pub mod ecr;
pub mod guardduty;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod rds;
pub mod redshift;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod ssm;

/// What an `async fn` of an `#[async_trait]` trait returns: a boxed
/// `Send` future that lives as long as the call's borrows.
pub(crate) type BoxedCall<'a, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<T, rectify_model::ActionError>> + Send + 'a>,
>;

/// One `async fn` of an `#[async_trait]` trait, written by a macro that
/// expands inside an `#[async_trait] impl`: `#[async_trait]` does not look
/// into macro calls, so the method is spelled as it would write it (one
/// lifetime per borrow, a [`BoxedCall`]). The body returns
/// `Result<$out, ActionError>`.
macro_rules! trait_fn {
    (fn $name:ident(&$self:ident, $a:tt: &$ta:ty, $b:tt: &$tb:ty) -> $out:ty $body:block) => {
        fn $name<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 $self,
            $a: &'life1 $ta,
            $b: &'life2 $tb,
        ) -> $crate::actions::BoxedCall<'async_trait, $out>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move $body)
        }
    };
    (fn $name:ident(&$self:ident, $a:tt: &$ta:ty, $b:tt: &$tb:ty, $c:tt: &$tc:ty) -> $out:ty $body:block) => {
        fn $name<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 $self,
            $a: &'life1 $ta,
            $b: &'life2 $tb,
            $c: &'life3 $tc,
        ) -> $crate::actions::BoxedCall<'async_trait, $out>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move $body)
        }
    };
}
pub(crate) use trait_fn;

/// `discover`, `discover_in_scan` and `inventory` of an action whose
/// targets a listing shared with other actions gives, inside its
/// `#[async_trait] impl Action` (the type holds `aws: Arc<Aws>`):
/// `$list(aws, account, region)` lists the targets, `$list_in_scan(aws,
/// reads, account, region)` lists them through the scan's reads, and
/// `$count(aws, target)` counts the resources of the target's kind.
macro_rules! listed_targets {
    ($list:path, $list_in_scan:path, $count:path) => {
        $crate::actions::trait_fn! {
            fn discover(&self, account: &str, region: &str) -> Vec<rectify_model::Target> {
                $list(&self.aws, account, region).await
            }
        }

        $crate::actions::trait_fn! {
            fn discover_in_scan(
                &self,
                account: &str,
                region: &str,
                reads: &rectify_model::ScanReads
            ) -> Vec<rectify_model::Target> {
                $list_in_scan(&self.aws, reads, account, region).await
            }
        }

        $crate::actions::trait_fn! {
            fn inventory(&self, target: &rectify_model::Target, _: &serde_json::Value) -> Option<u64> {
                $count(&self.aws, target).await
            }
        }
    };
}
pub(crate) use listed_targets;

/// `check` and `check_in_scan` of an action whose type reads its state in
/// one `observe(target, params, scan)`, through the scan's reads when
/// `scan` is given; inside its `#[async_trait] impl Action`.
macro_rules! observed_checks {
    () => {
        $crate::actions::trait_fn! {
            fn check(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value
            ) -> rectify_model::Observed {
                self.observe(target, params, None).await
            }
        }

        $crate::actions::trait_fn! {
            fn check_in_scan(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                reads: &rectify_model::ScanReads
            ) -> rectify_model::Observed {
                self.observe(target, params, Some(reads)).await
            }
        }
    };
}
pub(crate) use observed_checks;

/// `discover` of an action on a setting of each account (and region),
/// inside its `#[async_trait] impl Action`: the account, in `region`.
macro_rules! account_setting_discover {
    () => {
        $crate::actions::trait_fn! {
            fn discover(&self, account: &str, region: &str) -> Vec<rectify_model::Target> {
                Ok($crate::actions::account_target(account, region))
            }
        }
    };
}
pub(crate) use account_setting_discover;

/// `revert` of an action whose undo's change has the shape of its fix's
/// (a state found, a state to write), inside its `#[async_trait] impl
/// Action`: `apply` writes it.
macro_rules! revert_by_apply {
    () => {
        $crate::actions::trait_fn! {
            fn revert(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                change: &rectify_model::Change
            ) -> () {
                self.apply(target, params, change).await
            }
        }
    };
}
pub(crate) use revert_by_apply;

/// The change of a target that already complies: nothing to write, the
/// state observed both before and after.
pub(crate) fn no_change(
    summary: String,
    observed: &rectify_model::Observed,
) -> rectify_model::Change {
    rectify_model::Change {
        summary,
        before: observed.state.clone(),
        after: observed.state.clone(),
    }
}

/// Every item of a paginated listing: `page(token)` fetches one page and
/// returns its items and the next page's token (none or empty: the last
/// page).
pub(crate) async fn collect_pages<T, F, Fut>(
    mut page: F,
) -> Result<Vec<T>, rectify_model::ActionError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), rectify_model::ActionError>>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token).await?;
        all.extend(items);
        match next.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok(all),
        }
    }
}

/// A client of any service with the credentials of `target`'s account, in
/// its region: `client_for(&self.aws, target, aws_sdk_rds::Client::new)`.
pub(crate) async fn client_for<C>(
    aws: &crate::Aws,
    target: &rectify_model::Target,
    make: impl FnOnce(&aws_config::SdkConfig) -> C,
) -> Result<C, rectify_model::ActionError> {
    let config = aws.config_for(&target.account, &target.region).await?;
    Ok(make(&config))
}

/// An EC2 client with the credentials of `account`, in `region`.
pub(crate) async fn ec2_client(
    aws: &crate::Aws,
    account: &str,
    region: &str,
) -> Result<aws_sdk_ec2::Client, rectify_model::ActionError> {
    let config = aws.config_for(account, region).await?;
    Ok(aws_sdk_ec2::Client::new(&config))
}

/// How errors name an account-and-region setting: `account A in R`.
pub(crate) fn account_region(target: &rectify_model::Target) -> String {
    format!("account {} in {}", target.account, target.region)
}

/// The target of an account-level setting: the account itself.
pub(crate) fn account_target(account: &str, region: &str) -> Vec<rectify_model::Target> {
    vec![rectify_model::Target::listed(
        account,
        region,
        "AwsAccount",
        format!("AWS::::Account:{account}"),
    )]
}

/// The params check of an action that takes none, as the error its
/// check, apply and revert return (`Invalid`).
pub(crate) fn takes_no_params(
    params: &Value,
    action: &str,
) -> Result<(), rectify_model::ActionError> {
    no_params(params, action).map_err(rectify_model::ActionError::invalid)
}

/// An integer param within `min..=max`, or its default when absent.
pub(crate) fn int_param(
    params: &Map<String, Value>,
    key: &str,
    min: i64,
    max: i64,
    default: i64,
) -> Result<i64, String> {
    match params.get(key) {
        None => Ok(default),
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "params.{key}: expected an integer {min}..{max}, got {v}"
            )),
        },
    }
}

pub(crate) fn bool_param(
    params: &Map<String, Value>,
    key: &str,
    default: bool,
) -> Result<bool, String> {
    match params.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("params.{key}: expected a boolean, got {v}")),
    }
}

/// An optional string param: absent (or `null`), or a string of 1 to
/// `max` characters.
pub(crate) fn string_param(
    params: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
        Some(v) => Err(format!(
            "params.{key}: expected a string of 1 to {max} characters, got {v}"
        )),
    }
}

/// A state an action recorded (a check's, a change's `before` or
/// `after`), read back as the action's own type.
pub(crate) fn recorded<T: serde::de::DeserializeOwned>(
    value: &Value,
    action: &str,
) -> Result<T, rectify_model::ActionError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        rectify_model::ActionError::invalid(format!("{action}: unexpected recorded state: {e}"))
    })
}

/// The refusal of an undo when `resource` is no longer as the change left
/// it: a restore would overwrite what someone did since.
pub(crate) fn changed_since(
    resource: &str,
    now: &Value,
    left: &Value,
) -> rectify_model::ActionError {
    rectify_model::ActionError::invalid(format!(
        "{resource} has changed since the change: it is now {now}, the change left it {left}; \
         rectify will not overwrite what was done since (set it back by hand, or undo it first)"
    ))
}

/// Refuses an undo (see [`changed_since`]) unless `now`, what the change
/// wrote as it reads now, is still what the change left (`left`).
pub(crate) fn unchanged_since<T: PartialEq + serde::Serialize>(
    resource: impl FnOnce() -> String,
    now: &T,
    left: &T,
) -> Result<(), rectify_model::ActionError> {
    if now == left {
        return Ok(());
    }
    let shown = |v: &T| serde_json::to_value(v).expect("plain state");
    Err(changed_since(&resource(), &shown(now), &shown(left)))
}

/// Tags as the `Observed.tags` map.
pub(crate) fn tag_map<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Map<String, Value> {
    tags.into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    use rectify_model::Target;
    use serde_json::Value;

    pub fn target(resource_type: &str, resource_id: &str, details: Value) -> Target {
        Target {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
            tags: Default::default(),
            details,
        }
    }
}
