//! Loading the config and wiring the pipeline from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rectify_aws::{AccountAccess, Aws, AwsSettings};
use rectify_config::{Config, Diagnostic, Loader, RuleChecker};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::{Action, Rule};

/// The built-in rule pack: the files of `packs/aws-foundational/`, in
/// name order (a test checks that none is left out).
pub const AWS_FOUNDATIONAL: &str = concat!(
    include_str!("../packs/aws-foundational/00-core.yaml"),
    include_str!("../packs/aws-foundational/10-s3.yaml"),
    include_str!("../packs/aws-foundational/20-ec2.yaml"),
    include_str!("../packs/aws-foundational/30-public-resources.yaml"),
    include_str!("../packs/aws-foundational/40-iam-and-encryption.yaml"),
    include_str!("../packs/aws-foundational/50-logging-and-monitoring.yaml"),
    include_str!("../packs/aws-foundational/60-containment.yaml"),
);

/// The built-in pack `kubernetes`: containment in EKS clusters for
/// GuardDuty EKS findings (the clusters come from `kubernetes.clusters`).
pub const KUBERNETES: &str = include_str!("../packs/kubernetes/00-guardduty-eks.yaml");

/// The config used when no file is given and ./rectify.yaml does not exist.
pub const DEFAULT_CONFIG: &str =
    "# built-in default\nstore: sqlite://rectify.db\npacks: [aws-foundational]\n";

/// Checks what the config crate cannot know: patterns compile, actions
/// exist, params fit the action.
pub struct CatalogChecker {
    actions: Vec<Arc<dyn Action>>,
}

impl RuleChecker for CatalogChecker {
    fn check(&self, rule: &Rule) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Err(e) = event_pattern::Pattern::from_value(&rule.pattern) {
            let field = if e.path.is_empty() {
                "pattern".to_string()
            } else {
                format!("pattern.{}", e.path)
            };
            problems.push((field, e.message.clone()));
        }
        match self.actions.iter().find(|a| a.spec().id == rule.action) {
            None => {
                let known: Vec<&str> = self.actions.iter().map(|a| a.spec().id).collect();
                problems.push((
                    "action".into(),
                    format!(
                        "unknown action `{}`; known: {}",
                        rule.action,
                        known.join(", ")
                    ),
                ));
            }
            Some(action) => {
                if let Err(message) = action.validate_params(&rule.params) {
                    problems.push(("params".into(), message));
                }
            }
        }
        problems
    }
}

/// Every action rectify knows, with no Kubernetes cluster configured (for
/// listing and checking rules): see [`catalog_with`].
pub fn catalog(aws: Arc<Aws>) -> Vec<Arc<dyn Action>> {
    let kube = Arc::new(rectify_kube::Kube::new(Default::default(), aws.clone()));
    catalog_with(aws, kube)
}

/// Every action rectify knows: the AWS catalog, the Kubernetes actions in
/// the clusters of `kube`, and the local test actions in a build with the
/// `test-actions` feature (`make test`).
pub fn catalog_with(aws: Arc<Aws>, kube: Arc<rectify_kube::Kube>) -> Vec<Arc<dyn Action>> {
    #[allow(unused_mut)]
    let mut actions = rectify_aws::catalog(aws);
    actions.extend(rectify_kube::catalog(kube));
    #[cfg(feature = "test-actions")]
    actions.extend(rectify_local::catalog());
    actions
}

#[derive(Clone)]
pub struct Loaded {
    pub config: Arc<Config>,
    pub aws: Arc<Aws>,
    pub actions: Vec<Arc<dyn Action>>,
}

/// The config file found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Where it was found, for the line that names it.
    pub how: &'static str,
}

/// Where the config is looked for: --config (or $RECTIFY_CONFIG), then
/// `./rectify.yaml`, then `$XDG_CONFIG_HOME/rectify/rectify.yaml` (with
/// `XDG_CONFIG_HOME` unset or empty, `~/.config`), then
/// `/etc/rectify/rectify.yaml`. `None`: no file in any of them.
pub fn discover(
    flag: Option<&Path>,
    flag_from_env: bool,
    xdg_config_home: Option<&str>,
    home: Option<&str>,
    system_dir: &Path,
) -> Option<Found> {
    if let Some(path) = flag {
        let how = if flag_from_env {
            "from $RECTIFY_CONFIG"
        } else {
            "from --config"
        };
        return Some(Found {
            path: path.to_path_buf(),
            how,
        });
    }
    candidates(xdg_config_home, home, system_dir)
        .into_iter()
        .find(|(path, _)| path.is_file())
        .map(|(path, how)| Found { path, how })
}

