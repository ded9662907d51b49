//! The `kubernetes` section.

use super::{is_account_id, is_region, list_keys, secrets_path, Ctx};
use crate::kubernetes::{KubeAccess, KubeCluster, KubeToken, KubernetesSettings};
use crate::yaml::{join, Node};
use crate::Loader;

pub(super) const KUBERNETES_KEYS: &[&str] = &["clusters", "own_namespace"];
const CLUSTER_KEYS: &[&str] = &[
    "name",
    "eks",
    "server",
    "ca_file",
    "token_env",
    "token_file",
];
const EKS_KEYS: &[&str] = &["account", "region", "cluster_name", "endpoint", "ca_file"];

/// A Kubernetes object name (DNS label rules, as namespaces and the names
/// rectify makes from cluster names need).
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn url_ok(s: &str) -> Result<(), String> {
    let rest = if let Some(r) = s.strip_prefix("https://") {
        r
    } else if let Some(r) = s.strip_prefix("http://") {
        let host = r.split(['/', ':']).next().unwrap_or_default();
        if !(host == "127.0.0.1" || host == "localhost" || r.starts_with("[::1]")) {
            return Err("plain http:// only on loopback; use https://".into());
        }
        r
    } else {
        return Err("expected an https:// URL".into());
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL names no host".into());
    }
    Ok(())
}

pub(super) fn read_kubernetes(cx: &mut Ctx, loader: &Loader, node: &Node) -> KubernetesSettings {
    let mut settings = KubernetesSettings::default();
    let Some(f) = cx.fields(node, "kubernetes", KUBERNETES_KEYS) else {
        return settings;
    };
    if let Some(ns) = cx.opt_string(&f, "kubernetes", "own_namespace") {
        if is_dns_label(&ns) {
            settings.own_namespace = Some(ns);
        } else if let Some(n) = f.get("own_namespace") {
            cx.err(
                n.pos,
                "kubernetes.own_namespace",
                "not a Kubernetes namespace name",
            );
        }
    }
    let Some(list) = f.get("clusters") else {
        return settings;
    };
    for (i, item) in cx.items(list, "kubernetes.clusters").iter().enumerate() {
        let field = format!("kubernetes.clusters[{i}]");
        let Some(c) = cx.fields(item, &field, CLUSTER_KEYS) else {
            continue;
        };
        let name = cx.req_string(&c, &field, "name");
        if let (Some(n), Some(node)) = (&name, c.get("name")) {
            if !is_dns_label(n) {
                cx.err(
                    node.pos,
                    &join(&field, "name"),
                    "a cluster name is lower-case letters, digits and `-` (at most 63)",
                );
            } else if settings.clusters.iter().any(|k| &k.name == n) {
                cx.err(
                    node.pos,
                    &join(&field, "name"),
                    format!("cluster `{n}` is listed twice"),
                );
            }
        }
        let access = match (c.get("eks"), c.get("server")) {
            (Some(eks), None) => {
                for key in ["ca_file", "token_env", "token_file"] {
                    if let Some(pos) = c.key_pos(key) {
                        cx.err(
                            pos,
                            &join(&field, key),
                            format!("`{key}` is for a `server` cluster; an EKS cluster's CA and token come from EKS (eks.ca_file overrides the CA)"),
                        );
                    }
                }
                read_eks(cx, eks, &join(&field, "eks"))
            }
            (None, Some(server)) => read_server(cx, loader, &c, server, &field),
            (Some(_), Some(_)) => {
                cx.err(item.pos, &field, "give either `eks` or `server`, not both");
                None
            }
            (None, None) => {
                cx.err(
                    item.pos,
                    &field,
                    format!("one of `eks` (an EKS cluster) or `server` (an API server URL) is required; keys: {}", list_keys(CLUSTER_KEYS)),
                );
                None
            }
        };
        if let (Some(name), Some(access)) = (name, access) {
            settings.clusters.push(KubeCluster { name, access });
        }
    }
    settings
}

