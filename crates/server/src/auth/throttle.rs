//! Failed sign-ins: the lockout per account and source, and the throttles in front of it.
//! Every number of that defence lives here (but the bounds on what the store keeps per
//! account: `candor_store::lockouts`).
//!
//! | Counted per | Limit | Then |
//! |---|---|---|
//! | account and source address, in the database | [`MAX_FAILED_SIGN_INS`] failures in a row | the account refuses sign-ins from that address for [`LOCKOUT_MS`] (an administrator's unlock lifts it sooner); from other addresses it signs in as usual |
//! | source address, in memory | [`ADDRESS_LIMIT`] failures within [`WINDOW`] | sign-ins of any name from that address are refused (429) |
//! | claimed username, in memory | [`USERNAME_LIMIT`] failures within [`WINDOW`], at most [`MAX_FAILED_SIGN_INS`] of them from each address | sign-ins of that name from any address are refused (429) |
//!
//! A source address is counted by [`source_key`]: an IPv4 address itself, an IPv6 address by
//! its /64, which one client usually holds whole. The lockout is CJIS 5.5.3's,
//! kept per source so that a stranger who knows a name cannot lock its owner out; a guesser
//! spread over many addresses is slowed down instead, by the username throttle: a few
//! guesses per window for each name, wherever they come from.
//!
//! The numbers fit together (checked at compile time below): from one address the lock
//! comes first ([`MAX_FAILED_SIGN_INS`] < [`USERNAME_LIMIT`] < [`ADDRESS_LIMIT`]). Past it,
//! that address's tries get nowhere (the right password only learns that the account is
//! locked from there) and count against the address alone: at most [`MAX_FAILED_SIGN_INS`]
//! of one address's failures within [`WINDOW`] count for a name, so no one address can make
//! a name wait for everyone, which would be the account-wide lockout again. Making a name
//! wait takes failures from several addresses, and then slows guessing at that name from
//! all of them together to [`USERNAME_LIMIT`] tries per [`WINDOW`]. The price: one address
//! may try one name up to [`ADDRESS_LIMIT`] times per [`WINDOW`], its locked tries included.
//!
//! The throttles refuse before the password is checked or anything is recorded, until the
//! oldest counted failure leaves the window. Only failures count, so a station signing in
//! many officers from one address is not held back; a correct sign-in, or an
//! administrator's unlock, clears its username's count (not the address's, which a stranger
//! with one account could otherwise reset). They also cover names that are no account,
//! which is what a stranger filling the audit log would use. Their counts live in memory,
//! per server process, and at most [`MAX_KEYS`] keys per kind are tracked (the least
//! recently failing is forgotten first).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back failures count.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed sign-ins in a row from one source that lock an account from that source.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
/// How long a lock lasts (CJIS 5.5.3: 10 minutes).
pub const LOCKOUT_MS: i64 = 10 * 60 * 1000;
/// Failed sign-ins from one address within [`WINDOW`] before the address is refused.
pub const ADDRESS_LIMIT: usize = 20;
/// Failed sign-ins for one username within [`WINDOW`] before the username is refused (more
/// than the lockout's, which comes first from one address).
pub const USERNAME_LIMIT: usize = 10;
/// Keys tracked per kind; memory stays bounded whatever a stranger sends.
pub const MAX_KEYS: usize = 50_000;

// The promises of the module's map, checked when the numbers change.
const _: () = assert!((MAX_FAILED_SIGN_INS as usize) < USERNAME_LIMIT);
const _: () = assert!(USERNAME_LIMIT < ADDRESS_LIMIT);

/// What a refused sign-in was throttled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottledBy {
    Address,
    Username,
}

impl ThrottledBy {
    pub fn code(self) -> &'static str {
        match self {
            ThrottledBy::Address => "address",
            ThrottledBy::Username => "username",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            ThrottledBy::Address => "from this address",
            ThrottledBy::Username => "for this username",
        }
    }
}

