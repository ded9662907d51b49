//! Ingest-to-durable-job throughput and latency, and a whole-pipeline load
//! run, on SQLite and PostgreSQL.
//!
//! ```text
//! cargo bench -p rectify-engine --bench pipeline               # all figures
//! cargo bench -p rectify-engine --bench pipeline -- sqlite     # SQLite only
//! RECTIFY_BENCH_PG_LOAD_EVENTS=100000  (default 10000: PostgreSQL's whole-pipeline run is slow)
//! RECTIFY_BENCH_REPLICAS=1,3            replica counts of the PostgreSQL load and sustain runs
//! RECTIFY_BENCH_SUSTAIN_SECONDS=600     length of the ingest-and-drain runs (sqlite-sustain, postgres-sustain)
//! RECTIFY_BENCH_SUSTAIN_RATE=1000       events/s offered in them
//! RECTIFY_BENCH_CONCURRENCY=16          jobs a replica runs at once (execution.concurrency)
//! RECTIFY_BENCH_FIX_MS=100              how long each fix's apply takes (default 0), as the AWS
//!                                       calls of a fix take against AWS
//! RECTIFY_BENCH_INGEST=1000x4,100x8     only these ingest runs (requests of N events x clients)
//! RECTIFY_BENCH_TOTAL=400000            events per ingest run
//! RECTIFY_BENCH_SEQUENTIAL_IDS=1        ids in order instead of random UUIDs
//! RECTIFY_BENCH_PROGRESS=1              rate and bytes written per event every 2 s
//! RECTIFY_BENCH_KEEP=DIR                keep the SQLite files there
//! RECTIFY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test (default; each run uses its own schema)
//! ```
//!
//! "Durable job" means `Engine::submit` has returned: the event, the
//! finding and the job are committed to the store. Each figure prints as a
//! markdown row for docs/performance.md.

// The allocator of the `rectify` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::Event;
use serde_json::json;

/// The configuration after `store:`; `execution.concurrency` is
/// RECTIFY_BENCH_CONCURRENCY (default 16), and each fix's apply takes
/// RECTIFY_BENCH_FIX_MS milliseconds (default 0).
fn rules() -> String {
    let concurrency = std::env::var("RECTIFY_BENCH_CONCURRENCY").unwrap_or_else(|_| "16".into());
    RULES
        .replace("{concurrency}", &concurrency)
        .replace("{fix_ms}", &fix_ms().to_string())
}

/// RECTIFY_BENCH_FIX_MS (default 0): how long each fix's apply takes.
fn fix_ms() -> u64 {
    std::env::var("RECTIFY_BENCH_FIX_MS").map_or(0, |ms| {
        ms.parse()
            .expect("RECTIFY_BENCH_FIX_MS: a whole number of milliseconds")
    })
}

/// ", each fix N ms" when fixes take time.
fn fix_time() -> String {
    match fix_ms() {
        0 => String::new(),
        ms => format!(", each fix {ms} ms"),
    }
}

const RULES: &str = "accounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: {concurrency}\nguardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\nrules:\n  - id: noop\n    pattern: {source: [bench.test]}\n    action: local.noop\n    mode: auto\n    params: {delay_ms: {fix_ms}}\n";

/// A Security Hub finding event as EventBridge delivers it (one finding;
/// about 1.3 KB), so ingest parses and stores a real ASFF finding.
fn event(i: usize) -> Event {
    let raw = event_json(i);
    rectify_ingest::event_from_value(serde_json::from_slice(&raw).unwrap(), &raw).unwrap()
}

/// The event's JSON text, as a client sends it.
/// Event and finding ids: random-looking UUIDs, as EventBridge and
/// Security Hub give them (each insert lands on a random page of the
/// stores' lookup indexes), or, with RECTIFY_BENCH_SEQUENTIAL_IDS set,
/// `bench-{i}` and `{i}` (inserts land next to each other).
fn ids(i: usize) -> (String, String) {
    if std::env::var_os("RECTIFY_BENCH_SEQUENTIAL_IDS").is_some() {
        return (format!("bench-{i}"), i.to_string());
    }
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    };
    let uuid = |seed: u64| {
        let (a, b) = (mix(seed), mix(seed ^ 0x9e3779b97f4a7c15));
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    };
    (uuid(i as u64), uuid(!(i as u64)))
}

