//! The Security Hub source: polls `GetFindings` for findings updated since
//! its cursor, oldest first, and hands each page to the intake as one
//! submission (each finding becomes a Security Hub import event). The cursor (the last
//! `UpdatedAt` committed) is saved in the store after each page, so a
//! restart goes on where the last commit ended. Each poll reads again an
//! overlap window behind the cursor, for findings whose `UpdatedAt` (set
//! by the product that sent them) is older than their arrival; the
//! intake leaves out the ones already stored, so none is queued twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingFilters, DateFilter, SortCriterion, SortOrder, StringFilter,
    StringFilterComparison,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use rectify_model::{ActionError, ErrorClass, Intake};
use serde_json::Value;
use tokio::sync::watch;

use crate::errors::sdk_error;
use crate::Aws;

/// The cursor's name in the store.
pub const CURSOR: &str = "securityhub";
/// Findings per `GetFindings` page (the API's maximum).
const PAGE_SIZE: i32 = 100;

/// Which findings to take, all compared with `EQUALS`; an empty list
/// does not filter.
#[derive(Debug, Clone, Default)]
pub struct FindingFilters {
    pub workflow_status: Vec<String>,
    pub record_state: Vec<String>,
    pub compliance_status: Vec<String>,
    pub severity_label: Vec<String>,
    pub product_name: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Pause between polls.
    pub interval: Duration,
    /// How far behind the cursor each poll reads again.
    pub overlap: Duration,
    /// How far back the first poll (no cursor yet) starts.
    pub first_lookback: Duration,
    pub filters: FindingFilters,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub pages: usize,
    pub findings: usize,
}

pub struct SecurityHubSource {
    aws: Arc<Aws>,
    region: String,
    settings: PollSettings,
}

impl SecurityHubSource {
    /// Polls Security Hub in `aws.securityhub.region` (else `region`) with
    /// `aws.securityhub.role_arn` (else rectify's own credentials): the
    /// administrator account's, for aggregated findings.
    pub fn new(aws: Arc<Aws>, region: &str, settings: PollSettings) -> SecurityHubSource {
        SecurityHubSource {
            aws,
            region: region.to_string(),
            settings,
        }
    }

    /// A client with current credentials: an assumed role's session
    /// expires, so it is taken from the session cache at every page.
    async fn client(&self) -> Result<aws_sdk_securityhub::Client, ActionError> {
        let config = self.aws.securityhub_config(&self.region).await?;
        Ok(aws_sdk_securityhub::Client::new(&config))
    }

    /// Polls every `interval` until `stop` turns true (a poll under way is
    /// finished first); a failed poll is logged and tried again at the next
    /// interval, from the saved cursor.
    pub async fn run(&self, intake: &dyn Intake, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if let Err(e) = self.poll_once(intake).await {
                tracing::warn!(error = %e, "Security Hub source");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.interval) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }

    /// One poll: every page of findings updated since the cursor (less the
    /// overlap), oldest first.
    pub async fn poll_once(&self, intake: &dyn Intake) -> Result<Polled, ActionError> {
        let store_error = |e: rectify_model::IntakeError| {
            ActionError::new(ErrorClass::Transient, format!("store: {e}"))
        };
        let now = time::OffsetDateTime::now_utc();
        let cursor = intake
            .cursor(CURSOR)
            .await
            .map_err(store_error)?
            .and_then(|c| rectify_model::parse_rfc3339(&c))
            .unwrap_or_else(|| now - self.settings.first_lookback);
        let start = rectify_model::format_rfc3339(cursor - self.settings.overlap);
        // A little ahead: products' clocks run ahead of ours too.
        let end = rectify_model::format_rfc3339(now + Duration::from_secs(300));
        let mut newest = cursor;
        let mut polled = Polled::default();
        let mut token = None;
        loop {
            let (findings, next) = self.page(&start, &end, token).await?;
            polled.pages += 1;
            polled.findings += findings.len();
            for f in &findings {
                if let Some(t) = f
                    .get("UpdatedAt")
                    .and_then(Value::as_str)
                    .and_then(rectify_model::parse_rfc3339)
                {
                    newest = newest.max(t);
                }
            }
            if !findings.is_empty() {
                // Each finding its own body, so that one the ingest refuses
                // (over 256 KB, say) holds back neither the others nor the
                // cursor; all are committed together.
                let bodies: Vec<String> = findings.iter().map(Value::to_string).collect();
                let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
                let verdicts = intake.take_new(&refs, "poll").await.map_err(store_error)?;
                for (finding, verdict) in findings.iter().zip(verdicts) {
                    if let Err(reason) = verdict {
                        let id = finding.get("Id").and_then(Value::as_str).unwrap_or("?");
                        tracing::warn!(finding = id, %reason, "Security Hub finding refused");
                    }
                }
                intake
                    .save_cursor(CURSOR, &rectify_model::format_rfc3339(newest))
                    .await
                    .map_err(store_error)?;
            }
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(polled),
            }
        }
    }

    /// One `GetFindings` page as the API sent it (the findings' JSON, not
    /// the SDK's typed copy, which drops what its model does not know).
    async fn page(
        &self,
        start: &str,
        end: &str,
        token: Option<String>,
    ) -> Result<(Vec<Value>, Option<String>), ActionError> {
        let raw = RawBody::default();
        let out = self
            .client()
            .await?
            .get_findings()
            .filters(self.filters(start, end))
            .sort_criteria(
                SortCriterion::builder()
                    .field("UpdatedAt")
                    .sort_order(SortOrder::Ascending)
                    .build(),
            )
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:GetFindings", e))?;
        let mut page = raw.json("securityhub:GetFindings")?;
        let findings = match page.get_mut("Findings").map(Value::take) {
            Some(Value::Array(findings)) => findings,
            _ => Vec::new(),
        };
        Ok((findings, out.next_token().map(str::to_string)))
    }

    fn filters(&self, start: &str, end: &str) -> AwsSecurityFindingFilters {
        let equals = |values: &[String]| -> Option<Vec<StringFilter>> {
            (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(|v| {
                        StringFilter::builder()
                            .value(v)
                            .comparison(StringFilterComparison::Equals)
                            .build()
                    })
                    .collect()
            })
        };
        let f = &self.settings.filters;
        AwsSecurityFindingFilters::builder()
            .updated_at(DateFilter::builder().start(start).end(end).build())
            .set_workflow_status(equals(&f.workflow_status))
            .set_record_state(equals(&f.record_state))
            .set_compliance_status(equals(&f.compliance_status))
            .set_severity_label(equals(&f.severity_label))
            .set_product_name(equals(&f.product_name))
            .build()
    }
}

/// Keeps the body of the answer it sees: the API's JSON as sent, which
/// the SDK's typed copy does not keep whole. Clones share the body.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl RawBody {
    /// The body of the answer as JSON; `operation` names the call in the
    /// error.
    pub(crate) fn json(&self, operation: &str) -> Result<Value, ActionError> {
        let body = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        serde_json::from_slice(&body).map_err(|e| {
            ActionError::new(
                ErrorClass::Transient,
                format!("{operation}: unreadable answer: {e}"),
            )
        })
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}
