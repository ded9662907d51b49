//! `rectify scans list|show`: the scan history kept in the store.

use std::path::Path;

use super::print_json;
use super::scan::history;
use crate::cli::ScansCommand;
use crate::context;

pub async fn run(config: Option<&Path>, command: ScansCommand, json: bool) -> anyhow::Result<u8> {
    let (engine, _) = context::engine(config, Default::default()).await?;
    match command {
        ScansCommand::List { limit } => {
            let scans = engine.store().list_scans(usize::from(limit)).await?;
            if json {
                print_json(&scans);
            } else if scans.is_empty() {
                eprintln!("rectify: no scan kept yet (`rectify scan`, or `scan.schedule` in `rectify serve`)");
            } else {
                for scan in &scans {
                    println!("{}", history::line(scan));
                }
            }
            Ok(0)
        }
        ScansCommand::Show { id } => match engine.store().get_scan(&id).await? {
            Some(scan) if json => {
                print_json(&scan);
                Ok(0)
            }
            Some(scan) => {
                print!("{}", history::details(&scan));
                Ok(0)
            }
            None => {
                eprintln!("error: no scan `{id}`; `rectify scans list` shows the ids");
                Ok(1)
            }
        },
    }
}