fn event_json(i: usize) -> Vec<u8> {
    let (event_id, finding_id) = ids(i);
    // Each finding updated a millisecond after the one before, as a stream
    // of imports is.
    let ms = i % 86_400_000;
    let updated = format!(
        "2026-11-29T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
    let body = json!({
        "version": "0", "id": event_id, "detail-type": "Security Hub Findings - Imported",
        "source": "bench.test", "account": "111122223333", "region": "us-east-1",
        "time": "2026-11-29T10:00:00Z",
        "resources": [format!("arn:aws:securityhub:us-east-1:111122223333:security-control/S3.8/finding/{finding_id}")],
        "detail": {"findings": [{
            "SchemaVersion": "2018-10-08",
            "Id": format!("arn:aws:securityhub:us-east-1:111122223333:security-control/S3.8/finding/{finding_id}"),
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
            "GeneratorId": "security-control/S3.8",
            "AwsAccountId": "111122223333",
            "Region": "us-east-1",
            "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
            "CreatedAt": "2026-11-29T09:00:00.000Z",
            "UpdatedAt": updated,
            "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "HIGH"},
            "Title": "S3 general purpose buckets should block public access",
            "Description": "This control checks whether an S3 general purpose bucket blocks public access at the bucket level.",
            "Remediation": {"Recommendation": {"Text": "For information on how to correct this issue, consult the AWS Security Hub controls documentation.", "Url": "https://docs.aws.amazon.com/console/securityhub/S3.8/remediation"}},
            "ProductFields": {"RelatedAWSResources:0/type": "AWS::Config::ConfigRule", "aws/securityhub/ProductName": "Security Hub"},
            "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::bench-{i}"), "Partition": "aws", "Region": "us-east-1"}],
            "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
            "WorkflowState": "NEW", "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE"
        }]}
    });
    serde_json::to_vec(&body).unwrap()
}

/// A request body of events `range` (a JSON array), as a client sends it.
fn request(range: std::ops::Range<usize>) -> Vec<u8> {
    let mut body = b"[".to_vec();
    for i in range {
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend(event_json(i));
    }
    body.push(b']');
    body
}

/// Parses a request body as the HTTP source does, then submits it: the
/// whole of ingest to durable job.
async fn ingest(engine: &Engine, body: &[u8]) {
    let events = rectify_ingest::parse_body(body, &rectify_ingest::Limits::default()).unwrap();
    engine.submit(events, "bench").await.unwrap();
}

