//! Puts the git commit the binary is built from into `rectify --version`
//! (`RECTIFY_VERSION`). Outside a git checkout (a source archive, a
//! container build without `.git`) the commit comes from the
//! `RECTIFY_GIT_COMMIT` variable, else it is `unknown`.
//!
//! In a release build for x86_64 Linux with the toolchain's own linker
//! (rust-lld), the functions `link-order.txt` names (what a posture scan
//! runs, written by scripts/link-order) are placed first and side by side:
//! the kernel maps a program's code 64 KB around each page it touches, so
//! code spread over the binary makes most of it resident.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RECTIFY_GIT_COMMIT");
    let commit = std::env::var("RECTIFY_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_string())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=RECTIFY_VERSION={version} (commit {commit})");
    println!("cargo:rustc-env=RECTIFY_COMMIT={commit}");
    link_order();
}

/// Passes `link-order.txt` to the linker where it is rust-lld: a release
/// build for x86_64 Linux with no linker of its own configured (the Lambda
/// package's zig linker, say, is left alone).
fn link_order() {
    println!("cargo:rerun-if-env-changed=RECTIFY_LINK_ORDER");
    println!("cargo:rerun-if-changed=link-order.txt");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let wanted = var("RECTIFY_LINK_ORDER") != "off"
        && var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && std::env::var_os("RUSTC_LINKER").is_none();
    let list = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if wanted && list.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        // Functions renamed or gone since the list was written are skipped.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// The checked-out commit, and the files whose change means a new one
/// (HEAD, the branch's ref, packed refs) to rebuild on.
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watched.push(PathBuf::from(dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        watched.push(common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(common.join(branch));
        }
    }
    // A path that does not exist would make cargo run this every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
