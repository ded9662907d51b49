//! The `kube.*` actions against the Kubernetes stand-in API server
//! (tests/standins/kube_standin.py: a stand-in, not a Kubernetes; it
//! validates every object written against the Kubernetes OpenAPI schema
//! and keeps state in memory). Each test works in its own namespace (or on
//! its own node) and reads what it changed back with a client of its own.
//!
//! The harness starts one stand-in per test binary (HTTPS with a CA of its
//! own, a bearer token, and EKS tokens checked against the AWS emulator),
//! and the emulator too unless `RECTIFY_TEST_MOTO_URL` names a running one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use rectify_aws::{AccountAccess, Aws, AwsSettings};
use rectify_kube::actions::deployment_scale_to_zero::DeploymentScaleToZero;
use rectify_kube::actions::job_run::JobRun;
use rectify_kube::actions::node_cordon::NodeCordon;
use rectify_kube::actions::pod_delete::PodDelete;
use rectify_kube::actions::pod_quarantine::PodQuarantine;
use rectify_kube::actions::serviceaccount_contain_role::{
    ServiceAccountContainRole, ROLE_ANNOTATION,
};
use rectify_kube::client::{path_of, Bearer, KubeClient, PatchKind};
use rectify_kube::target::{KubeRef, DEPLOYMENT, NODE, POD, SERVICE_ACCOUNT};
use rectify_kube::{ClusterAccess, ClusterSettings, Kube, KubeSettings, TokenSource};
use rectify_model::{Action, ErrorClass, Target};
use serde_json::{json, Value};

const TOKEN: &str = "rectify-test-token-0123456789";
const EKS_CLUSTER: &str = "rectify-eks";
const REGION: &str = "us-east-1";

struct Harness {
    kube_url: String,
    ca_file: PathBuf,
    token_file: PathBuf,
    moto_url: String,
    _dir: tempfile::TempDir,
    _children: Vec<Child>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `program args` under a `sh` watchdog that stops it when the test
/// binary exits (its stdin pipe closes); returns the child and the URL the
/// program announces as `READY URL` (or `None` if it announces none).
fn spawn(
    program: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    ready: bool,
) -> (Child, Option<String>) {
    // What the servers say goes to a log beside the test's build output.
    let name = args
        .first()
        .and_then(|a| Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let log =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}.log", std::process::id()));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    if !ready {
        return (child, None);
    }
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
        .unwrap_or_else(|_| panic!("{} did not print READY", program.display()));
    (child, Some(url))
}

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run ./scripts/venv",
            python.display()
        );
        let mut children = Vec::new();
        let moto_url = match std::env::var("RECTIFY_TEST_MOTO_URL") {
            Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
            _ => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let (child, _) = spawn(
                    &python,
                    &[
                        root.join("tests/standins/moto_server.py").to_str().unwrap(),
                        "-H",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                    ],
                    &[("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")],
                    false,
                );
                children.push(child);
                let deadline = Instant::now() + Duration::from_secs(30);
                while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                    assert!(Instant::now() < deadline, "moto did not start");
                    std::thread::sleep(Duration::from_millis(100));
                }
                format!("http://127.0.0.1:{port}")
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let (child, url) = spawn(
            &python,
            &[
                root.join("tests/standins/kube_standin.py")
                    .to_str()
                    .unwrap(),
                "--port",
                "0",
                "--token",
                TOKEN,
                "--tls-dir",
                tls.to_str().unwrap(),
                "--eks-cluster",
                EKS_CLUSTER,
                "--sts-url",
                &moto_url,
            ],
            &[],
            true,
        );
        children.push(child);
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        // Process-global, set once before any SDK client of this binary.
        std::env::set_var("AWS_ENDPOINT_URL", &moto_url);
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIARECTIFYTESTS0001");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "rectify-test-secret");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/rectify-test-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/rectify-test-credentials",
        );
        Harness {
            kube_url: url.unwrap(),
            ca_file: tls.join("ca.pem"),
            token_file,
            moto_url,
            _dir: dir,
            _children: children,
        }
    })
}

fn unique(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{prefix}-{:08x}", h.finish() as u32)
}

