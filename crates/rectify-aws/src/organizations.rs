//! The member accounts of an AWS organization, read with rectify's own
//! credentials (the management account, or a delegated administrator):
//! the OU tree walked from the roots, accounts kept or dropped by OU and by
//! id, each account's owner from a tag or its security contact.

use std::collections::VecDeque;

use aws_sdk_account::types::AlternateContactType;
use aws_sdk_organizations::types::AccountState;
use rectify_model::{ActionError, ErrorClass};

use crate::errors::sdk_error_on;
use crate::Aws;

/// AWS allows five levels of OUs under a root; a deeper tree is not walked.
const MAX_OU_DEPTH: usize = 5;
/// Accounts read at most in one listing (AWS's hard quota is 10,000 for most
/// organizations); past it the listing fails instead of growing unbounded.
pub const MAX_ACCOUNTS: usize = 10_000;

/// Which accounts to take, and where their owner comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationQuery {
    /// Only accounts under one of these OUs (or roots), at any depth; empty:
    /// every account.
    pub include_ous: Vec<String>,
    /// No account under one of these OUs, at any depth (wins over include).
    pub exclude_ous: Vec<String>,
    /// Only these account ids; empty: any.
    pub include_accounts: Vec<String>,
    /// Never these account ids (wins over include).
    pub exclude_accounts: Vec<String>,
    /// The account tag whose value is the owner.
    pub owner_tag: Option<String>,
    /// Without the tag, the account's SECURITY alternate contact's email.
    pub owner_from_security_contact: bool,
}

/// Where a member account's owner was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerSource {
    /// The account tag with this key.
    Tag(String),
    /// The SECURITY alternate contact.
    SecurityContact,
}

impl std::fmt::Display for OwnerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnerSource::Tag(key) => write!(f, "tag {key}"),
            OwnerSource::SecurityContact => f.write_str("security contact"),
        }
    }
}

/// One active member account that the query keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccount {
    pub id: String,
    pub name: Option<String>,
    /// The OU ids from the root down to the account's parent, the root first.
    pub path: Vec<String>,
    pub owner: Option<(String, OwnerSource)>,
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub accounts: Vec<MemberAccount>,
    /// Accounts left out because they are not active (suspended, closing).
    pub inactive: Vec<String>,
    /// Things worth telling that did not stop the listing (a contact that
    /// could not be read).
    pub notes: Vec<String>,
}

