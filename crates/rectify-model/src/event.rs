//! `Event`: one EventBridge-shaped event after ingest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `source` of the events `rectify scan` makes: Security Hub import
/// events carrying findings rectify found itself (no Security Hub finding
/// stands behind them, so none is updated).
pub const SCANNER_SOURCE: &str = "rectify.scanner";

/// The `source` of the findings rectify's threat detectors make (see the
/// `rectify-detect` crate). Like the scanner's, never taken from outside.
pub const DETECTOR_SOURCE: &str = "rectify.detector";

/// The detail-type of Security Hub's ASFF finding imports.
pub const SECURITY_HUB_IMPORTED: &str = "Security Hub Findings - Imported";
/// The detail-type of a Security Hub custom action: a person chose the
/// action on findings in the console (`resources` holds the action's ARN).
pub const SECURITY_HUB_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";
/// The detail-type of the new Security Hub's OCSF findings.
pub const SECURITY_HUB_IMPORTED_V2: &str = "Findings Imported V2";

/// The body rule patterns are matched against: `body` as it is, with one
/// addition. A finding produced by Security Hub itself (its own
/// `ProductArn`) that has no `Compliance.SecurityControlId` (an account
/// without consolidated control findings) gets, in this copy only, the
/// consolidated id derived from its standard's control id
/// ([`crate::controls::consolidated_id`]), so that one pattern on
/// `Compliance.SecurityControlId` matches every shape. A finding that has
/// the field keeps it as it is; nothing is added to other products'
/// findings; the event stored is the one received.
pub fn routing_view(body: &Value) -> std::borrow::Cow<'_, Value> {
    use std::borrow::Cow;
    let finding = match body.pointer("/detail/findings") {
        Some(Value::Array(items)) if items.len() == 1 => &items[0],
        _ => return Cow::Borrowed(body),
    };
    let own_product = finding
        .get("ProductArn")
        .and_then(Value::as_str)
        .is_some_and(crate::controls::is_security_hub_product);
    let has_own = finding
        .pointer("/Compliance/SecurityControlId")
        .is_some_and(|v| v.as_str().is_some_and(|s| !s.trim().is_empty()));
    if !own_product || has_own {
        return Cow::Borrowed(body);
    }
    let compliance_ok = matches!(finding.get("Compliance"), None | Some(Value::Object(_)));
    let Some(id) = compliance_ok
        .then(|| crate::controls::consolidated_id(finding))
        .flatten()
    else {
        return Cow::Borrowed(body);
    };
    let mut view = body.clone();
    if let Some(f) = view
        .pointer_mut("/detail/findings/0")
        .and_then(Value::as_object_mut)
    {
        let compliance = f
            .entry("Compliance")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(c) = compliance.as_object_mut() {
            c.insert("SecurityControlId".into(), Value::String(id));
        }
    }
    Cow::Owned(view)
}

/// Where an event came from; kept for the audit log and for replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Http,
    File,
    Stdin,
    Sqs,
    Lambda,
    Poll,
    Scanner,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::File => "file",
            Origin::Stdin => "stdin",
            Origin::Sqs => "sqs",
            Origin::Lambda => "lambda",
            Origin::Poll => "poll",
            Origin::Scanner => "scanner",
        }
    }
}

/// One event in the EventBridge envelope. A Security Hub import with N
/// findings has already been split into N events, each with exactly one
/// element in `detail.findings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Envelope `id`; for a fanned-out finding, `{id}/{index}`.
    pub id: String,
    pub source: String,
    pub detail_type: String,
    pub account: String,
    pub region: String,
    pub time: String,
    pub resources: Vec<String>,
    /// The whole envelope as received (after fan-out), which is what rule
    /// patterns are matched against.
    pub body: Value,
    /// What is known of `body` without looking again: its typed finding,
    /// and the text it was parsed from.
    #[serde(skip)]
    pub parsed: Derived,
}

