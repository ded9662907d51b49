//! The anomaly detector on the labelled corpus (tests/support/
//! anomaly_corpus.rs): every attack is flagged, and benign traffic after
//! warm-up raises few findings. The figures in docs/detections.md come
//! from `anomaly_evaluation_report` (ignored; run it with `--ignored
//! --nocapture`).

#[path = "support/anomaly_corpus.rs"]
mod corpus;

use rectify_detect::anomaly::{AnomalyDetector, Kind};

/// Benign findings allowed over the corpus's eight hours (all kinds).
const MAX_FALSE_POSITIVES: usize = 2;

#[test]
fn attacks_in_the_corpus_are_flagged_and_benign_traffic_stays_quiet() {
    let (cloudtrail, ct_attacks) = corpus::cloudtrail(1, true);
    let (flows, flow_attacks) = corpus::flows(1, true);
    let mut detector = AnomalyDetector::new(&corpus::settings(), "us-east-1");
    let detections = corpus::run(&mut detector, &cloudtrail, &flows);
    let attacks: Vec<_> = ct_attacks.into_iter().chain(flow_attacks).collect();
    let eval = corpus::evaluate(&detections, &attacks);
    for (name, score) in &eval.attacks {
        assert!(score.is_some(), "not flagged: {name}; {eval:#?}");
    }
    assert!(
        eval.false_positives.len() <= MAX_FALSE_POSITIVES,
        "{} benign detections: {:#?}",
        eval.false_positives.len(),
        eval.false_positives
    );
    // Every record was counted and scored buckets exist for every kind.
    assert_eq!(detector.stats().records_without_time, 0);
    assert_eq!(detector.stats().flow_lines_refused, 0);
    for kind in Kind::ALL {
        assert!(detector.model_stats(kind).buckets_scored > 100, "{kind:?}");
    }
    // A finding names what made it, with the values as evidence.
    let brute = detections
        .iter()
        .find(|d| {
            d.detector == "anomaly-principal"
                && d.principal.as_deref() == Some(attacks[0].entities[0].as_str())
        })
        .expect("the brute force is flagged");
    assert_eq!(brute.account, corpus::ACCOUNT);
    assert_eq!(brute.resources[0].kind, "AwsIamUser");
    assert!(
        brute.evidence["features"]["errors"].as_u64().unwrap() >= 30,
        "{}",
        brute.evidence
    );
    assert!(
        brute.description.contains("Mostly:"),
        "{}",
        brute.description
    );
    assert!(brute.evidence["score"].as_f64().unwrap() > corpus::settings().threshold);
    let finding = brute.finding();
    assert_eq!(finding["Types"][0], "Unusual Behaviors");
    assert_eq!(finding["GeneratorId"], "rectify-detector/anomaly-principal");
}

#[test]
fn benign_traffic_alone_stays_quiet() {
    let (cloudtrail, _) = corpus::cloudtrail(2, false);
    let (flows, _) = corpus::flows(2, false);
    let mut detector = AnomalyDetector::new(&corpus::settings(), "us-east-1");
    let detections = corpus::run(&mut detector, &cloudtrail, &flows);
    assert!(
        detections.len() <= MAX_FALSE_POSITIVES,
        "{} benign detections: {:#?}",
        detections.len(),
        corpus::evaluate(&detections, &[]).false_positives
    );
}

/// The table in docs/detections.md: recall and precision over five seeds
/// at several thresholds. Scores do not depend on the threshold (it only
/// decides which buckets are reported), so one run at a low threshold,
/// filtered, gives every row.
#[test]
#[ignore = "prints the evaluation table for docs/detections.md"]
fn anomaly_evaluation_report() {
    const THRESHOLDS: [f64; 5] = [2.0, 2.5, 3.0, 3.5, 4.0];
    let seeds = 1..=5u64;
    let low = rectify_detect::anomaly::AnomalySettings {
        threshold: 1.5,
        ..corpus::settings()
    };
    let mut runs = Vec::new();
    for seed in seeds.clone() {
        let (cloudtrail, ct_attacks) = corpus::cloudtrail(seed, true);
        let (flows, flow_attacks) = corpus::flows(seed, true);
        let mut detector = AnomalyDetector::new(&low, "us-east-1");
        let detections = corpus::run(&mut detector, &cloudtrail, &flows);
        let attacks: Vec<_> = ct_attacks.into_iter().chain(flow_attacks).collect();
        let (cloudtrail, _) = corpus::cloudtrail(seed + 100, false);
        let (flows, _) = corpus::flows(seed + 100, false);
        let mut detector = AnomalyDetector::new(&low, "us-east-1");
        let benign = corpus::run(&mut detector, &cloudtrail, &flows);
        runs.push((detections, attacks, benign));
    }
    let above = |ds: &[rectify_detect::Detection], t: f64| -> Vec<rectify_detect::Detection> {
        ds.iter()
            .filter(|d| d.evidence["score"].as_f64().unwrap_or_default() > t)
            .cloned()
            .collect()
    };
    println!("| threshold | attacks flagged (recall) | precision | benign detections, attack corpora | benign detections, benign-only corpora |");
    println!("|---|---|---|---|---|");
    for t in THRESHOLDS {
        let (mut found, mut total, mut tp, mut fp, mut benign) = (0, 0, 0, 0, 0);
        for (detections, attacks, quiet) in &runs {
            let eval = corpus::evaluate(&above(detections, t), attacks);
            found += eval.detected();
            total += attacks.len();
            tp += eval.true_positives;
            fp += eval.false_positives.len();
            benign += above(quiet, t).len();
        }
        println!(
            "| {t:.1} | {found}/{total} ({:.2}) | {tp}/{} ({:.2}) | {fp} | {benign} |",
            found as f64 / total as f64,
            tp + fp,
            tp as f64 / (tp + fp).max(1) as f64
        );
    }
    let default = corpus::settings().threshold;
    println!();
    println!("| attack | technique | flagged at {default} | lowest first score |");
    println!("|---|---|---|---|");
    let names: Vec<(&str, &str)> = runs[0].1.iter().map(|a| (a.name, a.technique)).collect();
    for (i, (name, technique)) in names.iter().enumerate() {
        let mut hits = 0;
        let mut lowest = f64::MAX;
        for (detections, attacks, _) in &runs {
            let eval = corpus::evaluate(&above(detections, default), attacks);
            if let Some(score) = eval.attacks[i].1 {
                hits += 1;
                lowest = lowest.min(score);
            }
        }
        println!(
            "| {name} | {technique} | {hits} of {} runs | {lowest:.2} |",
            runs.len()
        );
    }
    for (seed, (detections, attacks, quiet)) in runs.iter().enumerate() {
        for (detector, entity, minute, score) in
            corpus::evaluate(&above(detections, 2.5), attacks).false_positives
        {
            eprintln!(
                "seed {}: benign {detector} {entity} minute {minute} score {score:.2}",
                seed + 1
            );
        }
        for d in above(quiet, 2.5) {
            eprintln!(
                "seed {} benign-only: {} {}",
                seed + 101,
                d.detector,
                d.description
            );
        }
    }
}
