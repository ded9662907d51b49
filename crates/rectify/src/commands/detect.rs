//! `rectify detect FILES...`: signature detections over CloudTrail records,
//! printed, fed through the rules (`--feed`), or scored against labels
//! (`--labels`).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rectify_detect::evaluate;
use rectify_detect::signature::{Settings, SignatureDetector};
use rectify_detect::{Detection, Spec};
use rectify_engine::EngineOptions;
use serde_json::{json, Value};

use super::print_json;
use crate::cli::Output;
use crate::context;

/// Largest input file read, in bytes (after decompression).
const MAX_INPUT_BYTES: u64 = 1 << 30;

pub struct Args {
    pub files: Vec<PathBuf>,
    pub feed: bool,
    pub dry_run: bool,
    pub labels: Option<PathBuf>,
    pub list: bool,
    /// Run the anomaly detector too.
    pub anomaly: bool,
    /// VPC flow log files for the anomaly detector.
    pub flow_logs: Vec<PathBuf>,
}

/// The detections and settings the config sets (`detect:`), or the
/// built-in pack with default settings when it has none; the accounts
/// under `accounts:` count as the organization's too.
pub fn settings_of(config: &rectify_config::Config) -> (Vec<Spec>, Settings, bool) {
    let detect = config.detect.clone().unwrap_or_default();
    let mut organization = detect.organization_accounts.clone();
    for account in config.all_accounts() {
        if !organization.contains(&account.id) {
            organization.push(account.id);
        }
    }
    let settings = Settings {
        organization_accounts: organization,
        logging_buckets: detect.logging_buckets.clone(),
        max_keys: detect.max_keys,
    };
    (detect.specs, settings, detect.security_hub)
}

pub async fn run(config: Option<&Path>, args: Args, output: Output) -> anyhow::Result<u8> {
    let loaded = match context::load(config).await {
        Ok(l) => l,
        Err(diagnostics) => {
            context::print_diagnostics(&diagnostics);
            return Ok(2);
        }
    };
    let (specs, settings, to_security_hub) = settings_of(&loaded.config);
    if args.list {
        list(&specs, output);
        return Ok(0);
    }
    // Feeding opens the store: never a database made by accident.
    if args.feed && config.is_none() {
        eprintln!("error: {}", context::no_config_message("detect --feed"));
        return Ok(2);
    }
    if args.files.is_empty() && args.flow_logs.is_empty() {
        eprintln!("error: name CloudTrail log files to read (or - for standard input); `rectify detect --list` lists the detections");
        return Ok(2);
    }
    if output == Output::Csv {
        eprintln!("error: --output csv is for `rectify report`; use table, json or asff here");
        return Ok(2);
    }
    let mut texts = Vec::new();
    let mut flow_texts = Vec::new();
    let inputs = args
        .files
        .iter()
        .map(|f| (f, false))
        .chain(args.flow_logs.iter().map(|f| (f, true)));
    for (file, flow_log) in inputs {
        let text = match read_input(file) {
            // `aws cloudtrail lookup-events` output holds its records as
            // strings, Security Lake as OCSF events: read them out first.
            Ok(t) => rectify_detect::run::lookup_events_as_lines(&t)
                .or_else(|| rectify_detect::ocsf::records_as_lines(&t))
                .unwrap_or(t),
            Err(e) => {
                eprintln!("error: {}: {e:#}", file.display());
                return Ok(2);
            }
        };
        if flow_log || looks_like_flow_log(&text) {
            flow_texts.push(text);
        } else {
            texts.push((file, text));
        }
    }
    // Records are read from the text without a `Value` each, borrowing
    // from it; a line that is not JSON is counted and skipped.
    let mut records = Vec::new();
    let mut stats = rectify_detect::run::ReadStats::default();
    for (file, text) in &texts {
        match rectify_detect::run::read_records(text, &mut stats) {
            Ok(found) => records.extend(found),
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(2);
            }
        }
    }
    if stats.malformed > 0 || stats.not_records > 0 {
        eprintln!(
            "rectify: skipped: {} lines or entries not JSON, {} not CloudTrail records",
            stats.malformed, stats.not_records
        );
    }
    let read = records.len();
    let ids: Vec<(String, String)> = specs
        .iter()
        .map(|s| (s.id.clone(), s.technique.id.clone()))
        .collect();
    let mut detector =
        SignatureDetector::new(specs, &settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut anomaly_settings = loaded.config.anomaly.clone();
    anomaly_settings.enabled |= args.anomaly || !flow_texts.is_empty();
    let mut anomaly = rectify_detect::anomaly::AnomalyDetector::from_settings(
        &anomaly_settings,
        &loaded.config.aws.region,
    );
    let mut detections =
        rectify_detect::run::detect_records(&mut detector, anomaly.as_mut(), records);
    if let Some(anomaly) = &mut anomaly {
        for text in &flow_texts {
            detections.extend(anomaly.observe_flow_lines(text.as_bytes())?);
        }
        // The end of the input: every entity's last minute is scored.
        detections.extend(anomaly.flush());
        let stats = anomaly.stats();
        eprintln!(
            "rectify: anomaly detector: {} flow log records read, {} flow log lines refused",
            stats.flows, stats.flow_lines_refused
        );
    }
    eprintln!(
        "rectify: {read} CloudTrail records read, {} detection{}",
        detections.len(),
        if detections.len() == 1 { "" } else { "s" }
    );

    if let Some(labels_path) = &args.labels {
        let text = std::fs::read_to_string(labels_path)
            .with_context(|| format!("reading {}", labels_path.display()))?;
        let labels = match evaluate::read_labels(&text) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}: {e}", labels_path.display());
                return Ok(2);
            }
        };
        for unknown in evaluate::unknown_labels(&labels, &ids) {
            eprintln!(
                "warning: {}: label `{unknown}` names no enabled detection",
                labels_path.display()
            );
        }
        let scores = evaluate::evaluate(&labels, &detections, &ids);
        print_scores(&scores, output);
        return Ok(0);
    }

    if args.feed {
        let options = EngineOptions {
            force_dry_run: args.dry_run,
            worker_id: context::local_worker_id(),
            ..EngineOptions::default()
        };
        let (engine, loaded) = context::engine_from(loaded, options).await?;
        crate::organizations::load_once(&loaded).await;
        context::reclaim_abandoned(&engine).await?;
        if to_security_hub {
            crate::detect_import::import_now(&loaded, &detections).await;
        }
        let events = detections.iter().map(Detection::event).collect();
        return super::process::submit_and_report(
            &engine,
            events,
            "detector",
            output == Output::Json,
        )
        .await;
    }

    match output {
        Output::Json => print_json(&detections),
        Output::Asff => {
            let findings: Vec<Value> = detections.iter().map(Detection::finding).collect();
            print_json(&json!({ "Findings": findings }));
        }
        _ => print_table(&detections),
    }
    Ok(0)
}