/// The places looked at without --config, in order.
pub fn candidates(
    xdg_config_home: Option<&str>,
    home: Option<&str>,
    system_dir: &Path,
) -> Vec<(PathBuf, &'static str)> {
    let mut out = vec![(PathBuf::from("rectify.yaml"), "found in the current folder")];
    let user = match xdg_config_home.filter(|x| !x.is_empty()) {
        Some(xdg) => Some((PathBuf::from(xdg), "found in $XDG_CONFIG_HOME")),
        None => home
            .filter(|h| !h.is_empty())
            .map(|h| (Path::new(h).join(".config"), "found in ~/.config")),
    };
    if let Some((dir, how)) = user {
        out.push((dir.join("rectify").join("rectify.yaml"), how));
    }
    out.push((system_dir.join("rectify.yaml"), "found in /etc/rectify"));
    out
}

/// The system-wide config folder.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/rectify";

/// [`discover`] with this process's flag and environment.
pub fn discover_here(flag: Option<&Path>) -> Option<Found> {
    let from_env = flag.is_some()
        && !std::env::args_os()
            .any(|a| a == "--config" || a.to_string_lossy().starts_with("--config="))
        && std::env::var_os("RECTIFY_CONFIG").is_some_and(|v| Some(Path::new(&v)) == flag);
    discover(
        flag,
        from_env,
        std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
        std::env::var("HOME").ok().as_deref(),
        Path::new(SYSTEM_CONFIG_DIR),
    )
}

/// What no config file found says: where rectify looked, what to do.
pub fn no_config_message(command: &str) -> String {
    let places: Vec<String> = candidates(
        std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
        std::env::var("HOME").ok().as_deref(),
        Path::new(SYSTEM_CONFIG_DIR),
    )
    .into_iter()
    .map(|(p, _)| p.display().to_string())
    .collect();
    format!(
        "no config file: not given (--config, $RECTIFY_CONFIG) and none of {} exists. \
         `rectify {command}` keeps its state in the config's store and acts in its accounts, so it does not run \
         on a built-in default. Write a starter config with `rectify init` (./rectify.yaml), then name your accounts",
        places.join(", ")
    )
}

/// `--profile` and `--region`: set once from the command line before any
/// config is loaded, and applied over the config's `aws` section.
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub profile: Option<String>,
    pub region: Option<String>,
}

static LOGIN: std::sync::OnceLock<Login> = std::sync::OnceLock::new();

pub fn set_login(login: Login) {
    let _ = LOGIN.set(login);
}

fn login() -> Login {
    LOGIN.get().cloned().unwrap_or_default()
}

/// The clusters of the config's `kubernetes` section, and rectify's own
/// namespace and pod (from the config and the downward API's
/// `POD_NAMESPACE` / `POD_NAME`), which are never acted on.
pub fn kube_settings(config: &Config) -> rectify_kube::KubeSettings {
    use rectify_config::kubernetes::{KubeAccess, KubeToken};
    use rectify_kube::{ClusterAccess, ClusterSettings, TokenSource};
    let own_pod = rectify_kube::KubeSettings::own_pod_from_env();
    rectify_kube::KubeSettings {
        clusters: config
            .kubernetes
            .clusters
            .iter()
            .map(|c| ClusterSettings {
                name: c.name.clone(),
                access: match &c.access {
                    KubeAccess::Eks {
                        account,
                        region,
                        cluster_name,
                        endpoint,
                        ca_file,
                    } => ClusterAccess::Eks {
                        account: account.clone(),
                        region: region.clone(),
                        cluster_name: cluster_name.clone(),
                        endpoint: endpoint.clone(),
                        ca_file: ca_file.clone(),
                    },
                    KubeAccess::Server {
                        server,
                        ca_file,
                        token,
                    } => ClusterAccess::Server {
                        server: server.clone(),
                        ca_file: ca_file.clone(),
                        token: match token {
                            KubeToken::Env(v) => TokenSource::Env(v.clone()),
                            KubeToken::File(p) => TokenSource::File(p.clone()),
                        },
                    },
                },
            })
            .collect(),
        own_namespace: config
            .kubernetes
            .own_namespace
            .clone()
            .or_else(|| own_pod.as_ref().map(|(ns, _)| ns.clone())),
        own_pod,
    }
}

pub fn aws_settings(config: &Config) -> AwsSettings {
    AwsSettings {
        region: config.aws.region.clone(),
        profile: config.aws.profile.clone(),
        accounts: config
            .accounts
            .iter()
            .map(|a| AccountAccess {
                id: a.id.clone(),
                role_arn: a.role_arn.clone(),
                external_id: a.external_id.clone(),
            })
            .collect(),
        securityhub_region: config.aws.securityhub_region.clone(),
        securityhub_role_arn: config.aws.securityhub_role_arn.clone(),
        sdk_max_attempts: config.aws.sdk_max_attempts,
        s3_force_path_style: None,
    }
}

