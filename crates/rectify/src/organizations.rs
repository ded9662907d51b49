//! `accounts.from_organizations`: the organization's accounts read with
//! rectify's own credentials and merged under the hand-listed ones, which
//! win. `rectify serve` reads them again every `refresh_seconds`; a failed
//! read keeps the last good list.

use rectify_aws::organizations::{member_accounts, MemberAccount, OrganizationQuery};
use rectify_aws::AccountAccess;
use rectify_config::{Account, FromOrganizations};
use rectify_model::ActionError;

use crate::context::Loaded;

/// What one read of the organization found.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// The accounts taken from the organization (hand-listed ids left out).
    pub members: Vec<MemberAccount>,
    /// Ids both listed by hand and found in the organization: the
    /// hand-listed entry won.
    pub overridden: Vec<String>,
    pub inactive: Vec<String>,
    pub notes: Vec<String>,
}

fn query(org: &FromOrganizations) -> OrganizationQuery {
    OrganizationQuery {
        include_ous: org.include_ous.clone(),
        exclude_ous: org.exclude_ous.clone(),
        include_accounts: org.include_accounts.clone(),
        exclude_accounts: org.exclude_accounts.clone(),
        owner_tag: org.owner_tag.clone(),
        owner_from_security_contact: org.owner_from_security_contact,
    }
}

/// Reads the organization and, when that worked, makes its accounts the
/// ones the engine and the AWS side look up after the hand-listed ones.
/// `Ok(None)`: the config reads no organization. On an error nothing is
/// replaced: the last good list stays.
pub async fn refresh(loaded: &Loaded) -> Result<Option<Refreshed>, ActionError> {
    let Some(org) = &loaded.config.from_organizations else {
        return Ok(None);
    };
    let listing = member_accounts(&loaded.aws, &query(org)).await?;
    let mut refreshed = Refreshed {
        inactive: listing.inactive,
        notes: listing.notes,
        ..Refreshed::default()
    };
    let mut accounts = Vec::new();
    let mut access = Vec::new();
    for member in listing.accounts {
        if loaded.config.accounts.iter().any(|a| a.id == member.id) {
            refreshed.overridden.push(member.id.clone());
            continue;
        }
        let role_arn = org.role_for(&member.id);
        accounts.push(Account {
            id: member.id.clone(),
            name: member.name.clone(),
            role_arn: Some(role_arn.clone()),
            external_id: org.external_id.clone(),
            owner: member.owner.as_ref().map(|(owner, _)| owner.clone()),
            regions: org.regions.clone(),
        });
        access.push(AccountAccess {
            id: member.id.clone(),
            role_arn: Some(role_arn),
            external_id: org.external_id.clone(),
        });
        refreshed.members.push(member);
    }
    loaded.config.discovered.set(accounts);
    loaded.aws.set_discovered_accounts(access);
    for id in &refreshed.overridden {
        refreshed.notes.push(format!(
            "account {id} is listed in the config and found in the organization: the config's entry wins"
        ));
    }
    Ok(Some(refreshed))
}

/// For the one-shot commands that run jobs: reads the organization once;
/// when it cannot be read, says why and goes on with the hand-listed
/// accounts (a job of another account is then skipped as not configured).
pub async fn load_once(loaded: &Loaded) {
    match refresh(loaded).await {
        Ok(Some(r)) => {
            for note in &r.notes {
                eprintln!("rectify: {note}");
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!(
            "rectify: warning: accounts.from_organizations: cannot read the organization, going on with the {} hand-listed accounts: {}",
            loaded.config.accounts.len(),
            e.message
        ),
    }
}

/// `rectify serve`: reads the organization every `refresh_seconds` until
/// `stop`; a failed read is logged with its reason and the last good list
/// kept.
pub async fn keep_fresh(loaded: Loaded, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(org) = loaded.config.from_organizations.clone() else {
        return;
    };
    let every = std::time::Duration::from_secs(org.refresh_seconds);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        log_refresh(&loaded, refresh(&loaded).await);
    }
}

/// Logs one refresh's result.
pub fn log_refresh(loaded: &Loaded, result: Result<Option<Refreshed>, ActionError>) {
    match result {
        Ok(Some(r)) => {
            tracing::info!(
                accounts = r.members.len(),
                inactive = r.inactive.len(),
                "read the accounts of the organization"
            );
            for note in &r.notes {
                tracing::info!("{note}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(
            kept = loaded.config.discovered.list().len(),
            "accounts.from_organizations: cannot read the organization, keeping the last list: {}",
            e.message
        ),
    }
}
