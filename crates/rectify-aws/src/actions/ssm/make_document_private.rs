//! `aws.ssm.make-document-private`: an SSM document of the account shared
//! with everyone (Security Hub SSM.4, a critical control) stops being
//! public (`ModifyDocumentPermission`, `AccountIdsToRemove: All`). SSM
//! shares a document either with everyone or with named accounts, never
//! both: nothing else is changed. A document whose tags say it is public
//! on purpose waits for a person's approval. The public share (with its
//! shared version) can be restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::types::{DocumentPermissionType, ResourceTypeForTagging};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ssm_client;
use crate::actions::event_resources::{bad_id, plain_name, target_of, Place};
use crate::actions::{changed_since, recorded, tag_map, takes_no_params};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ssm.make-document-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Stop sharing an SSM document of the account with everyone.",
    controls: &["SSM.4"],
    resource_types: &["AwsSsmDocument"],
    account_wide: false,
    permissions: &[
        "ssm:DescribeDocumentPermission",
        "ssm:ModifyDocumentPermission",
        "ssm:ListTagsForResource",
    ],
    params: &[],
    // Read the permission and the tags, modify, read the permission back.
    calls_per_fix: 4,
    approval_by_default: false,
};

/// Tag keys (compared without case) that say a document is public on
/// purpose.
const PUBLIC_TAGS: &[&str] = &["rectify:public-document", "public", "shared", "sharing"];

/// Who a document is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sharing {
    public: bool,
    /// The version shared with everyone, when SSM says.
    #[serde(default)]
    public_version: Option<String>,
    /// Accounts named, sorted.
    shared_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DocumentState {
    document: String,
    #[serde(flatten)]
    sharing: Sharing,
    /// Tags that say it is public on purpose.
    #[serde(default)]
    public_tags: Vec<String>,
}

/// The document name of a target: an SSM document ARN's name, or a name.
fn document_of(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    let name = match id.strip_prefix("arn:") {
        Some(rest) => match rest.splitn(5, ':').collect::<Vec<_>>()[..] {
            [_, "ssm", _, _, resource] => resource
                .strip_prefix("document/")
                .ok_or_else(|| bad_id(ID, "SSM document", target))?,
            _ => return Err(bad_id(ID, "SSM document", target)),
        },
        None => id,
    };
    plain_name(name, 128, "-_.")
        .filter(|n| n.len() >= 3)
        .ok_or_else(|| bad_id(ID, "SSM document", target))
}

fn document_arn(place: &Place, name: &str) -> Option<String> {
    if name.starts_with("arn:") {
        return Some(name.to_string());
    }
    let name = plain_name(name, 128, "-_.")?;
    Some(format!(
        "arn:{}:ssm:{}:{}:document/{name}",
        place.partition, place.region, place.account
    ))
}

pub struct SsmMakeDocumentPrivate {
    aws: Arc<Aws>,
}

impl SsmMakeDocumentPrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        SsmMakeDocumentPrivate { aws }
    }

    async fn sharing(&self, ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Sharing, ActionError> {
        let out = ssm
            .describe_document_permission()
            .name(name)
            .permission_type(DocumentPermissionType::Share)
            .send()
            .await
            .map_err(|e| sdk_error_on("ssm:DescribeDocumentPermission", name, e))?;
        let is_all = |a: &str| a.eq_ignore_ascii_case("all");
        let mut shared_with: Vec<String> = out
            .account_ids()
            .iter()
            .filter(|a| !is_all(a))
            .cloned()
            .collect();
        shared_with.sort();
        Ok(Sharing {
            public: out.account_ids().iter().any(|a| is_all(a)),
            public_version: out
                .account_sharing_info_list()
                .iter()
                .find(|i| i.account_id().is_some_and(is_all))
                .and_then(|i| i.shared_document_version().map(str::to_string)),
            shared_with,
        })
    }

    /// Shares the document with everyone (`public`) or stops.
    async fn write(&self, target: &Target, to: &Sharing) -> Result<(), ActionError> {
        let name = document_of(target)?;
        let ssm = ssm_client(&self.aws, target).await?;
        let request = ssm
            .modify_document_permission()
            .name(name)
            .permission_type(DocumentPermissionType::Share);
        let request = if to.public {
            request
                .account_ids_to_add("All")
                .set_shared_document_version(to.public_version.clone())
        } else {
            request.account_ids_to_remove("All")
        };
        request
            .send()
            .await
            .map_err(|e| sdk_error_on("ssm:ModifyDocumentPermission", name, e))?;
        Ok(())
    }
}

