//! `aws.ec2.revoke-public-admin-ingress`: closes the ports a control says
//! must not be open to the whole internet (`0.0.0.0/0`, `::/0`) in a
//! security group's ingress. Two scopes, from the params:
//! - `ports` (default 22 and 3389): these ports must not be open to the
//!   internet (EC2.13: 22; EC2.14: 3389; EC2.53/54: both; EC2.19: AWS's
//!   high-risk list);
//! - `authorized_tcp_ports` / `authorized_udp_ports` (EC2.18): only these
//!   may be open to the internet; every other port is closed.
//!
//! A wide rule (all traffic, or a port range) is split, not dropped: the
//! same sources are authorised again, with the rule's description, on the
//! ports that are still allowed (so 80 and 443 stay open), and only then
//! is the wide rule revoked. Every other rule is kept. Rules left open on
//! high-risk ports outside the scope are reported (`left_in_place`).
//! Undo: the revoked rules come back with their descriptions and the
//! halves added are revoked.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, SecurityGroupRule};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::group_target;
use crate::actions::{collect_pages, ec2_client, kind_of, params_object, reject_unknown, tag_map};
use crate::errors::{code_of, sdk_error, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.ec2.revoke-public-admin-ingress";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Close the ports a control forbids to 0.0.0.0/0 or ::/0 in a security group's ingress, splitting wide rules so that allowed ports stay open.",
    // The first control names the scan's findings: the admin ports rule.
    controls: &["EC2.53", "EC2.54", "EC2.13", "EC2.14", "EC2.19", "EC2.18"],
    resource_types: &["AwsEc2SecurityGroup"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSecurityGroups",
        // A rerun: what is still there, to revoke or authorise the rest.
        "ec2:DescribeSecurityGroupRules",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupIngress",
    ],
    params: &[
        ParamSpec {
            name: "ports",
            kind: "array",
            default: "[22, 3389]",
            doc: "TCP/UDP ports that must not be open to the internet.",
        },
        ParamSpec {
            name: "authorized_tcp_ports",
            kind: "array",
            default: "null",
            doc: "EC2.18: the only TCP ports that may be open to the internet (Security Hub's authorizedTcpPorts wins when the finding's control has it); set, every other port is closed and `ports` is not used.",
        },
        ParamSpec {
            name: "authorized_udp_ports",
            kind: "array",
            default: "[]",
            doc: "EC2.18: the only UDP ports that may be open to the internet (authorizedUdpPorts).",
        },
    ],
    // Check (the group with its tags and rules), revoke, read-back.
    calls_per_fix: 3,
    approval_by_default: false,
};

const DEFAULT_PORTS: [u16; 2] = [22, 3389];

/// AWS's high-risk ports of EC2.19: what `left_in_place` reports when a
/// rule's narrower `ports` leave one of them open.
pub const HIGH_RISK_PORTS: [u16; 24] = [
    20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500,
    5601, 8080, 8088, 8888, 9200, 9300,
];

/// What must not be open to the internet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// These ports (TCP and UDP) must be closed.
    Ports(Vec<u16>),
    /// Only these may stay open (EC2.18).
    Authorized { tcp: Vec<u16>, udp: Vec<u16> },
}

/// One ingress rule open to the internet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRule {
    #[serde(default)]
    pub rule_id: String,
    /// `-1` (all), `tcp`, `udp` or a protocol number.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl OpenRule {
    fn same_permission(&self, other: &OpenRule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.cidr == other.cidr
    }

    /// The rule as a person reads it: `tcp/22 from 0.0.0.0/0`.
    fn show(&self) -> String {
        let what = match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", _, _) => "all traffic".to_string(),
            (p, f, t) if f == t || t < 0 => format!("{p}/{f}"),
            (p, f, t) => format!("{p}/{f}-{t}"),
        };
        format!("{what} from {}", self.cidr)
    }

    /// The permission without its id, for comparisons across ids.
    fn key(&self) -> (String, i32, i32, String, Option<String>) {
        (
            self.protocol.clone(),
            self.from_port,
            self.to_port,
            self.cidr.clone(),
            self.description.clone(),
        )
    }
}

fn port_list(
    params: &serde_json::Map<String, Value>,
    key: &str,
    empty_ok: bool,
) -> Result<Option<Vec<u16>>, String> {
    // `null` is the param left out.
    let Some(value) = params.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = value.as_array().ok_or_else(|| {
        format!(
            "params.{key}: expected an array of integers, got {}",
            kind_of(value)
        )
    })?;
    if items.is_empty() && !empty_ok {
        return Err(format!("params.{key}: expected at least one port"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("params.{key}[{i}]: expected an integer 0..65535, got {v}"))
        })
        .collect::<Result<Vec<u16>, String>>()
        .map(Some)
}

