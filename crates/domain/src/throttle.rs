//! Growing delays for wrong passwords and PINs. Nothing locks an account: a stranger who fails
//! a customer's secret on purpose slows down only the address he tries from; the account as a
//! whole is only ever held for a short moment before its check, never refused, so the owner
//! trying from another address signs in.
//!
//! Three counts of the wrong attempts within [`WINDOW_MS`] decide:
//! - **per address** (every account tried from one client address): past [`PER_ADDRESS`]'s
//!   free attempts the address waits a doubling delay after its last failure; attempts within
//!   it are refused unchecked;
//! - **per account and address**: the same, sooner ([`PER_ACCOUNT_ADDRESS`]);
//! - **per account** (every address): past [`PER_ACCOUNT`]'s free attempts each check of the
//!   account is held a doubling moment, at most [`PER_ACCOUNT`]'s cap, then made;
//! - **per shop** (every account tried at one shop, from any address: one PIN sprayed over
//!   many cards): the same kind of hold, later ([`PER_SHOP`]); never a refusal, so no stranger
//!   stops a shop's customers paying.

/// How long wrong attempts count.
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// A doubling delay: none for the first `free` failures, then `first_ms`, twice that, … up to
/// `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: i64,
    pub first_ms: i64,
    pub max_ms: i64,
}

impl Backoff {
    /// The delay after `failures` wrong attempts.
    pub fn delay_ms(&self, failures: i64) -> i64 {
        let beyond = failures - self.free;
        if beyond <= 0 {
            return 0;
        }
        let doublings = u32::try_from(beyond - 1).unwrap_or(u32::MAX).min(40);
        self.first_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_ms)
    }

    /// How long from `now` until the next attempt, given the failures and the last one's time.
    pub fn wait_ms(&self, failures: Failures, now: i64) -> i64 {
        match failures.last_at {
            Some(last) => (last + self.delay_ms(failures.count) - now).max(0),
            None => 0,
        }
    }
}

/// All the accounts tried from one address (a shared office or carrier address counts as one).
pub const PER_ADDRESS: Backoff = Backoff {
    free: 10,
    first_ms: 1_000,
    max_ms: 3_600_000,
};

/// One account tried from one address.
pub const PER_ACCOUNT_ADDRESS: Backoff = Backoff {
    free: 3,
    first_ms: 2_000,
    max_ms: 3_600_000,
};

/// One account tried from anywhere: a hold before the check, never a refusal.
pub const PER_ACCOUNT: Backoff = Backoff {
    free: 5,
    first_ms: 250,
    max_ms: 2_000,
};

/// Every account tried at one shop: a hold before the check, never a refusal.
pub const PER_SHOP: Backoff = Backoff {
    free: 20,
    first_ms: 250,
    max_ms: 2_000,
};

/// Wrong attempts within the window on one key, and when the last one was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub last_at: Option<i64>,
}

/// Which secret is tried (they are counted apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Password,
    Pin,
}

impl Secret {
    pub fn name(self) -> &'static str {
        match self {
            Secret::Password => "password",
            Secret::Pin => "pin",
        }
    }
}

/// The failures counted on each key of one attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every account from the client's address; `None` when the address is a shop's server,
    /// which speaks for every customer (a till's PIN).
    pub by_address: Option<Failures>,
    pub by_account_address: Failures,
    pub by_account: Failures,
    pub by_shop: Failures,
}

/// What to do with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the secret after holding the request this long.
    Check { hold_ms: i64 },
    /// Refuse without checking; the address may try again after this long.
    Wait { retry_after_ms: i64 },
}

/// Decides an attempt from the failures counted on its keys.
pub fn verdict(now: i64, counts: Counts) -> Verdict {
    let address_wait = counts
        .by_address
        .map_or(0, |failures| PER_ADDRESS.wait_ms(failures, now));
    let wait = address_wait.max(PER_ACCOUNT_ADDRESS.wait_ms(counts.by_account_address, now));
    if wait > 0 {
        return Verdict::Wait {
            retry_after_ms: wait,
        };
    }
    Verdict::Check {
        hold_ms: PER_ACCOUNT
            .delay_ms(counts.by_account.count)
            .max(PER_SHOP.delay_ms(counts.by_shop.count)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt from a client's own address.
    fn client(by_address: Failures, by_account_address: Failures, by_account: Failures) -> Counts {
        Counts {
            by_address: Some(by_address),
            by_account_address,
            by_account,
            by_shop: Failures::default(),
        }
    }

    fn failures(count: i64, last_at: i64) -> Failures {
        Failures {
            count,
            last_at: Some(last_at),
        }
    }

    #[test]
    fn delays_double_after_the_free_attempts_up_to_the_cap() {
        let b = PER_ACCOUNT_ADDRESS;
        let delays: Vec<i64> = (0..=6).map(|n| b.delay_ms(n)).collect();
        assert_eq!(delays, [0, 0, 0, 0, 2_000, 4_000, 8_000]);
        assert_eq!(b.delay_ms(1_000), b.max_ms);
        assert_eq!(b.delay_ms(i64::MAX), b.max_ms);
        assert_eq!(PER_ACCOUNT.delay_ms(100), 2_000);
    }

    #[test]
    fn an_address_past_its_free_attempts_waits_from_its_last_failure() {
        let none = Failures::default();
        let now = 1_000_000;
        // The fourth failure on this account from this address: two seconds.
        let v = verdict(now, client(none, failures(4, now - 500), none));
        assert_eq!(
            v,
            Verdict::Wait {
                retry_after_ms: 1_500
            }
        );
        let v = verdict(now, client(none, failures(4, now - 2_000), none));
        assert_eq!(v, Verdict::Check { hold_ms: 0 });
        // Eleven failures from the address, on any accounts.
        let v = verdict(now, client(failures(11, now), none, none));
        assert_eq!(
            v,
            Verdict::Wait {
                retry_after_ms: 1_000
            }
        );
    }

    #[test]
    fn an_account_failed_from_elsewhere_is_only_held_never_refused() {
        let none = Failures::default();
        let now = 5_000;
        for count in [6, 20, 10_000] {
            let v = verdict(now, client(none, none, failures(count, now)));
            assert!(
                matches!(v, Verdict::Check { hold_ms } if hold_ms <= 2_000),
                "{v:?}"
            );
        }
        assert_eq!(
            verdict(now, client(none, none, failures(5, now))),
            Verdict::Check { hold_ms: 0 }
        );
    }

    #[test]
    fn a_shops_server_counts_per_account_only() {
        let now = 5_000;
        let none = Failures::default();
        let relayed = |by_account_address| Counts {
            by_address: None,
            by_account_address,
            ..Counts::default()
        };
        assert_eq!(verdict(now, relayed(none)), Verdict::Check { hold_ms: 0 });
        assert_eq!(
            verdict(now, relayed(failures(4, now))),
            Verdict::Wait {
                retry_after_ms: 2_000
            }
        );
    }

    #[test]
    fn one_pin_sprayed_over_a_shops_cards_is_held_never_refused() {
        let now = 5_000;
        let sprayed = |count| Counts {
            by_shop: failures(count, now),
            ..client(
                Failures::default(),
                Failures::default(),
                Failures::default(),
            )
        };
        assert_eq!(verdict(now, sprayed(20)), Verdict::Check { hold_ms: 0 });
        assert_eq!(verdict(now, sprayed(21)), Verdict::Check { hold_ms: 250 });
        assert_eq!(
            verdict(now, sprayed(10_000)),
            Verdict::Check { hold_ms: 2_000 }
        );
    }
}
