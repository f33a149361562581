//! Who is calling: the signed-in person behind a request.
//!
//! Owned by the access helper, who implements sign-in and sessions here. Until then every
//! person-facing route answers 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

pub use candor_policy_shim::{Permission, Role};

/// Roles and permissions, until `candor_policy::{Role, Permission}` lands (then this module
/// becomes `pub use candor_policy::{Permission, Role};`).
mod candor_policy_shim {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role {
        Officer,
        Investigator,
        Supervisor,
        Auditor,
        ProgramManager,
        Administrator,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Permission {
        ReceiveAlerts,
        VerifyHits,
        EnterHotPlates,
        ApproveHotPlates,
        ManageHotLists,
        ManageCameras,
        ManageLegalHolds,
        RunPurge,
    }

    impl Role {
        pub fn allows(self, p: Permission) -> bool {
            use Permission::*;
            match self {
                Role::Officer => matches!(p, ReceiveAlerts | VerifyHits | EnterHotPlates),
                Role::Investigator => matches!(p, ReceiveAlerts | EnterHotPlates),
                Role::Supervisor => matches!(
                    p,
                    ReceiveAlerts | VerifyHits | EnterHotPlates | ApproveHotPlates
                ),
                Role::Auditor => false,
                Role::ProgramManager => matches!(
                    p,
                    ManageHotLists | ManageLegalHolds | RunPurge | ApproveHotPlates
                ),
                Role::Administrator => matches!(p, ManageCameras | ManageHotLists | RunPurge),
            }
        }
    }
}

/// The signed-in person making a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

impl Actor {
    /// Refuses with 403 unless the actor's role allows `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "forbidden",
                format!("your role does not allow {p:?}"),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Err(ApiError::unauthenticated(
            "sign in first: this route needs a signed-in user",
        ))
    }
}
