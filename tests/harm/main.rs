//! The harm suite: accounts that look wrong but are meant to be so, built
//! in the emulator. Each scenario runs the built-in pack in `auto` and
//! asserts that rectify makes no harmful change, resolves no finding whose
//! resource still fails its control, and gives a reason a person can act
//! on. One file per area; the scenarios share the end-to-end support.

#[path = "../../crates/rectify/tests/support/mod.rs"]
mod support;

mod common;
mod containment;
mod ec2;
mod ec2_storage;
#[path = "../../crates/rectify-aws/tests/support/fixtures.rs"]
mod fixtures;
mod flow;
mod iam;
mod s3;
