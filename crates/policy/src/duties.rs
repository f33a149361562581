//! Separation of duties: nobody certifies or grants themselves, and the changes that open
//! plate data to a person need two people, one an administrator and one a program manager.
//!
//! One administrator alone must not reach plate search (by creating a program manager, by
//! resetting the credentials of someone who holds access and signing in as them), and one
//! program manager alone must not either (by granting themselves, or a colleague whose
//! account they control). So each such change is started by one role and approved by the
//! other, never by the same person and never by the person it is about.

use crate::roles::{Permission, Role};
use serde::{Deserialize, Serialize};

/// A change that needs a second person's approval before it takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DualControl {
    /// Grant a person access to plate data (a program manager starts it).
    GrantAccess,
    /// Give a person a role that exposes plate data or grants access (a program manager
    /// starts it).
    ChangeRole,
    /// Set a new password for a person who holds access or grants it (an administrator
    /// starts it).
    ResetPassword,
    /// Reset the authenticator of a person who holds access or grants it (an administrator
    /// starts it).
    ResetMfa,
    /// Create a program manager's account (an administrator starts it).
    CreateProgramManager,
}

impl DualControl {
    pub const ALL: [DualControl; 5] = [
        DualControl::GrantAccess,
        DualControl::ChangeRole,
        DualControl::ResetPassword,
        DualControl::ResetMfa,
        DualControl::CreateProgramManager,
    ];

    /// Stable code, as stored and in the API and audit log.
    pub fn code(self) -> &'static str {
        match self {
            DualControl::GrantAccess => "access.grant",
            DualControl::ChangeRole => "user.role",
            DualControl::ResetPassword => "user.password_reset",
            DualControl::ResetMfa => "user.mfa_reset",
            DualControl::CreateProgramManager => "user.create",
        }
    }

    pub fn from_code(code: &str) -> Option<DualControl> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The permission of the person who starts this change.
    pub fn started_with(self) -> Permission {
        match self {
            DualControl::GrantAccess | DualControl::ChangeRole => Permission::GrantAccess,
            DualControl::ResetPassword
            | DualControl::ResetMfa
            | DualControl::CreateProgramManager => Permission::ManageUsers,
        }
    }

    /// The permission of the second person, who approves it: the other of the two.
    pub fn approved_with(self) -> Permission {
        match self.started_with() {
            Permission::GrantAccess => Permission::ManageUsers,
            _ => Permission::GrantAccess,
        }
    }

    /// The role that approves, for messages.
    pub fn approver_title(self) -> &'static str {
        match self.approved_with() {
            Permission::GrantAccess => "a program manager",
            _ => "an administrator",
        }
    }
}

/// Why a change is refused under separation of duties.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DutyRefused {
    #[error(
        "nobody may record their own training, grant themselves access or change their own role; ask another program manager"
    )]
    OwnAccess,
    #[error("you started this request; {approver} other than you must approve it")]
    OwnRequest { approver: &'static str },
    #[error("this request is about you; {approver} other than you must approve it")]
    AboutYou { approver: &'static str },
    #[error("only {approver} may approve this request (your role is {role})")]
    WrongApprover {
        approver: &'static str,
        role: &'static str,
    },
    #[error("this request was already decided")]
    AlreadyDecided,
    #[error("this request expired unapproved; start it again")]
    Expired,
}

/// Whether a person who starts `_kind` about `target` may start it: never about themselves.
pub fn check_start(actor_id: i64, target_id: Option<i64>) -> Result<(), DutyRefused> {
    if target_id == Some(actor_id) {
        return Err(DutyRefused::OwnAccess);
    }
    Ok(())
}

/// Whether `approver` (with `approver_role`) may approve `kind`, started by `requester`
/// about `target`.
pub fn check_approval(
    kind: DualControl,
    requester: i64,
    target: Option<i64>,
    approver: i64,
    approver_role: Role,
) -> Result<(), DutyRefused> {
    let title = kind.approver_title();
    if approver == requester {
        return Err(DutyRefused::OwnRequest { approver: title });
    }
    if target == Some(approver) {
        return Err(DutyRefused::AboutYou { approver: title });
    }
    if !approver_role.allows(kind.approved_with()) {
        return Err(DutyRefused::WrongApprover {
            approver: title,
            role: approver_role.code(),
        });
    }
    Ok(())
}

/// Whether giving `role` to someone needs a second person: roles that expose plate data or
/// that grant access.
pub fn role_needs_second_person(role: Role) -> bool {
    role.allows(Permission::GrantAccess)
        || role.permissions().iter().any(|p| p.exposes_plate_data())
}

/// Whether resetting the password or authenticator of an account needs a second person:
/// the account holds access to plate data, or grants it.
pub fn credentials_need_second_person(role: Role, access_granted: bool) -> bool {
    role.allows(Permission::GrantAccess)
        || (access_granted && role.permissions().iter().any(|p| p.exposes_plate_data()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_is_started_by_one_role_and_approved_by_the_other() {
        for kind in DualControl::ALL {
            assert_ne!(kind.started_with(), kind.approved_with());
            let starters: Vec<Role> = Role::ALL
                .into_iter()
                .filter(|r| r.allows(kind.started_with()))
                .collect();
            let approvers: Vec<Role> = Role::ALL
                .into_iter()
                .filter(|r| r.allows(kind.approved_with()))
                .collect();
            assert!(starters.iter().all(|r| !approvers.contains(r)), "{kind:?}");
            assert_eq!(DualControl::from_code(kind.code()), Some(kind));
        }
    }

    #[test]
    fn nobody_approves_their_own_request_or_one_about_themselves() {
        let k = DualControl::GrantAccess;
        assert_eq!(
            check_approval(k, 1, Some(3), 1, Role::Administrator),
            Err(DutyRefused::OwnRequest {
                approver: "an administrator"
            })
        );
        assert!(matches!(
            check_approval(k, 1, Some(2), 2, Role::Administrator),
            Err(DutyRefused::AboutYou { .. })
        ));
        assert!(matches!(
            check_approval(k, 1, Some(3), 2, Role::ProgramManager),
            Err(DutyRefused::WrongApprover { .. })
        ));
        assert_eq!(
            check_approval(k, 1, Some(3), 2, Role::Administrator),
            Ok(())
        );
        assert_eq!(check_start(4, Some(4)), Err(DutyRefused::OwnAccess));
        assert_eq!(check_start(4, Some(5)), Ok(()));
    }

    #[test]
    fn which_roles_and_accounts_are_guarded() {
        assert!(role_needs_second_person(Role::Investigator));
        assert!(role_needs_second_person(Role::Officer));
        assert!(role_needs_second_person(Role::ProgramManager));
        assert!(!role_needs_second_person(Role::Auditor));
        assert!(!role_needs_second_person(Role::Administrator));
        assert!(credentials_need_second_person(Role::Investigator, true));
        assert!(!credentials_need_second_person(Role::Investigator, false));
        assert!(credentials_need_second_person(Role::ProgramManager, false));
        assert!(!credentials_need_second_person(Role::Auditor, true));
    }
}