fn lab_cluster() -> ClusterSettings {
    let h = harness();
    ClusterSettings {
        name: "lab".into(),
        access: ClusterAccess::Server {
            server: h.kube_url.clone(),
            ca_file: Some(h.ca_file.clone()),
            token: TokenSource::File(h.token_file.clone()),
        },
    }
}

async fn kube() -> Arc<Kube> {
    harness();
    let aws = Arc::new(Aws::new(AwsSettings::new(REGION)).await);
    Arc::new(Kube::new(
        KubeSettings {
            clusters: vec![lab_cluster()],
            own_namespace: Some("rectify".into()),
            own_pod: None,
        },
        aws,
    ))
}

/// The test's own client of the stand-in, to seed objects and read back.
fn admin() -> KubeClient {
    let h = harness();
    let ca = std::fs::read(&h.ca_file).unwrap();
    KubeClient::new("lab", &h.kube_url, Some(&ca), Bearer::Token(TOKEN.into())).unwrap()
}

fn target(kind: &'static str, namespace: Option<&str>, name: &str) -> Target {
    KubeRef {
        cluster: "lab".into(),
        kind,
        namespace: namespace.map(str::to_string),
        name: name.into(),
    }
    .to_target("111122223333", REGION)
}

async fn create_pod(ns: &str, name: &str, extra_meta: Value) -> Pod {
    let mut meta = json!({"name": name, "namespace": ns, "labels": {"app": "web"}});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
        m.extend(extra.clone());
    }
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "registry.example/web:1.0"}]}
    }))
    .unwrap();
    admin()
        .create(&path_of::<Pod>(Some(ns), None), &pod)
        .await
        .unwrap()
        .expect("a new pod")
}

async fn read_pod(ns: &str, name: &str) -> Option<Pod> {
    admin()
        .get(&path_of::<Pod>(Some(ns), Some(name)))
        .await
        .unwrap()
}

async fn policies(ns: &str) -> Vec<NetworkPolicy> {
    admin()
        .list(&path_of::<NetworkPolicy>(Some(ns), None), None)
        .await
        .unwrap()
}

fn resource_version(pod: &Pod) -> String {
    pod.metadata.resource_version.clone().unwrap()
}

#[tokio::test]
async fn quarantine_isolates_the_pod_and_undo_releases_it() {
    let ns = unique("shop");
    create_pod(&ns, "web-1", json!({})).await;
    let action = PodQuarantine::new(kube().await);
    let t = target(POD, Some(&ns), "web-1");
    let params = json!({});

    let observed = action.check(&t, &params).await.unwrap();
    assert!(!observed.compliant, "{observed:?}");
    let change = action.plan(&t, &params, &observed).unwrap();
    action.apply(&t, &params, &change).await.unwrap();
    // A retry of the same change makes nothing twice.
    action.apply(&t, &params, &change).await.unwrap();
    let verified = action.verify(&t, &params).await.unwrap();
    assert!(verified.compliant, "{verified:?}");
    assert!(action.left_in_place(&t, &params, &verified).is_empty());

    // Read back on our own.
    let pod = read_pod(&ns, "web-1").await.unwrap();
    let labels = pod.metadata.labels.clone().unwrap();
    let id = labels
        .get("rectify.io/quarantine")
        .cloned()
        .expect("quarantine label");
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some("web"),
        "other labels kept"
    );
    let all = policies(&ns).await;
    assert_eq!(all.len(), 1, "one policy: {all:?}");
    let policy = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(
        policy["metadata"]["name"],
        json!(format!("rectify-quarantine-{id}"))
    );
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        json!({"rectify.io/quarantine": id})
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(policy["spec"].get("ingress").is_none() && policy["spec"].get("egress").is_none());

    // Undo.
    let now = action.check(&t, &params).await.unwrap();
    let undo = action.revert_plan(&t, &params, &change, &now).unwrap();
    action.revert(&t, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&t, &params, &undo).await.unwrap());
    let pod = read_pod(&ns, "web-1").await.unwrap();
    let labels = pod.metadata.labels.unwrap();
    assert!(!labels.contains_key("rectify.io/quarantine"), "{labels:?}");
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    assert!(policies(&ns).await.is_empty());
}