fn read_eks(cx: &mut Ctx, node: &Node, field: &str) -> Option<KubeAccess> {
    let f = cx.fields(node, field, EKS_KEYS)?;
    let account = cx.req_string(&f, field, "account");
    if let (Some(a), Some(n)) = (&account, f.get("account")) {
        if !is_account_id(a) {
            cx.err(
                n.pos,
                &join(field, "account"),
                "expected a 12-digit account id (in quotes)",
            );
        }
    }
    let region = cx.req_string(&f, field, "region");
    if let (Some(r), Some(n)) = (&region, f.get("region")) {
        if !is_region(r) {
            cx.err(
                n.pos,
                &join(field, "region"),
                format!("`{r}` is not an AWS region"),
            );
        }
    }
    let cluster_name = cx.req_string(&f, field, "cluster_name");
    if let (Some(c), Some(n)) = (&cluster_name, f.get("cluster_name")) {
        let ok = c.len() <= 100
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            cx.err(
                n.pos,
                &join(field, "cluster_name"),
                "not an EKS cluster name",
            );
        }
    }
    let endpoint = cx.opt_string(&f, field, "endpoint");
    if let (Some(e), Some(n)) = (&endpoint, f.get("endpoint")) {
        if let Err(why) = url_ok(e) {
            cx.err(n.pos, &join(field, "endpoint"), why);
        }
    }
    let ca_file = cx
        .opt_string(&f, field, "ca_file")
        .map(|p| secrets_path(&p, &cx.file.clone()));
    Some(KubeAccess::Eks {
        account: account?,
        region: region?,
        cluster_name: cluster_name?,
        endpoint,
        ca_file,
    })
}

fn read_server(
    cx: &mut Ctx,
    loader: &Loader,
    c: &super::Fields,
    server: &Node,
    field: &str,
) -> Option<KubeAccess> {
    let url = cx.non_empty(server, &join(field, "server"))?;
    if let Err(why) = url_ok(&url) {
        cx.err(server.pos, &join(field, "server"), why);
    }
    let ca_file = cx
        .opt_string(c, field, "ca_file")
        .map(|p| secrets_path(&p, &cx.file.clone()));
    if let (Some(path), Some(n)) = (&ca_file, c.get("ca_file")) {
        if !path.is_file() {
            cx.err(
                n.pos,
                &join(field, "ca_file"),
                format!("{} does not exist", path.display()),
            );
        }
    }
    let token = match (c.get("token_env"), c.get("token_file")) {
        (Some(n), None) => {
            let var = cx.non_empty(n, &join(field, "token_env"))?;
            if loader.var(&var).is_none_or(|v| v.trim().is_empty()) {
                cx.err(
                    n.pos,
                    &join(field, "token_env"),
                    format!("environment variable {var} is not set"),
                );
            }
            KubeToken::Env(var)
        }
        (None, Some(n)) => {
            let path = secrets_path(
                &cx.non_empty(n, &join(field, "token_file"))?,
                &cx.file.clone(),
            );
            if !path.is_file() {
                cx.err(
                    n.pos,
                    &join(field, "token_file"),
                    format!("{} does not exist", path.display()),
                );
            }
            KubeToken::File(path)
        }
        (Some(_), Some(_)) => {
            cx.err(c.pos, field, "give only one of `token_env`, `token_file`");
            return None;
        }
        (None, None) => {
            cx.err(
                c.pos,
                field,
                "a `server` cluster needs `token_env` or `token_file` (a bearer token; kubeconfig exec plugins are not run)",
            );
            return None;
        }
    };
    Some(KubeAccess::Server {
        server: url,
        ca_file,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(url_ok("https://abc.eks.amazonaws.com").is_ok());
        assert!(url_ok("http://127.0.0.1:8080").is_ok());
        assert!(url_ok("http://10.0.0.1").is_err());
        assert!(url_ok("ftp://x").is_err());
        assert!(url_ok("https://").is_err());
    }
}
