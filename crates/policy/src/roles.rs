//! Roles and the permission matrix: one table, least privilege.
//!
//! Auditors see usage, not plate data; only program managers grant access and set policy;
//! administrators run the system but do not search plates.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A job in the ALPR programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    ProgramManager,
    Supervisor,
    Investigator,
    Officer,
    Auditor,
}

/// One thing a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Search stored reads by plate, time and camera.
    SearchReads,
    /// Search hits (reads that matched a hot list).
    SearchHits,
    /// See plate and vehicle images of the reads and hits one may otherwise see.
    ViewImages,
    /// Export search results out of Candor.
    Export,
    /// Import and manage hot-list sources (NCIC extracts, state lists).
    ManageHotLists,
    /// Approve or reject hot plates entered by users.
    ApproveUserHotPlates,
    /// Enter a user hot plate (case number, reason, expiry), pending approval.
    EnterUserHotPlates,
    /// Record the verification and outcome of a hit.
    VerifyHits,
    /// Add, configure and retire cameras and their keys.
    ManageCameras,
    /// Create, disable and reset user accounts (not what they may access).
    ManageUsers,
    /// Assign roles to trained users.
    GrantAccess,
    /// Change the policy document (retention, purposes, limits).
    ManagePolicy,
    /// Read the audit log and verify the chain.
    ReadAudit,
    /// Review sampled and flagged queries.
    ReviewQueries,
    /// Manage sharing agreements with partner agencies.
    ManageSharing,
    /// See aggregate reports and metrics (no plate data).
    ViewReports,
    /// Receive live hit alerts.
    ViewAlerts,
}

use Permission as P;

/// The permission matrix, one row per role.
const MATRIX: &[(Role, &[Permission])] = &[
    (
        Role::Administrator,
        &[P::ManageCameras, P::ManageUsers, P::ViewReports],
    ),
    (
        Role::ProgramManager,
        &[
            P::ManageHotLists,
            P::GrantAccess,
            P::ManagePolicy,
            P::ReadAudit,
            P::ReviewQueries,
            P::ManageSharing,
            P::ViewReports,
        ],
    ),
    (
        Role::Supervisor,
        &[
            P::ApproveUserHotPlates,
            P::ReadAudit,
            P::ReviewQueries,
            P::ViewReports,
            P::ViewAlerts,
        ],
    ),
    (
        Role::Investigator,
        &[
            P::SearchReads,
            P::SearchHits,
            P::ViewImages,
            P::Export,
            P::EnterUserHotPlates,
            P::VerifyHits,
            P::ViewAlerts,
        ],
    ),
    (
        Role::Officer,
        &[
            P::ViewImages,
            P::EnterUserHotPlates,
            P::VerifyHits,
            P::ViewAlerts,
        ],
    ),
    (
        Role::Auditor,
        &[P::ReadAudit, P::ReviewQueries, P::ViewReports],
    ),
];

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Administrator,
        Role::ProgramManager,
        Role::Supervisor,
        Role::Investigator,
        Role::Officer,
        Role::Auditor,
    ];

    /// What this role may do.
    pub fn permissions(self) -> &'static [Permission] {
        MATRIX
            .iter()
            .find(|(role, _)| *role == self)
            .map_or(&[], |(_, permissions)| permissions)
    }

    /// Whether this role may do `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// Stable code, as stored and in the API (`program_manager`).
    pub fn code(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::ProgramManager => "program_manager",
            Role::Supervisor => "supervisor",
            Role::Investigator => "investigator",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
        }
    }

    /// Name for people (`Program manager`).
    pub fn label(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::ProgramManager => "Program manager",
            Role::Supervisor => "Supervisor",
            Role::Investigator => "Investigator",
            Role::Officer => "Officer",
            Role::Auditor => "Auditor",
        }
    }
}

impl Permission {
    pub const ALL: [Permission; 17] = [
        P::SearchReads,
        P::SearchHits,
        P::ViewImages,
        P::Export,
        P::ManageHotLists,
        P::ApproveUserHotPlates,
        P::EnterUserHotPlates,
        P::VerifyHits,
        P::ManageCameras,
        P::ManageUsers,
        P::GrantAccess,
        P::ManagePolicy,
        P::ReadAudit,
        P::ReviewQueries,
        P::ManageSharing,
        P::ViewReports,
        P::ViewAlerts,
    ];