#[tokio::test]
async fn quarantine_reports_policies_that_still_let_traffic_in() {
    let ns = unique("shop");
    create_pod(&ns, "web-2", json!({})).await;
    let allow: NetworkPolicy = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-web", "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}], "policyTypes": ["Ingress"]}
    }))
    .unwrap();
    admin()
        .create(&path_of::<NetworkPolicy>(Some(&ns), None), &allow)
        .await
        .unwrap();
    let action = PodQuarantine::new(kube().await);
    let t = target(POD, Some(&ns), "web-2");
    let observed = action.check(&t, &json!({})).await.unwrap();
    let change = action.plan(&t, &json!({}), &observed).unwrap();
    action.apply(&t, &json!({}), &change).await.unwrap();
    let verified = action.verify(&t, &json!({})).await.unwrap();
    assert!(verified.compliant);
    let left = action.left_in_place(&t, &json!({}), &verified);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("allow-web"), "{left:?}");
}

#[tokio::test]
async fn check_and_plan_write_nothing() {
    let ns = unique("shop");
    let created = create_pod(&ns, "web-3", json!({})).await;
    let action = PodQuarantine::new(kube().await);
    let t = target(POD, Some(&ns), "web-3");
    let observed = action.check(&t, &json!({})).await.unwrap();
    action.plan(&t, &json!({}), &observed).unwrap();
    let pod = read_pod(&ns, "web-3").await.unwrap();
    assert_eq!(resource_version(&pod), resource_version(&created));
    assert!(policies(&ns).await.is_empty());
}

#[tokio::test]
async fn kube_system_is_refused_unless_the_rule_allows_it() {
    // One namespace for every test binary: the pod's name is unique.
    let name = unique("coredns");
    let created = create_pod("kube-system", &name, json!({})).await;
    let action = PodQuarantine::new(kube().await);
    let t = target(POD, Some("kube-system"), &name);
    let err = action.check(&t, &json!({})).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid);
    assert!(err.message.contains("allow_kube_system"), "{}", err.message);
    let change = rectify_model::Change::new(
        "x".into(),
        json!({"label": null, "policy": null}),
        json!({"label": "q-x", "policy": "rectify-quarantine-q-x"}),
    );
    assert!(action.apply(&t, &json!({}), &change).await.is_err());
    let pod = read_pod("kube-system", &name).await.unwrap();
    assert_eq!(
        resource_version(&pod),
        resource_version(&created),
        "nothing written"
    );
    // Allowed explicitly: it acts.
    let params = json!({"allow_kube_system": true});
    let observed = action.check(&t, &params).await.unwrap();
    let change = action.plan(&t, &params, &observed).unwrap();
    action.apply(&t, &params, &change).await.unwrap();
    assert!(action.verify(&t, &params).await.unwrap().compliant);
}

#[tokio::test]
async fn own_namespace_is_refused() {
    let action = PodQuarantine::new(kube().await);
    let err = action
        .check(
            &target(POD, Some("rectify"), "rectify-0"),
            &json!({"allow_kube_system": true}),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("own namespace"), "{}", err.message);
}

#[tokio::test]
async fn every_action_waits_for_approval_by_default() {
    let kube = kube().await;
    for action in rectify_kube::catalog(kube) {
        assert!(action.spec().approval_by_default, "{}", action.spec().id);
    }
}

async fn create_node(name: &str, unschedulable: bool) {
    let mut node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    if unschedulable {
        node["spec"] = json!({"unschedulable": true});
    }
    let node: Node = serde_json::from_value(node).unwrap();
    admin()
        .create(&path_of::<Node>(None, None), &node)
        .await
        .unwrap()
        .unwrap();
}

async fn unschedulable(name: &str) -> Option<bool> {
    let node: Node = admin()
        .get(&path_of::<Node>(None, Some(name)))
        .await
        .unwrap()
        .unwrap();
    node.spec.and_then(|s| s.unschedulable)
}

