//! How an event names a Kubernetes object, and the `Target` made of it.
//!
//! Three shapes are read:
//! - GuardDuty findings (`GuardDuty Finding`; EKS audit log and runtime
//!   findings): the cluster in `detail.resource.eksClusterDetails.name`,
//!   the workload in `detail.resource.kubernetesDetails.kubernetesWorkloadDetails`
//!   (`name`, `namespace`, `type`), the node of a runtime finding in
//!   `detail.resource.instanceDetails.networkInterfaces[0].privateDnsName`
//!   (the name EKS gives nodes);
//! - Security Hub findings (ASFF): the cluster from the `AwsEksCluster`
//!   resource (`Details.AwsEksCluster.Name`, else the name in its ARN),
//!   the workload and node from the same GuardDuty fields as
//!   `ProductFields` carry them (keys ending in
//!   `kubernetesWorkloadDetails/name`, `/namespace`, `/type`, and
//!   `networkInterfaces/0/privateDnsName`, any case);
//! - Kubernetes audit events (`detail` is an `audit.k8s.io/v1` `Event`):
//!   the object from `detail.objectRef`; the cluster named by the envelope's
//!   first resource, an EKS cluster ARN or `k8s://NAME` of a configured
//!   cluster.
//!
//! Whatever the shape, the cluster must be one of `kubernetes.clusters`
//! (an EKS cluster by account, region and name): anything else is refused.

use rectify_model::{Event, Target};
use serde_json::{json, Value};

use crate::cluster::{ClusterAccess, KubeSettings};

/// ASFF-style resource types of the Kubernetes objects rectify acts on.
pub const POD: &str = "KubernetesPod";
pub const NODE: &str = "KubernetesNode";
pub const DEPLOYMENT: &str = "KubernetesDeployment";
pub const SERVICE_ACCOUNT: &str = "KubernetesServiceAccount";

/// The prefix of a service account's user name
/// (`system:serviceaccount:NAMESPACE:NAME`).
const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:";

/// One Kubernetes object in a configured cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRef {
    /// The configured cluster's name (`kubernetes.clusters[].name`).
    pub cluster: String,
    /// `KubernetesPod`, `KubernetesNode` or `KubernetesDeployment`.
    pub kind: &'static str,
    /// None for nodes.
    pub namespace: Option<String>,
    pub name: String,
}

impl KubeRef {
    /// `k8s://CLUSTER/namespaces/NS/pods/NAME`, `k8s://CLUSTER/nodes/NAME`.
    pub fn id(&self) -> String {
        let plural = match self.kind {
            POD => "pods",
            NODE => "nodes",
            SERVICE_ACCOUNT => "serviceaccounts",
            _ => "deployments",
        };
        match &self.namespace {
            Some(ns) => format!(
                "k8s://{}/namespaces/{ns}/{plural}/{}",
                self.cluster, self.name
            ),
            None => format!("k8s://{}/{plural}/{}", self.cluster, self.name),
        }
    }

    pub fn to_target(&self, account: &str, region: &str) -> Target {
        let mut target = Target::listed(account, region, self.kind, self.id());
        target.details = json!({"Kubernetes": {
            "Cluster": self.cluster,
            "Namespace": self.namespace,
            "Name": self.name,
        }});
        target
    }

