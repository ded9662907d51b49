//! Integration tests against a real moto server (and the Security Hub
//! stand-in), through real SDK calls.

#[path = "../support/mod.rs"]
mod support;

mod anchor;
mod call_budget;
mod checks;
mod cloudtrail_trail;
mod cloudwatch_alarms;
mod containment;
mod ec2;
mod ec2_controls;
mod ec2_storage;
mod iam;
mod iam_keys_and_encryption;
mod logging_and_monitoring;
mod public_resources;
mod s3;
mod s3_controls;
mod scan_from_config;
mod scan_verdicts_only;
mod securityhub;
mod securityhub_source;
mod ses;
mod sns;
mod sqs_source;