#[tokio::test]
async fn cordon_and_uncordon() {
    let name = format!("{}.ec2.internal", unique("ip-10-0-1-23"));
    create_node(&name, false).await;
    let action = NodeCordon::new(kube().await);
    let t = target(NODE, None, &name);
    let observed = action.check(&t, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&t, &json!({}), &observed).unwrap();
    action.apply(&t, &json!({}), &change).await.unwrap();
    assert!(action.verify(&t, &json!({})).await.unwrap().compliant);
    assert_eq!(unschedulable(&name).await, Some(true));
    let now = action.check(&t, &json!({})).await.unwrap();
    let undo = action.revert_plan(&t, &json!({}), &change, &now).unwrap();
    action.revert(&t, &json!({}), &undo).await.unwrap();
    assert!(action.verify_revert(&t, &json!({}), &undo).await.unwrap());
    assert_ne!(unschedulable(&name).await, Some(true));
}

#[tokio::test]
async fn a_node_cordoned_before_is_compliant_and_stays_cordoned() {
    let name = unique("node-cordoned");
    create_node(&name, true).await;
    let action = NodeCordon::new(kube().await);
    let t = target(NODE, None, &name);
    let observed = action.check(&t, &json!({})).await.unwrap();
    assert!(observed.compliant, "already cordoned: nothing to do");
    assert_eq!(unschedulable(&name).await, Some(true));
}

#[tokio::test]
async fn scale_to_zero_and_back() {
    let ns = unique("shop");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": ns},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [{"name": "app", "image": "registry.example/checkout:1"}]}}
        }
    }))
    .unwrap();
    admin()
        .create(&path_of::<Deployment>(Some(&ns), None), &deployment)
        .await
        .unwrap();
    let replicas = |d: Deployment| d.spec.and_then(|s| s.replicas);
    let read = || async {
        admin()
            .get::<Deployment>(&path_of::<Deployment>(Some(&ns), Some("checkout")))
            .await
            .unwrap()
            .unwrap()
    };
    let action = DeploymentScaleToZero::new(kube().await);
    let t = target(DEPLOYMENT, Some(&ns), "checkout");
    let observed = action.check(&t, &json!({})).await.unwrap();
    assert_eq!(observed.state, json!({"replicas": 3}));
    let change = action.plan(&t, &json!({}), &observed).unwrap();
    action.apply(&t, &json!({}), &change).await.unwrap();
    assert!(action.verify(&t, &json!({})).await.unwrap().compliant);
    assert_eq!(replicas(read().await), Some(0));
    let now = action.check(&t, &json!({})).await.unwrap();
    let undo = action.revert_plan(&t, &json!({}), &change, &now).unwrap();
    action.revert(&t, &json!({}), &undo).await.unwrap();
    assert!(action.verify_revert(&t, &json!({}), &undo).await.unwrap());
    assert_eq!(replicas(read().await), Some(3));
}

#[tokio::test]
async fn delete_names_the_recreating_controller_and_cannot_be_undone() {
    let ns = unique("shop");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9f8", "namespace": ns, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
            "uid": "3f2a1b4c-0000-4000-8000-000000000001", "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/web:1.0"}]}}}
    }))
    .unwrap();
    admin()
        .create(&path_of::<ReplicaSet>(Some(&ns), None), &rs)
        .await
        .unwrap();
    create_pod(
        &ns,
        "web-7d9f8-abcde",
        json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8",
                                    "uid": "3f2a1b4c-0000-4000-8000-000000000002", "controller": true}]}),
    )
    .await;
    let action = PodDelete::new(kube().await);
    let t = target(POD, Some(&ns), "web-7d9f8-abcde");
    let observed = action.check(&t, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&t, &json!({}), &observed).unwrap();
    assert!(
        change.summary.contains(&format!(
            "ReplicaSet {ns}/web-7d9f8 (of Deployment web) will recreate it"
        )),
        "{}",
        change.summary
    );
    assert!(
        change.summary.contains("irreversible"),
        "{}",
        change.summary
    );
    assert!(
        !action.intent(&t, &json!({}), &observed).is_empty(),
        "always approved by a person"
    );
    action.apply(&t, &json!({}), &change).await.unwrap();
    assert!(action.verify(&t, &json!({})).await.unwrap().compliant);
    assert!(read_pod(&ns, "web-7d9f8-abcde").await.is_none());
    let now = action.check(&t, &json!({})).await.unwrap();
    assert!(action.revert_plan(&t, &json!({}), &change, &now).is_err());
}

