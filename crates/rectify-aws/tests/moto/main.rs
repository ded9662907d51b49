//! Integration tests against a real moto server (and the Security Hub
//! stand-in), through real SDK calls.

#[path = "../support/mod.rs"]
mod support;

mod anchor;
mod ec2;
mod ec2_storage;
mod iam;
mod s3;
mod securityhub;
mod securityhub_source;
mod ses;
mod sns;
mod sqs_source;