/// Lists the organization's active accounts that `query` keeps.
pub async fn member_accounts(aws: &Aws, query: &OrganizationQuery) -> Result<Listing, ActionError> {
    aws.check_own_credentials().await?;
    let config = aws.own_config(&aws.settings().region);
    let org = aws_sdk_organizations::Client::new(&config);
    let mut listing = Listing::default();
    // (parent id, path from the root down to and with the parent)
    let mut parents: VecDeque<(String, Vec<String>)> = VecDeque::new();
    let mut token = None;
    loop {
        let out = org
            .list_roots()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_error_on("organizations:ListRoots", "the organization", e))?;
        for root in out.roots() {
            if let Some(id) = root.id() {
                parents.push_back((id.to_string(), vec![id.to_string()]));
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut kept = Vec::new();
    while let Some((parent, path)) = parents.pop_front() {
        if query.exclude_ous.contains(&parent) {
            continue;
        }
        let mut token = None;
        loop {
            let out = org
                .list_accounts_for_parent()
                .parent_id(&parent)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error_on("organizations:ListAccountsForParent", &parent, e))?;
            for account in out.accounts() {
                let Some(id) = account.id() else { continue };
                if kept.len() + listing.inactive.len() >= MAX_ACCOUNTS {
                    return Err(ActionError::new(
                        ErrorClass::Invalid,
                        format!("the organization lists more than {MAX_ACCOUNTS} accounts; narrow it with organizational_units or accounts"),
                    ));
                }
                if !wanted(query, id, &path) {
                    continue;
                }
                // An account without a state (an older API) is taken as active.
                let active = account.state().is_none_or(|s| *s == AccountState::Active);
                if !active {
                    listing.inactive.push(id.to_string());
                    continue;
                }
                kept.push(MemberAccount {
                    id: id.to_string(),
                    name: account.name().map(str::to_string),
                    path: path.clone(),
                    owner: None,
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if path.len() > MAX_OU_DEPTH {
            continue;
        }
        let mut token = None;
        loop {
            let out = org
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    sdk_error_on("organizations:ListOrganizationalUnitsForParent", &parent, e)
                })?;
            for ou in out.organizational_units() {
                if let Some(id) = ou.id() {
                    let mut below = path.clone();
                    below.push(id.to_string());
                    parents.push_back((id.to_string(), below));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    let account_api = aws_sdk_account::Client::new(&config);
    // The account API refuses a caller's own id as AccountId: the management
    // account (or a delegated administrator) reads its own contact in
    // standalone form, without the parameter.
    let own_account = if query.owner_from_security_contact {
        Some(aws.own_account().await?)
    } else {
        None
    };
    for member in &mut kept {
        let standalone = own_account.as_deref() == Some(member.id.as_str());
        member.owner = owner(
            &org,
            &account_api,
            query,
            &member.id,
            standalone,
            &mut listing.notes,
        )
        .await?;
    }
    listing.accounts = kept;
    Ok(listing)
}

/// Whether the query keeps account `id` under the OUs of `path`.
pub fn wanted(query: &OrganizationQuery, id: &str, path: &[String]) -> bool {
    let under = |ous: &[String]| path.iter().any(|p| ous.contains(p));
    (query.include_ous.is_empty() || under(&query.include_ous))
        && !under(&query.exclude_ous)
        && (query.include_accounts.is_empty() || query.include_accounts.iter().any(|a| a == id))
        && !query.exclude_accounts.iter().any(|a| a == id)
}

/// The account's owner: the tag's value, else (when asked) the email of its
/// SECURITY alternate contact. A contact that cannot be read is noted and
/// left out; a tag that cannot be read fails the listing.
async fn owner(
    org: &aws_sdk_organizations::Client,
    account_api: &aws_sdk_account::Client,
    query: &OrganizationQuery,
    id: &str,
    standalone: bool,
    notes: &mut Vec<String>,
) -> Result<Option<(String, OwnerSource)>, ActionError> {
    if let Some(key) = &query.owner_tag {
        let mut token = None;
        loop {
            let out = org
                .list_tags_for_resource()
                .resource_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error_on("organizations:ListTagsForResource", id, e))?;
            if let Some(tag) = out
                .tags()
                .iter()
                .find(|t| t.key() == key && !t.value().trim().is_empty())
            {
                return Ok(Some((
                    tag.value().trim().to_string(),
                    OwnerSource::Tag(key.clone()),
                )));
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    if !query.owner_from_security_contact {
        return Ok(None);
    }
    let contact = account_api
        .get_alternate_contact()
        .set_account_id((!standalone).then(|| id.to_string()))
        .alternate_contact_type(AlternateContactType::Security)
        .send()
        .await;
    match contact {
        Ok(out) => Ok(out
            .alternate_contact()
            .and_then(|c| c.email_address())
            .map(|email| (email.to_string(), OwnerSource::SecurityContact))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => {
            let err = sdk_error_on("account:GetAlternateContact", id, e);
            notes.push(format!(
                "account {id}: no owner from its security contact: {}",
                err.message
            ));
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exclusion_wins_and_includes_reach_nested_ous() {
        let path = ids(&["r-ab12", "ou-ab12-11111111", "ou-ab12-22222222"]);
        let mut q = OrganizationQuery::default();
        assert!(wanted(&q, "111122223333", &path));
        q.include_ous = ids(&["ou-ab12-11111111"]);
        assert!(wanted(&q, "111122223333", &path));
        assert!(!wanted(&q, "111122223333", &ids(&["r-ab12"])));
        q.exclude_ous = ids(&["ou-ab12-22222222"]);
        assert!(!wanted(&q, "111122223333", &path));
        q.exclude_ous.clear();
        q.include_accounts = ids(&["444455556666"]);
        assert!(!wanted(&q, "111122223333", &path));
        assert!(wanted(&q, "444455556666", &path));
        q.exclude_accounts = ids(&["444455556666"]);
        assert!(!wanted(&q, "444455556666", &path));
    }
}
