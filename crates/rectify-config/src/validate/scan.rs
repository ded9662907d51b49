//! The `scan` section: scheduled posture scans in `rectify serve`.

use super::{is_account_id, is_region, Ctx};
use crate::scan::{ScanSchedule, ScanSettings};
use crate::yaml::{join, Node};

pub(super) const SCAN_KEYS: &[&str] = &[
    "schedule",
    "feed",
    "accounts",
    "regions",
    "send_to_security_hub",
    "concurrency",
    "from_config",
];

pub(super) fn read_scan(cx: &mut Ctx, node: &Node) -> Option<ScanSettings> {
    let f = cx.fields(node, "scan", SCAN_KEYS)?;
    let schedule = match cx.req_string(&f, "scan", "schedule") {
        Some(expression) => match ScanSchedule::parse(expression.trim()) {
            Ok(schedule) => Some(schedule),
            Err(why) => {
                let pos = f.get("schedule").map_or(f.pos, |n| n.pos);
                cx.err(
                    pos,
                    "scan.schedule",
                    format!("`{expression}`: {why} (UTC; e.g. `0 3 * * *`, daily at 03:00)"),
                );
                None
            }
        },
        None => None,
    };
    let mut flag = |key: &str| {
        f.get(key)
            .and_then(|n| cx.boolean(n, &join("scan", key)))
            .unwrap_or(false)
    };
    let (feed, send_to_security_hub) = (flag("feed"), flag("send_to_security_hub"));
    let from_config = f
        .get("from_config")
        .and_then(|n| cx.boolean(n, "scan.from_config"));
    if from_config == Some(true) && feed {
        let pos = f.get("from_config").map_or(f.pos, |n| n.pos);
        cx.err(
            pos,
            "scan.from_config",
            "not with `feed: true`: settings read from AWS Config may be minutes old, so a scan that feeds the rules reads them from the resources",
        );
    }
    let mut accounts = Vec::new();
    for (i, (id, pos)) in cx
        .string_list(f.opt("accounts"), "scan.accounts")
        .into_iter()
        .enumerate()
    {
        if !is_account_id(&id) {
            cx.err(
                pos,
                &format!("scan.accounts[{i}]"),
                "not a 12-digit account id",
            );
        } else if !accounts.contains(&id) {
            accounts.push(id);
        }
    }
    let mut regions = Vec::new();
    for (i, (region, pos)) in cx
        .string_list(f.opt("regions"), "scan.regions")
        .into_iter()
        .enumerate()
    {
        if !is_region(&region) {
            cx.err(
                pos,
                &format!("scan.regions[{i}]"),
                "not an AWS region name (like us-east-1)",
            );
        } else if !regions.contains(&region) {
            regions.push(region);
        }
    }
    let concurrency = cx.opt_u64(&f, "scan", "concurrency", 1, 64).unwrap_or(0) as usize;
    Some(ScanSettings {
        schedule: schedule?,
        feed,
        accounts,
        regions,
        send_to_security_hub,
        concurrency,
        from_config,
    })
}
