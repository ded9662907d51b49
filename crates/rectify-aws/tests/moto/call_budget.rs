//! Calls per fix: each action's declared count against what it sends.
