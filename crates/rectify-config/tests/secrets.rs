//! Secrets from the environment and from files (`store_env`, `store_file`,
//! `token_file`), the `audit` section, and store URLs kept out of messages.

use std::path::Path;

use rectify_config::{AuditKeySetting, Config, Diagnostic, Loader};

fn env(name: &str) -> Option<String> {
    match name {
        "STORE_URL" => Some("postgres://rectify:s3cret-pw@db:5432/rectify".into()),
        "BAD_STORE_URL" => Some("mysql://rectify:s3cret-pw@db/rectify".into()),
        "AUDIT_KEY" => Some("k".repeat(40)),
        "SHORT_KEY" => Some("short".into()),
        _ => None,
    }
}

/// A folder of its own under the system's temporary folder, removed at
/// the end of the test.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rectify-config-secrets-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_in(dir: &Path, yaml: &str) -> Result<Config, Vec<Diagnostic>> {
    let file = dir.join("rectify.yaml");
    std::fs::write(&file, yaml).unwrap();
    Loader::new().env(&env).load_file(&file)
}

fn one_error(dir: &Path, yaml: &str) -> String {
    let errors = load_in(dir, yaml).expect_err("the config should not load");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors[0].to_string()
}

#[test]
fn store_url_from_the_environment_or_a_file() {
    let dir = TempDir::new();
    let config = load_in(dir.path(), "store_env: STORE_URL\n").unwrap();
    assert_eq!(config.store, "postgres://rectify:s3cret-pw@db:5432/rectify");

    // Relative to the config's folder; the trailing line break dropped.
    std::fs::write(
        dir.path().join("store.url"),
        "postgres://rectify:from-file@db/rectify\n",
    )
    .unwrap();
    let config = load_in(dir.path(), "store_file: store.url\n").unwrap();
    assert_eq!(config.store, "postgres://rectify:from-file@db/rectify");

    let e = one_error(dir.path(), "store: sqlite://a.db\nstore_env: STORE_URL\n");
    assert!(e.contains("give only one of"), "{e}");
    let e = one_error(dir.path(), "store_env: NOT_SET\n");
    assert!(e.contains("`NOT_SET` is not set"), "{e}");
    let e = one_error(dir.path(), "store_file: missing.url\n");
    assert!(e.contains("cannot read secret file"), "{e}");
}

#[test]
fn a_bad_store_url_is_reported_without_its_password() {
    let dir = TempDir::new();
    for yaml in [
        "store_env: BAD_STORE_URL\n",
        "store: mysql://rectify:s3cret-pw@db/rectify\n",
        "store: mysql://db/rectify?password=s3cret-pw\n",
    ] {
        let e = one_error(dir.path(), yaml);
        assert!(e.contains("is not a store URL"), "{e}");
        assert!(!e.contains("s3cret-pw"), "{e}");
        assert!(e.contains("***"), "{e}");
    }
}

#[test]
fn api_tokens_from_files() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("token"), "a-token-read-from-a-file\n").unwrap();
    let config = load_in(
        dir.path(),
        "api:\n  tokens:\n    - name: ops\n      token_file: token\n",
    )
    .unwrap();
    assert_eq!(config.api.verify("a-token-read-from-a-file"), Some("ops"));
    assert_eq!(config.api.verify("a-token-read-from-a-file\n"), None);

    std::fs::write(dir.path().join("weak"), "short\n").unwrap();
    let e = one_error(
        dir.path(),
        "api:\n  tokens:\n    - name: ops\n      token_file: weak\n",
    );
    assert!(e.contains("weak token"), "{e}");
    assert!(!e.contains("short"), "{e}");
    let e = one_error(
        dir.path(),
        "api:\n  tokens:\n    - name: ops\n      token_file: token\n      token: aaaaaaaaaaaaaaaaaaaa\n",
    );
    assert!(e.contains("give only one of"), "{e}");
}

#[test]
fn audit_key_sources() {
    let dir = TempDir::new();
    let config = load_in(dir.path(), "store: sqlite://a.db\n").unwrap();
    assert_eq!(config.audit.key, AuditKeySetting::Unset);

    let config = load_in(dir.path(), "audit: {key: none}\n").unwrap();
    assert_eq!(config.audit.key, AuditKeySetting::Disabled);

    let config = load_in(dir.path(), "audit: {key_env: AUDIT_KEY}\n").unwrap();
    match &config.audit.key {
        AuditKeySetting::Secret { key, from } => {
            assert_eq!(key.0, "k".repeat(40).into_bytes());
            assert_eq!(from, "key_env AUDIT_KEY");
        }
        other => panic!("{other:?}"),
    }
    // The key never shows in the config's debug output.
    assert!(!format!("{config:?}").contains(&"k".repeat(40)));

    std::fs::write(
        dir.path().join("audit.key"),
        format!("{}\n", "f".repeat(64)),
    )
    .unwrap();
    let config = load_in(dir.path(), "audit:\n  key_file: audit.key\n").unwrap();
    assert!(
        matches!(&config.audit.key, AuditKeySetting::Secret { key, .. } if key.0 == "f".repeat(64).into_bytes())
    );

    let arn = "arn:aws:kms:eu-west-1:111122223333:key/0b7c5d6e-0000-4000-8000-000000000000";
    let config = load_in(dir.path(), &format!("audit: {{kms_key_id: \"{arn}\"}}\n")).unwrap();
    assert_eq!(
        config.audit.key,
        AuditKeySetting::Kms {
            key_id: arn.to_string()
        }
    );

    let e = one_error(dir.path(), "audit: {key_env: SHORT_KEY}\n");
    assert!(e.contains("at least 32"), "{e}");
    let e = one_error(dir.path(), "audit: {key: hunter2hunter2}\n");
    assert!(e.contains("only `key: none`"), "{e}");
    let e = one_error(
        dir.path(),
        "audit: {key_env: AUDIT_KEY, key_file: audit.key}\n",
    );
    assert!(e.contains("give only one of"), "{e}");
}

#[test]
fn audit_anchors() {
    let dir = TempDir::new();
    let config = load_in(
        dir.path(),
        "audit:\n  key_env: AUDIT_KEY\n  anchor:\n    s3_bucket: audit-anchors\n    prefix: /prod/rectify/\n    interval_seconds: 600\n    retain_days: 30\n",
    )
    .unwrap();
    let anchor = config.audit.anchor.unwrap();
    assert_eq!(anchor.s3_bucket, "audit-anchors");
    assert_eq!(anchor.prefix, "prod/rectify");
    assert_eq!(anchor.interval_seconds, 600);
    assert_eq!(anchor.retain_days, 30);

    let e = one_error(
        dir.path(),
        "audit:\n  key: none\n  anchor: {s3_bucket: b}\n",
    );
    assert!(e.contains("signed with the audit key"), "{e}");
    let e = one_error(
        dir.path(),
        "audit:\n  key_env: AUDIT_KEY\n  anchor: {s3_bucket: b, interval_seconds: 5}\n",
    );
    assert!(e.contains("audit.anchor.interval_seconds"), "{e}");
}