    /// Stable code, as stored and in the API (`search_reads`).
    pub fn code(self) -> &'static str {
        match self {
            P::SearchReads => "search_reads",
            P::SearchHits => "search_hits",
            P::ViewImages => "view_images",
            P::Export => "export",
            P::ManageHotLists => "manage_hot_lists",
            P::ApproveUserHotPlates => "approve_user_hot_plates",
            P::EnterUserHotPlates => "enter_user_hot_plates",
            P::VerifyHits => "verify_hits",
            P::ManageCameras => "manage_cameras",
            P::ManageUsers => "manage_users",
            P::GrantAccess => "grant_access",
            P::ManagePolicy => "manage_policy",
            P::ReadAudit => "read_audit",
            P::ReviewQueries => "review_queries",
            P::ManageSharing => "manage_sharing",
            P::ViewReports => "view_reports",
            P::ViewAlerts => "view_alerts",
        }
    }

    /// Whether exercising this permission shows plates, images or hits (personal data),
    /// as opposed to usage, configuration or aggregates.
    pub fn exposes_plate_data(self) -> bool {
        matches!(
            self,
            P::SearchReads
                | P::SearchHits
                | P::ViewImages
                | P::Export
                | P::ManageHotLists
                | P::ApproveUserHotPlates
                | P::EnterUserHotPlates
                | P::VerifyHits
                | P::ViewAlerts
        )
    }
}

/// A code that names no role or permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}")]
pub struct UnknownCode {
    what: &'static str,
    given: String,
}

/// Finds the item of `all` whose code is `given`.
fn parse_code<T: Copy>(
    all: &[T],
    code: fn(T) -> &'static str,
    what: &'static str,
    given: &str,
) -> Result<T, UnknownCode> {
    all.iter()
        .copied()
        .find(|item| code(*item) == given)
        .ok_or_else(|| UnknownCode {
            what,
            given: given.to_string(),
        })
}

impl FromStr for Role {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_code(&Role::ALL, Role::code, "role", s)
    }
}

impl FromStr for Permission {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_code(&Permission::ALL, Permission::code, "permission", s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The matrix as a Markdown table: one row per permission, one column per role.
pub fn permission_matrix_markdown() -> String {
    let mut out = String::from("| Permission |");
    for role in Role::ALL {
        out.push_str(&format!(" {} |", role.label()));
    }
    out.push_str("\n|---|");
    out.push_str(&":---:|".repeat(Role::ALL.len()));
    out.push('\n');
    for permission in Permission::ALL {
        out.push_str(&format!("| `{}` |", permission.code()));
        for role in Role::ALL {
            out.push_str(if role.allows(permission) {
                " ✓ |"
            } else {
                "   |"
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holders(p: Permission) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.allows(p)).collect()
    }

    #[test]
    fn every_role_has_a_row_and_every_permission_a_holder() {
        assert_eq!(MATRIX.len(), Role::ALL.len());
        for role in Role::ALL {
            assert!(!role.permissions().is_empty(), "{role}");
        }
        for p in Permission::ALL {
            assert!(!holders(p).is_empty(), "nobody holds {p}");
        }
    }

    #[test]
    fn only_program_managers_grant_access_and_set_policy() {
        assert_eq!(holders(P::GrantAccess), [Role::ProgramManager]);
        assert_eq!(holders(P::ManagePolicy), [Role::ProgramManager]);
        assert_eq!(holders(P::ManageSharing), [Role::ProgramManager]);
    }

    #[test]
    fn auditors_see_usage_not_plate_data() {
        for p in Role::Auditor.permissions() {
            assert!(!p.exposes_plate_data(), "auditor has {p}");
        }
        assert!(Role::Auditor.allows(P::ReadAudit));
        assert!(Role::Auditor.allows(P::ReviewQueries));
    }

    #[test]
    fn administrators_run_the_system_but_do_not_search_plates() {
        for p in Role::Administrator.permissions() {
            assert!(!p.exposes_plate_data(), "administrator has {p}");
        }
        assert!(Role::Administrator.allows(P::ManageCameras));
        assert!(Role::Administrator.allows(P::ManageUsers));
        assert!(!Role::Administrator.allows(P::GrantAccess));
    }

    #[test]
    fn searching_is_for_investigators_only() {
        assert_eq!(holders(P::SearchReads), [Role::Investigator]);
        assert_eq!(holders(P::Export), [Role::Investigator]);
        assert!(!Role::Officer.allows(P::SearchReads));
        assert!(Role::Officer.allows(P::VerifyHits));
        // a user enters a hot plate; a supervisor, not the same role, approves it
        for r in holders(P::EnterUserHotPlates) {
            assert!(
                !r.allows(P::ApproveUserHotPlates),
                "{r} can approve its own"
            );
        }
    }

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.code().parse::<Role>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.code())
            );
        }
        for p in Permission::ALL {
            assert_eq!(p.code().parse::<Permission>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.code())
            );
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn architecture_doc_shows_the_current_matrix() {
        let doc = include_str!("../../../docs/architecture.md");
        assert!(
            doc.contains(&permission_matrix_markdown()),
            "docs/architecture.md is out of date; paste permission_matrix_markdown():\n{}",
            permission_matrix_markdown()
        );
    }
}
