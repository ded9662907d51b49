//! The reads checks and actions share within one scan, each made once per
//! account (and region) through [`ScanReads`]: the security groups of a
//! region with their rules, the buckets of a region, the credential report,
//! the account summary, ... A check asks for what it judges; whichever
//! check asks first makes the call.

use std::sync::Arc;

use aws_sdk_ec2::types::SecurityGroup;
use rectify_model::{ActionError, ErrorClass, ScanReads};

use crate::actions::collect_pages;
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

/// The most rows of a credential report read (AWS allows 5,000 users per
/// account): a bigger report is refused rather than read without bound.
const MAX_REPORT_BYTES: usize = 16 << 20;

fn place(account: &str, region: &str) -> String {
    format!("account {account} in {region}")
}

/// Every item of a paged listing, each page asked through the scan's
/// slots of `service` in `region` (so throttling is waited out per page):
/// `request(token)` builds a page's request, `page(request)` sends it and
/// returns the page's items and the next page's token.
pub(crate) async fn paged<T, R, P, Fut>(
    reads: &ScanReads,
    service: &str,
    region: &str,
    mut request: impl FnMut(Option<String>) -> R,
    page: P,
) -> Result<Vec<T>, ActionError>
where
    R: Clone,
    P: Fn(R) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ActionError>>,
{
    collect_pages(|token| {
        let request = request(token);
        let page = &page;
        reads.call(service, region, move || page(request.clone()))
    })
    .await
}

/// Every security group of the region, rules and tags included
/// (`DescribeSecurityGroups`, paged): the listing holds each group's
/// ingress and egress, so no group is described again.
pub async fn security_groups(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Vec<SecurityGroup>>, ActionError> {
    let key = format!("ec2:DescribeSecurityGroups/{account}/{region}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let ec2 = aws_sdk_ec2::Client::new(&config);
            paged(
                reads,
                "ec2",
                region,
                |token| {
                    ec2.describe_security_groups()
                        .max_results(1000)
                        .set_next_token(token)
                },
                |request| async move {
                    let out = request.send().await.map_err(|e| {
                        sdk_error_on("ec2:DescribeSecurityGroups", &place(account, region), e)
                    })?;
                    Ok((
                        out.security_groups().to_vec(),
                        out.next_token().map(str::to_string),
                    ))
                },
            )
            .await
        })
        .await
}

/// The names of the account's buckets in `region`: one `ListBuckets` per
/// region with `BucketRegion` set, so no bucket costs a
/// `GetBucketLocation`. (Where the answer names each bucket's region, a
/// bucket of another region is left out too.)
pub async fn buckets_in(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Vec<String>>, ActionError> {
    let key = format!("s3:ListBuckets/{account}/{region}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let s3 = aws.s3(&config);
            let names = paged(
                reads,
                "s3",
                region,
                |token| {
                    s3.list_buckets()
                        .bucket_region(region)
                        .max_buckets(10_000)
                        .set_continuation_token(token)
                },
                |request| async move {
                    let out = request.send().await.map_err(|e| {
                        sdk_error_on("s3:ListAllMyBuckets", &place(account, region), e)
                    })?;
                    let names = out
                        .buckets()
                        .iter()
                        .filter(|b| b.bucket_region().is_none_or(|r| r == region))
                        .filter_map(|b| b.name().map(str::to_string))
                        .collect();
                    Ok((names, out.continuation_token().map(str::to_string)))
                },
            )
            .await?;
            crate::actions::s3::recorded::load(aws, reads, account, region, &names).await;
            crate::actions::s3::tagged::load(aws, reads, account, region).await;
            Ok(names)
        })
        .await
}

/// The region's configuration recorders and their status (the status is
/// not asked for when there is no recorder).
pub struct Recorders {
    pub recorders: Vec<aws_sdk_config::types::ConfigurationRecorder>,
    pub statuses: Vec<aws_sdk_config::types::ConfigurationRecorderStatus>,
}

/// [`Recorders`] of `account` in `region`, read once per scan.
pub async fn config_recorders(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Recorders>, ActionError> {
    let key = format!("config:DescribeConfigurationRecorders/{account}/{region}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let client = aws_sdk_config::Client::new(&config);
            let at = place(account, region);
            let recorders = reads
                .call("config", region, || async {
                    client
                        .describe_configuration_recorders()
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("config:DescribeConfigurationRecorders", &at, e))
                })
                .await?
                .configuration_recorders()
                .to_vec();
            let statuses = if recorders.is_empty() {
                Vec::new()
            } else {
                reads
                    .call("config", region, || async {
                        client
                            .describe_configuration_recorder_status()
                            .send()
                            .await
                            .map_err(|e| {
                                sdk_error_on("config:DescribeConfigurationRecorderStatus", &at, e)
                            })
                    })
                    .await?
                    .configuration_recorders_status()
                    .to_vec()
            };
            Ok(Recorders {
                recorders,
                statuses,
            })
        })
        .await
}

