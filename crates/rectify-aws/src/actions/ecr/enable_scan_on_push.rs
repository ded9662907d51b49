//! `aws.ecr.enable-scan-on-push`: turns on image scanning on push for a
//! private ECR repository (Security Hub ECR.1, AWS Config
//! `ecr-private-image-scanning-enabled`): each image pushed is scanned for
//! known vulnerabilities; pushes and pulls work as before. The repository's
//! own setting (`PutImageScanningConfiguration`) is changed, not the
//! registry's scanning rules. The undo turns it off again.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::ImageScanningConfiguration;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::event_resources::{bad_id, plain_name, target_of};
use crate::actions::{client_for, collect_pages, recorded, takes_no_params, unchanged_since};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ecr.enable-scan-on-push";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on image scanning on push for a private ECR repository.",
    controls: &["ECR.1"],
    resource_types: &["AwsEcrRepository"],
    account_wide: false,
    permissions: &[
        "ecr:DescribeRepositories",
        "ecr:PutImageScanningConfiguration",
    ],
    params: &[],
    // DescribeRepositories, PutImageScanningConfiguration,
    // DescribeRepositories.
    calls_per_fix: 3,
    approval_by_default: false,
};

/// The repository's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Scanning {
    repository: String,
    scan_on_push: bool,
}

/// The repository name of `arn:...:repository/<name>` (names may hold
/// `/`: `team/app`).
fn repository_of(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    id.strip_prefix("arn:")
        .filter(|_| id.contains(":ecr:"))
        .and_then(|_| id.split_once(":repository/"))
        .and_then(|(_, name)| plain_name(name, 256, "-_./"))
        .ok_or_else(|| bad_id(ID, "ECR repository", target))
}

pub struct EcrEnableScanOnPush {
    aws: Arc<Aws>,
}

impl EcrEnableScanOnPush {
    pub fn new(aws: Arc<Aws>) -> Self {
        EcrEnableScanOnPush { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_ecr::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_ecr::Client::new).await
    }

    async fn write(&self, target: &Target, on: bool) -> Result<(), ActionError> {
        let name = repository_of(target)?;
        self.client(target)
            .await?
            .put_image_scanning_configuration()
            .registry_id(&target.account)
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(on)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error_on("ecr:PutImageScanningConfiguration", name, e))?;
        Ok(())
    }

    /// The account's repositories in the region: ARN and setting.
    async fn repositories(
        &self,
        ecr: &aws_sdk_ecr::Client,
        account: &str,
        names: Option<Vec<String>>,
    ) -> Result<Vec<(String, bool)>, ActionError> {
        collect_pages(|token| {
            let request = ecr
                .describe_repositories()
                .registry_id(account)
                .set_repository_names(names.clone())
                .set_next_token(token);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on("ecr:DescribeRepositories", "the account's repositories", e)
                })?;
                let found = out
                    .repositories()
                    .iter()
                    .filter_map(|r| {
                        let on = r
                            .image_scanning_configuration()
                            .is_some_and(|c| c.scan_on_push());
                        Some((r.repository_arn()?.to_string(), on))
                    })
                    .collect();
                Ok((found, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

#[async_trait]
impl Action for EcrEnableScanOnPush {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A finding's repository; the repository of a
    /// `PutImageScanningConfiguration` call
    /// (`requestParameters.repositoryName`); the repository of a Config
    /// evaluation (`AWS::ECR::Repository`, by name).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let arn = |p: &crate::actions::event_resources::Place, name: &str| {
            plain_name(name, 256, "-_./").map(|n| p.arn("ecr", &format!("repository/{n}")))
        };
        target_of(
            event,
            SPEC.resource_types,
            "AwsEcrRepository",
            |p, d| {
                let params = &d["requestParameters"];
                // A call on another account's registry names it.
                if params["registryId"]
                    .as_str()
                    .is_some_and(|r| r != p.account)
                {
                    return None;
                }
                arn(p, params["repositoryName"].as_str()?)
            },
            "AWS::ECR::Repository",
            arn,
        )
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let ecr = self.client(target).await?;
        Ok(Some(
            self.repositories(&ecr, &target.account, None).await?.len() as u64,
        ))
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let ecr = aws_sdk_ecr::Client::new(&config);
        Ok(self
            .repositories(&ecr, account, None)
            .await?
            .into_iter()
            .map(|(arn, _)| Target::listed(account, region, "AwsEcrRepository", arn))
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = repository_of(target)?;
        let ecr = self.client(target).await?;
        let found = self
            .repositories(&ecr, &target.account, Some(vec![name.to_string()]))
            .await?;
        let (_, on) = found.first().ok_or_else(|| {
            ActionError::new(
                rectify_model::ErrorClass::NotFound,
                format!("ECR repository {name} not found"),
            )
        })?;
        let state = Scanning {
            repository: name.to_string(),
            scan_on_push: *on,
        };
        Ok(Observed::new(state.scan_on_push, state, Default::default()))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: Scanning = recorded(&observed.state, ID)?;
        let summary = if before.scan_on_push {
            format!(
                "ECR repository {} already scans images on push",
                before.repository
            )
        } else {
            format!(
                "turn on image scanning on push for ECR repository {}",
                before.repository
            )
        };
        Ok(Change {
            summary,
            after: json!({"repository": before.repository, "scan_on_push": true}),
            before: observed.state.clone(),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: Scanning = recorded(&change.before, ID)?;
        let after: Scanning = recorded(&change.after, ID)?;
        if before.scan_on_push == after.scan_on_push {
            return Ok(());
        }
        self.write(target, after.scan_on_push).await
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let left: Scanning = recorded(&applied.after, ID)?;
        let found: Scanning = recorded(&applied.before, ID)?;
        unchanged_since(
            || format!("scanning on push of ECR repository {}", left.repository),
            &now.state,
            &applied.after,
        )?;
        Ok(Change {
            summary: format!(
                "turn image scanning on push for ECR repository {} back {}",
                found.repository,
                if found.scan_on_push { "on" } else { "off" }
            ),
            before: now.state.clone(),
            after: applied.before.clone(),
        })
    }

    crate::actions::revert_by_apply!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn repository_names() {
        let t = |id: &str| target("AwsEcrRepository", id, Value::Null);
        assert_eq!(
            repository_of(&t("arn:aws:ecr:us-east-1:111122223333:repository/team/app")).unwrap(),
            "team/app"
        );
        assert!(repository_of(&t("arn:aws:ecr:us-east-1:111122223333:repository/")).is_err());
        assert!(repository_of(&t("app")).is_err());
        assert!(repository_of(&t("arn:aws:s3:::repository/app")).is_err());
    }

    #[tokio::test]
    async fn an_undo_after_a_later_change_is_refused() {
        let action = EcrEnableScanOnPush::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        let t = target(
            "AwsEcrRepository",
            "arn:aws:ecr:us-east-1:111122223333:repository/app",
            Value::Null,
        );
        let state = |on: bool| Observed {
            compliant: on,
            state: json!({"repository": "app", "scan_on_push": on}),
            tags: Default::default(),
        };
        let change = action.plan(&t, &Value::Null, &state(false)).unwrap();
        assert_eq!(
            change.after,
            json!({"repository": "app", "scan_on_push": true})
        );
        let undo = action
            .revert_plan(&t, &Value::Null, &change, &state(true))
            .unwrap();
        assert_eq!(undo.after, state(false).state);
        let refused = action
            .revert_plan(&t, &Value::Null, &change, &state(false))
            .unwrap_err();
        assert!(
            refused.message.contains("has changed since"),
            "{}",
            refused.message
        );
    }
}