#[tokio::test]
async fn delete_refuses_a_pod_recreated_under_the_same_name() {
    let ns = unique("db");
    create_pod(&ns, "db-0", json!({})).await;
    let action = PodDelete::new(kube().await);
    let t = target(POD, Some(&ns), "db-0");
    let observed = action.check(&t, &json!({})).await.unwrap();
    let change = action.plan(&t, &json!({}), &observed).unwrap();
    // A StatefulSet makes a new db-0 before the approved deletion runs.
    assert!(admin()
        .delete(&path_of::<Pod>(Some(&ns), Some("db-0")))
        .await
        .unwrap());
    create_pod(&ns, "db-0", json!({})).await;
    let err = action.apply(&t, &json!({}), &change).await.unwrap_err();
    assert!(
        err.message.contains("not the pod that was approved"),
        "{}",
        err.message
    );
    assert!(read_pod(&ns, "db-0").await.is_some());
}

#[tokio::test]
async fn job_runs_once_is_verified_by_its_status_and_undo_deletes_it() {
    let ns = unique("shop");
    let action = JobRun::new(kube().await);
    let t = target(DEPLOYMENT, Some(&ns), "checkout");
    let params = json!({"wait_seconds": 0, "template": {
        "metadata": {"labels": {"purpose": "patch-image"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "patch", "image": "registry.example/patcher:2",
                            "args": ["set-image", "{{namespace}}/{{name}}", "registry.example/checkout:1.0.1"]}]}}}}});
    action.validate_params(&params).unwrap();
    let observed = action.check(&t, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&t, &params, &observed).unwrap();
    action.apply(&t, &params, &change).await.unwrap();
    action.apply(&t, &params, &change).await.unwrap();
    let jobs: Vec<Job> = admin()
        .list(&path_of::<Job>(Some(&ns), None), None)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "a retry starts no second Job");
    let job = serde_json::to_value(&jobs[0]).unwrap();
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("rectify-job-"), "{name}");
    assert_eq!(
        job["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        json!("rectify")
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][1],
        json!(format!("{ns}/checkout"))
    );
    // Not finished: not a fix.
    let running = action.verify(&t, &params).await.unwrap();
    assert!(!running.compliant);
    assert_eq!(running.state["phase"], json!("running"));
    // The Job controller's report, through the status subresource.
    admin()
        .patch::<Job>(
            &format!("{}/status", path_of::<Job>(Some(&ns), Some(&name))),
            PatchKind::Merge,
            &json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}),
        )
        .await
        .unwrap()
        .unwrap();
    let done = action.verify(&t, &params).await.unwrap();
    assert!(done.compliant, "{done:?}");
    let now = action.check(&t, &params).await.unwrap();
    let undo = action.revert_plan(&t, &params, &change, &now).unwrap();
    action.revert(&t, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&t, &params, &undo).await.unwrap());
    let jobs: Vec<Job> = admin()
        .list(&path_of::<Job>(Some(&ns), None), None)
        .await
        .unwrap();
    assert!(jobs.is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_access_denied() {
    let h = harness();
    let ca = std::fs::read(&h.ca_file).unwrap();
    let client =
        KubeClient::new("lab", &h.kube_url, Some(&ca), Bearer::Token("wrong".into())).unwrap();
    let err = client
        .get::<Pod>(&path_of::<Pod>(Some("x"), Some("y")))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::AccessDenied, "{}", err.message);
    // And an untrusted server certificate is refused.
    let client = KubeClient::new("lab", &h.kube_url, None, Bearer::Token(TOKEN.into())).unwrap();
    assert!(client
        .get::<Pod>(&path_of::<Pod>(Some("x"), Some("y")))
        .await
        .is_err());
}