pub fn parse_scope(params: &Value) -> Result<Scope, String> {
    let params = params_object(params)?;
    reject_unknown(
        &params,
        &["ports", "authorized_tcp_ports", "authorized_udp_ports"],
        ID,
    )?;
    let ports = port_list(&params, "ports", false)?;
    let tcp = port_list(&params, "authorized_tcp_ports", true)?;
    let udp = port_list(&params, "authorized_udp_ports", true)?;
    match (ports, tcp, udp) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(
            "params: give either ports or authorized_tcp_ports/authorized_udp_ports, not both"
                .into(),
        ),
        (Some(ports), None, None) => Ok(Scope::Ports(ports)),
        (None, None, None) => Ok(Scope::Ports(DEFAULT_PORTS.to_vec())),
        (None, tcp, udp) => Ok(Scope::Authorized {
            tcp: tcp.unwrap_or_default(),
            udp: udp.unwrap_or_default(),
        }),
    }
}

/// Backward-compatible: the ports of a `ports` scope.
#[cfg(test)]
fn parse_ports(params: &Value) -> Result<Vec<u16>, String> {
    match parse_scope(params)? {
        Scope::Ports(p) => Ok(p),
        Scope::Authorized { .. } => Err("not a ports scope".into()),
    }
}

/// The group id: `Details.AwsEc2SecurityGroup.GroupId`, else the last
/// segment of the resource id.
pub fn group_id(target: &Target) -> Result<String, ActionError> {
    if let Some(id) = target
        .details
        .pointer("/AwsEc2SecurityGroup/GroupId")
        .and_then(Value::as_str)
    {
        return Ok(id.to_string());
    }
    let name = target.resource_name();
    if name.starts_with("sg-") {
        Ok(name.to_string())
    } else {
        Err(ActionError::invalid(format!(
            "{ID}: no security group id in resource {:?}",
            target.resource_id
        )))
    }
}

const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The rule as an `OpenRule` when it is ingress and open to the world,
/// whatever its ports.
pub fn world_rule(rule: &SecurityGroupRule) -> Option<OpenRule> {
    if rule.is_egress().unwrap_or(false) {
        return None;
    }
    let cidr = rule
        .cidr_ipv4()
        .filter(|c| WORLD.contains(c))
        .or_else(|| rule.cidr_ipv6().filter(|c| WORLD.contains(c)))?;
    let protocol = protocol_name(rule.ip_protocol().unwrap_or("-1"));
    Some(OpenRule {
        rule_id: rule
            .security_group_rule_id()
            .unwrap_or_default()
            .to_string(),
        protocol,
        from_port: rule.from_port().unwrap_or(-1),
        to_port: rule.to_port().unwrap_or(-1),
        cidr: cidr.to_string(),
        description: rule
            .description()
            .filter(|d| !d.is_empty())
            .map(str::to_string),
    })
}

/// A rule's protocol as rectify writes it: `tcp`, `udp`, `-1` (all) or
/// the number of any other.
fn protocol_name(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "all" => "-1".to_string(),
        p => p.to_string(),
    }
}

