pub mod journal;
pub mod noop;
