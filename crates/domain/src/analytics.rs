//! Program analytics: how ledger operations count as points issued, redeemed, withdrawn,
//! expired or reversed, the ratios between those sums, what the outstanding points are worth in
//! money, percentiles, and the period compared with the one before it. The store sums; this
//! module says what the sums mean and rounds them (docs/analytics.md).

use crate::ledger::OperationKind;
use crate::money::Rounding;
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// Where an operation's points went, as analytics counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Earn and accrue: issuance → customer.
    Issued,
    /// Redeem: customer → merchant.
    Redeemed,
    /// Withdraw: customer → burn, by hand or a protocol's correction.
    Withdrawn,
    /// Expire: customer → burn at the end of the points' lifetime.
    Expired,
    /// A reversal, counted by the flow of the operation it reverses.
    Reversed(ReversedFlow),
}

/// What a reversal took back. Expiry and reversals are never reversed (`plan_reverse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReversedFlow {
    Issued,
    Redeemed,
    Withdrawn,
}

/// The flow of a confirmed operation of `kind`; `reversed_kind` is the kind of the operation a
/// reversal reverses. `None`: the operation moves no points analytics counts (a reversal of
/// something that may not be reversed, which the ledger never writes).
pub fn flow_of(kind: OperationKind, reversed_kind: Option<OperationKind>) -> Option<Flow> {
    Some(match kind {
        OperationKind::Earn | OperationKind::Accrue => Flow::Issued,
        OperationKind::Redeem => Flow::Redeemed,
        OperationKind::Withdraw => Flow::Withdrawn,
        OperationKind::Expire => Flow::Expired,
        // Points moved between two members: neither issued nor spent.
        OperationKind::Merge => return None,
        OperationKind::Reversal => Flow::Reversed(match reversed_kind? {
            OperationKind::Earn | OperationKind::Accrue => ReversedFlow::Issued,
            OperationKind::Redeem => ReversedFlow::Redeemed,
            OperationKind::Withdraw => ReversedFlow::Withdrawn,
            OperationKind::Expire | OperationKind::Reversal | OperationKind::Merge => return None,
        }),
    })
}

/// How a confirmed operation of `kind` (reversing `reversed_kind`) of `amount` points changed
/// its customer's balance: issued points add, spent, withdrawn and expired ones take away, and
/// a reversal undoes its original. `None` for a merge, which moves points between two customers
/// (the operation alone does not say which side a customer was on).
pub fn customer_change(
    kind: OperationKind,
    reversed_kind: Option<OperationKind>,
    amount: i64,
) -> Option<i64> {
    Some(match flow_of(kind, reversed_kind)? {
        Flow::Issued | Flow::Reversed(ReversedFlow::Redeemed | ReversedFlow::Withdrawn) => amount,
        Flow::Redeemed | Flow::Withdrawn | Flow::Expired | Flow::Reversed(ReversedFlow::Issued) => {
            -amount
        }
    })
}

/// Points moved in a period by flow, in the points' minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FlowTotals {
    pub issued: i64,
    pub redeemed: i64,
    pub withdrawn: i64,
    pub expired: i64,
    /// Every reversal: the sum of the three below.
    pub reversed: i64,
    /// Issued points taken back (a refunded purchase's earn).
    pub reversed_issued: i64,
    /// Redeemed points given back to the customer.
    pub reversed_redeemed: i64,
    /// Withdrawn points given back to the customer.
    pub reversed_withdrawn: i64,
}

impl FlowTotals {
    /// Adds `amount` of an operation of `kind` (reversing `reversed_kind`). Sums saturate: a
    /// program's points stay far below i64 (`MAX_BALANCE` per customer), so this never bites.
    pub fn add(&mut self, kind: OperationKind, reversed_kind: Option<OperationKind>, amount: i64) {
        let Some(flow) = flow_of(kind, reversed_kind) else {
            return;
        };
        let slot = match flow {
            Flow::Issued => &mut self.issued,
            Flow::Redeemed => &mut self.redeemed,
            Flow::Withdrawn => &mut self.withdrawn,
            Flow::Expired => &mut self.expired,
            Flow::Reversed(of) => {
                self.reversed = self.reversed.saturating_add(amount);
                match of {
                    ReversedFlow::Issued => &mut self.reversed_issued,
                    ReversedFlow::Redeemed => &mut self.reversed_redeemed,
                    ReversedFlow::Withdrawn => &mut self.reversed_withdrawn,
                }
            }
        };
        *slot = slot.saturating_add(amount);
    }

