//! What an entity has done before (APIs called, regions, networks,
//! destinations), as 32-bit fingerprints in a set of bounded size.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A stable 64-bit FNV-1a hash: fingerprints are saved in the store, so
/// they must not change between runs or releases (the standard library's
/// hasher is seeded per process).
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprints with the bucket (minute) they were last seen in. Full, it
/// forgets the least recently seen half at once, so an entity that keeps
/// touching more things than it can hold costs amortized constant time
/// per record and never more memory than `cap` entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<(u32, i64)>", into = "Vec<(u32, i64)>")]
pub(crate) struct SeenSet {
    last_seen: HashMap<u32, i64>,
}

impl SeenSet {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last_seen.len()
    }

    /// Marks `fp` seen at `minute`: true when it was not known.
    pub(crate) fn observe(&mut self, fp: u64, minute: i64, cap: usize) -> bool {
        // Folding the hash keeps its high bits' entropy in 32.
        let key = (fp ^ (fp >> 32)) as u32;
        if let Some(at) = self.last_seen.get_mut(&key) {
            *at = (*at).max(minute);
            return false;
        }
        if self.last_seen.len() >= cap.max(1) {
            self.forget_older_half();
        }
        self.last_seen.insert(key, minute);
        true
    }

    /// Forgets the least recently seen until at most `cap` are left (for
    /// state saved under a larger cap).
    pub(crate) fn trim(&mut self, cap: usize) {
        while self.last_seen.len() > cap.max(1) {
            self.forget_older_half();
        }
    }

    fn forget_older_half(&mut self) {
        // Ordered by (last seen, fingerprint): ties are broken by value,
        // so what is kept never depends on the map's order, and a
        // restored set forgets exactly what the saved one would have.
        let mut entries: Vec<(i64, u32)> = self.last_seen.iter().map(|(k, at)| (*at, *k)).collect();
        let keep = entries.len() / 2;
        if keep == 0 {
            self.last_seen.clear();
            return;
        }
        let first_kept = entries.len() - keep;
        let (_, pivot, _) = entries.select_nth_unstable(first_kept);
        let pivot = *pivot;
        self.last_seen.retain(|k, at| (*at, *k) >= pivot);
    }
}

impl From<Vec<(u32, i64)>> for SeenSet {
    fn from(items: Vec<(u32, i64)>) -> Self {
        SeenSet {
            last_seen: items.into_iter().collect(),
        }
    }
}

impl From<SeenSet> for Vec<(u32, i64)> {
    fn from(set: SeenSet) -> Self {
        let mut items: Vec<(u32, i64)> = set.last_seen.into_iter().collect();
        items.sort_unstable();
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_separate_their_parts() {
        assert_eq!(
            fingerprint(&[b"ec2", b"DescribeInstances"]),
            fingerprint(&[b"ec2", b"DescribeInstances"])
        );
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
    }

    #[test]
    fn a_full_set_forgets_the_least_recently_seen_and_stays_bounded() {
        let mut set = SeenSet::default();
        for i in 0..10u64 {
            assert!(set.observe(i, i as i64, 10));
        }
        // Touch 0..5 again later: they are the recent ones now.
        for i in 0..5u64 {
            assert!(!set.observe(i, 100, 10));
        }
        assert!(set.observe(1_000, 101, 10));
        assert!(set.len() <= 10);
        for i in 0..5u64 {
            assert!(!set.observe(i, 102, 10), "{i} was recent and is kept");
        }
        for i in 0..1_000_000u64 {
            set.observe(i * 7919, 200, 10);
        }
        assert!(set.len() <= 10);
    }

    #[test]
    fn the_set_round_trips_through_json() {
        let mut set = SeenSet::default();
        set.observe(fingerprint(&[b"x"]), 5, 4);
        let json = serde_json::to_string(&set).unwrap();
        let back: SeenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.len(), 1);
    }
}