#[async_trait]
impl Action for SsmMakeDocumentPrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A `ModifyDocumentPermission` call (its document), a Config
    /// evaluation of a document (its name), or a finding's document.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let mut target = target_of(
            event,
            &["AwsSsmDocument", "AWS::SSM::Document"],
            "AwsSsmDocument",
            |place, detail| document_arn(place, detail["requestParameters"]["name"].as_str()?),
            "AWS::SSM::Document",
            document_arn,
        )?;
        target.resource_type = "AwsSsmDocument".into();
        document_of(&target)?;
        Ok(target)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = document_of(target)?;
        let ssm = ssm_client(&self.aws, target).await?;
        let sharing = self.sharing(&ssm, name).await?;
        let out = ssm
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Document)
            .resource_id(name)
            .send()
            .await
            .map_err(|e| sdk_error_on("ssm:ListTagsForResource", name, e))?;
        let tags = tag_map(out.tag_list().iter().map(|t| (t.key(), t.value())));
        let public_tags = tags
            .keys()
            .filter(|k| PUBLIC_TAGS.iter().any(|p| p.eq_ignore_ascii_case(k)))
            .cloned()
            .collect();
        let state = DocumentState {
            document: name.to_string(),
            sharing,
            public_tags,
        };
        Ok(Observed::new(!state.sharing.public, state, tags))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: DocumentState = recorded(&observed.state, ID)?;
        let after = Sharing {
            public: false,
            public_version: None,
            ..before.sharing.clone()
        };
        let summary = if before.sharing.public {
            format!(
                "stop sharing SSM document {} with everyone (ModifyDocumentPermission, AccountIdsToRemove All)",
                before.document
            )
        } else {
            format!("SSM document {} is not public", before.document)
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: DocumentState = recorded(&change.before, ID)?;
        let after: Sharing = recorded(&change.after, ID)?;
        if before.sharing.public && !after.public {
            self.write(target, &after).await?;
        }
        Ok(())
    }

    /// Reads back only what the write changed: the sharing.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = document_of(target)?;
        let ssm = ssm_client(&self.aws, target).await?;
        let sharing = self.sharing(&ssm, name).await?;
        Ok(Observed {
            compliant: !sharing.public,
            state: serde_json::to_value(Sharing {
                public_version: None,
                ..sharing
            })
            .expect("plain struct"),
            tags: Default::default(),
        })
    }

    /// A document tagged as public on purpose.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<DocumentState>(&observed.state, ID) {
            Ok(s) if s.sharing.public && !s.public_tags.is_empty() => vec![format!(
                "SSM document {} carries the tag{} {}: it looks shared with everyone on purpose; \
                 approve the job to stop sharing it anyway, or tag it with the exemption tag",
                s.document,
                if s.public_tags.len() == 1 { "" } else { "s" },
                s.public_tags.join(", ")
            )],
            _ => Vec::new(),
        }
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let name = document_of(target)?;
        let left: Sharing = recorded(&applied.after, ID)?;
        let restore = recorded::<DocumentState>(&applied.before, ID)?.sharing;
        let current = recorded::<DocumentState>(&now.state, ID)?.sharing;
        let comparable = Sharing {
            public_version: None,
            ..current.clone()
        };
        if comparable != left {
            return Err(changed_since(
                &format!("the sharing of SSM document {name}"),
                &serde_json::to_value(&current).expect("plain struct"),
                &serde_json::to_value(&left).expect("plain struct"),
            ));
        }
        Ok(Change {
            summary: format!(
                "share SSM document {name} with everyone again{}",
                restore
                    .public_version
                    .as_deref()
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default()
            ),
            before: serde_json::to_value(current).expect("plain struct"),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: Sharing = recorded(&change.before, ID)?;
        let after: Sharing = recorded(&change.after, ID)?;
        if after.public && !before.public {
            self.write(target, &after).await?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: Sharing = recorded(&self.verify(target, params).await?.state, ID)?;
        let restored: Sharing = recorded(&change.after, ID)?;
        Ok(now.public == restored.public && now.shared_with == restored.shared_with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn document_names() {
        let t = target(
            "AwsSsmDocument",
            "arn:aws:ssm:us-east-1:111122223333:document/Ops-Restart",
            Value::Null,
        );
        assert_eq!(document_of(&t).unwrap(), "Ops-Restart");
        let bad = target(
            "AwsSsmDocument",
            "arn:aws:ssm:us-east-1:111122223333:parameter/x",
            Value::Null,
        );
        assert!(document_of(&bad).is_err());
        assert!(document_of(&target("AwsSsmDocument", "a b", Value::Null)).is_err());
    }
}