/// A sign-in refused because of earlier failures, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many failed sign-ins {} recently: try again in {}",
    .by.phrase(),
    wait_text(.retry_after)
)]
pub struct Throttled {
    pub by: ThrottledBy,
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

fn wait_text(d: &Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

/// The failures counted per key of one kind.
#[derive(Debug)]
struct Failures {
    limit: usize,
    /// How many failures from one source count for one key within the window.
    per_source: usize,
    /// Per key, when each counted failure happened and a digest of its source's key.
    by_key: HashMap<String, VecDeque<(Instant, u64)>>,
}

impl Failures {
    fn new(limit: usize, per_source: usize) -> Self {
        Failures {
            limit,
            per_source,
            by_key: HashMap::new(),
        }
    }

    /// How long `key` stays refused, if it is.
    fn retry_after(&mut self, key: &str, now: Instant) -> Option<Duration> {
        let times = self.by_key.get_mut(key)?;
        forget_before(times, now);
        if times.len() < self.limit {
            return None;
        }
        // Refused until the oldest counted failure leaves the window.
        times
            .front()
            .map(|(t, _)| (*t + WINDOW).saturating_duration_since(now))
    }

    /// Counts a failure from `source` (a digest of its key), unless that source already has
    /// `per_source` counted within the window; true when it is the one that reaches the limit.
    fn record(&mut self, key: &str, source: u64, now: Instant) -> bool {
        if !self.by_key.contains_key(key) && self.by_key.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let times = self.by_key.entry(key.to_string()).or_default();
        forget_before(times, now);
        if times.iter().filter(|(_, s)| *s == source).count() >= self.per_source {
            return false;
        }
        times.push_back((now, source));
        // Older failures beyond the limit change nothing: keep memory per key bounded.
        while times.len() > self.limit {
            times.pop_front();
        }
        times.len() == self.limit
    }

    fn clear(&mut self, key: &str) {
        self.by_key.remove(key);
    }

    /// Drops keys with no failure in the window; if none, the one that failed least recently.
    fn make_room(&mut self, now: Instant) {
        self.by_key.retain(|_, times| {
            forget_before(times, now);
            !times.is_empty()
        });
        if self.by_key.len() >= MAX_KEYS {
            let stalest = self
                .by_key
                .iter()
                .min_by_key(|(_, times)| times.back().map(|(t, _)| *t))
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                self.by_key.remove(&k);
            }
        }
    }
}

fn forget_before(times: &mut VecDeque<(Instant, u64)>, now: Instant) {
    while times
        .front()
        .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

/// The key a source address is counted under, by the throttle and the lockout alike: an
/// IPv4 address itself, an IPv6 address by its /64; anything else (no address known)
/// bounded.
pub fn source_key(remote: &str) -> String {
    match remote.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => candor_audit::bounded(remote).into_owned(),
    }
}

/// A short digest of a source key, kept with each failure a name counts (collisions only
/// merge two sources' counts, which is stricter).
fn digest(source: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

/// The key a claimed username is counted under: as sign-in looks it up, bounded.
fn username_key(claimed: &str) -> String {
    candor_audit::bounded(&claimed.trim().to_lowercase()).into_owned()
}

/// Failed sign-ins per address and per username (one per server process).
#[derive(Debug)]
pub struct SignInThrottle {
    inner: Mutex<(Failures, Failures)>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle {
            inner: Mutex::new((
                Failures::new(ADDRESS_LIMIT, usize::MAX),
                // No one address reaches a name's limit alone: past the lockout's number,
                // its failures for the name count against the address only.
                Failures::new(USERNAME_LIMIT, MAX_FAILED_SIGN_INS as usize),
            )),
        }
    }
}

impl SignInThrottle {
    /// Refuses a sign-in from `remote` claiming `username` while either has too many recent
    /// failures (the address is checked first).
    pub fn check(&self, remote: &str, username: &str) -> Result<(), Throttled> {
        self.check_at(remote, username, Instant::now())
    }

    /// Counts a failed sign-in; returns what it throttled, when it is the failure that
    /// reached a limit (to be recorded once, rather than every refusal after it).
    pub fn failed(&self, remote: &str, username: &str) -> Vec<ThrottledBy> {
        self.failed_at(remote, username, Instant::now())
    }

