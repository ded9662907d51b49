//! `kube.*` actions through the whole pipeline (`rectify process`): a
//! Kubernetes audit event in, the job's mode decided, the pod read back
//! from the Kubernetes stand-in (tests/standins/kube_standin.py, a
//! stand-in, not a Kubernetes).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use rectify_kube::client::{path_of, Bearer, KubeClient};
use serde_json::{json, Value};

const TOKEN: &str = "rectify-cli-test-token-42";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The stand-in under a watchdog that stops it when this test ends.
struct Standin {
    url: String,
    ca: PathBuf,
    _child: Child,
}

fn standin(dir: &Path) -> Standin {
    let root = repo();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/venv",
        python.display()
    );
    let tls = dir.join("tls");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
        .arg("sh")
        .arg(&python)
        .arg(root.join("tests/standins/kube_standin.py"))
        .args(["--port", "0", "--token", TOKEN, "--tls-dir"])
        .arg(&tls)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("READY ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("stand-in READY");
    Standin {
        url,
        ca: tls.join("ca.pem"),
        _child: child,
    }
}

fn client(s: &Standin) -> KubeClient {
    let ca = std::fs::read(&s.ca).unwrap();
    KubeClient::new("lab", &s.url, Some(&ca), Bearer::Token(TOKEN.into())).unwrap()
}

fn rectify(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env_remove("RECTIFY_CONFIG")
        .env_remove("POD_NAMESPACE")
        .env_remove("POD_NAME")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn config(s: &Standin, mode: &str) -> String {
    format!(
        "store: sqlite://rectify.db\naudit: {{key: none}}\ndefault_mode: auto\naccounts:\n  - id: \"111122223333\"\n\
         kubernetes:\n  clusters:\n    - name: lab\n      server: {}\n      ca_file: {}\n      token_file: token\n\
         rules:\n  - id: contain-exec\n    pattern: {{source: [k8s.audit], detail: {{verb: [create], objectRef: {{subresource: [exec]}}}}}}\n    action: kube.pod.quarantine\n{mode}",
        s.url,
        s.ca.display()
    )
}

fn audit_event(ns: &str) -> String {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("crates/rectify-kube/tests/fixtures/audit-exec-into-pod.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["detail"]["objectRef"]["namespace"] = json!(ns);
    event.to_string()
}

async fn seed(s: &Standin, ns: &str) -> Pod {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "debug-shell", "namespace": ns, "labels": {"app": "debug"}},
        "spec": {"containers": [{"name": "sh", "image": "registry.example/busybox:1"}]}
    }))
    .unwrap();
    client(s)
        .create(&path_of::<Pod>(Some(ns), None), &pod)
        .await
        .unwrap()
        .unwrap()
}

