//! `Aws`: one `SdkConfig` per (account, region), with the credentials of a
//! role assumed in that account (or rectify's own), cached per role.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use rectify_model::{ActionError, ErrorClass};

use crate::errors::sdk_error_on;

/// Assumed-role sessions are renewed when they have less than this left.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region of rectify's own calls (STS) when none is given.
    pub region: String,
    /// The accounts rectify may act in.
    pub accounts: Vec<AccountAccess>,
    /// Region of the Security Hub aggregator; unset: the finding's region.
    pub securityhub_region: Option<String>,
    /// Role assumed for `BatchUpdateFindings`; unset: own credentials.
    pub securityhub_role_arn: Option<String>,
    /// Attempts per SDK call (the SDK's standard retry); 1 disables retries.
    /// Unset: the SDK's own settings (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`,
    /// `max_attempts` / `retry_mode` of the profile), else 3 attempts.
    pub sdk_max_attempts: Option<u32>,
    /// The profile of the shared AWS config files whose credentials rectify
    /// uses (SSO, `credential_process`, a role, static keys); unset:
    /// `AWS_PROFILE`, else `default`, after the environment's keys.
    pub profile: Option<String>,
    /// S3 path-style addressing; unset: on when an endpoint override
    /// (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`) is set.
    pub s3_force_path_style: Option<bool>,
}

impl Default for AwsSettings {
    /// us-east-1, no accounts, the SDK's retry settings.
    fn default() -> Self {
        AwsSettings::new("us-east-1")
    }
}

impl AwsSettings {
    /// Settings with no accounts, the SDK's retry settings.
    pub fn new(region: impl Into<String>) -> Self {
        AwsSettings {
            region: region.into(),
            accounts: Vec::new(),
            securityhub_region: None,
            securityhub_role_arn: None,
            sdk_max_attempts: None,
            profile: None,
            s3_force_path_style: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAccess {
    /// 12-digit account id.
    pub id: String,
    /// Role assumed to act in the account; unset: own credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    role_arn: String,
    external_id: Option<String>,
    session_name: String,
    /// The account the session must act in: its caller identity is
    /// checked against it.
    account: String,
}

/// What the caller identity check found against the configured account.
enum Identity {
    /// The session is in another account: refused for good.
    Elsewhere(ActionError),
    /// The check itself failed (throttled, unreachable): asked again.
    Unknown(ActionError),
}

/// One role's session: its credentials once assumed and checked, or the
/// refusal that holds for every later job (a session whose caller
/// identity is another account than the configured one).
#[derive(Default)]
struct Session {
    credentials: Option<Credentials>,
    refused: Option<ActionError>,
}

type Slot = Arc<tokio::sync::Mutex<Session>>;

/// How long a "no credentials" finding holds before the chain is asked
/// again (credentials can appear later, e.g. a container's role).
const NO_CREDENTIALS_RECHECK: Duration = Duration::from_secs(60);

pub use crate::errors::NO_CREDENTIALS_REASON;

/// Whether rectify's own identity has credentials: unknown until first
/// asked, then found (for good) or missing (since when, and why).
#[derive(Default)]
enum OwnCredentials {
    #[default]
    Unknown,
    Found,
    Missing(std::time::Instant, ActionError),
}

pub struct Aws {
    settings: AwsSettings,
    /// Own credentials (the default chain), default region.
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    s3_force_path_style: bool,
    sessions: Mutex<HashMap<SessionKey, Slot>>,
    /// Accounts found after start (AWS Organizations), looked up after
    /// `settings.accounts`, which win.
    discovered: std::sync::RwLock<Vec<AccountAccess>>,
    assume_role_calls: AtomicU64,
    own_credentials: tokio::sync::Mutex<OwnCredentials>,
    /// rectify's own identity (`sts:GetCallerIdentity`), once asked.
    own_arn: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("settings", &self.settings)
            .field("s3_force_path_style", &self.s3_force_path_style)
            .finish_non_exhaustive()
    }
}

/// The HTTPS client every SDK client uses: rustls with ring, through the
/// proxy that `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name (not for the
/// hosts of `NO_PROXY`), as other command-line tools do.
pub(crate) fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = aws_smithy_http_client::Connector::builder()
            .proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env());
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        connector
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build()
    })
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

