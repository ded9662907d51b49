//! Harm scenarios: iam.

#[allow(unused_imports)]
use crate::common::*;