/// Data derived from an event's body. A clone starts empty (the clone's
/// body may be changed, as fan-out does) and two always compare equal.
#[derive(Default)]
pub struct Derived {
    /// The typed ASFF finding, parsed on first use.
    finding: std::sync::OnceLock<Option<crate::Finding>>,
    /// The JSON text `body` was parsed from, when it is exactly that
    /// (stored as received instead of serialised again).
    received: Option<std::sync::Arc<str>>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

impl Event {
    pub fn detail(&self) -> &Value {
        self.body.get("detail").unwrap_or(&Value::Null)
    }

    /// What rule patterns are matched against (see [`routing_view`]).
    pub fn routing_body(&self) -> std::borrow::Cow<'_, Value> {
        routing_view(&self.body)
    }

    /// The single finding of a Security Hub event, if this is one.
    pub fn finding_value(&self) -> Option<&Value> {
        match self.detail().get("findings") {
            Some(Value::Array(items)) if items.len() == 1 => items.first(),
            _ => None,
        }
    }

    /// Records that `body` is exactly the parse of `text` (no envelope added
    /// or removed, nothing split off), so that it can be stored as
    /// received. Whoever changes `body` afterwards must not keep the text:
    /// build a new event, or clone it (a clone forgets the text).
    pub fn keep_received_text(&mut self, text: &str) {
        self.parsed.received = Some(text.into());
    }

    /// The text `body` was parsed from, if [`Event::keep_received_text`]
    /// recorded it.
    pub fn received_text(&self) -> Option<&std::sync::Arc<str>> {
        self.parsed.received.as_ref()
    }

    /// The typed finding, if this event carries one that parses as ASFF.
    /// Parsed once per event, however often it is asked for.
    pub fn finding(&self) -> Option<&crate::Finding> {
        self.parsed
            .finding
            .get_or_init(|| {
                self.finding_value()
                    .and_then(|v| crate::Finding::deserialize(v).ok())
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn import(finding: Value) -> Value {
        json!({"version": "0", "id": "e-1", "detail-type": SECURITY_HUB_IMPORTED,
               "source": "aws.securityhub", "account": "111122223333", "region": "eu-west-1",
               "time": "2026-12-05T10:00:00Z", "resources": [], "detail": {"findings": [finding]}})
    }

    #[test]
    fn the_routing_view_adds_the_derived_id_only_where_it_is_missing() {
        let cis = json!({
            "Id": "f-1", "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
            "GeneratorId": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/4.1",
            "Compliance": {"Status": "FAILED"},
            "ProductFields": {"StandardsGuideArn": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0", "RuleId": "4.1"}
        });
        let body = import(cis.clone());
        let view = routing_view(&body);
        assert_eq!(
            view.pointer("/detail/findings/0/Compliance/SecurityControlId"),
            Some(&json!("EC2.13"))
        );
        // Everything else is the body as received.
        let mut back = view.into_owned();
        back["detail"]["findings"][0]["Compliance"]
            .as_object_mut()
            .unwrap()
            .remove("SecurityControlId");
        assert_eq!(back, body);

        // A finding's own SecurityControlId is never replaced.
        let mut own = cis.clone();
        own["Compliance"]["SecurityControlId"] = json!("EC2.14");
        let body = import(own);
        assert!(matches!(routing_view(&body), std::borrow::Cow::Borrowed(_)));
        // Without a Compliance object at all, one is made for the id.
        let mut bare = cis.clone();
        bare.as_object_mut().unwrap().remove("Compliance");
        let body = import(bare);
        assert_eq!(
            routing_view(&body).pointer("/detail/findings/0/Compliance"),
            Some(&json!({"SecurityControlId": "EC2.13"}))
        );
        // Another product's finding of the same shape gets nothing.
        let mut forged = cis;
        forged["ProductArn"] =
            json!("arn:aws:securityhub:eu-west-1:444455556666:product/444455556666/default");
        let body = import(forged);
        assert!(matches!(routing_view(&body), std::borrow::Cow::Borrowed(_)));
        // Not a finding event at all.
        let other = json!({"detail-type": "GuardDuty Finding", "detail": {"type": "x"}});
        assert!(matches!(
            routing_view(&other),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