/// One row of the IAM credential report.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct CredentialRow {
    pub user: String,
    pub arn: String,
    pub created: Option<i64>,
    pub password_enabled: bool,
    pub password_last_used: Option<i64>,
    pub password_last_changed: Option<i64>,
    pub mfa_active: bool,
    /// Access keys 1 and 2: (active, last rotated, last used).
    pub keys: [(bool, Option<i64>, Option<i64>); 2],
}

/// The credential report: generated (and waited for) once per account
/// and scan, then read.
pub async fn credential_report(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Vec<CredentialRow>>, ActionError> {
    let key = format!("iam:GetCredentialReport/{account}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let iam = aws_sdk_iam::Client::new(&config);
            let at = format!("account {account}");
            // Generation takes seconds on AWS; asked again until complete.
            for attempt in 0..30u64 {
                let state = reads
                    .call("iam", "global", || async {
                        iam.generate_credential_report()
                            .send()
                            .await
                            .map_err(|e| sdk_error_on("iam:GenerateCredentialReport", &at, e))
                    })
                    .await?;
                if state.state().map(|s| s.as_str()) == Some("COMPLETE") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500 + 200 * attempt)).await;
            }
            let out = reads
                .call("iam", "global", || async {
                    iam.get_credential_report()
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("iam:GetCredentialReport", &at, e))
                })
                .await?;
            let bytes = out.content().map(|b| b.as_ref()).unwrap_or_default();
            if bytes.len() > MAX_REPORT_BYTES {
                return Err(ActionError::invalid(format!(
                    "iam:GetCredentialReport: the report of {at} is {} bytes, more than the {MAX_REPORT_BYTES} read",
                    bytes.len()
                )));
            }
            Ok(parse_credential_report(&String::from_utf8_lossy(bytes)))
        })
        .await
}

/// A time of the report (`2026-01-02T03:04:05+00:00`); `N/A`,
/// `no_information`, `not_supported`: none.
fn report_time(text: &str) -> Option<i64> {
    rectify_model::parse_rfc3339(text).map(|t| t.unix_timestamp())
}

/// The report's CSV. User names may hold commas (IAM allows them), and so
/// do their ARNs: the 20 other columns never do, so what is left over is
/// shared evenly between the first two.
pub fn parse_credential_report(csv: &str) -> Vec<CredentialRow> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let fixed_after = columns.len().saturating_sub(2);
    let mut rows = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < columns.len() || !(fields.len() - fixed_after).is_multiple_of(2) {
            continue;
        }
        let name_parts = (fields.len() - fixed_after) / 2;
        let user = fields[..name_parts].join(",");
        let arn = fields[name_parts..2 * name_parts].join(",");
        let rest = &fields[2 * name_parts..];
        // Index into the columns after user and arn.
        let get = |name: &str| -> &str {
            col(name)
                .and_then(|i| i.checked_sub(2))
                .and_then(|i| rest.get(i))
                .copied()
                .unwrap_or("")
        };
        let key = |n: u8| {
            (
                get(&format!("access_key_{n}_active")) == "true",
                report_time(get(&format!("access_key_{n}_last_rotated"))),
                report_time(get(&format!("access_key_{n}_last_used_date"))),
            )
        };
        rows.push(CredentialRow {
            user,
            arn,
            created: report_time(get("user_creation_time")),
            password_enabled: get("password_enabled") == "true",
            password_last_used: report_time(get("password_last_used")),
            password_last_changed: report_time(get("password_last_changed")),
            mfa_active: get("mfa_active") == "true",
            keys: [key(1), key(2)],
        });
    }
    rows
}

/// `GetAccountSummary`'s map (root MFA, root access keys, counts).
pub async fn account_summary(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<std::collections::HashMap<String, i32>>, ActionError> {
    let key = format!("iam:GetAccountSummary/{account}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let iam = aws_sdk_iam::Client::new(&config);
            let out = reads
                .call("iam", "global", || async {
                    iam.get_account_summary().send().await.map_err(|e| {
                        sdk_error_on("iam:GetAccountSummary", &format!("account {account}"), e)
                    })
                })
                .await?;
            Ok(out
                .summary_map()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().to_string(), *v))
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
}

/// The account's password policy as read (`None`: the account has none).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PasswordPolicyRead {
    pub minimum_length: Option<i32>,
    pub reuse_prevention: Option<i32>,
}

