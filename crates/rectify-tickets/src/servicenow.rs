//! ServiceNow through its Table API on the `incident` table: an incident
//! per finding (found again by `correlation_id`), a work note per step,
//! resolved (state 6 with `close_code` and `close_notes`) when fixed.

use async_trait::async_trait;
use rectify_model::ActionError;
use reqwest::Method;
use serde_json::{json, Value};

use crate::http::{encode, Http};
use crate::{NewTicket, Remote, RemoteStatus, TicketApi};

/// Incident `state` values of the base system.
const STATE_RESOLVED: &str = "6";
const STATE_CLOSED: &str = "7";
const STATE_CANCELED: &str = "8";
const TABLE: &str = "/api/now/table/incident";

pub struct ServiceNow {
    pub(crate) http: Http,
    pub(crate) resolve_close_code: String,
    pub(crate) accepted_risk_close_codes: Vec<String>,
    pub(crate) assignment_group: Option<String>,
}

fn text(record: &Value, field: &str) -> String {
    // With `sysparm_display_value` unset a field is its raw value; a
    // reference field may still come as `{"value": ..}`.
    match record.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

fn remote_of(record: &Value) -> Result<Remote, ActionError> {
    let id = text(record, "sys_id");
    let number = text(record, "number");
    if id.is_empty() || number.is_empty() {
        return Err(ActionError::invalid(
            "servicenow: the incident record has no sys_id or number",
        ));
    }
    Ok(Remote { id, key: number })
}

#[async_trait]
impl TicketApi for ServiceNow {
    async fn find(&self, correlation: &str) -> Result<Option<Remote>, ActionError> {
        let path = format!(
            "{TABLE}?sysparm_query={}&sysparm_fields=sys_id,number&sysparm_limit=1",
            encode(&format!(
                "correlation_id={correlation}^ORDERBYsys_created_on"
            ))
        );
        let answer = self.http.call(Method::GET, &path, None).await?;
        match answer
            .get("result")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
        {
            Some(record) => remote_of(record).map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, ticket: &NewTicket) -> Result<Remote, ActionError> {
        let mut body = json!({
            "short_description": ticket.summary,
            "description": ticket.description,
            "correlation_id": ticket.correlation,
            "correlation_display": "rectify",
        });
        if let Some(group) = &self.assignment_group {
            body["assignment_group"] = json!(group);
        }
        let answer = self
            .http
            .call(
                Method::POST,
                &format!("{TABLE}?sysparm_fields=sys_id,number"),
                Some(&body),
            )
            .await?;
        remote_of(answer.get("result").unwrap_or(&Value::Null))
    }

    async fn note(&self, remote: &Remote, text: &str) -> Result<(), ActionError> {
        let path = format!("{TABLE}/{}?sysparm_fields=sys_id", encode(&remote.id));
        self.http
            .call(Method::PATCH, &path, Some(&json!({ "work_notes": text })))
            .await
            .map(|_| ())
    }

    async fn resolve(&self, remote: &Remote, text: &str) -> Result<(), ActionError> {
        let path = format!("{TABLE}/{}?sysparm_fields=sys_id", encode(&remote.id));
        let body = json!({
            "state": STATE_RESOLVED,
            "close_code": self.resolve_close_code,
            "close_notes": text,
        });
        self.http
            .call(Method::PATCH, &path, Some(&body))
            .await
            .map(|_| ())
    }

    async fn status(&self, remote: &Remote) -> Result<RemoteStatus, ActionError> {
        let path = format!(
            "{TABLE}/{}?sysparm_fields=sys_id,number,state,close_code",
            encode(&remote.id)
        );
        let answer = self.http.call(Method::GET, &path, None).await?;
        let record = answer.get("result").unwrap_or(&Value::Null);
        let state = text(record, "state");
        let close_code = text(record, "close_code");
        Ok(match state.as_str() {
            STATE_RESOLVED | STATE_CLOSED
                if self.accepted_risk_close_codes.contains(&close_code) =>
            {
                RemoteStatus::AcceptedRisk(format!("close code {close_code}"))
            }
            STATE_RESOLVED | STATE_CLOSED => {
                RemoteStatus::Resolved(format!("close code {close_code}"))
            }
            STATE_CANCELED => RemoteStatus::Canceled,
            _ => RemoteStatus::Open,
        })
    }
}
