//! `accounts.from_organizations` against the emulator's AWS Organizations
//! and Account Management (alternate contacts): which accounts are taken,
//! their roles and owners, the hand-listed entry winning, the accounts
//! reaching the engine, and `serve` going on when the organization cannot
//! be read.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_organizations::types::Tag;
use serde_json::{json, Value};
use support::{account_config, env, new_account, REGION};

/// Credentials inside `account`, as environment variables for rectify.
pub async fn credentials_in(account: &str) -> [(String, String); 3] {
    let config = account_config(account).await;
    let c = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    [
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_string()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            c.secret_access_key().to_string(),
        ),
        (
            "AWS_SESSION_TOKEN".into(),
            c.session_token().unwrap().to_string(),
        ),
    ]
}

struct Organization {
    root: String,
    prod: String,
    payments: String,
    sandbox: String,
    /// Tagged owner, under prod/payments.
    tagged: String,
    /// Owner from the security contact, under prod.
    contact: String,
    /// Under sandbox, excluded.
    sandboxed: String,
    /// Under prod, also listed by hand.
    listed: String,
}

async fn new_member(
    org: &aws_sdk_organizations::Client,
    root: &str,
    ou: &str,
    name: &str,
    tags: Vec<Tag>,
) -> String {
    let status = org
        .create_account()
        .email(format!("{name}-{}@example.com", rand_suffix()))
        .account_name(name)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap();
    let id = status.account_id.unwrap();
    org.move_account()
        .account_id(&id)
        .source_parent_id(root)
        .destination_parent_id(ou)
        .send()
        .await
        .unwrap();
    id
}

fn rand_suffix() -> u32 {
    rand::random::<u32>()
}

/// An organization managed from `management`: OUs prod (with payments
/// under it) and sandbox, four member accounts.
async fn organization(management: &str) -> Organization {
    let config = account_config(management).await;
    let org = aws_sdk_organizations::Client::new(&config);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = org.list_roots().send().await.unwrap().roots.unwrap()[0]
        .id
        .clone()
        .unwrap();
    let ou = |parent: String, name: &'static str| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit
                .unwrap()
                .id
                .unwrap()
        }
    };
    let prod = ou(root.clone(), "prod").await;
    let payments = ou(prod.clone(), "payments").await;
    let sandbox = ou(root.clone(), "sandbox").await;
    let owner = Tag::builder()
        .key("team-owner")
        .value("payments-team@example.com")
        .build()
        .unwrap();
    let tagged = new_member(&org, &root, &payments, "payments", vec![owner]).await;
    let contact = new_member(&org, &root, &prod, "web", vec![]).await;
    let sandboxed = new_member(&org, &root, &sandbox, "play", vec![]).await;
    let listed = new_member(&org, &root, &prod, "listed", vec![]).await;
    aws_sdk_account::Client::new(&config)
        .put_alternate_contact()
        .account_id(&contact)
        .alternate_contact_type(aws_sdk_account::types::AlternateContactType::Security)
        .email_address("secops@example.com")
        .name("Security operations")
        .phone_number("+1-555-0100")
        .title("SecOps")
        .send()
        .await
        .unwrap();
    // The management account's own contact, set and read in standalone
    // form: AWS refuses a caller's own id as AccountId (the emulator is
    // made to refuse it too, tests/standins/moto_account_rules.py).
    aws_sdk_account::Client::new(&config)
        .put_alternate_contact()
        .alternate_contact_type(aws_sdk_account::types::AlternateContactType::Security)
        .email_address("cloud-platform@example.com")
        .name("Cloud platform")
        .phone_number("+1-555-0101")
        .title("Platform")
        .send()
        .await
        .unwrap();
    Organization {
        root,
        prod,
        payments,
        sandbox,
        tagged,
        contact,
        sandboxed,
        listed,
    }
}

struct Run {
    dir: tempfile::TempDir,
    creds: [(String, String); 3],
}