/// Loads and validates the config. Errors come back as diagnostics, one per
/// problem, ready to print.
pub async fn load(flag: Option<&Path>) -> Result<Loaded, Vec<Diagnostic>> {
    // The catalog is needed to validate rules, and the AWS settings come
    // from the config: build the catalog on settings-free handles first.
    let probe = Arc::new(Aws::new(AwsSettings::default()).await);
    let checker = CatalogChecker {
        actions: catalog(probe),
    };
    let loader = Loader::new()
        .checker(&checker)
        .templates(&rectify_notify::template::Checker)
        .pack("aws-foundational", AWS_FOUNDATIONAL)
        .pack("kubernetes", KUBERNETES);
    let mut config = match flag {
        Some(path) => loader.load_file(path)?,
        None => loader.load_str(DEFAULT_CONFIG, Path::new("<built-in default>"))?,
    };
    let login = login();
    if let Some(region) = login.region {
        config.aws.region = region;
    }
    if let Some(profile) = login.profile {
        config.aws.profile = Some(profile);
    }
    let aws = Arc::new(Aws::new(aws_settings(&config)).await);
    let kube = Arc::new(rectify_kube::Kube::new(kube_settings(&config), aws.clone()));
    let actions = catalog_with(aws.clone(), kube);
    Ok(Loaded {
        config: Arc::new(config),
        aws,
        actions,
    })
}

/// This machine's host name, for worker ids.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// How the worker ids of one-shot commands (`process`, `scan`) begin.
const LOCAL_WORKER: &str = "local@";

/// The worker id of a one-shot command: `local@HOST/PID/RANDOM`, so that
/// a later run on this host can tell that the process holding a job is
/// gone (see [`reclaim_abandoned`]).
pub fn local_worker_id() -> String {
    format!(
        "{LOCAL_WORKER}{}/{}/{}",
        hostname(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether a rectify process with this pid runs on this machine.
fn rectify_is_running(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .next()
                .and_then(|argv0| std::str::from_utf8(argv0).ok())
                .is_some_and(|argv0| {
                    let name = Path::new(argv0)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or("");
                    name.starts_with("rectify") || name == "bootstrap"
                })
        })
        .unwrap_or(false)
}

/// Hands back at once the running jobs of one-shot runs on this host whose
/// process is gone (killed, or cut short by a closed pipe), instead of
/// waiting for their lease to run out; their next run checks before it
/// writes. Returns how many jobs were handed back.
pub async fn reclaim_abandoned(engine: &Engine) -> anyhow::Result<u64> {
    let host = hostname();
    let mut released = 0;
    for owner in engine.store().lease_owners().await? {
        let Some(rest) = owner.strip_prefix(LOCAL_WORKER) else {
            continue;
        };
        let mut parts = rest.rsplitn(3, '/');
        let (_, pid, owner_host) = (parts.next(), parts.next(), parts.next());
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if owner_host != Some(host.as_str()) || rectify_is_running(pid) {
            continue;
        }
        released += engine.store().release_owned(&owner).await?;
    }
    released += engine.store().recover_expired().await?;
    if released > 0 {
        eprintln!(
            "rectify: took back {released} job{} left running by a run that ended early",
            if released == 1 { "" } else { "s" }
        );
    }
    Ok(released)
}

pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
    eprintln!(
        "{} error{} in the configuration",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
}

/// Loads the config (exit 2 on errors) and builds the engine on its store.
pub async fn engine(
    flag: Option<&Path>,
    options: EngineOptions,
) -> anyhow::Result<(Arc<Engine>, Loaded)> {
    let loaded = match load(flag).await {
        Ok(l) => l,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            std::process::exit(2);
        }
    };
    engine_from(loaded, options).await
}