    /// Expired ÷ issued.
    pub fn breakage(&self) -> Option<Ratio> {
        Ratio::of(self.expired, self.issued)
    }

    /// Redeemed ÷ issued.
    pub fn redemption_rate(&self) -> Option<Ratio> {
        Ratio::of(self.redeemed, self.issued)
    }
}

/// A ratio in basis points (10 000 = 100 %), rounded half to even.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    pub bps: i64,
}

impl Ratio {
    pub const ROUNDING: Rounding = Rounding::HalfEven;

    /// `part ÷ whole`; `None` when `whole` is not positive (nothing to divide by).
    pub fn of(part: i64, whole: i64) -> Option<Ratio> {
        (whole > 0).then(|| Ratio {
            bps: saturate(Self::ROUNDING.divide(part as i128 * 10_000, whole as i128)),
        })
    }

    /// The percentage with two decimals: 1234 bps → "12.34".
    pub fn percent(&self) -> String {
        let sign = if self.bps < 0 { "-" } else { "" };
        let abs = self.bps.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// What one point is worth in money (`settings.point_value`): `money_minor` minor units of the
/// program's money for every `points_minor` minor units of points. A rational, so a point worth a
/// third of a kopeck is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointValue {
    pub money_minor: i64,
    pub points_minor: i64,
}

impl PointValue {
    pub const ROUNDING: Rounding = Rounding::HalfEven;

    /// The program's point value from its settings; `None` when unset.
    pub fn from_settings(settings: &serde_json::Value) -> Result<Option<PointValue>, DomainError> {
        let Some(value) = settings.get("point_value") else {
            return Ok(None);
        };
        let point_value: PointValue =
            serde_json::from_value(value.clone()).map_err(|e| DomainError::Invalid {
                field: "settings.point_value",
                reason: format!("{{\"money_minor\": integer, \"points_minor\": integer}}: {e}"),
            })?;
        if point_value.money_minor < 0 || point_value.points_minor <= 0 {
            return Err(DomainError::Invalid {
                field: "settings.point_value",
                reason: "money_minor must be 0 or more and points_minor more than 0".into(),
            });
        }
        Ok(Some(point_value))
    }

    /// `points` in money minor units, rounded half to even, saturating at i64.
    pub fn money(&self, points: i64) -> i64 {
        saturate(Self::ROUNDING.divide(
            points as i128 * self.money_minor as i128,
            self.points_minor as i128,
        ))
    }
}

fn saturate(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The nearest-rank percentile (`p` in percent, 1..=100) of `values`: the smallest value with at
/// least `p` % of the values at or below it. `None` for no values.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let p = p.clamp(1, 100) as usize;
    let rank = (p * values.len()).div_ceil(100);
    Some(values[rank.max(1) - 1])
}

/// A half-open period `[from, to)` in unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

/// The longest period analytics sums over: ten years.
pub const MAX_PERIOD_MS: i64 = 10 * 366 * 24 * 3_600_000;

impl Period {
    /// `[from, to)`, refused when empty, reversed or longer than [`MAX_PERIOD_MS`].
    pub fn new(from: i64, to: i64) -> Result<Period, DomainError> {
        if to <= from {
            return Err(DomainError::Invalid {
                field: "to",
                reason: "must be after from".into(),
            });
        }
        if to - from > MAX_PERIOD_MS {
            return Err(DomainError::Invalid {
                field: "from",
                reason: "the period may be ten years at most".into(),
            });
        }
        Ok(Period { from, to })
    }

    /// The period of equal length that ends where this one begins.
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
        }
    }
}

/// How long after a day ends its operations are taken as final: no write still running began
/// inside it (a write's operations carry the time it began), and clocks of processes sharing a
/// database agree within it.
pub const SETTLE_MS: i64 = 3_600_000;

/// A period cut at a program's day boundaries: its whole days that ended before a moment (kept
/// summed once, docs/analytics.md), and the rest, summed from the ledger when asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaySplit {
    pub days: Vec<Period>,
    pub live: Vec<Period>,
}