impl Aws {
    /// Loads the default credential chain and endpoint settings lazily: no
    /// network I/O happens here.
    pub async fn new(settings: AwsSettings) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .http_client(http_client());
        if let Some(profile) = &settings.profile {
            crate::errors::set_chosen_profile(profile);
            loader = loader.profile_name(profile);
        }
        if let Some(attempts) = settings.sdk_max_attempts {
            loader =
                loader.retry_config(RetryConfig::standard().with_max_attempts(attempts.max(1)));
        }
        let base = loader
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await;
        let s3_force_path_style = settings.s3_force_path_style.unwrap_or_else(|| {
            env_set("AWS_ENDPOINT_URL")
                || env_set("AWS_ENDPOINT_URL_S3")
                || base.endpoint_url().is_some()
        });
        let sts = aws_sdk_sts::Client::new(&base);
        Aws {
            settings,
            base,
            sts,
            s3_force_path_style,
            sessions: Mutex::new(HashMap::new()),
            discovered: std::sync::RwLock::new(Vec::new()),
            assume_role_calls: AtomicU64::new(0),
            own_credentials: tokio::sync::Mutex::new(OwnCredentials::Unknown),
            own_arn: tokio::sync::Mutex::new(None),
        }
    }

    /// Checks once that rectify's own identity has credentials at all.
    /// When the standard chain finds none, every call fails at once with
    /// one plain message naming where rectify looked (logged once), as a
    /// configuration error that is not retried; the chain is asked again
    /// after a minute. Other failures of the chain (a slow metadata
    /// service) are left to the call itself.
    pub async fn check_own_credentials(&self) -> Result<(), ActionError> {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_credential_types::provider::ProvideCredentials;
        let mut state = self.own_credentials.lock().await;
        match &*state {
            OwnCredentials::Found => return Ok(()),
            OwnCredentials::Missing(since, err) if since.elapsed() < NO_CREDENTIALS_RECHECK => {
                return Err(err.clone());
            }
            _ => {}
        }
        let found = match self.base.credentials_provider() {
            None => Err(None),
            Some(provider) => match provider.provide_credentials().await {
                Ok(_) => Ok(()),
                Err(CredentialsError::CredentialsNotLoaded(_)) => Err(None),
                Err(other) => Err(Some(other)),
            },
        };
        match found {
            Ok(()) => {
                *state = OwnCredentials::Found;
                Ok(())
            }
            Err(None) => {
                // Where rectify looked is said once; each job's reason
                // stays one short line.
                crate::errors::tell_no_credentials_once();
                let err = ActionError::new(ErrorClass::Invalid, NO_CREDENTIALS_REASON);
                *state = OwnCredentials::Missing(std::time::Instant::now(), err.clone());
                Err(err)
            }
            // Not known to be missing: the call will say what went wrong.
            Err(Some(_)) => Ok(()),
        }
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// Replaces the accounts found after start (AWS Organizations). The
    /// accounts of the settings are looked up first and so win.
    pub fn set_discovered_accounts(&self, accounts: Vec<AccountAccess>) {
        *self.discovered.write().unwrap_or_else(|e| e.into_inner()) = accounts;
    }

    /// How many `AssumeRole` calls this instance made (cache misses).
    pub fn assume_role_calls(&self) -> u64 {
        self.assume_role_calls.load(Ordering::Relaxed)
    }

    /// Whether S3 clients use path-style addressing.
    pub fn s3_force_path_style(&self) -> bool {
        self.s3_force_path_style
    }

    /// SDK configuration to act in `account` and `region`: the account's
    /// role assumed (session cached), or rectify's own credentials.
    pub async fn config_for(&self, account: &str, region: &str) -> Result<SdkConfig, ActionError> {
        let access = self
            .settings
            .accounts
            .iter()
            .find(|a| a.id == account)
            .cloned()
            .or_else(|| {
                self.discovered
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .find(|a| a.id == account)
                    .cloned()
            })
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::AccessDenied,
                    format!("account {account} is not configured"),
                )
            })?;
        self.check_own_credentials().await?;
        match &access.role_arn {
            None => Ok(self.own_config(region)),
            Some(role_arn) => {
                let key = SessionKey {
                    role_arn: role_arn.clone(),
                    external_id: access.external_id.clone(),
                    session_name: format!("rectify-{account}"),
                    account: account.to_string(),
                };
                self.assumed_config(key, region).await
            }
        }
    }

    /// The names of the IAM roles rectify itself acts as in `account`: the
    /// account's configured role, the Security Hub role when it is in that
    /// account, and the role of rectify's own identity when that is a role
    /// session in that account (`sts:GetCallerIdentity`, asked once). An
    /// action that could lock rectify out (a deny on a role's sessions)
    /// refuses these.
    pub async fn own_role_names_in(&self, account: &str) -> Result<Vec<String>, ActionError> {
        let role_in = |arn: &str| -> Option<String> {
            let rest = arn.strip_prefix("arn:")?;
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_, service, _, acct, resource] = parts[..] else {
                return None;
            };
            if acct != account {
                return None;
            }
            match service {
                "iam" => resource
                    .strip_prefix("role/")
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_string()),
                // arn:aws:sts::A:assumed-role/NAME/SESSION
                "sts" => resource
                    .strip_prefix("assumed-role/")
                    .and_then(|r| r.split('/').next())
                    .map(str::to_string),
                _ => None,
            }
        };
        let mut names = Vec::new();
        let configured = self
            .settings
            .accounts
            .iter()
            .chain(
                self.discovered
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter(),
            )
            .filter(|a| a.id == account)
            .filter_map(|a| a.role_arn.clone())
            .chain(self.settings.securityhub_role_arn.clone())
            .collect::<Vec<_>>();
        names.extend(configured.iter().filter_map(|arn| role_in(arn)));
        let own = self.own_arn().await?;
        names.extend(role_in(&own));
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The ARN of rectify's own identity (`sts:GetCallerIdentity`, asked
    /// once and kept).
    pub async fn own_arn(&self) -> Result<String, ActionError> {
        let mut cached = self.own_arn.lock().await;
        if let Some(arn) = &*cached {
            return Ok(arn.clone());
        }
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error_on("sts:GetCallerIdentity", "rectify's own identity", e))?;
        let arn = out.arn().unwrap_or_default().to_string();
        *cached = Some(arn.clone());
        Ok(arn)
    }

    /// The account of rectify's own identity (from [`Aws::own_arn`]).
    pub async fn own_account(&self) -> Result<String, ActionError> {
        let arn = self.own_arn().await?;
        Ok(arn.split(':').nth(4).unwrap_or_default().to_string())
    }

    /// Rectify's own credentials in `region`.
    pub fn own_config(&self, region: &str) -> SdkConfig {
        self.base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// Configuration for Security Hub calls: `securityhub_region` (or
    /// `region`), with `securityhub_role_arn` assumed (or own credentials).
    pub async fn securityhub_config(&self, region: &str) -> Result<SdkConfig, ActionError> {
        let region = self
            .settings
            .securityhub_region
            .as_deref()
            .unwrap_or(region);
        self.check_own_credentials().await?;
        match &self.settings.securityhub_role_arn {
            None => Ok(self.own_config(region)),
            Some(role_arn) => {
                let key = SessionKey {
                    role_arn: role_arn.clone(),
                    external_id: None,
                    session_name: "rectify-securityhub".into(),
                    account: role_arn.split(':').nth(4).unwrap_or_default().to_string(),
                };
                self.assumed_config(key, region).await
            }
        }
    }

    /// An S3 client for `config`, path-style when configured so.
    pub fn s3(&self, config: &SdkConfig) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(self.s3_force_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An S3 Control client for `config`. The SDK puts the account id in
    /// front of the endpoint's host (`{account}.s3-control...`); with an
    /// endpoint override on an IP address or `localhost` (an emulator, a
    /// local proxy) that name does not resolve, so the account prefix is
    /// taken off again there (the account also travels in the
    /// `x-amz-account-id` header). Endpoints of AWS are left as they are.
    pub fn s3control(&self, config: &SdkConfig) -> aws_sdk_s3control::Client {
        let conf = aws_sdk_s3control::config::Builder::from(config)
            .interceptor(LocalAccountHost)
            .build();
        aws_sdk_s3control::Client::from_conf(conf)
    }

    async fn assumed_config(
        &self,
        key: SessionKey,
        region: &str,
    ) -> Result<SdkConfig, ActionError> {
        let credentials = self.session(key).await?;
        Ok(self
            .base
            .to_builder()
            .region(Region::new(region.to_string()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            // The credentials are static for this config; the session cache
            // above is the one that matters.
            .identity_cache(IdentityCache::no_cache())
            .build())
    }

    async fn session(&self, key: SessionKey) -> Result<Credentials, ActionError> {
        let slot = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.entry(key.clone()).or_default().clone()
        };
        // One AssumeRole at a time per role; other roles are not held up.
        let mut slot = slot.lock().await;
        if let Some(refused) = &slot.refused {
            return Err(refused.clone());
        }
        if let Some(creds) = slot.credentials.as_ref() {
            if !needs_refresh(creds.expiry(), SystemTime::now()) {
                return Ok(creds.clone());
            }
        }
        let creds = self.assume_role(&key).await?;
        match self.check_identity(&key, &creds).await {
            Ok(()) => {}
            Err(Identity::Elsewhere(refused)) => {
                // The role is not the account's: no job of it may run.
                tracing::error!("{}", refused.message);
                slot.refused = Some(refused.clone());
                return Err(refused);
            }
            // Not known: the next job asks again.
            Err(Identity::Unknown(err)) => return Err(err),
        }
        slot.credentials = Some(creds.clone());
        Ok(creds)
    }

    /// Once per assumed session: the caller identity of `creds`
    /// (`sts:GetCallerIdentity`) must be in the account the session is
    /// for. A role whose ARN, trust or a misconfiguration puts it in another
    /// account is refused for good (class AccessDenied).
    async fn check_identity(&self, key: &SessionKey, creds: &Credentials) -> Result<(), Identity> {
        let conf = aws_sdk_sts::config::Builder::from(&self.base)
            .credentials_provider(SharedCredentialsProvider::new(creds.clone()))
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                Identity::Unknown(crate::errors::sdk_error_on(
                    "sts:GetCallerIdentity",
                    &key.role_arn,
                    e,
                ))
            })?;
        let actual = out.account().unwrap_or_default();
        if actual != key.account {
            return Err(Identity::Elsewhere(ActionError::new(
                ErrorClass::AccessDenied,
                format!(
                    "account {}: the session of {} is in account {} (sts:GetCallerIdentity: {}), not in {}; every job of account {} is refused until the account's role_arn is fixed",
                    key.account,
                    key.role_arn,
                    if actual.is_empty() { "?" } else { actual },
                    out.arn().unwrap_or("?"),
                    key.account,
                    key.account
                ),
            )));
        }
        Ok(())
    }

    async fn assume_role(&self, key: &SessionKey) -> Result<Credentials, ActionError> {
        self.assume_role_calls.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(role = %key.role_arn, session = %key.session_name, "assuming role");
        let out = self
            .sts
            .assume_role()
            .role_arn(&key.role_arn)
            .role_session_name(&key.session_name)
            .set_external_id(key.external_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error_on("sts:AssumeRole", &key.role_arn, e))?;
        let c = out.credentials().ok_or_else(|| {
            ActionError::new(
                ErrorClass::Transient,
                format!("sts:AssumeRole of {} returned no credentials", key.role_arn),
            )
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "rectify-assume-role",
        ))
    }
}

