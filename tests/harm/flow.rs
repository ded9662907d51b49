//! Harm scenarios: flow.

#[allow(unused_imports)]
use crate::common::*;
