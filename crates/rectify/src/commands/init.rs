//! `rectify init`: a starter config, never over an existing file.

use std::io::Write;
use std::path::Path;

/// The starter config: the built-in rule pack, approval before any change,
/// no account yet (rectify acts in none until some are named).
pub const STARTER: &str = "\
# rectify configuration (see the README, section Configuration).
store: sqlite://rectify.db
default_mode: approve        # every fix waits for `rectify jobs approve`
packs: [aws-foundational]
aws:
  region: us-east-1
  # profile: security        # an AWS profile of ~/.aws/config (keys, a role, credential_process)
audit:
  key: none                  # set key_env, key_file or kms_key_id to key the audit log
accounts: []
# accounts:
#   list:
#     - id: \"111122223333\"
#       role_arn: arn:aws:iam::111122223333:role/rectify-remediation
#       external_id: none
#   from_organizations:
#     role_arn: arn:aws:iam::{account}:role/rectify-remediation
#     external_id: none
";

pub fn run(path: &Path) -> anyhow::Result<u8> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {} exists; not overwritten", path.display());
            return Ok(2);
        }
        Err(e) => {
            eprintln!("error: cannot create {}: {e}", path.display());
            return Ok(2);
        }
    };
    file.write_all(STARTER.as_bytes())?;
    eprintln!(
        "rectify: wrote {}; name your accounts in it, then run `rectify validate`",
        path.display()
    );
    Ok(0)
}
