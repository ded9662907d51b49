//! Harm scenarios: ec2.

#[allow(unused_imports)]
use crate::common::*;
