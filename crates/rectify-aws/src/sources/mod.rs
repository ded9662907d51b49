//! Event sources that need the AWS SDK. Each hands what it receives to an
//! [`Intake`](rectify_model::Intake) and acknowledges only what became
//! durable.

pub mod securityhub;
pub mod sqs;