/// An EKS cluster made in the emulator: rectify reads it with
/// DescribeCluster as the role it assumes in the cluster's account, and
/// the stand-in takes the token made from that role's credentials (it
/// calls the presigned GetCallerIdentity URL on the emulator, as EKS's
/// authenticator calls STS). The emulator's endpoint and CA for the
/// cluster point nowhere, so `endpoint` and `ca_file` send the client to
/// the stand-in.
#[tokio::test]
async fn eks_cluster_from_describe_cluster_with_the_assumed_roles_token() {
    let h = harness();
    let account = format!(
        "{:012}",
        100_000_000_000u64 + (std::process::id() as u64 % 900_000_000_000)
    );
    let mut settings = AwsSettings::new(REGION);
    settings.accounts = vec![AccountAccess {
        id: account.clone(),
        role_arn: Some(format!("arn:aws:iam::{account}:role/rectify")),
        external_id: None,
    }];
    settings.sdk_max_attempts = Some(1);
    let aws = Arc::new(Aws::new(settings).await);
    let sdk = aws.config_for(&account, REGION).await.unwrap();
    let eks = aws_sdk_eks::Client::new(&sdk);
    eks.create_cluster()
        .name(EKS_CLUSTER)
        .role_arn(format!("arn:aws:iam::{account}:role/eks"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0123456789abcdef0")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let described = rectify_kube::eks::describe_cluster(&eks, EKS_CLUSTER)
        .await
        .unwrap();
    assert!(
        described.endpoint.starts_with("https://"),
        "{}",
        described.endpoint
    );
    assert!(!described.ca_pem.is_empty());
    assert!(rectify_kube::eks::describe_cluster(&eks, "no-such-cluster")
        .await
        .is_err());

    let kube = Kube::new(
        KubeSettings {
            clusters: vec![ClusterSettings {
                name: "prod".into(),
                access: ClusterAccess::Eks {
                    account: account.clone(),
                    region: REGION.into(),
                    cluster_name: EKS_CLUSTER.into(),
                    endpoint: Some(h.kube_url.clone()),
                    ca_file: Some(h.ca_file.clone()),
                },
            }],
            ..Default::default()
        },
        aws.clone(),
    );
    let client = kube.client("prod").await.unwrap();
    let nodes: Vec<Node> = client
        .list(&path_of::<Node>(None, None), None)
        .await
        .unwrap();
    let _ = nodes;
    // The emulator was asked for the caller behind the token.
    let _ = &h.moto_url;
    // A cluster that is not configured is refused before any call.
    assert!(kube.client("other").await.is_err());
}

/// The emulator's own account (where its roles are made).
const EMULATOR_ACCOUNT: &str = "123456789012";

async fn iam() -> aws_sdk_iam::Client {
    harness();
    // rectify's own AWS configuration (its HTTP client) against the emulator.
    let aws = Aws::new(AwsSettings::new(REGION)).await;
    aws_sdk_iam::Client::new(&aws.own_config(REGION))
}

/// The role's inline policy `rectify-containment`, if it has one.
async fn containment_of(role: &str) -> Option<Value> {
    match iam()
        .await
        .get_role_policy()
        .role_name(role)
        .policy_name("rectify-containment")
        .send()
        .await
    {
        Ok(out) => {
            let text = out.policy_document();
            let decoded = if text.starts_with('%') {
                // URL-encoded, as IAM returns documents.
                let mut bytes = Vec::new();
                let raw = text.as_bytes();
                let mut i = 0;
                while i < raw.len() {
                    if raw[i] == b'%' {
                        bytes.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        bytes.push(raw[i]);
                        i += 1;
                    }
                }
                String::from_utf8(bytes).unwrap()
            } else {
                text.to_string()
            };
            Some(serde_json::from_str(&decoded).unwrap())
        }
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_no_such_entity_exception(), "{e:?}");
            None
        }
    }
}

