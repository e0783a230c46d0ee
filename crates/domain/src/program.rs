//! A loyalty program's rules: what a payment earns, how much of an order points may pay.

use crate::money::{apply_bps, rescale, Amount, Rounding};
use crate::phone::{Phone, Region};
use serde::{Deserialize, Serialize};

/// The settings of a program that every protocol reads. Stored as JSON with the program, so
/// protocol issues can add fields with defaults without a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ProgramRules {
    /// Code of the bonus currency ("BONUS").
    pub currency: String,
    /// Decimal places of the bonus currency.
    pub decimals: u8,
    /// Decimal places of the money the program's merchants take (kopecks: 2).
    pub money_decimals: u8,
    /// Points earned per money paid, in basis points (2 000 = 20 %).
    pub earn_bps: u32,
    /// The largest share of an order payable with points, in basis points (10 000 = all of it).
    pub max_redeem_bps: u32,
    /// How computed amounts are rounded.
    pub rounding: Rounding,
    /// How long earned points live, in days; `None`: they never expire.
    pub lifetime_days: Option<u32>,
    /// IANA time zone used for dates shown to customers and merchants.
    pub time_zone: String,
    /// Language of customer messages and pages ("ru", "en", "uk"). The protocols' texts and SMS
    /// templates are Russian or English: a Ukrainian program's are Russian (docs/pages.md).
    pub language: String,
    /// Whether an earn for an unknown phone enrols the customer.
    pub enrol_on_earn: bool,
    /// How long a hold made through the native API stays pending, in minutes, before it is
    /// voided and its points are spendable again; `None`: until it is confirmed or voided.
    /// (The protocols' own holds end with their purchases, transfers and pages.)
    pub hold_lifetime_minutes: Option<u32>,
    /// The region (ISO 3166-1 alpha-2, "UA") whose national spellings of phone numbers every
    /// protocol and the cabinet accept ("067 111 11 11"); `None`: the time zone's country
    /// (Europe/Kyiv: UA), and with a zone of no single country (UTC) only numbers written
    /// with their country code.
    pub phone_region: Option<String>,
}

impl Default for ProgramRules {
    fn default() -> Self {
        ProgramRules {
            currency: "BONUS".into(),
            decimals: 2,
            money_decimals: 2,
            earn_bps: 0,
            max_redeem_bps: 10_000,
            rounding: Rounding::HalfUp,
            lifetime_days: None,
            time_zone: "UTC".into(),
            language: "ru".into(),
            enrol_on_earn: true,
            hold_lifetime_minutes: None,
            phone_region: None,
        }
    }
}

pub const MS_PER_DAY: i64 = 86_400_000;
pub const MS_PER_MINUTE: i64 = 60_000;

impl ProgramRules {
    /// Points earned on `paid` money (only the part paid with money, never the points part).
    pub fn earn_for(&self, paid: Amount) -> Amount {
        let points_scale = rescale(paid, self.money_decimals, self.decimals, self.rounding);
        apply_bps(points_scale, self.earn_bps, self.rounding).max(Amount::ZERO)
    }

    /// The most points that may pay an order of `order` money, given what the customer can spend.
    pub fn max_redeemable(&self, order: Amount, spendable: Amount) -> Amount {
        let order_points = rescale(order, self.money_decimals, self.decimals, Rounding::Down);
        let cap = apply_bps(order_points, self.max_redeem_bps, Rounding::Down);
        cap.min(spendable).max(Amount::ZERO)
    }

    /// When points earned at `now_ms` expire.
    pub fn expiry_for(&self, now_ms: i64) -> Option<i64> {
        expiry_after(self.lifetime_days, now_ms)
    }

    /// Native holds made before this instant have outlived `hold_lifetime_minutes`.
    pub fn stale_hold_cutoff(&self, now_ms: i64) -> Option<i64> {
        self.hold_lifetime_minutes
            .map(|minutes| now_ms - minutes as i64 * MS_PER_MINUTE)
    }

    /// The region phone numbers are read in: [`ProgramRules::phone_region`], else the time
    /// zone's.
    pub fn phone_region(&self) -> Option<Region> {
        match &self.phone_region {
            Some(code) => Region::parse(code),
            None => Region::of_time_zone(&self.time_zone),
        }
    }

    /// Reads a phone number as this program's customers write it.
    pub fn parse_phone(&self, text: &str) -> Result<Phone, crate::DomainError> {
        Phone::parse_in(text, self.phone_region())
    }

    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(crate::DomainError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.currency.is_empty() || self.currency.len() > 16 {
            return invalid("currency", "must be 1 to 16 characters");
        }
        if self.decimals > 6 || self.money_decimals > 6 {
            return invalid("decimals", "at most 6 decimal places");
        }
        if self.earn_bps > 1_000_000 {
            return invalid("earn_bps", "at most 1 000 000 (100x)");
        }
        if self.max_redeem_bps > 10_000 {
            return invalid("max_redeem_bps", "at most 10 000 (100 %)");
        }
        if !matches!(self.language.as_str(), "ru" | "en" | "uk") {
            return invalid("language", "ru, en or uk");
        }
        if let Some(code) = &self.phone_region {
            if code.len() != 2 || Region::parse(code).is_none() {
                return invalid(
                    "phone_region",
                    "an ISO 3166-1 alpha-2 code with a numbering plan (UA, RU, KZ, DE, US…)",
                );
            }
        }
        if self.hold_lifetime_minutes == Some(0) {
            return invalid("hold_lifetime_minutes", "at least 1, or null for no limit");
        }
        Ok(())
    }
}

/// When points credited at `now_ms` expire under a lifetime of `days` (`None`: never).
pub fn expiry_after(days: Option<u32>, now_ms: i64) -> Option<i64> {
    days.map(|days| now_ms + days as i64 * MS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earn_is_a_share_of_money_paid() {
        let rules = ProgramRules {
            earn_bps: 2_000,
            ..Default::default()
        };
        assert_eq!(rules.earn_for(Amount(21125)), Amount(4225));
        assert_eq!(
            rules.max_redeemable(Amount(5000), Amount(100_000)),
            Amount(5000)
        );
        assert_eq!(rules.max_redeemable(Amount(5000), Amount(100)), Amount(100));
    }
}
