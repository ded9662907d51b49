//! Harm scenarios: s3.

#[allow(unused_imports)]
use crate::common::*;
