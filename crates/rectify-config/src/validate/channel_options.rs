//! Per-channel options besides the channel itself: its own templates
//! (`template`), digest mode (`digest_minutes`) and the severities it
//! takes (`severities`).

use super::secrets::resolve;
use super::{list_keys, Ctx, Fields};
use crate::tickets::TicketTemplate;
use crate::yaml::{join, Node, Pos};
use crate::{ChannelTemplate, Loader};

pub(super) const TEMPLATE_KEYS: &[&str] = &["subject", "subject_file", "body", "body_file"];
/// Largest template accepted, inline or from a file.
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Channel kinds whose messages have a subject line.
const KINDS_WITH_SUBJECT: &[&str] = &["smtp", "ses", "sns"];
/// Security Hub's severity labels, least severe first.
pub(crate) const SEVERITIES: &[&str] = &["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// Longest digest period: a day.
pub(super) const MAX_DIGEST_MINUTES: u64 = 1440;
/// Largest cap on the distinct items of one digest period.
pub(super) const MAX_DIGEST_ITEMS: u64 = 1_000_000;

/// One template part given inline (`KEY`) or as a file (`KEY_file`, relative
/// to the config file), at most one of the two.
fn template_part(cx: &mut Ctx, f: &Fields, field: &str, key: &str) -> Option<(String, Pos)> {
    let file_key = format!("{key}_file");
    match (f.opt(key), f.opt(&file_key)) {
        (Some(_), Some(node)) => {
            cx.err(
                node.pos,
                &join(field, &file_key),
                format!("give only one of `{key}`, `{file_key}`"),
            );
            None
        }
        (Some(node), None) => {
            let source = cx.non_empty(node, &join(field, key))?;
            Some((source, node.pos))
        }
        (None, Some(node)) => {
            let pfield = join(field, &file_key);
            let path = cx.non_empty(node, &pfield)?;
            let full = resolve(&path, &cx.file.clone());
            let read = std::fs::metadata(&full).and_then(|m| {
                if m.len() > MAX_TEMPLATE_BYTES as u64 {
                    Ok(None)
                } else {
                    std::fs::read_to_string(&full).map(Some)
                }
            });
            match read {
                Ok(Some(text)) => Some((text, node.pos)),
                Ok(None) => {
                    cx.err(
                        node.pos,
                        &pfield,
                        format!(
                            "{} is larger than {MAX_TEMPLATE_BYTES} bytes",
                            full.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    cx.err(
                        node.pos,
                        &pfield,
                        format!("cannot read template file {}: {e}", full.display()),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// `notifications.NAME.template` for a channel of `kind`: each part read,
/// bounded and handed to the loader's template checker.
pub(super) fn template(
    cx: &mut Ctx,
    loader: &Loader,
    node: &Node,
    field: &str,
    kind: &str,
) -> Option<ChannelTemplate> {
    let field = join(field, "template");
    let f = cx.fields(node, &field, TEMPLATE_KEYS)?;
    let mut out = ChannelTemplate::default();
    for part in ["subject", "body"] {
        let Some((source, pos)) = template_part(cx, &f, &field, part) else {
            continue;
        };
        let pfield = join(&field, part);
        if part == "subject" && !KINDS_WITH_SUBJECT.contains(&kind) {
            cx.err(
                pos,
                &pfield,
                format!(
                    "a {kind} channel has no subject; only {} channels do",
                    list_keys(KINDS_WITH_SUBJECT)
                ),
            );
            continue;
        }
        if source.len() > MAX_TEMPLATE_BYTES {
            cx.err(
                pos,
                &pfield,
                format!("a template is at most {MAX_TEMPLATE_BYTES} bytes"),
            );
            continue;
        }
        if let Some(checker) = loader.templates {
            if let Err(why) = checker.check(kind, part, &source) {
                cx.err(pos, &pfield, why);
                continue;
            }
        }
        match part {
            "subject" => out.subject = Some(source),
            _ => out.body = Some(source),
        }
    }
    Some(out)
}

pub(super) const TICKET_TEMPLATE_KEYS: &[&str] = &[
    "summary",
    "summary_file",
    "description",
    "description_file",
    "note",
    "note_file",
];

/// `tickets.systems.NAME.template`: each part read, bounded and handed to
/// the loader's template checker (kind `ticket`).
pub(super) fn ticket_template(
    cx: &mut Ctx,
    loader: &Loader,
    node: &Node,
    field: &str,
) -> Option<TicketTemplate> {
    let field = join(field, "template");
    let f = cx.fields(node, &field, TICKET_TEMPLATE_KEYS)?;
    let mut out = TicketTemplate::default();
    let mut ok = true;
    for part in ["summary", "description", "note"] {
        let Some((source, pos)) = template_part(cx, &f, &field, part) else {
            continue;
        };
        if source.len() > MAX_TEMPLATE_BYTES {
            cx.err(
                pos,
                &join(&field, part),
                format!("a template is at most {MAX_TEMPLATE_BYTES} bytes"),
            );
            ok = false;
            continue;
        }
        if let Some(checker) = loader.templates {
            if let Err(why) = checker.check("ticket", part, &source) {
                cx.err(pos, &join(&field, part), why);
                ok = false;
                continue;
            }
        }
        match part {
            "summary" => out.summary = Some(source),
            "description" => out.description = Some(source),
            _ => out.note = Some(source),
        }
    }
    ok.then_some(out)
}

/// `notifications.NAME.severities`: Security Hub labels, any case, stored
/// upper case.
pub(super) fn severities(cx: &mut Ctx, f: &Fields, field: &str) -> Option<Vec<String>> {
    let node = f.opt("severities")?;
    let sfield = join(field, "severities");
    let mut out = Vec::new();
    for (i, (label, pos)) in cx.string_list(Some(node), &sfield).into_iter().enumerate() {
        let upper = label.trim().to_ascii_uppercase();
        if SEVERITIES.contains(&upper.as_str()) {
            if !out.contains(&upper) {
                out.push(upper);
            }
        } else {
            cx.err(
                pos,
                &format!("{sfield}[{i}]"),
                format!("`{label}` is not a severity ({})", list_keys(SEVERITIES)),
            );
        }
    }
    if out.is_empty() {
        cx.err(node.pos, &sfield, "name at least one severity");
        return None;
    }
    Some(out)
}
