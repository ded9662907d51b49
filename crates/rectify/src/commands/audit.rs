//! `rectify audit verify|anchor|list`, and the audit key and anchors that
//! `serve` and every command's store use.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rectify_aws::anchor::{AnchorBucket, KmsMac};
use rectify_config::{AnchorSettings, AuditKeySetting, Config};
use rectify_model::mac::MacSigner;
use rectify_store::audit::{Anchor, AnchorCheck, LaneHead, KMS_RECORD_KEY_MESSAGE};
use rectify_store::{anchored_hash, check_anchor_heads, AuditKey, AuditVerdict, Store};
use serde_json::json;

use super::print_json;
use crate::cli::AuditCommand;
use crate::context::{self, Loaded};
use crate::output::escape;

pub async fn run(config: Option<&Path>, command: AuditCommand, json: bool) -> anyhow::Result<u8> {
    let (engine, loaded) = context::engine(config, Default::default()).await?;
    let store = engine.store();
    match command {
        AuditCommand::Verify { anchors } => {
            let verdict = store.verify_audit().await?;
            let mut ok = verdict.is_intact();
            let mut report = json!({});
            match &verdict {
                AuditVerdict::Intact { records, keyed } => {
                    report = json!({"intact": true, "records": records, "keyed": keyed});
                    if !json {
                        println!("audit log intact: {records} records, {keyed} keyed");
                        if keyed < records {
                            println!(
                                "note: records 1 to {} are unkeyed (written before the audit key \
                                 was set, or no key is configured): they show order, not who wrote them",
                                records - keyed
                            );
                        }
                    }
                }
                AuditVerdict::Broken { seq, reason } => {
                    report = json!({"intact": false, "first_bad_record": seq, "reason": reason});
                    if !json {
                        println!("audit log BROKEN at record {seq}: {}", escape(reason));
                    }
                }
            }
            if anchors {
                let problems = check_anchors(store.as_ref(), &loaded).await?;
                ok &= problems.problems.is_empty();
                if json {
                    report["anchors"] = json!({
                        "checked": problems.checked,
                        "problems": problems.problems,
                    });
                } else {
                    println!("anchors: {} checked", problems.checked);
                    for p in &problems.problems {
                        println!("anchor PROBLEM: {}", escape(p));
                    }
                }
            }
            if json {
                print_json(&report);
            }
            Ok(if ok { 0 } else { 1 })
        }
        AuditCommand::Anchor => match write_anchor(store.as_ref(), &loaded).await? {
            Some((key, anchor)) => {
                if json {
                    print_json(&json!({"object": key, "seq": anchor.seq, "hash": anchor.hash}));
                } else {
                    println!("anchored seq {} ({}) at {key}", anchor.seq, anchor.hash);
                }
                Ok(0)
            }
            None => {
                println!("nothing to anchor: the audit log is empty");
                Ok(0)
            }
        },
        AuditCommand::List { after, limit } => {
            let records = store.audit_settled(after, limit).await?;
            if json {
                print_json(&records);
            } else {
                for r in records {
                    println!(
                        "{:>6} {} {:<24} {} {}",
                        r.seq,
                        r.time,
                        escape(&r.kind),
                        escape(&r.subject),
                        escape(&r.data.to_string())
                    );
                }
            }
            Ok(0)
        }
    }
}

/// The key audit records are HMAC'd under, from the config: read at load
/// (`key_env`, `key_file`) or derived through KMS (`kms_key_id`: the MAC of
/// [`KMS_RECORD_KEY_MESSAGE`] under the KMS key). `None`: unkeyed.
pub async fn record_key(
    config: &Config,
    loaded_aws: &rectify_aws::Aws,
) -> anyhow::Result<Option<AuditKey>> {
    match &config.audit.key {
        AuditKeySetting::Unset | AuditKeySetting::Disabled => Ok(None),
        AuditKeySetting::Secret { key, from } => AuditKey::new(key.0.clone())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("audit.{from}: {e}")),
        AuditKeySetting::Kms { key_id } => {
            let kms = KmsMac::new(&loaded_aws.own_config(&config.aws.region), key_id);
            let derived = kms
                .mac(KMS_RECORD_KEY_MESSAGE)
                .await
                .map_err(|e| anyhow::anyhow!("audit.kms_key_id: {e}"))?;
            AuditKey::new(derived)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("audit.kms_key_id {key_id}: {e}"))
        }
    }
}

/// What signs and checks anchors: the local key, or KMS `GenerateMac` /
/// `VerifyMac` itself.
fn signer(loaded: &Loaded) -> anyhow::Result<Arc<dyn MacSigner>> {
    let config = &loaded.config;
    match &config.audit.key {
        AuditKeySetting::Secret { key, from } => Ok(Arc::new(
            AuditKey::new(key.0.clone()).map_err(|e| anyhow::anyhow!("audit.{from}: {e}"))?,
        )),
        AuditKeySetting::Kms { key_id } => Ok(Arc::new(KmsMac::new(
            &loaded.aws.own_config(&config.aws.region),
            key_id,
        ))),
        AuditKeySetting::Unset | AuditKeySetting::Disabled => anyhow::bail!(
            "anchors need the audit key: set audit.key_env, audit.key_file or audit.kms_key_id"
        ),
    }
}

fn anchor_settings(loaded: &Loaded) -> anyhow::Result<&AnchorSettings> {
    loaded.config.audit.anchor.as_ref().context(
        "audit.anchor is not configured (s3_bucket, prefix, interval_seconds, retain_days)",
    )
}