/// The world-open ingress of a group as `DescribeSecurityGroups` gives it
/// with the group: one rule per world-open source range, descriptions
/// kept (that answer carries no rule ids; the rules are revoked by
/// permission).
pub fn world_permissions(permissions: &[IpPermission]) -> Vec<OpenRule> {
    let mut out = Vec::new();
    for p in permissions {
        let rule = |cidr: &str, description: Option<&str>| OpenRule {
            rule_id: String::new(),
            protocol: protocol_name(p.ip_protocol().unwrap_or("-1")),
            from_port: p.from_port().unwrap_or(-1),
            to_port: p.to_port().unwrap_or(-1),
            cidr: cidr.to_string(),
            description: description.filter(|d| !d.is_empty()).map(str::to_string),
        };
        for r in p.ip_ranges() {
            if let Some(cidr) = r.cidr_ip().filter(|c| WORLD.contains(c)) {
                out.push(rule(cidr, r.description()));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(cidr) = r.cidr_ipv6().filter(|c| WORLD.contains(c)) {
                out.push(rule(cidr, r.description()));
            }
        }
    }
    out
}

/// The port range of a TCP/UDP rule (a missing range is every port).
fn range_of(rule: &OpenRule) -> (i32, i32) {
    if rule.from_port < 0 || rule.to_port < 0 {
        (0, 65535)
    } else {
        (rule.from_port, rule.to_port)
    }
}

fn in_range(port: u16, (from, to): (i32, i32)) -> bool {
    (from..=to).contains(&i32::from(port))
}

/// Whether a world-open rule lets through something `scope` forbids.
pub fn in_scope(rule: &OpenRule, scope: &Scope) -> bool {
    match (rule.protocol.as_str(), scope) {
        ("-1", _) => true,
        ("tcp" | "udp", Scope::Ports(ports)) => ports.iter().any(|&p| in_range(p, range_of(rule))),
        ("tcp", Scope::Authorized { tcp, .. }) => allowed(range_of(rule), tcp) != [range_of(rule)],
        ("udp", Scope::Authorized { udp, .. }) => allowed(range_of(rule), udp) != [range_of(rule)],
        _ => false,
    }
}

/// The parts of `range` made of `ports` (merged into ranges).
fn allowed(range: (i32, i32), ports: &[u16]) -> Vec<(i32, i32)> {
    let mut inside: Vec<i32> = ports
        .iter()
        .map(|&p| i32::from(p))
        .filter(|p| (range.0..=range.1).contains(p))
        .collect();
    inside.sort_unstable();
    inside.dedup();
    let mut out: Vec<(i32, i32)> = Vec::new();
    for p in inside {
        match out.last_mut() {
            Some(last) if last.1 + 1 == p => last.1 = p,
            _ => out.push((p, p)),
        }
    }
    out
}

/// The parts of `range` without `ports`.
fn without(range: (i32, i32), ports: &[u16]) -> Vec<(i32, i32)> {
    let mut cut: Vec<i32> = ports
        .iter()
        .map(|&p| i32::from(p))
        .filter(|p| (range.0..=range.1).contains(p))
        .collect();
    cut.sort_unstable();
    cut.dedup();
    let mut out = Vec::new();
    let mut start = range.0;
    for p in cut {
        if p > start {
            out.push((start, p - 1));
        }
        start = p + 1;
    }
    if start <= range.1 {
        out.push((start, range.1));
    }
    out
}

/// What of a world-open rule may stay open under `scope`: the rules to
/// authorise again (same source and description) before it is revoked.
pub fn kept_part(rule: &OpenRule, scope: &Scope) -> Vec<OpenRule> {
    let part = |protocol: &str, (from, to): (i32, i32)| OpenRule {
        rule_id: String::new(),
        protocol: protocol.to_string(),
        from_port: from,
        to_port: to,
        cidr: rule.cidr.clone(),
        description: rule.description.clone(),
    };
    let keep = |protocol: &str, range: (i32, i32)| -> Vec<(i32, i32)> {
        match scope {
            Scope::Ports(ports) => without(range, ports),
            Scope::Authorized { tcp, udp } => {
                allowed(range, if protocol == "tcp" { tcp } else { udp })
            }
        }
    };
    let mut out = Vec::new();
    match rule.protocol.as_str() {
        "-1" => {
            for protocol in ["tcp", "udp"] {
                out.extend(
                    keep(protocol, (0, 65535))
                        .into_iter()
                        .map(|r| part(protocol, r)),
                );
            }
            // ICMP (ping, path MTU discovery) was let through too.
            let icmp = if rule.cidr.contains(':') {
                "58"
            } else {
                "icmp"
            };
            out.push(part(icmp, (-1, -1)));
        }
        p @ ("tcp" | "udp") => out.extend(keep(p, range_of(rule)).into_iter().map(|r| part(p, r))),
        _ => {}
    }
    out
}

/// World-open rules on high-risk ports that `scope` leaves open.
pub fn left_open(world: &[OpenRule], scope: &Scope) -> Vec<String> {
    let Scope::Ports(ports) = scope else {
        return Vec::new();
    };
    world
        .iter()
        .filter(|r| !in_scope(r, scope))
        .filter_map(|r| {
            let risky: Vec<u16> = HIGH_RISK_PORTS
                .iter()
                .copied()
                .filter(|p| !ports.contains(p))
                .filter(|&p| matches!(r.protocol.as_str(), "tcp" | "udp") && in_range(p, range_of(r)))
                .collect();
            (!risky.is_empty()).then(|| {
                format!(
                    "{} stays open (high-risk port(s) {risky:?} are outside this rule's ports {ports:?})",
                    r.show()
                )
            })
        })
        .collect()
}

/// The params with EC2.18's `authorizedTcpPorts` and `authorizedUdpPorts`
/// as Security Hub holds them (other controls: unchanged).
pub fn with_parameters(params: &Value, control: &str, parameters: &Value) -> Value {
    if control != "EC2.18" {
        return params.clone();
    }
    let list = |name: &str| -> Option<Vec<u64>> {
        parameters
            .pointer(&format!("/{name}/Value/IntegerList"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
    };
    let mut out = params.as_object().cloned().unwrap_or_default();
    if let Some(tcp) = list("authorizedTcpPorts") {
        out.remove("ports");
        out.insert("authorized_tcp_ports".into(), json!(tcp));
    }
    if let Some(udp) = list("authorizedUdpPorts") {
        out.remove("ports");
        out.insert("authorized_udp_ports".into(), json!(udp));
    }
    Value::Object(out)
}

pub struct Ec2RevokePublicAdminIngress {
    aws: Arc<Aws>,
}

impl Ec2RevokePublicAdminIngress {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2RevokePublicAdminIngress { aws }
    }
}

pub(crate) async fn group_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<SecurityGroupRule>, ActionError> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(group).build())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroupRules", group, e))?;
        rules.extend(out.security_group_rules().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(rules),
        }
    }
}

