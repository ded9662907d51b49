//! `rectify audit verify|list`.

use std::path::Path;

use rectify_store::AuditVerdict;
use serde_json::json;

use super::print_json;
use crate::cli::AuditCommand;
use crate::context;

pub async fn run(config: Option<&Path>, command: AuditCommand, json: bool) -> anyhow::Result<u8> {
    let (engine, _) = context::engine(config, Default::default()).await?;
    match command {
        AuditCommand::Verify => match engine.store().verify_audit().await? {
            AuditVerdict::Intact { records, .. } => {
                if json {
                    print_json(&json!({"intact": true, "records": records}));
                } else {
                    println!("audit log intact: {records} records");
                }
                Ok(0)
            }
            AuditVerdict::Broken { seq, reason } => {
                if json {
                    print_json(
                        &json!({"intact": false, "first_bad_record": seq, "reason": reason}),
                    );
                } else {
                    println!("audit log BROKEN at record {seq}: {reason}");
                }
                Ok(1)
            }
        },
        AuditCommand::List { after, limit } => {
            let records = engine.store().audit(after, limit).await?;
            if json {
                print_json(&records);
            } else {
                for r in records {
                    println!(
                        "{:>6} {} {:<24} {} {}",
                        r.seq, r.time, r.kind, r.subject, r.data
                    );
                }
            }
            Ok(0)
        }
    }
}
