//! Jira Cloud through REST API v3: an issue per finding (found again by
//! its correlation label through JQL), a comment per step (Atlassian
//! Document Format), and the configured transition when fixed.

use async_trait::async_trait;
use rectify_model::ActionError;
use reqwest::Method;
use serde_json::{json, Value};

use crate::http::{encode, Http};
use crate::{NewTicket, Remote, RemoteStatus, TicketApi};

/// Every issue rectify opens carries this label besides its correlation.
const LABEL: &str = "rectify";

pub struct Jira {
    pub(crate) http: Http,
    pub(crate) project: String,
    pub(crate) issue_type: String,
    pub(crate) done_transition: String,
    pub(crate) accepted_risk_resolutions: Vec<String>,
    pub(crate) accepted_risk_statuses: Vec<String>,
}

/// `text` as an ADF document: one paragraph per line.
pub fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| json!({"type": "paragraph", "content": [{"type": "text", "text": line}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

fn remote_of(issue: &Value) -> Result<Remote, ActionError> {
    let field = |k: &str| issue.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("id").is_empty() || field("key").is_empty() {
        return Err(ActionError::invalid("jira: the issue has no id or key"));
    }
    Ok(Remote {
        id: field("id").to_string(),
        key: field("key").to_string(),
    })
}

fn issue_path(remote: &Remote, rest: &str) -> String {
    format!("/rest/api/3/issue/{}{rest}", encode(&remote.id))
}

#[async_trait]
impl TicketApi for Jira {
    async fn find(&self, correlation: &str) -> Result<Option<Remote>, ActionError> {
        // The correlation is hex with a fixed prefix: nothing to escape.
        let body = json!({
            "jql": format!("project = \"{}\" AND labels = \"{correlation}\" ORDER BY created ASC", self.project),
            "fields": ["key"],
            "maxResults": 1,
        });
        let answer = self
            .http
            .call(Method::POST, "/rest/api/3/search/jql", Some(&body))
            .await?;
        match answer
            .get("issues")
            .and_then(Value::as_array)
            .and_then(|i| i.first())
        {
            Some(issue) => remote_of(issue).map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, ticket: &NewTicket) -> Result<Remote, ActionError> {
        let body = json!({
            "fields": {
                "project": {"key": self.project},
                "issuetype": {"name": self.issue_type},
                "summary": ticket.summary,
                "description": adf(&ticket.description),
                "labels": [LABEL, ticket.correlation],
            }
        });
        let answer = self
            .http
            .call(Method::POST, "/rest/api/3/issue", Some(&body))
            .await?;
        remote_of(&answer)
    }

    async fn note(&self, remote: &Remote, text: &str) -> Result<(), ActionError> {
        self.http
            .call(
                Method::POST,
                &issue_path(remote, "/comment"),
                Some(&json!({ "body": adf(text) })),
            )
            .await
            .map(|_| ())
    }

    async fn resolve(&self, remote: &Remote, text: &str) -> Result<(), ActionError> {
        let answer = self
            .http
            .call(Method::GET, &issue_path(remote, "/transitions"), None)
            .await?;
        let wanted = &self.done_transition;
        let transition = answer
            .get("transitions")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter().find(|t| {
                    t.get("name").and_then(Value::as_str) == Some(wanted)
                        || t.pointer("/to/name").and_then(Value::as_str) == Some(wanted)
                })
            })
            .and_then(|t| t.get("id").and_then(Value::as_str))
            .ok_or_else(|| {
                ActionError::invalid(format!(
                    "jira: issue {} offers no transition named `{wanted}` (tickets.systems.*.jira.done_transition)",
                    remote.key
                ))
            })?
            .to_string();
        self.note(remote, text).await?;
        self.http
            .call(
                Method::POST,
                &issue_path(remote, "/transitions"),
                Some(&json!({"transition": {"id": transition}})),
            )
            .await
            .map(|_| ())
    }

    async fn status(&self, remote: &Remote) -> Result<RemoteStatus, ActionError> {
        let answer = self
            .http
            .call(
                Method::GET,
                &issue_path(remote, "?fields=status,resolution"),
                None,
            )
            .await?;
        let text = |p: &str| {
            answer
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let status = text("/fields/status/name");
        let resolution = text("/fields/resolution/name");
        let done = text("/fields/status/statusCategory/key") == "done";
        let accepted = self.accepted_risk_statuses.iter().any(|s| s == status)
            || (done
                && self
                    .accepted_risk_resolutions
                    .iter()
                    .any(|r| r == resolution));
        Ok(if accepted {
            RemoteStatus::AcceptedRisk(format!("status {status}, resolution {resolution}"))
        } else if done {
            RemoteStatus::Resolved(format!("status {status}, resolution {resolution}"))
        } else {
            RemoteStatus::Open
        })
    }
}
