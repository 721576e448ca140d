//! Organization mode as pure rules: which ids and role names are valid, how a member account's role
//! ARN is derived from its id and the role name, and which accounts an organization listing adds to
//! the targets (every ACTIVE account but the home account and those already given an explicit role).

use crate::model::domain::{valid_account_id, MemberRole};

/// One account of the organization, as ListAccounts names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
}

/// `o-` followed by 10 to 32 lowercase letters or digits (Organizations' own pattern).
pub fn valid_organization_id(value: &str) -> bool {
    value.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// An IAM role name: 1 to 64 of `A-Z a-z 0-9 + = , . @ _ -` (IAM's pattern; a path is not part of
/// the name, and StackSets deploy the member role without one).
pub fn valid_role_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// The partition an ARN names (`aws`, `aws-cn`, `aws-us-gov`…).
pub fn partition(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.next())
        .flatten()
        .filter(|p| p.starts_with("aws"))
}

/// The member role of `account`: `arn:<partition>:iam::<account>:role/<name>`.
pub fn member_role(partition: &str, account: &str, name: &str) -> MemberRole {
    MemberRole {
        arn: format!("arn:{partition}:iam::{account}:role/{name}"),
        account_id: account.to_string(),
    }
}

/// The roles a listing adds: every listed account but `home` and those of `explicit` roles (their
/// own ARN wins), each with its derived role, in the listing's order, without repeats.
pub fn derived_roles(
    listed: &[OrgAccount],
    home: &str,
    explicit: &[MemberRole],
    partition: &str,
    name: &str,
) -> Vec<MemberRole> {
    let mut out: Vec<MemberRole> = Vec::with_capacity(listed.len());
    for a in listed {
        let known = a.id == home
            || explicit.iter().any(|r| r.account_id == a.id)
            || out.iter().any(|r| r.account_id == a.id);
        if !known && valid_account_id(&a.id) {
            out.push(member_role(partition, &a.id, name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(id: &str) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            name: format!("name-{id}"),
        }
    }

    #[test]
    fn organization_ids_follow_organizations_pattern() {
        assert!(valid_organization_id("o-a1b2c3d4e5"));
        assert!(valid_organization_id(&format!("o-{}", "a".repeat(32))));
        for bad in [
            "",
            "o-",
            "o-a1b2c3d4e",
            "o-A1B2C3D4E5",
            "r-a1b2c3d4e5",
            "o-a1b2c3d4e5 ",
        ] {
            assert!(!valid_organization_id(bad), "{bad:?}");
        }
        assert!(!valid_organization_id(&format!("o-{}", "a".repeat(33))));
    }

    #[test]
    fn role_names_follow_iam() {
        assert!(valid_role_name("cloud-unmap-reader"));
        assert!(valid_role_name("a+=,.@_-Z9"));
        for bad in ["", "path/name", "name with space", "ä"] {
            assert!(!valid_role_name(bad), "{bad:?}");
        }
        assert!(!valid_role_name(&"a".repeat(65)));
    }

    #[test]
    fn the_role_is_derived_in_the_organizations_partition() {
        assert_eq!(
            partition("arn:aws-cn:iam::111111111111:role/reader"),
            Some("aws-cn")
        );
        assert_eq!(partition("not-an-arn"), None);
        let r = member_role("aws-us-gov", "222222222222", "cloud-unmap-reader");
        assert_eq!(
            r.arn,
            "arn:aws-us-gov:iam::222222222222:role/cloud-unmap-reader"
        );
        assert_eq!(r.account_id, "222222222222");
    }

    #[test]
    fn a_listing_adds_every_account_but_home_and_explicit_ones() {
        let explicit = vec![MemberRole {
            arn: "arn:aws:iam::333333333333:role/custom".into(),
            account_id: "333333333333".into(),
        }];
        let listed = [
            acct("111111111111"),
            acct("222222222222"),
            acct("333333333333"),
            acct("222222222222"),
            acct("bad"),
            acct("444444444444"),
        ];
        let roles = derived_roles(&listed, "111111111111", &explicit, "aws", "reader");
        let arns: Vec<&str> = roles.iter().map(|r| r.arn.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:iam::222222222222:role/reader",
                "arn:aws:iam::444444444444:role/reader"
            ]
        );
    }
}
