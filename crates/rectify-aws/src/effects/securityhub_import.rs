//! Findings of rectify's own into Security Hub (`rectify scan
//! --send-to-security-hub`): `BatchImportFindings` in batches of 100, in
//! the account the findings are about (a custom product's findings are
//! imported by the account they name, `product/<account>/default`), with
//! each finding's `FirstObservedAt` kept from what Security Hub already
//! holds (`GetFindings` by id).
//!
//! The SDK's finding type cannot be built from JSON, so the request body
//! is the ASFF JSON as rectify wrote it, put in place before signing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use rectify_model::ActionError;
use serde_json::{json, Value};

use crate::errors::sdk_error_on;
use crate::sources::securityhub::RawBody;
use crate::Aws;

/// Findings per `BatchImportFindings` call (the API's limit).
pub const BATCH: usize = 100;
/// Ids per `GetFindings` read of earlier findings.
const IDS_PER_READ: usize = 20;

/// Puts the JSON body in place of the one the SDK serialised.
#[derive(Debug, Clone)]
struct JsonBody(Arc<Mutex<Vec<u8>>>);

impl Intercept for JsonBody {
    fn name(&self) -> &'static str {
        "JsonBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let request = context.request_mut();
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
    }
}

/// What an import gave.
#[derive(Debug, Default)]
pub struct Imported {
    pub imported: usize,
    /// `id: reason` of each finding Security Hub refused.
    pub failed: Vec<String>,
}

async fn client(
    aws: &Aws,
    account: &str,
    region: &str,
) -> Result<aws_sdk_securityhub::Client, ActionError> {
    let config = aws.config_for(account, region).await?;
    Ok(aws_sdk_securityhub::Client::new(&config))
}

/// `FirstObservedAt` of the findings Security Hub already holds with
/// these ids (of product `product_arn`), by id.
pub async fn first_observed(
    aws: &Aws,
    account: &str,
    region: &str,
    product_arn: &str,
    ids: &[String],
) -> Result<HashMap<String, String>, ActionError> {
    let sh = client(aws, account, region).await?;
    let equals = |value: &str| {
        StringFilter::builder()
            .value(value)
            .comparison(StringFilterComparison::Equals)
            .build()
    };
    let mut found = HashMap::new();
    for chunk in ids.chunks(IDS_PER_READ) {
        let mut filters = AwsSecurityFindingFilters::builder().product_arn(equals(product_arn));
        for id in chunk {
            filters = filters.id(equals(id));
        }
        let raw = RawBody::default();
        sh.get_findings()
            .filters(filters.build())
            .max_results(100)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                sdk_error_on("securityhub:GetFindings", &format!("account {account}"), e)
            })?;
        let page = raw.json("securityhub:GetFindings")?;
        for f in page["Findings"].as_array().into_iter().flatten() {
            let (Some(id), Some(first)) = (f["Id"].as_str(), f["FirstObservedAt"].as_str()) else {
                continue;
            };
            // Filters are exact, but only the ids asked for are taken.
            if chunk.iter().any(|c| c == id) && f["ProductArn"] == product_arn {
                found.insert(id.to_string(), first.to_string());
            }
        }
    }
    Ok(found)
}

/// Imports `findings` (ASFF JSON, all of `account` in `region`) in that
/// account, 100 a call.
pub async fn import(
    aws: &Aws,
    account: &str,
    region: &str,
    findings: &[Value],
) -> Result<Imported, ActionError> {
    let sh = client(aws, account, region).await?;
    import_with(&sh, &format!("account {account}"), findings).await
}

/// Imports `findings` (ASFF JSON) into the Security Hub rectify reports to
/// (`aws.securityhub`: its role and region, else `region`), 100 a call:
/// the threat detections' findings.
pub async fn import_to_hub(
    aws: &Aws,
    region: &str,
    findings: &[Value],
) -> Result<Imported, ActionError> {
    let config = aws.securityhub_config(region).await?;
    let sh = aws_sdk_securityhub::Client::new(&config);
    import_with(&sh, &format!("region {region}"), findings).await
}

async fn import_with(
    sh: &aws_sdk_securityhub::Client,
    place: &str,
    findings: &[Value],
) -> Result<Imported, ActionError> {
    let mut out = Imported::default();
    for batch in findings.chunks(BATCH) {
        let body = serde_json::to_vec(&json!({ "Findings": batch })).unwrap_or_default();
        let placeholders = vec![AwsSecurityFinding::builder().build(); batch.len()];
        let sent = sh
            .batch_import_findings()
            .set_findings(Some(placeholders))
            .customize()
            .interceptor(JsonBody(Arc::new(Mutex::new(body))))
            .send()
            .await
            .map_err(|e| sdk_error_on("securityhub:BatchImportFindings", place, e))?;
        out.imported += sent.success_count().unwrap_or_default() as usize;
        for f in sent.failed_findings() {
            out.failed.push(format!(
                "{}: {} {}",
                f.id().unwrap_or("?"),
                f.error_code().unwrap_or("?"),
                f.error_message().unwrap_or("")
            ));
        }
    }
    Ok(out)
}