/// Whether cached credentials expiring at `expiry` must be renewed at `now`.
pub fn needs_refresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    match expiry {
        None => false,
        Some(expiry) => expiry <= now + REFRESH_BEFORE_EXPIRY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(!needs_refresh(None, now));
        assert!(!needs_refresh(Some(now + Duration::from_secs(3600)), now));
        assert!(!needs_refresh(Some(now + Duration::from_secs(301)), now));
        assert!(needs_refresh(Some(now + Duration::from_secs(300)), now));
        assert!(needs_refresh(Some(now + Duration::from_secs(60)), now));
        assert!(needs_refresh(Some(now - Duration::from_secs(1)), now));
    }

    #[tokio::test]
    async fn unknown_account_is_access_denied() {
        let aws = Aws::new(AwsSettings::new("us-east-1")).await;
        let err = aws
            .config_for("999999999999", "us-east-1")
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::AccessDenied);
        assert_eq!(err.message, "account 999999999999 is not configured");
    }

    #[tokio::test]
    async fn path_style_follows_settings() {
        let mut settings = AwsSettings::new("eu-west-1");
        settings.s3_force_path_style = Some(true);
        assert!(Aws::new(settings.clone()).await.s3_force_path_style());
        settings.s3_force_path_style = Some(false);
        assert!(!Aws::new(settings).await.s3_force_path_style());
    }

    #[tokio::test]
    async fn own_credentials_keep_region() {
        let mut settings = AwsSettings::new("eu-west-1");
        settings.accounts.push(AccountAccess {
            id: "111122223333".into(),
            role_arn: None,
            external_id: None,
        });
        let aws = Aws::new(settings).await;
        let cfg = aws.own_config("us-west-2");
        assert_eq!(cfg.region().unwrap().as_ref(), "us-west-2");
        assert_eq!(aws.assume_role_calls(), 0);
    }
}