/// Builds the engine on the store of an already loaded config.
pub async fn engine_from(
    loaded: Loaded,
    options: EngineOptions,
) -> anyhow::Result<(Arc<Engine>, Loaded)> {
    let audit_key = crate::commands::audit::record_key(&loaded.config, &loaded.aws).await?;
    let store_options = rectify_store::StoreOptions { audit_key };
    // The URL may hold a password: messages show it redacted.
    let store = rectify_store::open_with(&loaded.config.store, store_options)
        .await
        .with_context(|| {
            format!(
                "opening the store {}",
                rectify_store::redact(&loaded.config.store)
            )
        })?;
    let updater: Arc<dyn rectify_model::FindingUpdater> =
        Arc::new(rectify_aws::SecurityHubUpdater::new(loaded.aws.clone()));
    let tickets = (!loaded.config.tickets.systems.is_empty()).then(|| {
        Arc::new(rectify_tickets::TicketDesk::new(
            &loaded.config.tickets,
            store.clone(),
            updater.clone(),
        ))
    });
    let tap = detector_tap(&loaded, &store).await?;
    let engine = Engine::new(
        loaded.config.clone(),
        store,
        loaded.actions.clone(),
        updater,
        // Channels by name: SNS through the AWS SDK, webhooks over HTTP(S).
        Arc::new(
            rectify_notify::ChannelNotifier::new(
                loaded.config.notifications.clone(),
                Arc::new(rectify_aws::SnsNotifier::new(loaded.aws.clone())),
            )
            .with_ses(
                Arc::new(rectify_aws::SesMailer::new(loaded.aws.clone())),
                &loaded.config.aws.region,
            )
            .with_severities(loaded.config.notify_severities.clone())
            .with_fallbacks(loaded.config.notify_fallback.clone())
            .with_templates(&loaded.config.notify_templates)
            .map_err(anyhow::Error::msg)?,
        ),
        options,
    )?;
    let engine = match tickets {
        Some(desk) => engine.with_tickets(desk),
        None => engine,
    };
    let engine = match tap {
        Some(tap) => engine.with_tap(tap),
        None => engine,
    };
    Ok((Arc::new(engine), loaded))
}

/// With `detect:` in the config, CloudTrail events that come in (HTTP, SQS,
/// Lambda, `rectify process`) go through the detections (and the anomaly
/// detector with `detect.anomaly.enabled`, its state loaded from the
/// store), and what they find is submitted with them as findings of
/// source `rectify.detector`.
async fn detector_tap(
    loaded: &Loaded,
    store: &Arc<dyn rectify_store::Store>,
) -> anyhow::Result<Option<Arc<dyn rectify_model::EventTap>>> {
    let Some(detect) = &loaded.config.detect else {
        return Ok(None);
    };
    let (specs, settings, _) = crate::commands::detect::settings_of(&loaded.config);
    let detector = rectify_detect::SignatureDetector::new(specs, &settings)
        .map_err(|e| anyhow::anyhow!("detect: {e}"))?;
    let mut tap = rectify_detect::run::DetectTap::new(detector);
    let anomaly = rectify_detect::anomaly::LiveAnomaly::load(
        &loaded.config.anomaly,
        &loaded.config.aws.region,
        store.clone(),
    )
    .await
    .context("loading the anomaly detector's state")?;
    if let Some(anomaly) = anomaly {
        tap = tap.with_anomaly(anomaly);
    }
    if detect.security_hub {
        tap = tap.with_sink(crate::detect_import::background_sink(loaded.clone()));
    }
    Ok(Some(Arc::new(tap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_order_ends_in_the_system_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let system = d.join("etc");
        let xdg = d.join("xdg");
        let home = d.join("home");
        std::fs::create_dir_all(&system).unwrap();
        std::fs::create_dir_all(xdg.join("rectify")).unwrap();
        std::fs::create_dir_all(home.join(".config/rectify")).unwrap();
        let find = |xdg: Option<&Path>| {
            discover(
                None,
                false,
                xdg.map(|x| x.to_str().unwrap()),
                home.to_str(),
                &system,
            )
        };
        assert_eq!(find(Some(&xdg)), None);
        std::fs::write(system.join("rectify.yaml"), "").unwrap();
        assert_eq!(
            find(Some(&xdg)),
            Some(Found {
                path: system.join("rectify.yaml"),
                how: "found in /etc/rectify"
            })
        );
        std::fs::write(home.join(".config/rectify/rectify.yaml"), "").unwrap();
        // XDG_CONFIG_HOME set: ~/.config is not looked at.
        assert_eq!(find(Some(&xdg)).unwrap().path, system.join("rectify.yaml"));
        assert_eq!(
            find(None).unwrap().path,
            home.join(".config/rectify/rectify.yaml")
        );
        assert_eq!(find(Some(Path::new(""))).unwrap().how, "found in ~/.config");
        std::fs::write(xdg.join("rectify/rectify.yaml"), "").unwrap();
        assert_eq!(find(Some(&xdg)).unwrap().how, "found in $XDG_CONFIG_HOME");
        let flag = d.join("given.yaml");
        let given = discover(Some(&flag), true, None, None, &system).unwrap();
        assert_eq!((given.path, given.how), (flag, "from $RECTIFY_CONFIG"));
    }
}
