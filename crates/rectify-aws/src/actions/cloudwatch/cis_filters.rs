//! The metric filter each of Security Hub's CloudWatch.1 to CloudWatch.14
//! requires, as data.
//!
//! Source: AWS Security Hub User Guide, "Amazon CloudWatch controls"
//! (cloudwatch-controls), the "Remediation" section of each control: the
//! filter pattern to paste. Security Hub runs the CIS AWS Foundations
//! Benchmark's audit steps (v1.2.0 section 3, v1.4.0 section 4) and fails
//! the control "if the exact metric filters prescribed by CIS are not
//! used"; additional fields or terms fail it. The patterns below are the
//! User Guide's text, unchanged.

/// One control's metric filter.
#[derive(Debug, PartialEq, Eq)]
pub struct CisFilter {
    /// The consolidated control id.
    pub control: &'static str,
    /// Ends the names rectify gives the filter, its metric and the alarm
    /// (after params.name_prefix), and names the control in CloudTrail
    /// calls that delete them.
    pub slug: &'static str,
    /// What the alarm watches, for summaries and the alarm description.
    pub watches: &'static str,
    pub pattern: &'static str,
}

pub const CIS_FILTERS: [CisFilter; 14] = [
    CisFilter {
        control: "CloudWatch.1",
        slug: "root-usage",
        watches: "usage of the root user",
        pattern: r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
    },
    CisFilter {
        control: "CloudWatch.2",
        slug: "unauthorized-api-calls",
        watches: "unauthorized API calls",
        pattern: r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
    },
    CisFilter {
        control: "CloudWatch.3",
        slug: "console-signin-without-mfa",
        watches: "Management Console sign-in without MFA",
        pattern: r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
    },
    CisFilter {
        control: "CloudWatch.4",
        slug: "iam-policy-changes",
        watches: "IAM policy changes",
        pattern: "{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}",
    },
    CisFilter {
        control: "CloudWatch.5",
        slug: "cloudtrail-changes",
        watches: "CloudTrail configuration changes",
        pattern: "{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}",
    },
    CisFilter {
        control: "CloudWatch.6",
        slug: "console-auth-failures",
        watches: "Management Console authentication failures",
        pattern: r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
    },
    CisFilter {
        control: "CloudWatch.7",
        slug: "cmk-disable-or-deletion",
        watches: "disabling or scheduled deletion of customer managed keys",
        pattern: "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}",
    },
    CisFilter {
        control: "CloudWatch.8",
        slug: "s3-bucket-policy-changes",
        watches: "S3 bucket policy changes",
        pattern: "{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}",
    },
    CisFilter {
        control: "CloudWatch.9",
        slug: "config-changes",
        watches: "AWS Config configuration changes",
        pattern: "{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}",
    },
    CisFilter {
        control: "CloudWatch.10",
        slug: "security-group-changes",
        watches: "security group changes",
        pattern: "{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}",
    },
    CisFilter {
        control: "CloudWatch.11",
        slug: "nacl-changes",
        watches: "network ACL changes",
        pattern: "{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}",
    },
    CisFilter {
        control: "CloudWatch.12",
        slug: "network-gateway-changes",
        watches: "network gateway changes",
        pattern: "{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}",
    },
    CisFilter {
        control: "CloudWatch.13",
        slug: "route-table-changes",
        watches: "route table changes",
        pattern: "{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}",
    },
    CisFilter {
        control: "CloudWatch.14",
        slug: "vpc-changes",
        watches: "VPC changes",
        pattern: "{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}",
    },
];

/// The row of a consolidated control id.
pub fn for_control(control: &str) -> Option<&'static CisFilter> {
    CIS_FILTERS.iter().find(|f| f.control == control)
}

/// The row whose slug ends `name` (a filter or alarm name rectify gave).
pub fn for_name(name: &str) -> Option<&'static CisFilter> {
    CIS_FILTERS.iter().find(|f| name.ends_with(f.slug))
}

/// Whether two filter patterns are the same filter: spaces outside
/// quoted strings do not count (the User Guide and the CIS Benchmark
/// print the same patterns with and without them), everything else does.
pub fn same_pattern(a: &str, b: &str) -> bool {
    fn canonical(p: &str) -> String {
        let mut out = String::with_capacity(p.len());
        let mut quoted = false;
        for c in p.trim().chars() {
            if c == '"' {
                quoted = !quoted;
            }
            if quoted || !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_control_and_unambiguous_slugs() {
        for (i, row) in CIS_FILTERS.iter().enumerate() {
            assert_eq!(row.control, format!("CloudWatch.{}", i + 1));
            assert_eq!(for_control(row.control), Some(row));
            assert!(rectify_model::controls::looks_consolidated(row.control));
            // No slug ends another: a name maps back to one control.
            for other in &CIS_FILTERS {
                if other.control != row.control {
                    assert!(
                        !row.slug.ends_with(other.slug),
                        "{} / {}",
                        row.slug,
                        other.slug
                    );
                }
            }
            assert_eq!(for_name(&format!("rectify-cis-{}", row.slug)), Some(row));
            // Patterns CloudWatch Logs accepts: JSON terms in braces,
            // balanced parentheses and quotes, under its 1,024 characters.
            assert!(row.pattern.starts_with('{') && row.pattern.ends_with('}'));
            assert!(row.pattern.len() <= 1024);
            assert_eq!(
                row.pattern.matches('(').count(),
                row.pattern.matches(')').count()
            );
            assert_eq!(row.pattern.matches('"').count() % 2, 0);
            assert!(row.pattern.contains("$."));
        }
        assert_eq!(for_control("CloudWatch.15"), None);
        assert_eq!(for_name("someone-elses-filter"), None);
    }

    #[test]
    fn patterns_compare_without_insignificant_spaces() {
        let root = for_control("CloudWatch.1").unwrap().pattern;
        // The CIS Benchmark's spelling of the same filter.
        assert!(same_pattern(
            root,
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#
        ));
        // A term more, or a value changed, is another filter.
        assert!(!same_pattern(
            root,
            r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS}"#
        ));
        assert!(!same_pattern(r#"{$.a="x y"}"#, r#"{$.a="xy"}"#));
    }
}