/// Takes the account prefix S3 Control's endpoint rules add to the host
/// off a local endpoint (`123456789012.127.0.0.1:5000` -> `127.0.0.1:5000`).
#[derive(Debug)]
struct LocalAccountHost;

impl aws_smithy_runtime_api::client::interceptors::Intercept for LocalAccountHost {
    fn name(&self) -> &'static str {
        "LocalAccountHost"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        if let Some(uri) = local_account_host(request.uri()) {
            request.set_uri(uri.as_str())?;
        }
        Ok(())
    }
}

/// `uri` without the account label in front of a local host, if it has one.
fn local_account_host(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (label, host) = authority.split_once('.')?;
    if label.len() != 12 || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let local = bare == "localhost" || bare.parse::<std::net::Ipv4Addr>().is_ok();
    local.then(|| format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod s3control_tests {
    use super::local_account_host;

    #[test]
    fn account_label_is_taken_off_local_hosts_only() {
        assert_eq!(
            local_account_host(
                "http://123456789012.127.0.0.1:5000/v20180820/configuration/publicAccessBlock"
            )
            .as_deref(),
            Some("http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock")
        );
        assert_eq!(
            local_account_host("http://123456789012.localhost:4566/x").as_deref(),
            Some("http://localhost:4566/x")
        );
        assert_eq!(
            local_account_host(
                "https://123456789012.s3-control.us-east-1.amazonaws.com/v20180820/x"
            ),
            None
        );
        assert_eq!(local_account_host("http://127.0.0.1:5000/x"), None);
    }
}
