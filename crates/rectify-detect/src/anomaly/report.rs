//! An anomalous bucket as a [`Detection`]: the score and the feature
//! values as evidence, the features that contributed most named in the
//! description.

use serde_json::json;

use super::features::{Bucket, Kind, Usual};
use super::model::{Context, Episode};
use super::seen::fingerprint;
use crate::{DetectedResource, Detection};

/// Dimensions named in the description at most.
const MAX_NAMED: usize = 3;
/// A dimension is named when it carries at least this share of the score.
const MIN_SHARE: f64 = 0.15;

pub(crate) struct Scored<'a> {
    pub kind: Kind,
    pub key: &'a str,
    pub context: &'a Context,
    pub bucket: &'a Bucket,
    pub usual: &'a Usual,
    pub score: f64,
    pub threshold: f64,
    /// The score's share per dimension (may be empty).
    pub attribution: &'a [f64],
    pub episode: &'a Episode,
}

/// The dimensions that made the score, most first: at least one, those
/// with a fair share, at most [`MAX_NAMED`]; the two views of one level
/// ("calls" and "calls against the usual") count as one.
pub(crate) fn top_dimensions(attribution: &[f64]) -> Vec<usize> {
    let mut merged: Vec<(usize, f64)> = Vec::new();
    for (i, a) in attribution.iter().enumerate() {
        let a = if a.is_finite() { a.max(0.0) } else { 0.0 };
        // Dimensions 0 and 1 both measure the level.
        let at = if i == 1 { 0 } else { i };
        match merged.iter_mut().find(|(d, _)| *d == at) {
            Some((_, total)) => *total += a,
            None => merged.push((at, a)),
        }
    }
    let sum: f64 = merged.iter().map(|(_, a)| a).sum();
    merged.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut top: Vec<usize> = merged
        .iter()
        .filter(|(_, a)| sum > 0.0 && *a >= MIN_SHARE * sum)
        .map(|(d, _)| *d)
        .take(MAX_NAMED)
        .collect();
    if top.is_empty() {
        if let Some((d, _)) = merged.first() {
            top.push(*d);
        }
    }
    top
}

pub(crate) fn detection(s: &Scored) -> Detection {
    let names = s.kind.feature_names();
    let top = top_dimensions(s.attribution);
    let named: Vec<String> = top
        .iter()
        .map(|d| {
            let name = if *d == 0 { names[0] } else { names[*d] };
            format!("{name}: {}", s.bucket.describe(s.kind, *d, s.usual))
        })
        .collect();
    let top_names: Vec<&str> = top.iter().map(|d| names[*d]).collect();
    let when = rfc3339(s.bucket.minute.saturating_mul(60));
    let who = match s.kind {
        Kind::Principal => format!("Principal {}", s.key),
        Kind::Account => format!("Account {}", s.key),
        Kind::Flow => match s.key.split_once(':') {
            Some(("eni", eni)) => format!("Network interface {eni}"),
            Some((_, addr)) => format!("Source address {addr}"),
            None => s.key.to_string(),
        },
    };
    let mut description = format!(
        "{who} behaved unlike before in the minute from {when} (anomaly score {:.2}, threshold {:.2}). Mostly: {}.",
        s.score,
        s.threshold,
        named.join("; ")
    );
    if !s.bucket.examples.is_empty() {
        description.push_str(&format!(" New: {}.", s.bucket.examples.join(", ")));
    }
    // ASFF descriptions are at most 1,024 characters.
    description.truncate(super::network::truncate(&description, 1024).len());
    let title = match s.kind {
        Kind::Principal => "Unusual API activity by a principal",
        Kind::Account => "Unusual API activity in an account",
        Kind::Flow => "Unusual network traffic",
    };
    let severity = if s.score >= 2.0 * s.threshold {
        "HIGH"
    } else {
        "MEDIUM"
    };
    let partition = match s.context.partition.as_str() {
        "" => "aws",
        p => p,
    };
    Detection {
        detector: s.kind.detector().to_string(),
        title: title.to_string(),
        description,
        severity: severity.to_string(),
        technique: None,
        account: s.context.account.clone(),
        region: s.context.region.clone(),
        partition: partition.to_string(),
        principal: (s.kind == Kind::Principal).then(|| s.key.to_string()),
        resources: resources(s.kind, s.key, s.context, partition),
        first_seen: rfc3339(s.episode.start.saturating_mul(60)),
        last_seen: rfc3339(s.bucket.minute.saturating_mul(60).saturating_add(59)),
        count: s.episode.count,
        key: format!(
            "{:016x}/{}",
            fingerprint(&[s.key.as_bytes()]),
            s.episode.start
        ),
        evidence: json!({
            "entity": s.key,
            "score": s.score,
            "threshold": s.threshold,
            "minute": when,
            "features": s.bucket.evidence(s.kind, s.usual),
            "top_features": top_names,
            "new": s.bucket.examples,
        }),
    }
}

fn resources(kind: Kind, key: &str, context: &Context, partition: &str) -> Vec<DetectedResource> {
    let resource = |kind: &str, id: String| DetectedResource {
        kind: kind.to_string(),
        id,
    };
    match kind {
        // The account itself is the default resource of a finding.
        Kind::Account => Vec::new(),
        Kind::Principal if key.contains(":user/") => vec![resource("AwsIamUser", key.to_string())],
        Kind::Principal if key.contains(":role/") => vec![resource("AwsIamRole", key.to_string())],
        Kind::Principal if key.ends_with(":root") => Vec::new(),
        Kind::Principal => vec![resource("Other", key.to_string())],
        Kind::Flow => match key.split_once(':') {
            Some(("eni", eni)) if !context.account.is_empty() && !context.region.is_empty() => {
                vec![resource(
                    "AwsEc2NetworkInterface",
                    format!(
                        "arn:{partition}:ec2:{}:{}:network-interface/{eni}",
                        context.region, context.account
                    ),
                )]
            }
            Some(("eni", eni)) => vec![resource("AwsEc2NetworkInterface", eni.to_string())],
            Some((_, addr)) => vec![resource("Other", addr.to_string())],
            None => vec![resource("Other", key.to_string())],
        },
    }
}

/// RFC 3339 of seconds since the epoch; out of range reads as the epoch.
pub(crate) fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_dimensions_merge_the_level_and_keep_fair_shares() {
        assert_eq!(
            top_dimensions(&[0.1, 0.3, 0.0, 0.0, 1.0, 0.0, 0.05]),
            vec![4, 0]
        );
        assert_eq!(top_dimensions(&[0.0; 7]), vec![0]);
        assert_eq!(top_dimensions(&[]), Vec::<usize>::new());
        assert_eq!(top_dimensions(&[f64::NAN, 0.0, 1.0]), vec![2]);
        assert_eq!(
            top_dimensions(&[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]).len(),
            MAX_NAMED
        );
    }

    #[test]
    fn times_out_of_range_do_not_panic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_540_400), "2026-12-06T07:00:00Z");
    }
}