pub async fn password_policy(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Option<PasswordPolicyRead>>, ActionError> {
    let key = format!("iam:GetAccountPasswordPolicy/{account}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let iam = aws_sdk_iam::Client::new(&config);
            reads
                .call("iam", "global", || async {
                    match iam.get_account_password_policy().send().await {
                        Ok(out) => Ok(out.password_policy().map(|p| PasswordPolicyRead {
                            minimum_length: p.minimum_password_length(),
                            reuse_prevention: p.password_reuse_prevention(),
                        })),
                        Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
                        Err(e) => Err(sdk_error_on(
                            "iam:GetAccountPasswordPolicy",
                            &format!("account {account}"),
                            e,
                        )),
                    }
                })
                .await
        })
        .await
}

/// A trail as the CloudTrail checks judge it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrailRead {
    pub arn: String,
    pub name: String,
    pub home_region: String,
    pub multi_region: bool,
    pub log_file_validation: bool,
    pub logging: bool,
}

/// The trails that apply to the account, from its first region: every
/// trail is listed (shadow trails of other regions too, where AWS lists
/// them) and each one's logging status read once.
pub async fn trails(
    aws: &Aws,
    reads: &ScanReads,
    account: &str,
    region: &str,
) -> Result<Arc<Vec<TrailRead>>, ActionError> {
    let key = format!("cloudtrail:DescribeTrails/{account}");
    reads
        .once(&key, || async {
            let config = aws.config_for(account, region).await?;
            let ct = aws_sdk_cloudtrail::Client::new(&config);
            let out = reads
                .call("cloudtrail", region, || async {
                    ct.describe_trails()
                        .include_shadow_trails(true)
                        .send()
                        .await
                        .map_err(|e| {
                            sdk_error_on("cloudtrail:DescribeTrails", &place(account, region), e)
                        })
                })
                .await?;
            let mut all = Vec::new();
            for t in out.trail_list() {
                let Some(arn) = t.trail_arn() else { continue };
                let home = t.home_region().unwrap_or(region).to_string();
                // The status is asked of the trail's home region.
                let elsewhere;
                let (client, at) = if home == region {
                    (&ct, region)
                } else {
                    let config = aws.config_for(account, &home).await?;
                    elsewhere = aws_sdk_cloudtrail::Client::new(&config);
                    (&elsewhere, home.as_str())
                };
                let logging = reads
                    .call("cloudtrail", at, || async {
                        client
                            .get_trail_status()
                            .name(arn)
                            .send()
                            .await
                            .map_err(|e| sdk_error_on("cloudtrail:GetTrailStatus", arn, e))
                    })
                    .await?
                    .is_logging()
                    .unwrap_or(false);
                all.push(TrailRead {
                    arn: arn.to_string(),
                    name: t.name().unwrap_or_default().to_string(),
                    home_region: home,
                    multi_region: t.is_multi_region_trail().unwrap_or(false),
                    log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
                    logging,
                });
            }
            // A trail seen from several regions is one trail.
            all.sort_by(|a, b| a.arn.cmp(&b.arn));
            all.dedup_by(|a, b| a.arn == b.arn);
            Ok(all)
        })
        .await
}

/// Maps an error that says "not here" to `None`.
pub fn absent<T>(result: Result<T, ActionError>) -> Result<Option<T>, ActionError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    #[test]
    fn credential_report_rows_are_read_with_commas_in_names() {
        let csv = format!(
            "{HEADER}\n\
             <root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             a,b,arn:aws:iam::111122223333:user/a,b,2025-01-01T00:00:00+00:00,true,no_information,2025-01-01T00:00:00+00:00,N/A,false,true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             short,line\n"
        );
        let rows = parse_credential_report(&csv);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user, "<root_account>");
        assert!(rows[0].mfa_active);
        assert_eq!(rows[1].user, "a,b");
        assert_eq!(rows[1].arn, "arn:aws:iam::111122223333:user/a,b");
        assert!(rows[1].password_enabled && !rows[1].mfa_active);
        assert_eq!(rows[1].password_last_used, None);
        assert!(rows[1].keys[0].0);
        assert_eq!(
            rows[1].keys[0].1,
            Some(report_time("2025-02-01T00:00:00+00:00").unwrap())
        );
        assert!(!rows[1].keys[1].0);
        assert!(parse_credential_report("").is_empty());
    }
}
