//! `rectify catalog`: its listing, `--coverage` and `--markdown`, read back
//! and checked against the catalog, the built-in pack and the control
//! mapping themselves (no count is written down here: the expectations
//! come from the code and the data, so they follow the catalog as it grows).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rectify_model::{controls, Action, Rule};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs rectify in an empty directory with no config in the environment.
fn rectify(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir.path())
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_LOG")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "rectify {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The AWS and Kubernetes catalogs as the code builds them.
fn aws_actions() -> Vec<Arc<dyn Action>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(rectify_aws::Aws::new(rectify_aws::AwsSettings::default()));
    let aws = Arc::new(aws);
    let mut actions = rectify_aws::catalog(aws.clone());
    actions.extend(rectify_kube::catalog(Arc::new(rectify_kube::Kube::new(
        Default::default(),
        aws,
    ))));
    actions
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// The built-in pack's rules, from its files on disk in name order.
fn pack_rules() -> Vec<Rule> {
    let dir = repo().join("crates/rectify/packs/aws-foundational");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    rectify_config::Loader::new()
        .env(&no_env)
        .pack("aws-foundational", &text)
        .load_str("packs: [aws-foundational]\n", Path::new("rectify.yaml"))
        .unwrap_or_else(|e| panic!("{e:#?}"))
        .rules
        .into_iter()
        .map(|r| r.rule)
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_listing_shows_each_actions_controls_calls_per_fix_and_approval() {
    let actions = aws_actions();
    assert!(!actions.is_empty());
    let text = stdout(&rectify(&["catalog"]));
    // One block per action, starting at its id alone on a line.
    let blocks: Vec<&str> = text.split("\n\n").collect();
    for action in &actions {
        let spec = action.spec();
        let block = blocks
            .iter()
            .find(|b| b.lines().next() == Some(spec.id))
            .unwrap_or_else(|| panic!("no block for {} in:\n{text}", spec.id));
        let field = |name: &str| -> String {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .unwrap_or_else(|| panic!("{}: no `{name}` line in:\n{block}", spec.id))
                .trim()
                .to_string()
        };
        assert_eq!(field("controls:"), spec.controls.join(", "), "{}", spec.id);
        assert_eq!(
            field("calls per fix:"),
            spec.calls_per_fix.to_string(),
            "{}",
            spec.id
        );
        assert_eq!(
            field("approval by default:"),
            if spec.approval_by_default {
                "yes"
            } else {
                "no"
            },
            "{}",
            spec.id
        );
    }

    let json: Value =
        serde_json::from_str(&stdout(&rectify(&["catalog", "--output", "json"]))).unwrap();
    for action in &actions {
        let spec = action.spec();
        let listed = json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == spec.id)
            .unwrap_or_else(|| panic!("{} not in the JSON listing", spec.id));
        assert_eq!(listed["calls_per_fix"], spec.calls_per_fix, "{}", spec.id);
        assert_eq!(
            listed["approval_by_default"], spec.approval_by_default,
            "{}",
            spec.id
        );
        let listed_controls: Vec<&str> = listed["controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(listed_controls, spec.controls, "{}", spec.id);
    }
}

#[test]
fn coverage_sorts_every_control_of_every_standard_by_the_pack_and_the_catalog() {
    let actions = aws_actions();
    let rules = pack_rules();
    // What the help defines: remediated when an enabled built-in rule
    // names the control and its action lists it; detected when a rule
    // names it otherwise.
    let remediated = |control: &str| {
        rules.iter().filter(|r| r.enabled).any(|r| {
            r.controls.iter().any(|c| c == control)
                && actions
                    .iter()
                    .any(|a| a.spec().id == r.action && a.spec().controls.contains(&control))
        })
    };
    let named = |control: &str| {
        rules
            .iter()
            .filter(|r| r.enabled)
            .any(|r| r.controls.iter().any(|c| c == control))
    };

    let report: Value = serde_json::from_str(&stdout(&rectify(&[
        "catalog",
        "--coverage",
        "--output",
        "json",
    ])))
    .unwrap();
    let standards = report["standards"].as_array().unwrap();
    let listed: Vec<&str> = standards
        .iter()
        .map(|s| s["standard"].as_str().unwrap())
        .collect();
    assert_eq!(listed, controls::standards());

    let mut any_remediated = false;
    for s in standards {
        let standard = s["standard"].as_str().unwrap();
        let all: BTreeSet<String> = controls::controls_of(standard)
            .into_iter()
            .map(str::to_string)
            .collect();
        let r = strings(&s["remediated"]);
        let d = strings(&s["detected"]);
        let n = strings(&s["neither"]);
        assert_eq!(s["controls"], all.len(), "{standard}");
        assert_eq!(r.len() + d.len() + n.len(), all.len(), "{standard}");
        let union: BTreeSet<String> = r.iter().chain(&d).chain(&n).cloned().collect();
        assert_eq!(union, all, "{standard}");
        for c in &all {
            let want = if remediated(c) {
                &r
            } else if named(c) {
                &d
            } else {
                &n
            };
            assert!(want.contains(c), "{standard}: {c} in the wrong list: {s}");
        }
        any_remediated |= !r.is_empty();
    }
    // The pack remediates controls of the standards, so some list is not
    // empty, whatever the catalog holds when this runs.
    let pack_controls: BTreeSet<&str> = rules
        .iter()
        .flat_map(|r| r.controls.iter().map(String::as_str))
        .filter(|c| remediated(c))
        .collect();
    let in_standards = pack_controls.iter().any(|c| {
        controls::standards()
            .iter()
            .any(|s| controls::controls_of(s).contains(c))
    });
    assert_eq!(any_remediated, in_standards);

    // Controls actions list that no built-in rule names.
    let unrouted = strings(&report["unrouted"]);
    for action in &actions {
        for c in action.spec().controls {
            assert_eq!(unrouted.contains(*c), !named(c), "{c}");
        }
    }

    // The text form says the same counts.
    let text = stdout(&rectify(&["catalog", "--coverage"]));
    for s in standards {
        let line = format!(
            "({}): {} controls: {} remediated, {} detected, {} neither",
            s["standard"].as_str().unwrap(),
            s["controls"],
            s["remediated"].as_array().unwrap().len(),
            s["detected"].as_array().unwrap().len(),
            s["neither"].as_array().unwrap().len()
        );
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
}

/// The rows of the generated table, keyed by action id.
fn table_rows(markdown: &str) -> Vec<Vec<String>> {
    markdown
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            // Cells split on pipes that are not escaped.
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut escaped = false;
            for ch in l.trim().trim_matches('|').chars() {
                match ch {
                    '\\' if !escaped => escaped = true,
                    '|' if !escaped => cells.push(std::mem::take(&mut cell).trim().to_string()),
                    c => {
                        if escaped && c != '|' {
                            cell.push('\\');
                        }
                        escaped = false;
                        cell.push(c)
                    }
                }
            }
            cells.push(cell.trim().to_string());
            cells
        })
        .collect()
}

#[test]
fn the_markdown_table_has_one_row_per_action() {
    let actions = aws_actions();
    let markdown = stdout(&rectify(&["catalog", "--markdown"]));
    let rows = table_rows(&markdown);
    assert_eq!(rows.len(), actions.len(), "{markdown}");
    for (action, row) in actions.iter().zip(&rows) {
        let spec = action.spec();
        assert_eq!(row.len(), 6, "{row:?}");
        assert_eq!(row[0], format!("`{}`", spec.id));
        assert_eq!(row[1], spec.controls.join(", "));
        assert_eq!(row[2], spec.summary.replace('\n', " "));
        assert_eq!(
            row[3],
            if spec.approval_by_default {
                "yes"
            } else {
                "no"
            }
        );
        assert_eq!(row[4], spec.calls_per_fix.to_string());
        if spec.params.is_empty() {
            assert_eq!(row[5], "none");
        }
        for p in spec.params {
            assert!(row[5].contains(&format!("`{}`", p.name)), "{row:?}");
        }
    }
    // Markdown is text: asking for JSON too is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["catalog", "--markdown", "--output", "json"])
        .env_remove("RECTIFY_CONFIG")
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_readme_catalog_table_is_the_commands_output() {
    let markdown = stdout(&rectify(&["catalog", "--markdown"]));
    let begin = markdown.lines().next().unwrap().to_string();
    let end = markdown.lines().last().unwrap().to_string();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Action catalog"))
        .expect("README has an `## Action catalog` section");
    let start = section
        .find(&begin)
        .unwrap_or_else(|| panic!("the Action catalog section has no line `{begin}`"));
    let stop = section[start..]
        .find(&end)
        .map(|i| start + i + end.len())
        .unwrap_or_else(|| panic!("the Action catalog section has no line `{end}`"));
    let in_readme = format!("{}\n", &section[start..stop]);
    assert!(
        in_readme == markdown,
        "README.md's action catalog table differs from `rectify catalog --markdown`.\n\
         Regenerate it: replace the lines from `{begin}` to `{end}` in README.md with the output of\n  \
         cargo run -q -p rectify --features rectify/test-actions -- catalog --markdown\n\
         --- README.md ---\n{in_readme}--- command ---\n{markdown}"
    );
}