fn state(group: &str, scope: &Scope, world: &[OpenRule]) -> Value {
    let open: Vec<&OpenRule> = world.iter().filter(|r| in_scope(r, scope)).collect();
    json!({ "group_id": group, "scope": scope, "open_ingress": open, "world_ingress": world })
}

fn rules_at(value: &Value, key: &str) -> Result<Vec<OpenRule>, ActionError> {
    serde_json::from_value(value.get(key).cloned().unwrap_or(json!([])))
        .map_err(|e| ActionError::invalid(format!("{ID}: unexpected state: {e}")))
}

fn scope_of(value: &Value) -> Option<Scope> {
    serde_json::from_value(value.get("scope")?.clone()).ok()
}

/// The permission to authorise for one rule, with its description.
fn permission(rule: &OpenRule) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    if rule.cidr.contains(':') {
        p = p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(&rule.cidr)
                .set_description(rule.description.clone())
                .build(),
        );
    } else {
        p = p.ip_ranges(
            IpRange::builder()
                .cidr_ip(&rule.cidr)
                .set_description(rule.description.clone())
                .build(),
        );
    }
    p.build()
}

/// A failed write as `operation:code` (to match expected answers) and
/// the error.
fn failure<E>(
    operation: &str,
    group: &str,
    e: aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> (String, ActionError)
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = format!("{operation}:{}", code_of(&e).unwrap_or_default());
    (code, sdk_error_on(operation, group, e))
}

/// Authorises (`revoke` false) or revokes `rules` (world-open ingress) in
/// one call, by permission, without reading the group first. When EC2
/// answers that some are there already, or gone already (a rerun, a rule
/// recreated under a new id), the rest is done after reading the group's
/// rules.
async fn write_ingress(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rules: &[OpenRule],
    revoke: bool,
) -> Result<(), ActionError> {
    if rules.is_empty() {
        return Ok(());
    }
    let written = if revoke {
        // EC2 matches a revoke on everything but the description.
        let permissions = rules
            .iter()
            .map(|r| {
                permission(&OpenRule {
                    description: None,
                    ..r.clone()
                })
            })
            .collect();
        let operation = "ec2:RevokeSecurityGroupIngress";
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(operation, group, e))
    } else {
        let operation = "ec2:AuthorizeSecurityGroupIngress";
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(operation, group, e))
    };
    match written {
        Ok(()) => Ok(()),
        Err((code, _)) if code == "ec2:RevokeSecurityGroupIngress:InvalidPermission.NotFound" => {
            revoke_matching(ec2, group, rules).await
        }
        Err((code, _))
            if code == "ec2:AuthorizeSecurityGroupIngress:InvalidPermission.Duplicate" =>
        {
            authorize_missing(ec2, group, rules).await
        }
        Err((_, error)) => Err(error),
    }
}

/// Authorises `rules` (world-open ingress) that the group does not
/// have yet: a rerun finds them and adds nothing.
async fn authorize_missing(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rules: &[OpenRule],
) -> Result<(), ActionError> {
    let current: Vec<OpenRule> = group_rules(ec2, group)
        .await?
        .iter()
        .filter_map(world_rule)
        .collect();
    let missing: Vec<IpPermission> = rules
        .iter()
        .filter(|r| !current.iter().any(|c| c.same_permission(r)))
        .map(permission)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .set_ip_permissions(Some(missing))
        .send()
        .await
        .map_err(|e| sdk_error_on("ec2:AuthorizeSecurityGroupIngress", group, e))?;
    Ok(())
}