/// Whether `text` is a VPC flow log (its first line a header or record of
/// the default format) rather than CloudTrail JSON.
fn looks_like_flow_log(text: &str) -> bool {
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    !first.starts_with(['{', '[']) && rectify_detect::anomaly::parse_flow_line(first).is_ok()
}

/// A file's text; `-` is standard input; gzip (as CloudTrail delivers its
/// log files) is read through.
fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut raw = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INPUT_BYTES)
            .read_to_end(&mut raw)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(path)?
            .take(MAX_INPUT_BYTES)
            .read_to_end(&mut raw)?;
    }
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(MAX_INPUT_BYTES)
            .read_to_string(&mut text)
            .context("decompressing gzip")?;
        return Ok(text);
    }
    String::from_utf8(raw).map_err(|e| anyhow::anyhow!("not UTF-8 text: {e}"))
}

fn list(specs: &[Spec], output: Output) {
    if output == Output::Json {
        print_json(&specs);
        return;
    }
    println!(
        "{:<38} {:<9} {:<10} {:<12} TITLE",
        "DETECTION", "SEVERITY", "TECHNIQUE", "THRESHOLD"
    );
    for s in specs {
        let threshold = match (&s.threshold, &s.paired_with) {
            (Some(t), _) => format!("{}/{}s", t.count, t.window_seconds),
            (None, Some(p)) => format!("pair/{}s", p.within_seconds),
            _ => "-".to_string(),
        };
        println!(
            "{:<38} {:<9} {:<10} {:<12} {}",
            s.id, s.severity, s.technique.id, threshold, s.title
        );
    }
}

fn print_table(detections: &[Detection]) {
    if detections.is_empty() {
        println!("no detections");
        return;
    }
    println!(
        "{:<20} {:<9} {:<38} {:<10} {:>5} {:<44} RESOURCE",
        "LAST SEEN", "SEVERITY", "DETECTION", "TECHNIQUE", "COUNT", "PRINCIPAL"
    );
    for d in detections {
        let technique = d.technique.as_ref().map(|t| t.id.as_str()).unwrap_or("-");
        let resource = d.resources.first().map(|r| r.id.as_str()).unwrap_or("-");
        println!(
            "{:<20} {:<9} {:<38} {:<10} {:>5} {:<44} {}",
            d.last_seen,
            d.severity,
            d.detector,
            technique,
            d.count,
            d.principal.as_deref().unwrap_or("-"),
            resource
        );
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn print_scores(scores: &[evaluate::Score], output: Output) {
    if output == Output::Json {
        print_json(&scores);
        return;
    }
    println!(
        "{:<38} {:<10} {:>9} {:>6} {:>6} {:>5} {:>9} {:>6}",
        "DETECTION", "TECHNIQUE", "INCIDENTS", "FOUND", "FIRED", "TRUE", "PRECISION", "RECALL"
    );
    for s in scores {
        println!(
            "{:<38} {:<10} {:>9} {:>6} {:>6} {:>5} {:>9} {:>6}",
            s.detection,
            s.technique,
            s.incidents,
            s.found,
            s.fired,
            s.true_positives,
            ratio(s.precision),
            ratio(s.recall)
        );
    }
}
