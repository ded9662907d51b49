//! What ships beside the binary, checked with the tools that consume it:
//! `--version` with the commit, JSON logs, shell completions (bash), man
//! pages (man), the systemd unit (systemd-analyze), the container build
//! file (hadolint), the glibc check of `make lambda` (readelf), LICENSE.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

fn rectify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(args)
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_LOG")
        .env_remove("RECTIFY_LOG_FORMAT")
        .env_remove("AWS_LAMBDA_LOG_FORMAT")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A program on PATH, or `None` (the caller says why it skips).
fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// The subcommands `rectify --help` lists (its "Commands:" section).
fn subcommands() -> Vec<String> {
    let help = stdout(&rectify(&["--help"]));
    let section = help.split("Commands:\n").nth(1).unwrap();
    let names: Vec<String> = section
        .lines()
        .take_while(|l| l.starts_with("  "))
        // A wrapped description continues on a line indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    names
}

#[test]
fn version_names_the_build_commit() {
    let out = stdout(&rectify(&["--version"]));
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        out.trim(),
        format!("rectify {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.yaml");
    std::fs::write(
        &config,
        format!(
            "store: sqlite://{}\naudit:\n  key: none\n",
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"version":"0","id":"e-1","detail-type":"Custom","source":"example.custom","account":"111122223333","time":"2026-12-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{}}"#,
    )
    .unwrap();
    let out = rectify(&[
        "--config",
        config.to_str().unwrap(),
        "--log-format",
        "json",
        "-vv",
        "process",
        event.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "too few log lines to judge: {stderr}");
    for line in &lines {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        for key in ["timestamp", "level", "target"] {
            assert!(record.get(key).is_some(), "no {key}: {line}");
        }
    }

    // A failed command's error is a JSON line too.
    let out = rectify(&[
        "--config",
        config.to_str().unwrap(),
        "--log-format",
        "json",
        "man",
        "--dir",
        "/proc/no-such-folder",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("/proc/no-such-folder"),
        "{stderr}"
    );
}

#[test]
fn bash_completion_parses_and_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rectify.bash");
    std::fs::write(&script, stdout(&rectify(&["completions", "bash"]))).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Load it and ask what `rectify <TAB>` and `rectify jobs <TAB>` offer.
    let complete = |words: &str| -> Vec<String> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}'; COMP_WORDS=({words} ''); COMP_CWORD=${{#COMP_WORDS[@]}}; \
                 COMP_CWORD=$((COMP_CWORD-1)); COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
                 COMP_POINT=${{#COMP_LINE}}; _rectify rectify '' \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let top = complete("rectify");
    for name in subcommands() {
        assert!(top.contains(&name), "{name} not offered: {top:?}");
    }
    let jobs = complete("rectify jobs");
    for name in ["list", "show", "retry", "approve", "revert"] {
        assert!(jobs.contains(&name.to_string()), "{name}: {jobs:?}");
    }
    for shell in ["zsh", "fish"] {
        let text = stdout(&rectify(&["completions", shell]));
        assert!(text.contains("iam-policy"), "{shell}");
        match tool(shell) {
            Some(program) => {
                let path = dir.path().join(format!("rectify.{shell}"));
                std::fs::write(&path, text).unwrap();
                let flag = if shell == "fish" {
                    "--no-execute"
                } else {
                    "-n"
                };
                let check = Command::new(program).arg(flag).arg(&path).output().unwrap();
                assert!(check.status.success(), "{shell}: {check:?}");
            }
            None => eprintln!("skip: {shell} is not installed, its script is not parsed"),
        }
    }
}

#[test]
fn man_pages_render_and_cover_every_subcommand() {
    let man = tool("man");
    if man.is_none() {
        eprintln!("skip: man is not installed; the pages are read as roff, not rendered");
    }
    let render = |page: &Path| -> String {
        let Some(man) = &man else {
            return std::fs::read_to_string(page).unwrap().replace("\\-", "-");
        };
        let out = Command::new(man)
            .arg("-l")
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C.UTF-8")
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", page.display());
        let text = String::from_utf8(out.stdout).unwrap();
        // troff warnings (a bad macro, a bad escape) go to standard error.
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("stdout.1");
    std::fs::write(&single, stdout(&rectify(&["man"]))).unwrap();
    let text = render(&single);
    assert!(text.contains("SUBCOMMANDS"), "{text}");
    let pages = dir.path().join("man1");
    stdout(&rectify(&["man", "--dir", pages.to_str().unwrap()]));
    for name in subcommands() {
        assert!(text.contains(&format!("rectify-{name}(1)")), "{name}");
        let page = pages.join(format!("rectify-{name}.1"));
        let rendered = render(&page);
        assert!(rendered.contains(&format!("rectify-{name}")), "{rendered}");
    }
    let serve = render(&pages.join("rectify-serve.1"));
    assert!(serve.contains("--shutdown-grace"), "{serve}");
    assert!(pages.join("rectify-jobs-approve.1").is_file());
}

#[test]
fn systemd_unit_verifies_and_is_confined() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/systemd/rectify.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "rectify"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert!(settings.contains(&(key, value)), "{key}={value} missing");
    }
    let Some(analyze) = tool("systemd-analyze") else {
        eprintln!("skip: systemd-analyze is not installed; the unit was only read, not verified");
        return;
    };
    // systemd-analyze verify checks that ExecStart's program exists: point
    // it at the binary under test, the rest of the unit as shipped.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rectify.service");
    let exec = format!("ExecStart={} serve", env!("CARGO_BIN_EXE_rectify"));
    let local = unit.replace("ExecStart=/usr/local/bin/rectify serve", &exec);
    assert_ne!(local, unit, "ExecStart line changed");
    std::fs::write(&path, local).unwrap();
    let out = Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The exposure score systemd computes for the unit (0 = fully confined,
    // 10 = not at all; the threshold is in tenths): at most 1.5.
    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=15"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("Overall exposure level"), "{report}");
}

#[test]
fn containerfile_passes_hadolint_and_keeps_its_promises() {
    let path = repo_root().join("deploy/container/Containerfile");
    let text = std::fs::read_to_string(&path).unwrap();
    let hadolint = repo_root().join(".venv/bin/hadolint");
    assert!(
        hadolint.is_file(),
        "hadolint is not in .venv: run scripts/venv"
    );
    let out = Command::new(&hadolint).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the README says of the image: built in one stage, run from
    // another that has no shell (distroless: no RUN can work there, and
    // none is written), as a user that is not root, the binary as the
    // entry point in exec form.
    let instructions: Vec<(String, String)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(word, _)| word.chars().all(|c| c.is_ascii_uppercase()))
        .map(|(word, rest)| (word.to_string(), rest.trim().to_string()))
        .collect();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (word, _))| word == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "not multi-stage");
    let last = &instructions[*stages.last().unwrap()..];
    assert!(
        last[0].1.starts_with("gcr.io/distroless/cc-"),
        "final image: {}",
        last[0].1
    );
    assert!(!last.iter().any(|(w, _)| w == "RUN" || w == "SHELL"));
    let user = last
        .iter()
        .find(|(w, _)| w == "USER")
        .expect("USER")
        .1
        .clone();
    assert!(
        !user.starts_with("0") && !user.starts_with("root"),
        "{user}"
    );
    let entry = last.iter().find(|(w, _)| w == "ENTRYPOINT").unwrap();
    let entry: Vec<String> = serde_json::from_str(&entry.1).expect("exec form");
    assert_eq!(entry, ["/usr/local/bin/rectify"]);
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    for skipped in ["target", ".venv", ".git"] {
        assert!(ignore.lines().any(|l| l == skipped), "{skipped}");
    }
}

#[test]
fn glibc_check_refuses_a_binary_that_needs_a_newer_glibc() {
    let check = repo_root().join("scripts/check-glibc");
    let binary = env!("CARGO_BIN_EXE_rectify");
    // This build links the build machine's glibc, which needs more than
    // GLIBC_2.3; no glibc has a version 99.
    let out = Command::new(&check).args([binary, "2.3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("above 2.3"), "{stderr}");
    let out = Command::new(&check)
        .args([binary, "99.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("highest GLIBC_ symbol version needed is 2."),
        "{stdout}"
    );
}

#[test]
fn license_is_the_apache_2_0_text() {
    let text = std::fs::read_to_string(repo_root().join("LICENSE")).unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    assert!(joined.starts_with("Apache License Version 2.0, January 2004"));
    for clause in [
        "1. Definitions.",
        "2. Grant of Copyright License.",
        "3. Grant of Patent License.",
        "4. Redistribution.",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ] {
        assert!(joined.contains(clause), "{clause}");
    }
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""));
}