/// Cuts `period` at `boundaries` (the starts of days in the program's zone, ascending): the days
/// lying wholly inside it and ending by `settled_before`, and the parts before and after them.
pub fn split_days(period: Period, boundaries: &[i64], settled_before: i64) -> DaySplit {
    let end = period.to.min(settled_before);
    let days: Vec<Period> = boundaries
        .windows(2)
        .map(|w| Period {
            from: w[0],
            to: w[1],
        })
        .filter(|day| day.from >= period.from && day.to <= end)
        .collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return DaySplit {
            days,
            live: vec![period],
        };
    };
    let live = [
        Period {
            from: period.from,
            to: first.from,
        },
        Period {
            from: last.to,
            to: period.to,
        },
    ]
    .into_iter()
    .filter(|part| part.to > part.from)
    .collect();
    DaySplit { days, live }
}

/// How many days back closed days are kept ahead of any request (the analytics job): the
/// default period and the one before it (30 + 30 days), and a day either side.
pub const KEEP_AHEAD_DAYS: i64 = 62;

/// The closed `days` not among the `kept`, newest first: those a request is likeliest to need.
pub fn days_to_keep(days: &[Period], kept: &[Period]) -> Vec<Period> {
    days.iter()
        .rev()
        .filter(|day| !kept.contains(day))
        .copied()
        .collect()
}