fn process(dir: &Path, event: &str) -> Value {
    std::fs::write(dir.join("event.json"), event).unwrap();
    let out = rectify(
        dir,
        &[
            "--config",
            "rectify.yaml",
            "process",
            "--output",
            "json",
            "event.json",
        ],
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn an_audit_event_quarantines_only_when_the_mode_lets_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = standin(dir.path());
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let ns = "audit-e2e";
    let created = seed(&s, ns).await;
    let unchanged = |pod: &Pod| pod.metadata.resource_version == created.metadata.resource_version;
    let read = || async {
        let c = client(&s);
        let pod: Pod = c
            .get(&path_of::<Pod>(Some(ns), Some("debug-shell")))
            .await
            .unwrap()
            .unwrap();
        let policies: Vec<NetworkPolicy> = c
            .list(&path_of::<NetworkPolicy>(Some(ns), None), None)
            .await
            .unwrap();
        (pod, policies)
    };

    // dry-run: planned, nothing written.
    std::fs::write(
        dir.path().join("rectify.yaml"),
        config(&s, "    mode: dry-run\n"),
    )
    .unwrap();
    let report = process(dir.path(), &audit_event(ns));
    let job = &report["jobs"][0];
    assert_eq!(job["mode"], "dry-run", "{report:#}");
    assert_eq!(
        job["target"]["resource_id"],
        format!("k8s://lab/namespaces/{ns}/pods/debug-shell")
    );
    let (pod, policies) = read().await;
    assert!(
        unchanged(&pod) && policies.is_empty(),
        "{pod:?} {policies:?}"
    );

    // No mode on the rule, the config's default `auto`: the action asks
    // for approval by default, so nothing is written.
    std::fs::write(dir.path().join("rectify.yaml"), config(&s, "")).unwrap();
    let mut event: Value = serde_json::from_str(&audit_event(ns)).unwrap();
    event["id"] = json!("audit-approval");
    let report = process(dir.path(), &event.to_string());
    let job = &report["jobs"][0];
    assert_eq!(job["mode"], "approve", "{report:#}");
    assert_eq!(job["state"], "waiting-approval", "{report:#}");
    let (pod, policies) = read().await;
    assert!(unchanged(&pod) && policies.is_empty());

    // `auto` on the rule: isolated, verified, read back.
    std::fs::write(
        dir.path().join("rectify.yaml"),
        config(&s, "    mode: auto\n"),
    )
    .unwrap();
    event["id"] = json!("audit-auto");
    let report = process(dir.path(), &event.to_string());
    let job = &report["jobs"][0];
    assert_eq!(job["mode"], "auto", "{report:#}");
    let (pod, policies) = read().await;
    let id = pod
        .metadata
        .labels
        .unwrap()
        .get("rectify.io/quarantine")
        .cloned();
    assert!(id.is_some(), "{report:#}");
    assert_eq!(policies.len(), 1, "{report:#}");
    assert_eq!(
        policies[0].metadata.name.as_deref(),
        Some(format!("rectify-quarantine-{}", id.unwrap()).as_str())
    );
}

#[test]
fn kube_rbac_prints_the_cluster_role_of_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = standin(dir.path());
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), config(&s, "")).unwrap();
    let out = rectify(dir.path(), &["--config", "rectify.yaml", "kube-rbac"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("kind: ClusterRole"), "{yaml}");
    assert!(yaml.contains("resources: [\"networkpolicies\"]"), "{yaml}");
    assert!(!yaml.contains("nodes"), "only what the rules use: {yaml}");
    let all = rectify(dir.path(), &["kube-rbac", "--all"]);
    let all = String::from_utf8(all.stdout).unwrap();
    assert!(
        all.contains("resources: [\"nodes\"]") && all.contains("resources: [\"jobs\"]"),
        "{all}"
    );
}

#[test]
fn the_kubernetes_section_is_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://x.db\naudit: {key: none}\nkubernetes:\n  clusters:\n    - name: lab\n      server: http://10.0.0.1\n      token_env: NO_SUCH_TOKEN_VARIABLE_SET\n    - name: prod\n      eks: {account: '1234', region: eu-west-1, cluster_name: prod}\n      token_file: t\n    - name: lab\n    - nme: x\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "kubernetes.clusters[0].server: plain http:// only on loopback",
        "kubernetes.clusters[0].token_env: environment variable NO_SUCH_TOKEN_VARIABLE_SET is not set",
        "kubernetes.clusters[1].eks.account: expected a 12-digit account id",
        "kubernetes.clusters[1].token_file: `token_file` is for a `server` cluster",
        "kubernetes.clusters[2].name: cluster `lab` is listed twice",
        "kubernetes.clusters[3].nme: unknown field `nme`",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}

#[test]
fn every_rule_of_the_kubernetes_pack_waits_for_approval() {
    let pack = std::fs::read_to_string(
        repo().join("crates/rectify/packs/kubernetes/00-guardduty-eks.yaml"),
    )
    .unwrap();
    let rules = pack.matches("\n- id: ").count();
    assert!(rules >= 5, "{rules}");
    assert_eq!(pack.matches("\n  mode: approve\n").count(), rules, "{pack}");
    assert!(!pack.contains("mode: auto"));
}

/// The pack's service account rules: `iam-policy` grants what
/// `aws.iam.contain-role` calls on the role besides `eks:DescribeCluster`,
/// and `kube-rbac` the service accounts' `get`.
#[test]
fn the_service_account_rules_get_their_iam_and_rbac_permissions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://r.db\naudit: {key: none}\naccounts:\n  - id: \"111122223333\"\n    role_arn: arn:aws:iam::111122223333:role/rectify\n    external_id: none\n\
         kubernetes:\n  clusters:\n    - name: prod\n      eks: {account: \"111122223333\", region: eu-west-1, cluster_name: prod-eks}\n\
         rules:\n  - id: sa\n    pattern: {source: [aws.guardduty]}\n    action: kube.serviceaccount.contain-role\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["--config", "rectify.yaml", "iam-policy"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy = String::from_utf8(out.stdout).unwrap();
    for permission in [
        "eks:DescribeCluster",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ] {
        assert!(policy.contains(permission), "{permission}: {policy}");
    }
    let out = rectify(dir.path(), &["--config", "rectify.yaml", "kube-rbac"]);
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("resources: [\"serviceaccounts\"]"), "{yaml}");
    assert!(!yaml.contains("pods"), "only what the rules use: {yaml}");
}