    /// The object a target names (as [`KubeRef::to_target`] made it).
    pub fn from_target(target: &Target) -> Result<KubeRef, String> {
        let k = &target.details["Kubernetes"];
        let text = |key: &str| k[key].as_str().map(str::to_string);
        let kind = match target.resource_type.as_str() {
            POD => POD,
            NODE => NODE,
            DEPLOYMENT => DEPLOYMENT,
            SERVICE_ACCOUNT => SERVICE_ACCOUNT,
            other => return Err(format!("{other} is not a Kubernetes object type")),
        };
        let r = KubeRef {
            cluster: text("Cluster").ok_or("target names no cluster")?,
            kind,
            namespace: text("Namespace"),
            name: text("Name").ok_or("target names no object")?,
        };
        if (kind == NODE) != r.namespace.is_none() {
            return Err(format!(
                "{}: a namespace is given for a node or missing for a namespaced object",
                r.id()
            ));
        }
        check_name(&r.name)?;
        if let Some(ns) = &r.namespace {
            check_name(ns)?;
        }
        if r.id() != target.resource_id {
            return Err(format!(
                "target id {} does not match its details ({})",
                target.resource_id,
                r.id()
            ));
        }
        Ok(r)
    }
}

/// A Kubernetes object name (DNS subdomain: lower-case letters, digits,
/// `-` and `.`, at most 253 characters).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a Kubernetes object name",
            name.chars().take(80).collect::<String>()
        ))
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The workload type GuardDuty names, as a resource type.
fn workload_kind(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_lowercase().as_str() {
        "pods" | "pod" => Some(POD),
        "deployments" | "deployment" => Some(DEPLOYMENT),
        _ => None,
    }
}