    /// Forgets a username's failures (after a correct sign-in, or an administrator's unlock).
    pub fn clear_username(&self, username: &str) {
        self.lock().1.clear(&username_key(username));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Failures, Failures)> {
        // The counts stay usable even if a panic interrupted an update.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_at(&self, remote: &str, username: &str, now: Instant) -> Result<(), Throttled> {
        let mut g = self.lock();
        let (by_address, by_username) = &mut *g;
        if let Some(retry_after) = by_address.retry_after(&source_key(remote), now) {
            return Err(Throttled {
                by: ThrottledBy::Address,
                retry_after,
            });
        }
        if let Some(retry_after) = by_username.retry_after(&username_key(username), now) {
            return Err(Throttled {
                by: ThrottledBy::Username,
                retry_after,
            });
        }
        Ok(())
    }

    fn failed_at(&self, remote: &str, username: &str, now: Instant) -> Vec<ThrottledBy> {
        let mut g = self.lock();
        let (by_address, by_username) = &mut *g;
        let mut reached = Vec::new();
        let source = source_key(remote);
        if by_address.record(&source, 0, now) {
            reached.push(ThrottledBy::Address);
        }
        if by_username.record(&username_key(username), digest(&source), now) {
            reached.push(ThrottledBy::Username);
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_limit_until_the_oldest_failure_ages_out() {
        let t = SignInThrottle::default();
        let start = Instant::now();
        for i in 0..ADDRESS_LIMIT {
            t.check_at("10.0.0.1", &format!("guess{i}"), start).unwrap();
            let reached = t.failed_at("10.0.0.1", &format!("guess{i}"), start);
            assert_eq!(reached.is_empty(), i + 1 < ADDRESS_LIMIT);
        }
        let refused = t.check_at("10.0.0.1", "anyone", start).unwrap_err();
        assert_eq!(refused.by, ThrottledBy::Address);
        assert_eq!(refused.retry_after, WINDOW);
        assert_eq!(refused.retry_after_secs(), 15 * 60);
        assert_eq!(
            refused.to_string(),
            "too many failed sign-ins from this address recently: try again in 15 minutes"
        );
        // Other addresses are not affected; the window passing lets this one in again.
        t.check_at("10.0.0.2", "anyone", start).unwrap();
        t.check_at("10.0.0.1", "anyone", start + WINDOW).unwrap();
    }

    #[test]
    fn a_username_is_refused_from_any_address_and_cleared_by_a_correct_sign_in() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..USERNAME_LIMIT {
            t.failed_at(&format!("10.0.1.{i}"), " Ghost ", now);
        }
        let refused = t.check_at("10.0.2.1", "ghost", now).unwrap_err();
        assert_eq!(refused.by, ThrottledBy::Username);
        t.clear_username("GHOST");
        t.check_at("10.0.2.1", "ghost", now).unwrap();
    }

    #[test]
    fn one_address_alone_never_makes_a_name_wait() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        // One address failing for one name until the address itself is refused: the name
        // still signs in from elsewhere.
        for _ in 0..ADDRESS_LIMIT {
            t.check_at("10.0.0.1", "olga", now).unwrap();
            t.failed_at("10.0.0.1", "olga", now);
        }
        assert_eq!(
            t.check_at("10.0.0.1", "olga", now).unwrap_err().by,
            ThrottledBy::Address
        );
        t.check_at("10.0.0.2", "olga", now).unwrap();
        // Failures spread over addresses still reach the name's limit.
        let spread = USERNAME_LIMIT.div_ceil(MAX_FAILED_SIGN_INS as usize) - 1;
        for i in 0..spread {
            for _ in 0..MAX_FAILED_SIGN_INS {
                t.failed_at(&format!("10.0.1.{i}"), "olga", now);
            }
        }
        assert_eq!(
            t.check_at("10.0.0.2", "olga", now).unwrap_err().by,
            ThrottledBy::Username
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        assert_eq!(source_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(
            source_key("2001:db8:1:2:ffff::1"),
            source_key("2001:db8:1:2::9")
        );
        assert_eq!(source_key("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn memory_stays_bounded_whatever_is_claimed() {
        let mut f = Failures::new(USERNAME_LIMIT, usize::MAX);
        let now = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            f.record(&format!("name{i}"), 0, now);
        }
        assert_eq!(f.by_key.len(), MAX_KEYS);
        let huge = "x".repeat(1_000_000);
        assert!(username_key(&huge).len() < 400);
    }
}
