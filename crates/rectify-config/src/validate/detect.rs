//! The `detect` section.

use super::{is_account_id, Ctx};
use crate::detect::DetectSettings;
use crate::yaml::{join, Node, Val};

pub(super) const DETECT_KEYS: &[&str] = &[
    "builtin",
    "disable",
    "thresholds",
    "detections",
    "organization_accounts",
    "logging_buckets",
    "security_hub",
    "max_keys",
    // Read by the anomaly detector's reader (validate/anomaly.rs).
    "anomaly",
];
const THRESHOLD_KEYS: &[&str] = &["count", "window_seconds"];

pub(super) fn read_detect(cx: &mut Ctx, node: &Node) -> Option<DetectSettings> {
    let f = cx.fields(node, "detect", DETECT_KEYS)?;
    let mut settings = DetectSettings::default();
    let builtin = match f.opt("builtin") {
        Some(n) => cx.boolean(n, "detect.builtin").unwrap_or(true),
        None => true,
    };
    if !builtin {
        settings.specs.clear();
    }
    let builtin_ids: Vec<String> = rectify_detect::pack::builtin()
        .into_iter()
        .map(|s| s.id)
        .collect();
    for (i, (id, pos)) in cx
        .string_list(f.opt("disable"), "detect.disable")
        .into_iter()
        .enumerate()
    {
        if !builtin_ids.contains(&id) {
            cx.err(
                pos,
                &format!("detect.disable[{i}]"),
                format!("`{id}` is not a built-in detection; `rectify detect --list` names them"),
            );
        }
        settings.specs.retain(|s| s.id != id);
    }
    if let Some(node) = f.opt("thresholds") {
        match &node.val {
            Val::Map(entries) => {
                for e in entries {
                    let field = join("detect.thresholds", &e.key);
                    let Some(spec) = settings.specs.iter_mut().find(|s| s.id == e.key) else {
                        cx.err(
                            e.key_pos,
                            &field,
                            format!("`{}` is not an enabled built-in detection", e.key),
                        );
                        continue;
                    };
                    let Some(th) = spec.threshold.as_mut() else {
                        cx.err(
                            e.key_pos,
                            &field,
                            format!(
                                "`{}` fires on one record; it has no threshold to change",
                                e.key
                            ),
                        );
                        continue;
                    };
                    let Some(tf) = cx.fields(&e.value, &field, THRESHOLD_KEYS) else {
                        continue;
                    };
                    if let Some(n) = cx.opt_u64(
                        &tf,
                        &field,
                        "count",
                        1,
                        rectify_detect::signature::spec::MAX_THRESHOLD_COUNT,
                    ) {
                        th.count = n;
                    }
                    if let Some(n) = cx.opt_u64(
                        &tf,
                        &field,
                        "window_seconds",
                        1,
                        rectify_detect::signature::spec::MAX_WINDOW_SECONDS,
                    ) {
                        th.window_seconds = n;
                    }
                }
            }
            _ => cx.err(
                node.pos,
                "detect.thresholds",
                format!(
                    "expected a mapping of detection ids, found {}",
                    node.val.kind()
                ),
            ),
        }
    }
    if let Some(node) = f.opt("detections") {
        for (i, item) in cx.items(node, "detect.detections").iter().enumerate() {
            let field = format!("detect.detections[{i}]");
            let Some(value) = cx.json(item, &field) else {
                continue;
            };
            match rectify_detect::Spec::from_value(&value) {
                Ok(spec) => {
                    if settings.specs.iter().any(|s| s.id == spec.id)
                        || builtin_ids.contains(&spec.id)
                    {
                        cx.err(
                            item.pos,
                            &join(&field, "id"),
                            format!("`{}` is already a detection's id", spec.id),
                        );
                    } else {
                        settings.specs.push(spec);
                    }
                }
                Err(problems) => {
                    for p in problems {
                        let at = if p.field.is_empty() {
                            field.clone()
                        } else {
                            join(&field, &p.field)
                        };
                        // The node of the field when there is one, for its line.
                        let pos = item.lookup(&p.field).pos;
                        cx.err(pos, &at, p.message);
                    }
                }
            }
        }
    }
    for (i, (id, pos)) in cx
        .string_list(
            f.opt("organization_accounts"),
            "detect.organization_accounts",
        )
        .into_iter()
        .enumerate()
    {
        if is_account_id(&id) {
            settings.organization_accounts.push(id);
        } else {
            cx.err(
                pos,
                &format!("detect.organization_accounts[{i}]"),
                format!("`{id}` is not a 12-digit account id (put it in quotes)"),
            );
        }
    }
    settings.logging_buckets = cx
        .string_list(f.opt("logging_buckets"), "detect.logging_buckets")
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    if let Some(n) = f.opt("security_hub") {
        settings.security_hub = cx.boolean(n, "detect.security_hub").unwrap_or(false);
    }
    if let Some(n) = cx.opt_u64(&f, "detect", "max_keys", 100, 10_000_000) {
        settings.max_keys = n as usize;
    }
    Some(settings)
}