impl Run {
    fn new(config: &str, creds: [(String, String); 3]) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let config = config.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(dir.path().join("rectify.yaml"), config).unwrap();
        Run { dir, creds }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rectify"));
        cmd.current_dir(self.dir.path())
            .env("RECTIFY_CONFIG", self.dir.path().join("rectify.yaml"))
            .env("AWS_ENDPOINT_URL", &env().moto)
            .env("AWS_REGION", REGION)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("RECTIFY_LOG")
            .envs(self.creds.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn rectify(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        eprintln!(
            "$ rectify {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn config(org: &Organization) -> String {
    format!(
        "store: sqlite://{{dir}}/r.db\naudit: {{key: none}}\ndefault_mode: auto\naws:\n  region: {REGION}\n\
         accounts:\n  list:\n    - id: \"{listed}\"\n      name: by-hand\n      role_arn: arn:aws:iam::{listed}:role/by-hand\n      external_id: none\n      owner: hand@example.com\n\
         \x20 from_organizations:\n    role_arn: arn:aws:iam::{{account}}:role/rectify-remediation\n    external_id: ext-org\n\
         \x20   organizational_units:\n      include: [{root}]\n      exclude: [{sandbox}]\n    owner_tag: team-owner\n    regions: [{REGION}]\n\
         rules:\n  - id: noop\n    pattern: {{source: [custom.app]}}\n    action: local.noop\n",
        listed = org.listed,
        root = org.root,
        sandbox = org.sandbox,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_come_from_the_organization_and_hand_listed_ones_win() {
    let management = new_account();
    let org = organization(&management).await;
    let run = Run::new(&config(&org), credentials_in(&management).await);

    let out = run.rectify(&["accounts", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let accounts = report["accounts"].as_array().unwrap();
    let by_id = |id: &str| {
        accounts
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {report}"))
            .clone()
    };
    // The sandbox OU is excluded; every other account is there, once.
    let mut ids: Vec<&str> = accounts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected = vec![
        management.as_str(),
        org.tagged.as_str(),
        org.contact.as_str(),
        org.listed.as_str(),
    ];
    expected.sort();
    assert_eq!(ids, expected, "{report}");
    assert!(!ids.contains(&org.sandboxed.as_str()));

    let tagged = by_id(&org.tagged);
    assert_eq!(tagged["source"], "organizations");
    assert_eq!(
        tagged["role_arn"],
        format!("arn:aws:iam::{}:role/rectify-remediation", org.tagged)
    );
    assert_eq!(tagged["external_id"], true);
    assert_eq!(tagged["owner"], "payments-team@example.com");
    assert_eq!(tagged["owner_from"], "tag team-owner");
    assert_eq!(tagged["regions"], json!([REGION]));
    assert_eq!(
        tagged["organizational_units"],
        json!([org.root, org.prod, org.payments])
    );
    let contact = by_id(&org.contact);
    assert_eq!(contact["owner"], "secops@example.com");
    assert_eq!(contact["owner_from"], "security contact");
    // The management account's contact is read without naming its id.
    let own = by_id(&management);
    assert_eq!(own["owner"], "cloud-platform@example.com", "{report}");
    assert_eq!(own["owner_from"], "security contact");
    assert!(
        report["notes"]
            .as_array()
            .is_none_or(|n| n.iter().all(|n| !n.to_string().contains(&management))),
        "{report}"
    );
    // Listed by hand and in the organization: the config's entry wins.
    let listed = by_id(&org.listed);
    assert_eq!(listed["source"], "config");
    assert_eq!(listed["also_in_organization"], true);
    assert_eq!(
        listed["role_arn"],
        format!("arn:aws:iam::{}:role/by-hand", org.listed)
    );
    assert_eq!(listed["owner"], "hand@example.com");
    assert_eq!(report["overridden"], json!([org.listed]));

    // The table says the same, and which entry won.
    let out = run.rectify(&["accounts"]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not in\n{table}"))
            .to_string()
    };
    assert!(line(&org.listed).contains("config (wins over organizations)"));
    assert!(line(&org.tagged).contains("payments-team@example.com"));
    assert!(line(&org.tagged).contains("tag team-owner"));
    assert!(table.contains(&format!(
        "account {} is listed in the config and found in the organization: the config's entry wins",
        org.listed
    )));

    // The accounts reach the engine: an event of a member account is
    // acted on, one of the excluded sandbox is not.
    for (account, expected) in [(&org.tagged, "changed"), (&org.sandboxed, "skipped")] {
        let event = json!({
            "version": "0", "id": format!("e-{account}"), "source": "custom.app",
            "detail-type": "Something", "account": account, "region": REGION,
            "time": "2026-12-01T12:00:00Z",
            "resources": [format!("arn:aws:s3:::bucket-{account}")], "detail": {}
        });
        let file = run.dir.path().join(format!("{account}.json"));
        std::fs::write(&file, event.to_string()).unwrap();
        let out = run.rectify(&["process", "--output", "json", file.to_str().unwrap()]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let job = &report["jobs"][0];
        assert_eq!(job["outcome"]["kind"], expected, "{account}: {report}");
        if expected == "skipped" {
            assert!(
                job["outcome"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("is not in the config"),
                "{job}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_organization_is_said_and_does_not_stop_serve() {
    // An account that is in no organization: every read fails.
    let lone = new_account();
    let yaml = "store: sqlite://{dir}/r.db\naudit: {key: none}\n\
        api:\n  tokens:\n    - name: t\n      token: a-token-of-twenty-characters\n\
        accounts:\n  from_organizations:\n    role_arn: arn:aws:iam::{account}:role/rectify\n    external_id: none\n    refresh_seconds: 60\n";
    let run = Run::new(yaml, credentials_in(&lone).await);

    let out = run.rectify(&["accounts", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accounts"], json!([]));
    let why = report["organizations_error"].as_str().unwrap();
    assert!(why.contains("organizations:ListRoots"), "{why}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the organization"));

    let mut serve = run
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let listening = line.contains("listening on");
            seen.push(line);
            if listening {
                break;
            }
        }
        seen
    });
    let started = Instant::now();
    while !lines.is_finished() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = serve.try_wait().unwrap().is_none();
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    let seen = lines.join().unwrap().join("\n");
    assert!(running, "serve stopped:\n{seen}");
    assert!(seen.contains("listening on"), "{seen}");
    assert!(
        seen.contains("cannot read the organization, going on with the 0 hand-listed accounts"),
        "{seen}"
    );
}
