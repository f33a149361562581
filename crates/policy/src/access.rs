//! The gates in front of every session: an active, unlocked, recently used account with
//! MFA, a current training certificate and the current policy acknowledged.
//!
//! Every boundary instant counts as passed: at exactly `locked_until` the lock is over; at
//! exactly the certificate's expiry it has expired; at exactly `last_activity +
//! idle_account_limit` the account is idle.

use crate::document::{PolicyDocument, words};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An account's state, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGate {
    /// False when an administrator disabled the account.
    pub account_active: bool,
    /// Set after too many failed logons.
    pub locked_until: Option<DateTime<Utc>>,
    pub mfa_enrolled: bool,
    /// Expiry of the user's ALPR training certificate; `None` when never trained.
    pub training_expires: Option<DateTime<Utc>>,
    /// Last sign-in or activity (the account's creation time if it never signed in).
    pub last_activity: DateTime<Utc>,
    /// Policy version the user last acknowledged; `None` when never.
    pub acknowledged_policy_version: Option<u32>,
}

/// Why access is refused: one variant per gate, in the order they are checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("this account is disabled; ask an administrator")]
    AccountDisabled,
    #[error("this account is locked after failed sign-ins until {until}")]
    Locked { until: DateTime<Utc> },
    #[error(
        "this account has not been used for {idle} (the limit is {limit}) and is disabled; ask an administrator to re-enable it"
    )]
    Idle { idle: String, limit: String },
    #[error("multi-factor authentication is not set up; enrol an authenticator first")]
    MfaNotEnrolled,
    #[error(
        "no ALPR training certificate is on record; complete the training and ask a program manager to record it"
    )]
    TrainingMissing,
    #[error("the ALPR training certificate expired on {expired}; renew the training")]
    TrainingExpired { expired: DateTime<Utc> },
    #[error("policy version {current} has not been acknowledged; read and acknowledge it")]
    PolicyNotAcknowledged {
        acknowledged: Option<u32>,
        current: u32,
    },
}

impl AccessGate {
    /// Checks every gate against `policy` at `now`; the first that fails is returned.
    pub fn check(&self, policy: &PolicyDocument, now: DateTime<Utc>) -> Result<(), AccessDenied> {
        if !self.account_active {
            return Err(AccessDenied::AccountDisabled);
        }
        if let Some(until) = self.locked_until
            && now < until
        {
            return Err(AccessDenied::Locked { until });
        }
        let idle = (now - self.last_activity).to_std().unwrap_or_default();
        if idle >= policy.idle_account_limit {
            return Err(AccessDenied::Idle {
                idle: words(std::time::Duration::from_secs(idle.as_secs())),
                limit: words(policy.idle_account_limit),
            });
        }
        if !self.mfa_enrolled {
            return Err(AccessDenied::MfaNotEnrolled);
        }
        match self.training_expires {
            None => return Err(AccessDenied::TrainingMissing),
            Some(expired) if now >= expired => {
                return Err(AccessDenied::TrainingExpired { expired });
            }
            Some(_) => {}
        }
        if self.acknowledged_policy_version != Some(policy.version) {
            return Err(AccessDenied::PolicyNotAcknowledged {
                acknowledged: self.acknowledged_policy_version,
                current: policy.version,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn gate() -> AccessGate {
        AccessGate {
            account_active: true,
            locked_until: None,
            mfa_enrolled: true,
            training_expires: Some(now() + Duration::days(100)),
            last_activity: now() - Duration::days(1),
            acknowledged_policy_version: Some(1),
        }
    }

    fn policy() -> PolicyDocument {
        PolicyDocument::default_for_new_agency()
    }

    #[test]
    fn an_account_in_order_passes() {
        gate().check(&policy(), now()).unwrap();
    }

    #[test]
    fn disabled_account() {
        let g = AccessGate {
            account_active: false,
            ..gate()
        };
        assert_eq!(
            g.check(&policy(), now()),
            Err(AccessDenied::AccountDisabled)
        );
    }

    #[test]
    fn lock_ends_exactly_at_locked_until() {
        let until = now() + Duration::milliseconds(1);
        let g = AccessGate {
            locked_until: Some(until),
            ..gate()
        };
        assert_eq!(
            g.check(&policy(), now()),
            Err(AccessDenied::Locked { until })
        );
        g.check(&policy(), until).unwrap();
        let past = AccessGate {
            locked_until: Some(now()),
            ..gate()
        };
        past.check(&policy(), now()).unwrap();
    }

    #[test]
    fn idle_limit_is_reached_exactly_at_the_limit() {
        // default idle limit: 90 days
        let almost = AccessGate {
            last_activity: now() - Duration::days(90) + Duration::milliseconds(1),
            ..gate()
        };
        almost.check(&policy(), now()).unwrap();
        let idle = AccessGate {
            last_activity: now() - Duration::days(90),
            ..gate()
        };
        assert_eq!(
            idle.check(&policy(), now()),
            Err(AccessDenied::Idle {
                idle: words(std::time::Duration::from_secs(90 * 86_400)),
                limit: words(std::time::Duration::from_secs(90 * 86_400)),
            })
        );
        // activity in the future (clock skew) is not idle
        let ahead = AccessGate {
            last_activity: now() + Duration::minutes(5),
            ..gate()
        };
        ahead.check(&policy(), now()).unwrap();
    }

    #[test]
    fn mfa_is_required() {
        let g = AccessGate {
            mfa_enrolled: false,
            ..gate()
        };
        assert_eq!(g.check(&policy(), now()), Err(AccessDenied::MfaNotEnrolled));
    }

    #[test]
    fn training_expires_exactly_at_its_expiry() {
        let missing = AccessGate {
            training_expires: None,
            ..gate()
        };
        assert_eq!(
            missing.check(&policy(), now()),
            Err(AccessDenied::TrainingMissing)
        );
        let expiry = now() + Duration::milliseconds(1);
        let g = AccessGate {
            training_expires: Some(expiry),
            ..gate()
        };
        g.check(&policy(), now()).unwrap();
        assert_eq!(
            g.check(&policy(), expiry),
            Err(AccessDenied::TrainingExpired { expired: expiry })
        );
    }

    #[test]
    fn the_current_policy_must_be_acknowledged() {
        let mut p = policy();
        p.version = 2;
        assert_eq!(
            gate().check(&p, now()),
            Err(AccessDenied::PolicyNotAcknowledged {
                acknowledged: Some(1),
                current: 2
            })
        );
        let never = AccessGate {
            acknowledged_policy_version: None,
            ..gate()
        };
        assert_eq!(
            never.check(&policy(), now()),
            Err(AccessDenied::PolicyNotAcknowledged {
                acknowledged: None,
                current: 1
            })
        );
    }

    #[test]
    fn gates_are_checked_in_order() {
        let everything_wrong = AccessGate {
            account_active: true,
            locked_until: Some(now() + Duration::minutes(10)),
            mfa_enrolled: false,
            training_expires: None,
            last_activity: now() - Duration::days(400),
            acknowledged_policy_version: None,
        };
        assert!(matches!(
            everything_wrong.check(&policy(), now()),
            Err(AccessDenied::Locked { .. })
        ));
        let unlocked = AccessGate {
            locked_until: None,
            ..everything_wrong
        };
        assert!(matches!(
            unlocked.check(&policy(), now()),
            Err(AccessDenied::Idle { .. })
        ));
    }
}
