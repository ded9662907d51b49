//! The ClusterRole rectify needs for a set of `kube.*` actions, as YAML
//! (`rectify kube-rbac`): one rule per API group and resource, the verbs of
//! every action that uses it merged.

use std::collections::{BTreeMap, BTreeSet};

use crate::actions::rbac_of;

/// The ClusterRole named `name` granting what `actions` need. Actions
/// that are not Kubernetes actions add nothing.
pub fn cluster_role_yaml<'a>(name: &str, actions: impl IntoIterator<Item = &'a str>) -> String {
    let mut rules: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for action in actions {
        for rule in rbac_of(action) {
            used.insert(action);
            rules
                .entry((rule.api_group, rule.resource))
                .or_default()
                .extend(rule.verbs.iter().copied());
        }
    }
    let mut out = String::new();
    out.push_str("# The ClusterRole rectify's Kubernetes actions need");
    if used.is_empty() {
        out.push_str(" (no kube.* action is used: it grants nothing)");
    }
    out.push_str(".\n# Actions: ");
    out.push_str(&used.iter().copied().collect::<Vec<_>>().join(", "));
    out.push_str(
        "\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ",
    );
    out.push_str(name);
    out.push_str("\n  labels:\n    app.kubernetes.io/managed-by: rectify\nrules:");
    if rules.is_empty() {
        out.push_str(" []\n");
        return out;
    }
    out.push('\n');
    for ((group, resource), verbs) in rules {
        out.push_str(&format!(
            "  - apiGroups: [\"{group}\"]\n    resources: [\"{resource}\"]\n    verbs: [{}]\n",
            verbs
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_of_actions_are_merged_per_resource() {
        let yaml = cluster_role_yaml(
            "rectify",
            [
                "kube.pod.quarantine",
                "kube.pod.delete",
                "aws.s3.block-public-access",
            ],
        );
        assert!(yaml.contains("kind: ClusterRole"), "{yaml}");
        assert!(
            yaml.contains("  - apiGroups: [\"\"]\n    resources: [\"pods\"]\n    verbs: [\"delete\", \"get\", \"patch\"]\n"),
            "{yaml}"
        );
        assert!(yaml.contains("resources: [\"networkpolicies\"]"), "{yaml}");
        assert!(!yaml.contains("nodes"), "{yaml}");
        let none = cluster_role_yaml("rectify", ["aws.s3.block-public-access"]);
        assert!(none.contains("rules: []"), "{none}");
    }
}