/// Horizons, in days, of the points-expiring figures.
pub const EXPIRY_HORIZON_DAYS: [i64; 3] = [30, 60, 90];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_to_keep_are_the_unkept_newest_first() {
        let day = |d: i64| Period {
            from: d * 10,
            to: d * 10 + 10,
        };
        let days: Vec<Period> = (0..4).map(day).collect();
        assert_eq!(days_to_keep(&days, &[day(1), day(3)]), [day(2), day(0)]);
        assert!(days_to_keep(&days, &days).is_empty());
        // A day kept in another time zone (other bounds) is not this one.
        let shifted = Period { from: 20, to: 29 };
        assert_eq!(days_to_keep(&days[2..3], &[shifted]), [day(2)]);
    }

    #[test]
    fn an_operation_changes_its_customers_balance_by_its_flow() {
        use OperationKind::*;
        assert_eq!(customer_change(Earn, None, 5), Some(5));
        assert_eq!(customer_change(Accrue, None, 5), Some(5));
        assert_eq!(customer_change(Redeem, None, 5), Some(-5));
        assert_eq!(customer_change(Withdraw, None, 5), Some(-5));
        assert_eq!(customer_change(Expire, None, 5), Some(-5));
        assert_eq!(customer_change(Reversal, Some(Earn), 5), Some(-5));
        assert_eq!(customer_change(Reversal, Some(Redeem), 5), Some(5));
        assert_eq!(customer_change(Merge, None, 5), None);
    }

    #[test]
    fn periods_split_into_settled_days_and_live_parts() {
        let day = 86_400_000;
        let boundaries: Vec<i64> = (0..6).map(|d| d * day).collect();
        let period = Period {
            from: day / 2,
            to: 4 * day + 5,
        };
        let split = split_days(period, &boundaries, 3 * day + 1);
        assert_eq!(
            split.days,
            [
                Period {
                    from: day,
                    to: 2 * day
                },
                Period {
                    from: 2 * day,
                    to: 3 * day
                }
            ]
        );
        assert_eq!(
            split.live,
            [
                Period {
                    from: day / 2,
                    to: day
                },
                Period {
                    from: 3 * day,
                    to: 4 * day + 5
                }
            ]
        );
        // Nothing settled: all of it live; aligned on days: nothing live.
        assert_eq!(split_days(period, &boundaries, 0).live, [period]);
        let whole = Period {
            from: 0,
            to: 2 * day,
        };
        let split = split_days(whole, &boundaries, 5 * day);
        assert_eq!(split.days.len(), 2);
        assert!(split.live.is_empty());
    }
    use serde_json::json;

    #[test]
    fn flows_follow_the_kind_and_a_reversal_what_it_reverses() {
        use OperationKind::*;
        assert_eq!(flow_of(Earn, None), Some(Flow::Issued));
        assert_eq!(flow_of(Accrue, None), Some(Flow::Issued));
        assert_eq!(flow_of(Redeem, None), Some(Flow::Redeemed));
        assert_eq!(flow_of(Withdraw, None), Some(Flow::Withdrawn));
        assert_eq!(flow_of(Expire, None), Some(Flow::Expired));
        assert_eq!(
            flow_of(Reversal, Some(Earn)),
            Some(Flow::Reversed(ReversedFlow::Issued))
        );
        assert_eq!(
            flow_of(Reversal, Some(Redeem)),
            Some(Flow::Reversed(ReversedFlow::Redeemed))
        );
        assert_eq!(flow_of(Reversal, Some(Expire)), None);
        assert_eq!(flow_of(Reversal, None), None);

        let mut totals = FlowTotals::default();
        totals.add(Earn, None, 1000);
        totals.add(Accrue, None, 500);
        totals.add(Redeem, None, 300);
        totals.add(Reversal, Some(Earn), 100);
        totals.add(Reversal, Some(Redeem), 50);
        totals.add(Expire, None, 150);
        assert_eq!(totals.issued, 1500);
        assert_eq!(totals.reversed, 150);
        assert_eq!(totals.reversed_issued, 100);
        assert_eq!(totals.reversed_redeemed, 50);
        assert_eq!(totals.breakage(), Some(Ratio { bps: 1000 }));
        assert_eq!(totals.redemption_rate(), Some(Ratio { bps: 2000 }));
    }

    #[test]
    fn ratios_round_half_to_even_and_print_as_percent() {
        assert_eq!(Ratio::of(1, 0), None);
        // 1/20000 = 0.5 bps → 0; 3/20000 = 1.5 bps → 2.
        assert_eq!(Ratio::of(1, 20_000).unwrap().bps, 0);
        assert_eq!(Ratio::of(3, 20_000).unwrap().bps, 2);
        assert_eq!(Ratio::of(1, 3).unwrap().bps, 3333);
        assert_eq!(Ratio::of(2, 3).unwrap().percent(), "66.67");
        assert_eq!(Ratio::of(5, 1000).unwrap().percent(), "0.50");
        assert_eq!(Ratio::of(3, 2).unwrap().percent(), "150.00");
        assert_eq!(Ratio::of(i64::MAX, 1).unwrap().bps, i64::MAX);
    }

    #[test]
    fn point_value_is_a_rational_rounded_half_to_even() {
        let third = PointValue::from_settings(
            &json!({"point_value": {"money_minor": 1, "points_minor": 3}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(third.money(3), 1);
        assert_eq!(third.money(4), 1);
        assert_eq!(third.money(5), 2);
        let half = PointValue {
            money_minor: 1,
            points_minor: 2,
        };
        assert_eq!(half.money(1), 0);
        assert_eq!(half.money(3), 2);
        assert_eq!(PointValue::from_settings(&json!({})).unwrap(), None);
        for bad in [
            json!({"point_value": {"money_minor": 1, "points_minor": 0}}),
            json!({"point_value": {"money_minor": -1, "points_minor": 1}}),
            json!({"point_value": {"money_minor": "1", "points_minor": 1}}),
            json!({"point_value": 1}),
        ] {
            assert!(PointValue::from_settings(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percentile(&mut [7], 90), Some(7));
        let mut values = [15, 20, 35, 40, 50];
        assert_eq!(percentile(&mut values, 50), Some(35));
        assert_eq!(percentile(&mut values, 90), Some(50));
        assert_eq!(percentile(&mut values, 40), Some(20));
        let mut ten: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut ten, 50), Some(5));
        assert_eq!(percentile(&mut ten, 90), Some(9));
        assert_eq!(percentile(&mut ten, 100), Some(10));
    }

    #[test]
    fn previous_period_has_equal_length_and_ends_where_it_begins() {
        let period = Period::new(1_000, 4_000).unwrap();
        assert_eq!(
            period.previous(),
            Period {
                from: -2_000,
                to: 1_000
            }
        );
        assert!(Period::new(5, 5).is_err());
        assert!(Period::new(6, 5).is_err());
        assert!(Period::new(0, MAX_PERIOD_MS + 1).is_err());
    }
}