fn bucket(loaded: &Loaded, settings: &AnchorSettings) -> AnchorBucket {
    AnchorBucket::new(
        loaded
            .aws
            .s3(&loaded.aws.own_config(&loaded.config.aws.region)),
        &settings.s3_bucket,
        &settings.prefix,
    )
}

/// Fails unless anchors can be written: a key, and a bucket with Object
/// Lock (so that `serve` fails at start, not at the first interval).
pub async fn check_anchoring(loaded: &Loaded) -> anyhow::Result<()> {
    let settings = anchor_settings(loaded)?;
    signer(loaded)?;
    bucket(loaded, settings)
        .check_object_lock()
        .await
        .map_err(|e| anyhow::anyhow!("audit.anchor: {e}"))
}

/// Writes an anchor of every lane's head (each checked against its record)
/// to S3; `None` when the log is empty.
pub async fn write_anchor(
    store: &dyn Store,
    loaded: &Loaded,
) -> anyhow::Result<Option<(String, Anchor)>> {
    let settings = anchor_settings(loaded)?;
    let signer = signer(loaded)?;
    let heads: Vec<LaneHead> = store
        .audit_heads()
        .await?
        .into_iter()
        .filter(|h| h.seq > 0)
        .collect();
    if heads.is_empty() {
        return Ok(None);
    }
    // Anchor only what the log holds: each head must be its record's hash.
    for head in &heads {
        if anchored_hash(store, head).await?.as_deref() != Some(head.hash.as_str()) {
            anyhow::bail!(
                "the recorded audit head of lane {} (seq {}) is not the log's record: run \
                 `rectify audit verify`",
                head.lane,
                head.seq
            );
        }
    }
    let anchor = Anchor::sign_heads(signer.as_ref(), &heads, &rectify_model::now_rfc3339())
        .await
        .map_err(|e| anyhow::anyhow!("signing the anchor: {e}"))?;
    let body = serde_json::to_vec(&anchor)?;
    let key = bucket(loaded, settings)
        .put(anchor.seq, body, settings.retain_days)
        .await
        .map_err(|e| anyhow::anyhow!("audit.anchor: {e}"))?;
    Ok(Some((key, anchor)))
}

/// What `verify --anchors` found.
pub struct AnchorReport {
    pub checked: usize,
    pub problems: Vec<String>,
    /// Each anchor read, in the bucket's order (by seq).
    pub anchors: Vec<AnchorSeen>,
}

/// One anchor as the check found it.
#[derive(serde::Serialize)]
pub struct AnchorSeen {
    /// The object's key in the bucket.
    pub key: String,
    /// The chain's head it vouches for (0 when it could not be read).
    pub seq: i64,
    /// When it was written, as it says.
    pub time: String,
    /// Whether everything it vouches for still holds.
    pub holds: bool,
}

/// Reads every anchor and compares each lane head it holds with the chain:
/// a MAC that does not verify (forged), an anchored seq the lane no longer
/// holds (truncated), an anchored seq whose record has another hash
/// (rewritten).
pub async fn check_anchors(store: &dyn Store, loaded: &Loaded) -> anyhow::Result<AnchorReport> {
    let settings = anchor_settings(loaded)?;
    let signer = signer(loaded)?;
    let objects = bucket(loaded, settings)
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("audit.anchor: {e}"))?;
    let mut problems = Vec::new();
    let mut anchors = Vec::new();
    for (key, body) in &objects {
        let found = problems.len();
        let anchor: Anchor = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{key}: not an anchor: {e}"));
                anchors.push(AnchorSeen {
                    key: key.clone(),
                    seq: 0,
                    time: String::new(),
                    holds: false,
                });
                continue;
            }
        };
        check_one(store, signer.as_ref(), key, &anchor, &mut problems).await?;
        anchors.push(AnchorSeen {
            key: key.clone(),
            seq: anchor.seq,
            time: anchor.time.clone(),
            holds: problems.len() == found,
        });
    }
    if objects.is_empty() {
        problems.push(format!(
            "no anchor found under s3://{}/{}/",
            settings.s3_bucket, settings.prefix
        ));
    }
    Ok(AnchorReport {
        checked: objects.len(),
        problems,
        anchors,
    })
}

/// Checks one anchor's MAC and every lane head it vouches for, adding
/// what does not hold to `problems`.
async fn check_one(
    store: &dyn Store,
    signer: &dyn MacSigner,
    key: &str,
    anchor: &Anchor,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    match anchor.mac_valid(signer).await {
        Ok(true) => {}
        Ok(false) => {
            problems.push(format!(
                "{key}: its MAC does not verify with {} (forged, or written under another key)",
                signer.describe()
            ));
            return Ok(());
        }
        Err(e) => anyhow::bail!("checking anchor {key}: {e}"),
    }
    for (anchored, check) in check_anchor_heads(store, anchor).await? {
        let lane = if anchored.lane == 0 {
            String::new()
        } else {
            format!(" (lane {})", anchored.lane)
        };
        match check {
            AnchorCheck::Matches => {}
            AnchorCheck::Truncated { last_seq } => problems.push(format!(
                "{key}: truncated: record {}{lane} was anchored at {} with hash {}, but the \
                 lane ends at seq {last_seq}",
                anchored.seq, anchor.time, anchored.hash
            )),
            AnchorCheck::Rewritten { found } => problems.push(format!(
                "{key}: rewritten: record {}{lane} was anchored at {} with hash {}, the log \
                 now holds {found}",
                anchored.seq, anchor.time, anchored.hash
            )),
        }
    }
    Ok(())
}
