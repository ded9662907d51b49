//! RDS remediation actions, one file each, and what they share: the
//! client, RDS's not-found errors, resource names and ARNs, tags, and the
//! target of an event whose resource is named in CloudFormation's
//! spelling (the new Security Hub's OCSF findings).

use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rectify_model::{Action, ActionError, ErrorClass, Event, Target};
use serde_json::{Map, Value};

use crate::actions::event_resources::{bad_id, plain_name, target_of, Place};
use crate::actions::{client_for, tag_map};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub mod make_instance_private;
pub mod make_snapshots_private;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(make_snapshots_private::RdsMakeSnapshotsPrivate::new(
            aws.clone(),
        )),
        Arc::new(make_instance_private::RdsMakeInstancePrivate::new(
            aws.clone(),
        )),
    ]
}

/// An RDS client with the credentials of `target`'s account, in its region.
pub(crate) async fn rds_client(
    aws: &Aws,
    target: &Target,
) -> Result<aws_sdk_rds::Client, ActionError> {
    client_for(aws, target, aws_sdk_rds::Client::new).await
}

/// An RDS error: RDS names a missing resource `DBSnapshotNotFound`,
/// `DBInstanceNotFound`, `DBClusterSnapshotNotFoundFault`...: not found.
pub(crate) fn rds_error<E>(op: &str, resource: &str, err: SdkError<E, HttpResponse>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match code_of(&err) {
        Some(code) if code.contains("NotFound") => ActionError::new(
            ErrorClass::NotFound,
            format!("{op} on {resource}: {code}: not found"),
        ),
        _ => sdk_error_on(op, resource, err),
    }
}

/// RDS identifiers as rectify takes them: letters, digits and hyphens, 1
/// to 255 characters.
pub(crate) fn rds_identifier(name: &str) -> Option<&str> {
    plain_name(name, 255, "-")
}

/// The name of an RDS resource target: its ARN's last field when the ARN
/// names a resource of `kind` (`snapshot`, `cluster-snapshot`, `db`), or a
/// plain identifier.
pub(crate) fn rds_name<'t>(
    action: &str,
    target: &'t Target,
    kind: &str,
) -> Result<&'t str, ActionError> {
    let id = target.resource_id.as_str();
    let name = match id.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts[..] {
                [_, "rds", _, _, k, name] if k == kind => name,
                _ => return Err(bad_id(action, &format!("RDS {kind}"), target)),
            }
        }
        None => id,
    };
    rds_identifier(name).ok_or_else(|| bad_id(action, &format!("RDS {kind}"), target))
}

/// The ARN of an RDS resource of `kind` named `name` at `place`.
pub(crate) fn rds_arn(place: &Place, kind: &str, name: &str) -> String {
    format!(
        "arn:{}:rds:{}:{}:{kind}:{name}",
        place.partition, place.region, place.account
    )
}

/// `id` as an RDS ARN of `kind`: an ARN as it is, an identifier made one.
pub(crate) fn rds_arn_of(place: &Place, kind: &str, id: &str) -> Option<String> {
    if id.starts_with("arn:") {
        return Some(id.to_string());
    }
    rds_identifier(id).map(|name| rds_arn(place, kind, name))
}

/// RDS tags as the `Observed.tags` map.
pub(crate) fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> Map<String, Value> {
    tag_map(
        tags.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

/// The target of `event` for an action whose resource types are `types`,
/// each `(ASFF type, CloudFormation type)`: a CloudTrail call (`from_call`
/// reads its detail), an AWS Config evaluation of one of the CloudFormation
/// types (`from_config` makes its resource id the ASFF id), or a finding
/// (ASFF or OCSF, whose resources may use either spelling; the target's
/// type is the ASFF one).
pub(crate) fn event_target(
    event: &Event,
    types: &[(&str, &str)],
    from_call: impl Fn(&Place, &Value) -> Option<(&'static str, String)>,
    from_config: impl Fn(&Place, &str, &str) -> Option<String>,
) -> Result<Target, ActionError> {
    let config_type = event.body["detail"]["resourceType"]
        .as_str()
        .and_then(|t| types.iter().find(|(_, cfn)| *cfn == t))
        .unwrap_or(&types[0]);
    let call_type = std::cell::Cell::new(config_type.0);
    let all: Vec<&str> = types.iter().flat_map(|(asff, cfn)| [*asff, *cfn]).collect();
    let mut target = target_of(
        event,
        &all,
        config_type.0,
        |place, detail| {
            let (kind, id) = from_call(place, detail)?;
            call_type.set(kind);
            Some(id)
        },
        config_type.1,
        |place, id| from_config(place, config_type.1, id),
    )?;
    if event.detail_type == rectify_model::target::CLOUDTRAIL_API_CALL {
        target.resource_type = call_type.get().to_string();
    }
    if let Some((asff, _)) = types.iter().find(|(_, cfn)| *cfn == target.resource_type) {
        target.resource_type = asff.to_string();
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn names_and_arns() {
        let t = target(
            "AwsRdsDbSnapshot",
            "arn:aws:rds:us-east-1:111122223333:snapshot:snap-1",
            Value::Null,
        );
        assert_eq!(rds_name("a", &t, "snapshot").unwrap(), "snap-1");
        assert!(rds_name("a", &t, "db").is_err());
        let plain = target("AwsRdsDbInstance", "db-1", Value::Null);
        assert_eq!(rds_name("a", &plain, "db").unwrap(), "db-1");
        let odd = target("AwsRdsDbInstance", "db 1; rm", Value::Null);
        assert!(rds_name("a", &odd, "db").is_err());
        let place = Place {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
        };
        assert_eq!(
            rds_arn_of(&place, "db", "x").unwrap(),
            "arn:aws:rds:us-east-1:111122223333:db:x"
        );
        assert_eq!(rds_arn_of(&place, "db", "a/b"), None);
    }
}