async fn engine(store_url: &str) -> Engine {
    let config = Loader::new()
        .load_str(
            &format!("store: {store_url}\n{}", rules()),
            std::path::Path::new("bench.yaml"),
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
    let store = rectify_store::open(store_url).await.unwrap();
    Engine::new(
        Arc::new(config),
        store,
        rectify_local::catalog(),
        Arc::new(NoFindingUpdates),
        Arc::new(NoNotifications),
        EngineOptions::default(),
    )
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Bytes this process has handed to write(2) so far (WAL, checkpoints).
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Two figures of the machine itself, printed before the table, so that
/// runs on different machines (or the same one on a busy day) can be set
/// side by side: SHA-256 over 256 MiB on one core, and 64 MiB written to
/// `dir` in 1 MiB writes, each followed by fdatasync.
fn machine_calibration(dir: &std::path::Path) -> (f64, f64) {
    use sha2::Digest;
    use std::io::Write;
    let block = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let mut hasher = sha2::Sha256::new();
    for _ in 0..256 {
        hasher.update(&block);
    }
    std::hint::black_box(hasher.finalize());
    let cpu = 256.0 / start.elapsed().as_secs_f64();
    let path = dir.join("calibration.bin");
    let mut file = std::fs::File::create(&path).unwrap();
    let start = Instant::now();
    for _ in 0..64 {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    }
    let disk = 64.0 / start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(path);
    (cpu, disk)
}

/// With RECTIFY_BENCH_PROGRESS set: every 2 s, the rate of the last
/// interval and the bytes written per event, to see a run slow down as
/// the database grows.
async fn progress_report(done: Arc<std::sync::atomic::AtomicUsize>) {
    let (mut last_n, mut last_w, mut last_t) = (0, written_bytes(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (n, w, t) = (
            done.load(std::sync::atomic::Ordering::Relaxed),
            written_bytes(),
            Instant::now(),
        );
        let events = n - last_n;
        eprintln!(
            "  {n} events: {:.0} events/s, {:.0} bytes written per event",
            events as f64 / (t - last_t).as_secs_f64(),
            (w - last_w) as f64 / events.max(1) as f64
        );
        (last_n, last_w, last_t) = (n, w, t);
    }
}

/// Events per second with `clients` concurrent clients per replica, each
/// sending requests of `batch` events; `replicas` engines, each on its own
/// store handle. Request bodies are generated before the clock starts;
/// parsing them is part of what is timed.
async fn throughput(
    urls: &[String],
    total: usize,
    batch: usize,
    clients: usize,
) -> (f64, Duration, Duration) {
    let mut engines = Vec::new();
    for url in urls {
        engines.push(Arc::new(engine(url).await));
    }
    let senders = engines.len() * clients;
    let per = total / senders;
    let mut work = Vec::new();
    for s in 0..senders {
        let bodies: Vec<Vec<u8>> = (s * per..(s + 1) * per)
            .step_by(batch)
            .map(|i| request(i..(i + batch).min((s + 1) * per)))
            .collect();
        work.push((engines[s % engines.len()].clone(), bodies));
    }
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = std::env::var_os("RECTIFY_BENCH_PROGRESS").map(|_| {
        let done = done.clone();
        tokio::spawn(progress_report(done))
    });
    let mut tasks = Vec::new();
    for (e, bodies) in work {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for body in bodies {
                let t = Instant::now();
                ingest(&e, &body).await;
                latencies.push(t.elapsed());
                done.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
    }
    latencies.sort();
    (
        (per * senders) as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

/// Latency from arrival to durable job at a fixed offered rate: one event
/// per request, every `1/rate` s, each request on its own task (as the
/// HTTP server runs them); the group committer batches whatever is in
/// flight.
async fn latency_at_rate(url: &str, rate: usize, seconds: u64) -> (Duration, Duration, Duration) {
    let engine = Arc::new(engine(url).await);
    let total = rate * seconds as usize;
    let bodies: Vec<Vec<u8>> = (0..total).map(|i| event_json(1_000_000 + i)).collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for (i, body) in bodies.into_iter().enumerate() {
        let arrival = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(arrival).await;
        let e = engine.clone();
        tasks.push(tokio::spawn(async move {
            ingest(&e, &body).await;
            // From the moment the request was due, so a late start counts.
            arrival.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    latencies.sort();
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
    )
}

/// Open jobs (pending, running, retrying) and succeeded ones.
async fn open_and_done(engine: &Engine) -> (u64, u64) {
    let counts = engine.store().count_jobs().await.unwrap();
    let open = ["pending", "running", "retrying"]
        .iter()
        .map(|s| counts.get(*s).copied().unwrap_or(0))
        .sum();
    (open, counts.get("succeeded").copied().unwrap_or(0))
}

/// One engine per URL (each its own store handle), each running its
/// worker loop until `stop` turns true.
async fn replicas_working(
    urls: &[String],
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Vec<Arc<Engine>>, Vec<tokio::task::JoinHandle<()>>) {
    let mut engines = Vec::new();
    let mut workers = Vec::new();
    for url in urls {
        let e = Arc::new(engine(url).await);
        let stop = stop.clone();
        let worker = e.clone();
        workers.push(tokio::spawn(async move {
            worker.work(stop).await.unwrap();
        }));
        engines.push(e);
    }
    (engines, workers)
}

/// Events through the whole pipeline (submit, claim, check, apply, verify,
/// effects, audit) with the no-op action, on one engine per URL: the
/// events are submitted in requests of 500 spread over the replicas, and
/// every replica works the shared queue.
async fn whole_pipeline(urls: &[String], total: usize) -> f64 {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (engines, workers) = replicas_working(urls, stop_rx).await;
    let start = Instant::now();
    for (n, chunk) in (0..total).collect::<Vec<_>>().chunks(500).enumerate() {
        let events: Vec<Event> = chunk.iter().map(|i| event(5_000_000 + i)).collect();
        engines[n % engines.len()]
            .submit(events, "bench")
            .await
            .unwrap();
    }
    while open_and_done(&engines[0]).await.0 > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let (_, done) = open_and_done(&engines[0]).await;
    assert_eq!(done as usize, total);
    total as f64 / elapsed.as_secs_f64()
}

/// What an ingest-and-drain run measured.
struct Sustained {
    offered: usize,
    accepted: usize,
    /// Jobs that succeeded while ingest ran.
    drained: u64,
    /// Jobs still open when ingest stopped.
    backlog: u64,
    /// Jobs per second drained in the slowest minute (the whole run when
    /// shorter).
    slowest_minute: f64,
    ingest_p99: Duration,
}

/// Ingest and drain at once: one event per request at `rate` a second
/// (each request on its own task, as the HTTP server runs them), spread
/// over the replicas, while every replica works the queue, for `seconds`.
/// Every 10 s the backlog is printed to stderr.
async fn ingest_and_drain(urls: &[String], rate: usize, seconds: u64) -> Sustained {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (engines, workers) = replicas_working(urls, stop_rx).await;
    let total = rate * seconds as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = {
        let e = engines[0].clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut minute_start = (start, 0u64);
            let mut slowest = f64::INFINITY;
            let mut last_print = start;
            // Counted every 10 s: a count reads the whole jobs table, and
            // counting every second cost PostgreSQL a third of a core by
            // the end of a ten-minute run.
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let (open, done) = open_and_done(&e).await;
                let now = tokio::time::Instant::now();
                if now - last_print >= Duration::from_secs(10) {
                    eprintln!(
                        "  {:>4.0} s: {} accepted, {done} drained, {open} open",
                        (now - start).as_secs_f64(),
                        accepted.load(std::sync::atomic::Ordering::Relaxed)
                    );
                    last_print = now;
                }
                if now - minute_start.0 >= Duration::from_secs(60) {
                    let rate =
                        (done - minute_start.1) as f64 / (now - minute_start.0).as_secs_f64();
                    slowest = slowest.min(rate);
                    minute_start = (now, done);
                }
                if now - start >= Duration::from_secs(seconds) {
                    if slowest.is_infinite() {
                        slowest = done as f64 / (now - start).as_secs_f64();
                    }
                    return (slowest, open, done);
                }
            }
        })
    };
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let arrival = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(arrival).await;
        let e = engines[i % engines.len()].clone();
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            let body = event_json(20_000_000 + i);
            ingest(&e, &body).await;
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            arrival.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    let (slowest_minute, backlog, drained) = watcher.await.unwrap();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    latencies.sort();
    Sustained {
        offered: total,
        accepted: accepted.load(std::sync::atomic::Ordering::Relaxed),
        drained,
        backlog,
        slowest_minute,
        ingest_p99: percentile(&latencies, 0.99),
    }
}

fn print_sustained(store: &str, replicas: usize, rate: usize, seconds: u64, s: &Sustained) {
    println!(
        "| {store} | {replicas} | ingest at {rate} events/s and drain at once, {seconds} s | {} | \
         {} accepted, {} jobs drained ({:.0} jobs/s), {} open at the end; slowest minute \
         {:.0} jobs/s; ingest p99 {:.1?} |",
        s.offered,
        s.accepted,
        s.drained,
        s.drained as f64 / seconds as f64,
        s.backlog,
        s.slowest_minute,
        s.ingest_p99
    );
}

/// RECTIFY_BENCH_SUSTAIN_SECONDS (default 600) and
/// RECTIFY_BENCH_SUSTAIN_RATE (default 1000 events/s) of the
/// ingest-and-drain runs.
fn sustain_settings() -> (usize, u64) {
    let get = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        get("RECTIFY_BENCH_SUSTAIN_RATE", 1000) as usize,
        get("RECTIFY_BENCH_SUSTAIN_SECONDS", 600),
    )
}

/// A fresh schema on the PostgreSQL server for one run.
async fn postgres_db(base: &str, name: &str) -> Option<String> {
    let drop = std::process::Command::new("psql")
        .args([
            base,
            "-qc",
            &format!("SET client_min_messages = warning; DROP SCHEMA IF EXISTS {name} CASCADE"),
        ])
        .output()
        .ok()?;
    if !drop.status.success() {
        eprintln!(
            "postgres unavailable: {}",
            String::from_utf8_lossy(&drop.stderr)
        );
        return None;
    }
    Some(format!("{base}?schema={name}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // The ingest-and-drain runs last ten minutes each: only when asked for
    // (`-- sustain`, `-- sqlite-sustain`, `-- postgres-sustain`).
    let asked = |name: &str| {
        filter
            .as_deref()
            .is_some_and(|f| f.contains("sustain") && name.contains(f))
    };
    let dir = tempfile::tempdir().unwrap();
    // RECTIFY_BENCH_KEEP=DIR: the SQLite files go there and stay, to inspect.
    let keep = std::env::var_os("RECTIFY_BENCH_KEEP").map(std::path::PathBuf::from);
    let dir_path = keep.as_deref().unwrap_or(dir.path());
    let (cpu, disk) = machine_calibration(dir_path);
    println!("machine: SHA-256 {cpu:.0} MiB/s on one core; {disk:.0} MiB/s written with fdatasync every MiB\n");
    println!("| store | replicas | run | events | figure |");
    println!("|---|---|---|---|---|");
    if wants("sqlite-ingest") {
        let all = [
            (1, 1, 2_000),
            (1, 64, 20_000),
            (100, 1, 100_000),
            (100, 8, 100_000),
            (1000, 1, 100_000),
            (1000, 4, 100_000),
        ];
        // RECTIFY_BENCH_INGEST=BATCHxCLIENTS,... picks some of them.
        let only = std::env::var("RECTIFY_BENCH_INGEST").unwrap_or_default();
        let runs = all.into_iter().filter(|(batch, clients, _)| {
            only.is_empty() || only.split(',').any(|r| r == format!("{batch}x{clients}"))
        });
        // RECTIFY_BENCH_TOTAL=N overrides the number of events of each run.
        let scale: Option<usize> = std::env::var("RECTIFY_BENCH_TOTAL")
            .ok()
            .and_then(|v| v.parse().ok());
        for (batch, clients, total) in runs {
            let total = scale.unwrap_or(total);
            let url = format!(
                "sqlite://{}",
                dir_path.join(format!("t{batch}-{clients}.db")).display()
            );
            let (eps, p50, p99) = throughput(&[url], total, batch, clients).await;
            println!("| sqlite | 1 | ingest, {clients} client(s), requests of {batch} | {total} | {eps:.0} events/s; per request p50 {p50:.1?}, p99 {p99:.1?} |");
        }
    }
    if wants("sqlite-rate") {
        let url = format!("sqlite://{}", dir_path.join("rate.db").display());
        let (p50, p99, p999) = latency_at_rate(&url, 2_000, 10).await;
        println!("| sqlite | 1 | 2,000 events/s offered, arrival to durable job | 20000 | p50 {p50:.1?}, p99 {p99:.1?}, p99.9 {p999:.1?} |");
    }
    if wants("sqlite-load") {
        let url = format!("sqlite://{}", dir_path.join("load.db").display());
        let eps = whole_pipeline(&[url], 100_000).await;
        println!("| sqlite | 1 | whole pipeline, no-op action | 100000 | {eps:.0} events/s |");
    }
    let base = std::env::var("RECTIFY_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if wants("postgres-ingest") {
        for replicas in [1usize, 2, 3] {
            let Some(url) = postgres_db(&base, &format!("rectify_bench_{replicas}")).await else {
                break;
            };
            let urls = vec![url; replicas];
            let (eps, p50, p99) = throughput(&urls, 60_000, 1000, 1).await;
            println!("| postgres | {replicas} | ingest, 1 client per replica, requests of 1000 | 60000 | {eps:.0} events/s; per request p50 {p50:.1?}, p99 {p99:.1?} |");
        }
    }
    if wants("postgres-rate") {
        if let Some(url) = postgres_db(&base, "rectify_bench_rate").await {
            let (p50, p99, p999) = latency_at_rate(&url, 2_000, 10).await;
            println!("| postgres | 1 | 2,000 events/s offered, arrival to durable job | 20000 | p50 {p50:.1?}, p99 {p99:.1?}, p99.9 {p999:.1?} |");
        }
    }
    if asked("sqlite-sustain") {
        let (rate, seconds) = sustain_settings();
        let url = format!("sqlite://{}", dir_path.join("sustain.db").display());
        let s = ingest_and_drain(&[url], rate, seconds).await;
        print_sustained("sqlite", 1, rate, seconds, &s);
    }
    if wants("postgres-load") {
        let total: usize = std::env::var("RECTIFY_BENCH_PG_LOAD_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        // RECTIFY_BENCH_REPLICAS=1,3: the replica counts of the run.
        let replicas = std::env::var("RECTIFY_BENCH_REPLICAS").unwrap_or_else(|_| "1,3".into());
        for n in replicas
            .split(',')
            .filter_map(|n| n.trim().parse::<usize>().ok())
        {
            let Some(url) = postgres_db(&base, &format!("rectify_bench_load_{n}")).await else {
                break;
            };
            let eps = whole_pipeline(&vec![url; n], total).await;
            println!(
                "| postgres | {n} | whole pipeline, no-op action{} | {total} | {eps:.0} events/s |",
                fix_time()
            );
        }
    }
    if asked("postgres-sustain") {
        let (rate, seconds) = sustain_settings();
        let replicas = std::env::var("RECTIFY_BENCH_REPLICAS").unwrap_or_else(|_| "1,3".into());
        for n in replicas
            .split(',')
            .filter_map(|n| n.trim().parse::<usize>().ok())
        {
            let Some(url) = postgres_db(&base, &format!("rectify_bench_sustain_{n}")).await else {
                break;
            };
            let s = ingest_and_drain(&vec![url; n], rate, seconds).await;
            print_sustained("postgres", n, rate, seconds, &s);
        }
    }
    println!("\npeak RSS of the bench process: {:.0} MiB", peak_rss_mib());
}
