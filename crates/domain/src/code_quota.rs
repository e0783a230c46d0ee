//! Quotas on sending confirmation codes by SMS (inCust pages, the cabinet, Kupi-Kupi; Loymax
//! keeps its own, configurable per program). Every code sent counts for an hour on three keys:
//! the phone it goes to, the client address that asked for it, and the shop or platform it
//! goes out for. A request over any of them sends nothing and is refused in the protocol's own
//! words.

/// How long a sent code counts.
pub const WINDOW_MS: i64 = 3_600_000;

/// Where a code is asked for; each has its own quotas and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// inCust's `/app/redeem/` and `/app/earn/` pages, for a card without a spend password.
    IncustPage,
    /// The customer cabinet's sign-in code.
    Cabinet,
    /// A Kupi-Kupi transfer's code, texted at `init`.
    KupiKupi,
}

/// Codes one key may be sent or ask for within [`WINDOW_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeQuota {
    pub per_phone: i64,
    /// The client's address: the customer's browser for the pages and the cabinet, the shop's
    /// server for Kupi-Kupi.
    pub per_address: i64,
    /// The shop (inCust), the platform (Kupi-Kupi), the whole cabinet.
    pub per_sender: i64,
}

impl Surface {
    pub fn name(self) -> &'static str {
        match self {
            Surface::IncustPage => "incust",
            Surface::Cabinet => "cabinet",
            Surface::KupiKupi => "kupikupi",
        }
    }

    pub fn quota(self) -> CodeQuota {
        match self {
            // A page reopened while its code is valid sends none, so ten is ten orders.
            Surface::IncustPage => CodeQuota {
                per_phone: 10,
                per_address: 30,
                per_sender: 1_000,
            },
            Surface::Cabinet => CodeQuota {
                per_phone: 5,
                per_address: 20,
                per_sender: 2_000,
            },
            // The shop's server asks for every customer's code: its address is the platform's.
            Surface::KupiKupi => CodeQuota {
                per_phone: 5,
                per_address: 1_000,
                per_sender: 1_000,
            },
        }
    }
}

/// Codes counted within the window on each key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodesSent {
    pub by_phone: i64,
    pub by_address: i64,
    pub by_sender: i64,
}

/// The key whose quota is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Phone,
    Address,
    Sender,
}

/// Whether one more code may go out.
pub fn check(quota: CodeQuota, sent: CodesSent) -> Result<(), Exceeded> {
    if sent.by_phone >= quota.per_phone {
        return Err(Exceeded::Phone);
    }
    if sent.by_address >= quota.per_address {
        return Err(Exceeded::Address);
    }
    if sent.by_sender >= quota.per_sender {
        return Err(Exceeded::Sender);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_stops_at_its_quota() {
        let quota = Surface::Cabinet.quota();
        let sent = |by_phone, by_address, by_sender| CodesSent {
            by_phone,
            by_address,
            by_sender,
        };
        assert_eq!(check(quota, sent(4, 19, 1_999)), Ok(()));
        assert_eq!(check(quota, sent(5, 0, 0)), Err(Exceeded::Phone));
        assert_eq!(check(quota, sent(0, 20, 0)), Err(Exceeded::Address));
        assert_eq!(check(quota, sent(0, 0, 2_000)), Err(Exceeded::Sender));
    }
}