/// What an event says, before it is matched against the configured
/// clusters.
#[derive(Debug, Default)]
struct Named {
    account: String,
    region: String,
    /// An EKS cluster name (with account and region), or a configured name.
    eks_cluster: Option<String>,
    configured_cluster: Option<String>,
    workload: Option<(&'static str, String, String)>,
    node: Option<String>,
    /// `(namespace, name)` of the service account the workload runs as,
    /// or that made the call.
    service_account: Option<(String, String)>,
}

/// The object of one of `kinds` that `event` names, in a configured
/// cluster.
pub fn kube_target(
    event: &Event,
    kinds: &[&str],
    settings: &KubeSettings,
) -> Result<Target, String> {
    let named = if event.detail_type == rectify_model::target::GUARDDUTY_FINDING {
        from_guardduty(event)
    } else if event.body["detail"]["apiVersion"].as_str() == Some("audit.k8s.io/v1") {
        from_audit_event(event)?
    } else if let Some(finding) = event.finding() {
        from_asff(event, finding)
    } else {
        return Err(format!(
            "event {} is neither a GuardDuty finding, a Security Hub finding nor a Kubernetes audit event",
            event.id
        ));
    };
    let cluster = match (&named.eks_cluster, &named.configured_cluster) {
        (Some(eks), _) => settings
            .eks_cluster(&named.account, &named.region, eks)
            .ok_or_else(|| {
                format!(
                    "EKS cluster {eks} in account {} {} is not in kubernetes.clusters; refused",
                    named.account, named.region
                )
            })?,
        (None, Some(name)) => settings
            .cluster(name)
            .ok_or_else(|| format!("cluster {name} is not in kubernetes.clusters; refused"))?,
        (None, None) => return Err(format!("event {} names no Kubernetes cluster", event.id)),
    };
    let (account, region) = match &cluster.access {
        ClusterAccess::Eks {
            account, region, ..
        } => (account.clone(), region.clone()),
        ClusterAccess::Server { .. } => (named.account.clone(), named.region.clone()),
    };
    let mut found = None;
    for &kind in kinds {
        match (kind, &named.workload, &named.node) {
            (NODE, _, Some(node)) => {
                found = Some(KubeRef {
                    cluster: cluster.name.clone(),
                    kind: NODE,
                    namespace: None,
                    name: node.clone(),
                })
            }
            (SERVICE_ACCOUNT, _, _) if named.service_account.is_some() => {
                let (ns, name) = named.service_account.clone().unwrap_or_default();
                found = Some(KubeRef {
                    cluster: cluster.name.clone(),
                    kind: SERVICE_ACCOUNT,
                    namespace: Some(ns),
                    name,
                })
            }
            (k, Some((wk, ns, name)), _) if k == *wk => {
                found = Some(KubeRef {
                    cluster: cluster.name.clone(),
                    kind: wk,
                    namespace: Some(ns.clone()),
                    name: name.clone(),
                })
            }
            _ => {}
        }
        if found.is_some() {
            break;
        }
    }
    let found = found.ok_or_else(|| {
        format!(
            "event {} names no {} in cluster {}",
            event.id,
            kinds.join(" or "),
            cluster.name
        )
    })?;
    check_name(&found.name)?;
    if let Some(ns) = &found.namespace {
        check_name(ns)?;
    }
    Ok(found.to_target(&account, &region))
}

fn from_guardduty(event: &Event) -> Named {
    let detail = &event.body["detail"];
    let resource = &detail["resource"];
    let workload = &resource["kubernetesDetails"]["kubernetesWorkloadDetails"];
    Named {
        account: text(&detail["accountId"]).unwrap_or_else(|| event.account.clone()),
        region: text(&detail["region"]).unwrap_or_else(|| event.region.clone()),
        eks_cluster: text(&resource["eksClusterDetails"]["name"]),
        configured_cluster: None,
        workload: workload_of(
            text(&workload["type"]),
            text(&workload["namespace"]),
            text(&workload["name"]),
        ),
        node: text(&resource["instanceDetails"]["networkInterfaces"][0]["privateDnsName"]),
        service_account: service_account_of(
            text(&workload["namespace"]),
            text(&workload["serviceAccountName"]),
            text(&resource["kubernetesDetails"]["kubernetesUserDetails"]["username"]),
        ),
    }
}

/// The workload's service account (its namespace and
/// `serviceAccountName`), else the one a `system:serviceaccount:NS:NAME`
/// user name names.
fn service_account_of(
    namespace: Option<String>,
    name: Option<String>,
    user: Option<String>,
) -> Option<(String, String)> {
    if let (Some(ns), Some(name)) = (namespace, name) {
        return Some((ns, name));
    }
    let user = user?;
    let (ns, name) = user.strip_prefix(SERVICE_ACCOUNT_USER)?.split_once(':')?;
    Some((ns.to_string(), name.to_string()))
}

fn workload_of(
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
) -> Option<(&'static str, String, String)> {
    Some((workload_kind(&kind?)?, namespace?, name?))
}

fn from_asff(event: &Event, finding: &rectify_model::Finding) -> Named {
    let cluster = finding.resources.iter().find(|r| r.kind == "AwsEksCluster");
    let eks_cluster = cluster.and_then(|r| {
        r.details
            .as_ref()
            .and_then(|d| text(&d["AwsEksCluster"]["Name"]))
            .or_else(|| r.id.rsplit_once(":cluster/").map(|(_, n)| n.to_string()))
    });
    let fields = finding
        .extra
        .get("ProductFields")
        .and_then(Value::as_object);
    let field = |suffix: &str| -> Option<String> {
        let fields = fields?;
        fields
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase().ends_with(suffix))
            .and_then(|(_, v)| text(v))
    };
    Named {
        account: finding.aws_account_id.clone(),
        region: cluster
            .and_then(|r| r.region.clone())
            .or_else(|| finding.region.clone())
            .unwrap_or_else(|| event.region.clone()),
        eks_cluster,
        configured_cluster: None,
        workload: workload_of(
            field("kubernetesworkloaddetails/type"),
            field("kubernetesworkloaddetails/namespace"),
            field("kubernetesworkloaddetails/name"),
        ),
        node: field("networkinterfaces/0/privatednsname"),
        service_account: service_account_of(
            field("kubernetesworkloaddetails/namespace"),
            field("kubernetesworkloaddetails/serviceaccountname"),
            field("kubernetesuserdetails/username"),
        ),
    }
}