#[tokio::test]
async fn a_service_accounts_irsa_role_is_contained_and_undo_restores_it() {
    let ns = unique("payments");
    let role = unique("ledger-irsa");
    let arn = iam()
        .await
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": format!("arn:aws:iam::{EMULATOR_ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")},
                "Action": "sts:AssumeRoleWithWebIdentity"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let account: ServiceAccount = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "ledger-writer", "namespace": ns,
                     "annotations": {ROLE_ANNOTATION: arn}}
    }))
    .unwrap();
    admin()
        .create(&path_of::<ServiceAccount>(Some(&ns), None), &account)
        .await
        .unwrap();
    let aws = Arc::new(
        Aws::new(AwsSettings {
            accounts: vec![AccountAccess {
                id: EMULATOR_ACCOUNT.into(),
                role_arn: None,
                external_id: None,
            }],
            ..AwsSettings::new(REGION)
        })
        .await,
    );
    let kube = Arc::new(Kube::new(
        KubeSettings {
            clusters: vec![lab_cluster()],
            own_namespace: Some("rectify".into()),
            own_pod: None,
        },
        aws,
    ));
    let action = ServiceAccountContainRole::new(kube);
    assert!(action.spec().approval_by_default);
    let t = target(SERVICE_ACCOUNT, Some(&ns), "ledger-writer");
    let params = json!({});

    let observed = action.check(&t, &params).await.unwrap();
    assert!(!observed.compliant, "{observed:?}");
    let change = action.plan(&t, &params, &observed).unwrap();
    assert!(change.summary.contains(&arn), "{}", change.summary);
    assert_eq!(containment_of(&role).await, None, "planned only");
    action.apply(&t, &params, &change).await.unwrap();
    assert!(action.verify(&t, &params).await.unwrap().compliant);

    // Read back from IAM: deny everything to sessions issued before now.
    let doc = containment_of(&role).await.expect("the containment policy");
    let statement = &doc["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], json!(["*"]));
    assert_eq!(statement["Resource"], json!(["*"]));
    let cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    assert!(
        cutoff.starts_with("20") && cutoff.ends_with('Z'),
        "{cutoff}"
    );
    // The service account itself is left as it was.
    let read: ServiceAccount = admin()
        .get(&path_of::<ServiceAccount>(Some(&ns), Some("ledger-writer")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.metadata.annotations.unwrap().get(ROLE_ANNOTATION),
        Some(&arn)
    );
    // Already contained: nothing more to do.
    let again = action.check(&t, &params).await.unwrap();
    assert!(again.compliant);
    let noop = action.plan(&t, &params, &again).unwrap();
    assert_eq!(noop.before, noop.after);

    // Undo: the role had no policy of that name, so it is deleted.
    let undo = action.revert_plan(&t, &params, &change, &again).unwrap();
    action.revert(&t, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&t, &params, &undo).await.unwrap());
    assert_eq!(containment_of(&role).await, None);
}

#[tokio::test]
async fn a_service_account_without_a_role_or_with_a_forged_one_is_left_alone() {
    let ns = unique("web");
    for (name, annotations) in [
        ("plain", json!({})),
        (
            "forged",
            json!({ROLE_ANNOTATION: "arn:aws:iam::123456789012:user/admin"}),
        ),
    ] {
        let account: ServiceAccount = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations}
        }))
        .unwrap();
        admin()
            .create(&path_of::<ServiceAccount>(Some(&ns), None), &account)
            .await
            .unwrap();
    }
    let action = ServiceAccountContainRole::new(kube().await);
    let plain = action
        .check(&target(SERVICE_ACCOUNT, Some(&ns), "plain"), &json!({}))
        .await
        .unwrap();
    assert!(plain.compliant, "{plain:?}");
    assert_eq!(plain.state["role_arn"], Value::Null);
    let forged = action
        .check(&target(SERVICE_ACCOUNT, Some(&ns), "forged"), &json!({}))
        .await
        .unwrap_err();
    assert!(
        forged.message.contains("not an IAM role ARN"),
        "{}",
        forged.message
    );
    let gone = action
        .check(&target(SERVICE_ACCOUNT, Some(&ns), "missing"), &json!({}))
        .await
        .unwrap_err();
    assert_eq!(gone.class, ErrorClass::NotFound);
}