/// Revokes the group's current world-open rules that match `rules` (by
/// id, or by protocol, ports and range when recreated under a new id).
async fn revoke_matching(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rules: &[OpenRule],
) -> Result<(), ActionError> {
    let ids: Vec<String> = group_rules(ec2, group)
        .await?
        .iter()
        .filter_map(world_rule)
        .filter(|r| {
            rules
                .iter()
                .any(|p| (!p.rule_id.is_empty() && p.rule_id == r.rule_id) || p.same_permission(r))
        })
        .map(|r| r.rule_id)
        .filter(|id| !id.is_empty())
        .collect();
    revoke_rules(ec2, group, ids, false).await
}

fn keys(rules: &[OpenRule]) -> Vec<(String, i32, i32, String, Option<String>)> {
    let mut k: Vec<_> = rules.iter().map(OpenRule::key).collect();
    k.sort();
    k
}

fn shown(rules: &[OpenRule]) -> String {
    rules
        .iter()
        .map(OpenRule::show)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Port ranges of kept parts as a short text: `tcp 0-21, 23-3388; udp ...`.
fn kept_summary(parts: &[OpenRule]) -> String {
    let mut by: Vec<(String, String, Vec<String>)> = Vec::new();
    for p in parts {
        let range = match (p.from_port, p.to_port) {
            (f, t) if f < 0 || t < 0 => "all".to_string(),
            (f, t) if f == t => f.to_string(),
            (f, t) => format!("{f}-{t}"),
        };
        match by
            .iter_mut()
            .find(|(proto, cidr, _)| *proto == p.protocol && *cidr == p.cidr)
        {
            Some((_, _, ranges)) => ranges.push(range),
            None => by.push((p.protocol.clone(), p.cidr.clone(), vec![range])),
        }
    }
    by.iter()
        .map(|(proto, cidr, ranges)| format!("{proto} {} from {cidr}", ranges.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The group's tags, as targets, observed states and verdicts carry them.
pub(crate) fn group_tags(sg: &aws_sdk_ec2::types::SecurityGroup) -> serde_json::Map<String, Value> {
    tag_map(
        sg.tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

/// The check's verdict on a group as `DescribeSecurityGroups` gives it.
fn observed_of(sg: &aws_sdk_ec2::types::SecurityGroup, group: &str, scope: &Scope) -> Observed {
    let world = world_permissions(sg.ip_permissions());
    Observed {
        compliant: !world.iter().any(|r| in_scope(r, scope)),
        state: state(group, scope, &world),
        tags: group_tags(sg),
    }
}

#[async_trait]
impl Action for Ec2RevokePublicAdminIngress {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse_scope(params).map(|_| ())
    }

    /// The account's security groups in the target's region.
    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let groups = self.discover(&target.account, &target.region).await?;
        Ok(Some(groups.len() as u64))
    }

    /// The account's security groups in `region`, with their tags.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        collect_pages(|token| {
            let request = ec2.describe_security_groups().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
                let groups = out
                    .security_groups()
                    .iter()
                    .filter_map(|g| {
                        let mut target = group_target(account, region, g)?;
                        target.tags = group_tags(g);
                        Some(target)
                    })
                    .collect();
                Ok((groups, out.next_token().map(str::to_string)))
            }
        })
        .await
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let scope = parse_scope(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;

        // One read: the group (it must exist) with its tags and its
        // ingress, descriptions included.
        let out = ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", &group, e))?;
        let sg = out.security_groups().first().ok_or_else(|| {
            ActionError::new(
                rectify_model::ErrorClass::NotFound,
                format!(
                    "ec2:DescribeSecurityGroups: InvalidGroup.NotFound: {group} does not exist"
                ),
            )
        })?;
        Ok(observed_of(sg, &group, &scope))
    }

    /// The region's security groups, listed once per scan with their rules.
    async fn discover_in_scan(
        &self,
        account: &str,
        region: &str,
        reads: &rectify_model::ScanReads,
    ) -> Result<Vec<Target>, ActionError> {
        let groups =
            crate::checks::reads::security_groups(&self.aws, reads, account, region).await?;
        Ok(groups
            .iter()
            .filter_map(|g| {
                let mut target = group_target(account, region, g)?;
                target.tags = group_tags(g);
                Some(target)
            })
            .collect())
    }

    /// Judged from the scan's listing, which holds each group's ingress
    /// (the same answer [`Action::check`] reads for one group).
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &rectify_model::ScanReads,
    ) -> Result<Observed, ActionError> {
        let scope = parse_scope(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let groups = crate::checks::reads::security_groups(
            &self.aws,
            reads,
            &target.account,
            &target.region,
        )
        .await?;
        match groups.iter().find(|g| g.group_id() == Some(group.as_str())) {
            Some(sg) => Ok(observed_of(sg, &group, &scope)),
            None => self.check(target, params).await,
        }
    }

    /// Revokes the rules in scope; what they let through that the scope
    /// allows is authorised again first, for the same sources.
    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let scope = parse_scope(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let world = rules_at(&observed.state, "world_ingress")?;
        let (open, stay): (Vec<OpenRule>, Vec<OpenRule>) =
            world.iter().cloned().partition(|r| in_scope(r, &scope));
        let mut added: Vec<OpenRule> = Vec::new();
        for part in open.iter().flat_map(|r| kept_part(r, &scope)) {
            // A part the group already has (another rule) is not added
            // twice, nor revoked by an undo.
            if !stay.iter().chain(&added).any(|s| s.same_permission(&part)) {
                added.push(part);
            }
        }
        let summary = if open.is_empty() {
            format!("no ingress rule of {group} opens a port out of scope to the internet")
        } else if added.is_empty() {
            format!("revoke ingress of {group}: {}", shown(&open))
        } else {
            format!(
                "revoke ingress of {group}: {}; open again to the same sources, descriptions kept: {}",
                shown(&open),
                kept_summary(&added)
            )
        };
        // Only what is written, so that an approval is bound to it and not
        // to rules the change leaves alone.
        Ok(Change {
            summary,
            before: json!({"group_id": group, "scope": scope, "open_ingress": open}),
            after: json!({
                "group_id": group,
                "scope": scope,
                "open_ingress": [],
                "revoked": open,
                "added": added,
            }),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse_scope(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        if let Some(planned_group) = change.before.get("group_id").and_then(Value::as_str) {
            if planned_group != group {
                return Err(ActionError::invalid(format!(
                    "{ID}: the change was planned for {planned_group}, not {group}"
                )));
            }
        }
        let planned = rules_at(&change.before, "open_ingress")?;
        if planned.is_empty() {
            return Ok(());
        }
        let added = rules_at(&change.after, "added")?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        // The allowed half first, so that it never goes dark; then the
        // wide rule. A rerun finds both done and does nothing.
        write_ingress(&ec2, &group, &added, false).await?;
        write_ingress(&ec2, &group, &planned, true).await
    }

    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match (
            scope_of(&observed.state),
            rules_at(&observed.state, "world_ingress"),
        ) {
            (Some(scope), Ok(world)) => left_open(&world, &scope),
            _ => Vec::new(),
        }
    }

    /// EC2.18's authorized ports and IAM.7's values decide compliance.
    fn uses_control_parameters(&self) -> bool {
        true
    }

    /// EC2.18: Security Hub's `authorizedTcpPorts` and `authorizedUdpPorts`
    /// are the ports that may stay open.
    fn with_control_parameters(&self, params: &Value, control: &str, parameters: &Value) -> Value {
        with_parameters(params, control, parameters)
    }

    /// Restores the rules the change revoked (descriptions too) and
    /// revokes the parts it added, when the group's internet-facing
    /// ingress is still as the change left it.
    fn revert_plan(
        &self,
        target: &Target,
        _: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        let group = group_id(target)?;
        if applied.after.get("revoked").is_none() {
            return Err(ActionError::invalid(format!(
                "{ID}: the change on {group} was recorded without the rules it revoked; it cannot be undone by rectify"
            )));
        }
        let revoked = rules_at(&applied.after, "revoked")?;
        let added = rules_at(&applied.after, "added")?;
        let world_now = rules_at(&now.state, "world_ingress")?;
        // What the undo writes must still be as the change left it: the
        // parts it opened are there, unchanged, and nobody opened what it
        // revoked again (a restore would overwrite that).
        let gone: Vec<OpenRule> = added
            .iter()
            .filter(|a| !world_now.iter().any(|w| w.key() == a.key()))
            .cloned()
            .collect();
        let again: Vec<OpenRule> = world_now
            .iter()
            .filter(|w| revoked.iter().any(|r| r.same_permission(w)))
            .cloned()
            .collect();
        if !gone.is_empty() || !again.is_empty() {
            let mut what = Vec::new();
            if !gone.is_empty() {
                what.push(format!(
                    "no longer there as rectify opened them: {}",
                    shown(&gone)
                ));
            }
            if !again.is_empty() {
                what.push(format!("open again: {}", shown(&again)));
            }
            return Err(ActionError::invalid(format!(
                "the ingress of {group} changed since rectify's change ({}); restore it by hand, rectify will not overwrite it",
                what.join("; ")
            )));
        }
        let mut restored: Vec<OpenRule> = world_now
            .iter()
            .filter(|w| !added.iter().any(|a| a.key() == w.key()))
            .cloned()
            .collect();
        restored.extend(revoked.iter().map(|r| OpenRule {
            rule_id: String::new(),
            ..r.clone()
        }));
        let mut summary = format!("restore ingress of {group}: {}", shown(&revoked));
        if !added.is_empty() {
            summary.push_str(&format!(
                "; revoke what it opened instead: {}",
                kept_summary(&added)
            ));
        }
        summary.push_str("; the restored rules keep their descriptions but get new rule ids");
        Ok(Change {
            summary,
            before: json!({"group_id": group, "world_ingress": world_now}),
            after: json!({
                "group_id": group,
                "world_ingress": restored,
                "restore": revoked,
                "remove": added,
            }),
        })
    }

    async fn revert(&self, target: &Target, _: &Value, change: &Change) -> Result<(), ActionError> {
        let group = group_id(target)?;
        let restore = rules_at(&change.after, "restore")?;
        let remove = rules_at(&change.after, "remove")?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        write_ingress(&ec2, &group, &restore, false).await?;
        write_ingress(&ec2, &group, &remove, true).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now = self.check(target, params).await?;
        Ok(keys(&rules_at(&now.state, "world_ingress")?)
            == keys(&rules_at(&change.after, "world_ingress")?))
    }
}

/// Revokes the group's rules with these ids (ingress, or egress); none is
/// nothing to do.
pub(crate) async fn revoke_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    ids: Vec<String>,
    egress: bool,
) -> Result<(), ActionError> {
    if ids.is_empty() {
        return Ok(());
    }
    if egress {
        ec2.revoke_security_group_egress()
            .group_id(group)
            .set_security_group_rule_ids(Some(ids))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:RevokeSecurityGroupEgress", group, e))?;
    } else {
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_security_group_rule_ids(Some(ids))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:RevokeSecurityGroupIngress", group, e))?;
    }
    Ok(())
}

/// A rule as `OpenRule` when it is world-open and covers one of `ports`.
#[cfg(test)]
fn open_rule(rule: &SecurityGroupRule, ports: &[u16]) -> Option<OpenRule> {
    world_rule(rule).filter(|r| in_scope(r, &Scope::Ports(ports.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    fn rule(
        id: &str,
        proto: &str,
        from: i32,
        to: i32,
        v4: Option<&str>,
        v6: Option<&str>,
    ) -> SecurityGroupRule {
        SecurityGroupRule::builder()
            .security_group_rule_id(id)
            .group_id("sg-1")
            .is_egress(false)
            .ip_protocol(proto)
            .from_port(from)
            .to_port(to)
            .set_cidr_ipv4(v4.map(String::from))
            .set_cidr_ipv6(v6.map(String::from))
            .build()
    }

    #[test]
    fn params() {
        assert_eq!(parse_ports(&json!({})).unwrap(), vec![22, 3389]);
        assert_eq!(
            parse_ports(&json!({"ports": [22, 5432]})).unwrap(),
            vec![22, 5432]
        );
        assert_eq!(
            parse_ports(&json!({"ports": [22, "x"]})).unwrap_err(),
            "params.ports[1]: expected an integer 0..65535, got \"x\""
        );
        assert_eq!(
            parse_ports(&json!({"ports": [70000]})).unwrap_err(),
            "params.ports[0]: expected an integer 0..65535, got 70000"
        );
        assert_eq!(
            parse_ports(&json!({"ports": 22})).unwrap_err(),
            "params.ports: expected an array of integers, got an integer"
        );
        assert!(parse_ports(&json!({"ports": []})).is_err());
        assert!(parse_ports(&json!({"port": [22]}))
            .unwrap_err()
            .starts_with("params.port:"));
    }

    #[test]
    fn which_rules_are_open() {
        let ports = [22, 3389];
        let world22 = rule("r1", "tcp", 22, 22, Some("0.0.0.0/0"), None);
        assert_eq!(open_rule(&world22, &ports).unwrap().cidr, "0.0.0.0/0");
        let range = rule("r2", "tcp", 0, 1000, None, Some("::/0"));
        assert!(open_rule(&range, &ports).is_some());
        let all = rule("r3", "-1", -1, -1, Some("0.0.0.0/0"), None);
        assert_eq!(open_rule(&all, &ports).unwrap().protocol, "-1");
        let udp = rule("r4", "17", 3389, 3389, Some("0.0.0.0/0"), None);
        assert!(open_rule(&udp, &ports).is_some());
        assert!(open_rule(
            &rule("r5", "tcp", 443, 443, Some("0.0.0.0/0"), None),
            &ports
        )
        .is_none());
        assert!(open_rule(&rule("r6", "tcp", 22, 22, Some("10.0.0.0/8"), None), &ports).is_none());
        assert!(open_rule(&rule("r7", "icmp", -1, -1, Some("0.0.0.0/0"), None), &ports).is_none());
        let egress = SecurityGroupRule::builder()
            .is_egress(true)
            .ip_protocol("-1")
            .cidr_ipv4("0.0.0.0/0")
            .build();
        assert!(open_rule(&egress, &ports).is_none());
    }

    fn open(proto: &str, from: i32, to: i32, cidr: &str) -> OpenRule {
        OpenRule {
            rule_id: "sgr-1".into(),
            protocol: proto.into(),
            from_port: from,
            to_port: to,
            cidr: cidr.into(),
            description: Some("web".into()),
        }
    }

    #[test]
    fn wide_rules_are_split() {
        let admin = Scope::Ports(vec![22, 3389]);
        let all = open("-1", -1, -1, "0.0.0.0/0");
        let parts = kept_part(&all, &admin);
        let tcp: Vec<(i32, i32)> = parts
            .iter()
            .filter(|p| p.protocol == "tcp")
            .map(|p| (p.from_port, p.to_port))
            .collect();
        assert_eq!(tcp, [(0, 21), (23, 3388), (3390, 65535)]);
        assert!(parts.iter().any(|p| p.protocol == "icmp"));
        assert!(parts
            .iter()
            .all(|p| p.description.as_deref() == Some("web")));
        let range = open("tcp", 20, 25, "::/0");
        let parts = kept_part(&range, &admin);
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.from_port, p.to_port))
                .collect::<Vec<_>>(),
            [(20, 21), (23, 25)]
        );
        // EC2.18: only the authorized ports stay.
        let web = Scope::Authorized {
            tcp: vec![80, 443],
            udp: vec![],
        };
        let parts = kept_part(&all, &web);
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.protocol.as_str(), p.from_port))
                .collect::<Vec<_>>(),
            [("tcp", 80), ("tcp", 443), ("icmp", -1)]
        );
        assert!(!in_scope(&open("tcp", 443, 443, "0.0.0.0/0"), &web));
        assert!(in_scope(&open("tcp", 8080, 8080, "0.0.0.0/0"), &web));
        assert!(in_scope(&open("udp", 53, 53, "0.0.0.0/0"), &web));
        assert!(!in_scope(&open("icmp", -1, -1, "0.0.0.0/0"), &web));
    }

    #[test]
    fn high_risk_ports_outside_the_scope_are_reported() {
        let ssh = Scope::Ports(vec![22]);
        let world = [
            open("tcp", 3306, 3306, "0.0.0.0/0"),
            open("tcp", 443, 443, "0.0.0.0/0"),
        ];
        let left = left_open(&world, &ssh);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(
            left[0].contains("tcp/3306") && left[0].contains("[3306]"),
            "{left:?}"
        );
        let all = Scope::Ports(HIGH_RISK_PORTS.to_vec());
        assert!(left_open(&world, &all).is_empty());
        assert!(in_scope(&world[0], &all));
    }

    #[test]
    fn params_for_ec2_18() {
        assert_eq!(
            parse_scope(&json!({"authorized_tcp_ports": [443]})).unwrap(),
            Scope::Authorized {
                tcp: vec![443],
                udp: vec![]
            }
        );
        assert!(parse_scope(&json!({"ports": [22], "authorized_tcp_ports": [443]})).is_err());
        let parameters = json!({
            "authorizedTcpPorts": {"ValueType": "CUSTOM", "Value": {"IntegerList": [443, 8443]}},
            "authorizedUdpPorts": {"ValueType": "DEFAULT"}
        });
        let params = with_parameters(
            &json!({"authorized_tcp_ports": [80, 443]}),
            "EC2.18",
            &parameters,
        );
        assert_eq!(params, json!({"authorized_tcp_ports": [443, 8443]}));
        assert_eq!(
            with_parameters(&json!({"ports": [22]}), "EC2.13", &parameters),
            json!({"ports": [22]})
        );
    }

    #[test]
    fn group_id_from_details_or_arn() {
        let t = target(
            "AwsEc2SecurityGroup",
            "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123",
            Value::Null,
        );
        assert_eq!(group_id(&t).unwrap(), "sg-0123");
        let t = target(
            "AwsEc2SecurityGroup",
            "arn:aws:ec2:us-east-1:111122223333:security-group/whatever",
            json!({"AwsEc2SecurityGroup": {"GroupId": "sg-9"}}),
        );
        assert_eq!(group_id(&t).unwrap(), "sg-9");
        let t = target("AwsEc2SecurityGroup", "nothing", Value::Null);
        assert!(group_id(&t).is_err());
    }
}