fn from_audit_event(event: &Event) -> Result<Named, String> {
    let detail = &event.body["detail"];
    let object = &detail["objectRef"];
    let first = event.resources.first().ok_or_else(|| {
        format!(
            "audit event {} does not name its cluster (resources[0]: an EKS cluster ARN or k8s://NAME)",
            event.id
        )
    })?;
    let mut named = Named {
        account: event.account.clone(),
        region: event.region.clone(),
        ..Default::default()
    };
    if let Some(name) = first.strip_prefix("k8s://") {
        named.configured_cluster = Some(name.trim_end_matches('/').to_string());
    } else if let Some(rest) = first.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        match parts[..] {
            [_, "eks", region, account, resource] if resource.starts_with("cluster/") => {
                named.account = account.to_string();
                named.region = region.to_string();
                named.eks_cluster = Some(resource["cluster/".len()..].to_string());
            }
            _ => {
                return Err(format!(
                    "audit event {}: {first} is not an EKS cluster ARN",
                    event.id
                ))
            }
        }
    } else {
        return Err(format!(
            "audit event {}: cannot read the cluster from {first}",
            event.id
        ));
    }
    let resource = object["resource"].as_str().unwrap_or_default();
    let name = text(&object["name"]);
    named.service_account = service_account_of(None, None, text(&detail["user"]["username"]));
    match resource {
        "nodes" => named.node = name,
        "serviceaccounts" => {
            named.service_account = service_account_of(text(&object["namespace"]), name, None)
        }
        _ => {
            named.workload =
                workload_of(Some(resource.to_string()), text(&object["namespace"]), name)
        }
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterSettings;
    use std::path::PathBuf;

    fn settings() -> KubeSettings {
        KubeSettings {
            clusters: vec![
                ClusterSettings {
                    name: "prod".into(),
                    access: ClusterAccess::Eks {
                        account: "111122223333".into(),
                        region: "eu-west-1".into(),
                        cluster_name: "prod-eks".into(),
                        endpoint: None,
                        ca_file: None,
                    },
                },
                ClusterSettings {
                    name: "lab".into(),
                    access: ClusterAccess::Server {
                        server: "https://10.0.0.1".into(),
                        ca_file: None,
                        token: crate::cluster::TokenSource::File(PathBuf::from("/t")),
                    },
                },
            ],
            ..Default::default()
        }
    }

    fn event(v: Value) -> Event {
        let bytes = serde_json::to_vec(&v).unwrap();
        rectify_ingest::parse_body(&bytes, &Default::default())
            .unwrap()
            .remove(0)
    }

    fn fixture(name: &str) -> Event {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        event(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    #[test]
    fn guardduty_eks_finding_names_the_pod() {
        let t = kube_target(
            &fixture("guardduty-exec-in-kube-system-pod.json"),
            &[POD],
            &settings(),
        )
        .unwrap();
        assert_eq!(
            t.resource_id,
            "k8s://prod/namespaces/kube-system/pods/aws-node-x7k2p"
        );
        assert_eq!(t.account, "111122223333");
        let r = KubeRef::from_target(&t).unwrap();
        assert_eq!(r.namespace.as_deref(), Some("kube-system"));
    }

    #[test]
    fn guardduty_runtime_finding_names_pod_and_node() {
        let e = fixture("guardduty-runtime-bitcoin-tool.json");
        let pod = kube_target(&e, &[POD], &settings()).unwrap();
        assert_eq!(
            pod.resource_id,
            "k8s://prod/namespaces/shop/pods/checkout-7d9f8-abcde"
        );
        let node = kube_target(&e, &[NODE], &settings()).unwrap();
        assert_eq!(
            node.resource_id,
            "k8s://prod/nodes/ip-10-0-1-23.eu-west-1.compute.internal"
        );
    }

    #[test]
    fn asff_finding_names_cluster_and_deployment() {
        let t = kube_target(
            &fixture("securityhub-guardduty-privileged-container.json"),
            &[DEPLOYMENT],
            &settings(),
        )
        .unwrap();
        assert_eq!(
            t.resource_id,
            "k8s://prod/namespaces/shop/deployments/checkout"
        );
    }

    #[test]
    fn audit_event_names_the_pod() {
        let t = kube_target(&fixture("audit-exec-into-pod.json"), &[POD], &settings()).unwrap();
        assert_eq!(
            t.resource_id,
            "k8s://lab/namespaces/default/pods/debug-shell"
        );
    }

    #[test]
    fn unconfigured_clusters_are_refused() {
        let mut v: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/guardduty-exec-in-kube-system-pod.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        v["detail"]["accountId"] = json!("999999999999");
        let err = kube_target(&event(v.clone()), &[POD], &settings()).unwrap_err();
        assert!(err.contains("not in kubernetes.clusters"), "{err}");
        v["detail"]["accountId"] = json!("111122223333");
        v["detail"]["resource"]["eksClusterDetails"]["name"] = json!("other");
        assert!(kube_target(&event(v), &[POD], &settings()).is_err());
    }

    #[test]
    fn hostile_names_are_refused() {
        let mut v: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/guardduty-exec-in-kube-system-pod.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        v["detail"]["resource"]["kubernetesDetails"]["kubernetesWorkloadDetails"]["name"] =
            json!("../../api/v1/secrets");
        let err = kube_target(&event(v), &[POD], &settings()).unwrap_err();
        assert!(err.contains("not a Kubernetes object name"), "{err}");
        assert!(check_name(&"a".repeat(254)).is_err());
        assert!(check_name("Upper").is_err());
        assert!(check_name("ok-name.1").is_ok());
    }

    #[test]
    fn the_service_account_comes_from_the_workload_or_the_caller() {
        let path = format!(
            "{}/tests/fixtures/guardduty-runtime-bitcoin-tool.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let err = kube_target(&event(v.clone()), &[SERVICE_ACCOUNT], &settings()).unwrap_err();
        assert!(err.contains("names no KubernetesServiceAccount"), "{err}");
        let details = &mut v["detail"]["resource"]["kubernetesDetails"];
        details["kubernetesUserDetails"] =
            json!({"username": "system:serviceaccount:payments:ledger-writer"});
        let t = kube_target(&event(v.clone()), &[SERVICE_ACCOUNT], &settings()).unwrap();
        assert_eq!(
            t.resource_id,
            "k8s://prod/namespaces/payments/serviceaccounts/ledger-writer"
        );
        assert_eq!(KubeRef::from_target(&t).unwrap().kind, SERVICE_ACCOUNT);
        // The workload's own service account comes first.
        v["detail"]["resource"]["kubernetesDetails"]["kubernetesWorkloadDetails"]
            ["serviceAccountName"] = json!("checkout");
        let t = kube_target(&event(v.clone()), &[SERVICE_ACCOUNT], &settings()).unwrap();
        assert_eq!(
            t.resource_id,
            "k8s://prod/namespaces/shop/serviceaccounts/checkout"
        );
        // A hostile name is refused like any other.
        v["detail"]["resource"]["kubernetesDetails"]["kubernetesWorkloadDetails"]
            ["serviceAccountName"] = json!("../secrets");
        assert!(kube_target(&event(v), &[SERVICE_ACCOUNT], &settings()).is_err());
        // A user that is not a service account names none.
        assert_eq!(
            service_account_of(None, None, Some("kubernetes-admin".into())),
            None
        );
    }

    #[test]
    fn target_round_trip_checks_its_id() {
        let r = KubeRef {
            cluster: "prod".into(),
            kind: NODE,
            namespace: None,
            name: "n1".into(),
        };
        let mut t = r.to_target("111122223333", "eu-west-1");
        assert_eq!(KubeRef::from_target(&t).unwrap(), r);
        t.resource_id = "k8s://prod/nodes/n2".into();
        assert!(KubeRef::from_target(&t).is_err());
    }
}
