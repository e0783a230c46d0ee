//! Money and points: i64 minor units, exact decimal parsing, explicit rounding.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The largest magnitude any single amount may have (10^15 minor units): sums of many such
/// amounts still fit in i64, and it is far above any real cheque.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The most a member account may hold (10^18 minor units), short of i64's limit, so no sum a
/// store computes overflows (SQLite would silently turn it into a float).
pub const MAX_BALANCE: i64 = 1_000 * MAX_AMOUNT;

/// An amount in minor units of some currency (kopecks, cents, hundredths of a point).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_add(other.0)
            .filter(|v| v.abs() <= MAX_AMOUNT)
            .map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_sub(other.0)
            .filter(|v| v.abs() <= MAX_AMOUNT)
            .map(Amount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotANumber,
    #[error("more than {0} decimal places")]
    TooPrecise(u8),
    #[error("amount is too large")]
    TooLarge,
    #[error("amount must not be negative")]
    Negative,
}

/// Parses a decimal string ("211.25", "76.5", "-3", "0.10") into minor units with `decimals`
/// places, exactly. More places than `decimals` is an error unless the extra digits are zeros.
/// Exponents, spaces, leading '+' and empty parts ("1.", ".5") are refused.
pub fn parse_decimal(text: &str, decimals: u8) -> Result<Amount, MoneyError> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(MoneyError::NotANumber);
    }
    let frac = frac_part.unwrap_or("");
    let significant = frac.trim_end_matches('0');
    if significant.len() > decimals as usize {
        return Err(MoneyError::TooPrecise(decimals));
    }
    let int_digits = int_part.trim_start_matches('0');
    if int_digits.len() > 18 {
        return Err(MoneyError::TooLarge);
    }
    let mut value: i128 = if int_digits.is_empty() {
        0
    } else {
        int_digits
            .parse::<i128>()
            .map_err(|_| MoneyError::TooLarge)?
    };
    for i in 0..decimals as usize {
        let digit = significant
            .as_bytes()
            .get(i)
            .map_or(0, |b| (b - b'0') as i128);
        value = value * 10 + digit;
    }
    if value > MAX_AMOUNT as i128 {
        return Err(MoneyError::TooLarge);
    }
    let value = value as i64;
    Ok(Amount(if negative { -value } else { value }))
}

/// Like [`parse_decimal`] but refuses negative values.
pub fn parse_non_negative(text: &str, decimals: u8) -> Result<Amount, MoneyError> {
    let amount = parse_decimal(text, decimals)?;
    if amount.0 < 0 {
        return Err(MoneyError::Negative);
    }
    Ok(amount)
}

/// Formats minor units with exactly `decimals` places: (21125, 2) → "211.25", (-50, 2) → "-0.50".
pub fn format_decimal(amount: Amount, decimals: u8) -> String {
    let value = amount.0;
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(decimals as u32);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// Formats with trailing fractional zeros removed ("76.5", "100", "38.25"), the way JSON
/// numbers are written by Loymax.
pub fn format_decimal_trimmed(amount: Amount, decimals: u8) -> String {
    let full = format_decimal(amount, decimals);
    if decimals == 0 {
        return full;
    }
    full.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How a computed amount (a percentage, a proportional share) is brought to whole minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Half away from zero: 0.5 → 1.
    #[default]
    HalfUp,
    /// Half to even (banker's rounding): 0.5 → 0, 1.5 → 2.
    HalfEven,
    /// Toward zero.
    Down,
    /// Away from zero.
    Up,
}

impl Rounding {
    /// Divides `numerator` by a positive `denominator` with this rounding.
    pub fn divide(self, numerator: i128, denominator: i128) -> i128 {
        assert!(denominator > 0, "denominator must be positive");
        let quotient = numerator / denominator;
        let remainder = numerator % denominator;
        if remainder == 0 {
            return quotient;
        }
        let away = if numerator < 0 { -1 } else { 1 };
        let twice = remainder.abs() * 2;
        match self {
            Rounding::Down => quotient,
            Rounding::Up => quotient + away,
            Rounding::HalfUp => {
                if twice >= denominator {
                    quotient + away
                } else {
                    quotient
                }
            }
            Rounding::HalfEven => {
                if twice > denominator || (twice == denominator && quotient % 2 != 0) {
                    quotient + away
                } else {
                    quotient
                }
            }
        }
    }
}

/// `amount × bps / 10 000`, rounded. Basis points: 2 000 = 20 %. A result beyond i64 saturates
/// (and is then refused as too large), never wraps.
pub fn apply_bps(amount: Amount, bps: u32, rounding: Rounding) -> Amount {
    Amount(saturate(
        rounding.divide(amount.0 as i128 * bps as i128, 10_000),
    ))
}

fn saturate(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Splits `total` over `weights` in proportion, by the largest-remainder method: the parts sum
/// exactly to `total`, each part is the floor share plus at most one unit, and ties go to the
/// earlier weight. All weights zero → everything on the first (or nothing if there is none).
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| (*w).max(0) as i128).sum();
    let mut parts = vec![0i64; weights.len()];
    if sum == 0 {
        parts[0] = total;
        return parts;
    }
    let sign: i128 = if total < 0 { -1 } else { 1 };
    let magnitude = (total as i128).abs();
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (i, w) in weights.iter().enumerate() {
        let w = (*w).max(0) as i128;
        let exact = magnitude * w;
        let floor = exact / sum;
        parts[i] = floor as i64;
        given += floor;
        remainders.push((exact % sum, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = magnitude - given;
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
        .into_iter()
        .map(|p| (p as i128 * sign) as i64)
        .collect()
}

/// Converts between two decimal scales of the same unit (money with 2 places → points with 0).
pub fn rescale(amount: Amount, from_decimals: u8, to_decimals: u8, rounding: Rounding) -> Amount {
    use std::cmp::Ordering;
    match from_decimals.cmp(&to_decimals) {
        Ordering::Equal => amount,
        Ordering::Less => Amount(saturate(
            amount.0 as i128 * 10i128.pow((to_decimals - from_decimals) as u32),
        )),
        Ordering::Greater => Amount(rounding.divide(
            amount.0 as i128,
            10i128.pow((from_decimals - to_decimals) as u32),
        ) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_decimal("211.25", 2), Ok(Amount(21125)));
        assert_eq!(parse_decimal("76.5", 2), Ok(Amount(7650)));
        assert_eq!(parse_decimal("76.50000", 2), Ok(Amount(7650)));
        assert_eq!(parse_decimal("0", 2), Ok(Amount(0)));
        assert_eq!(parse_decimal("-0.5", 2), Ok(Amount(-50)));
        assert_eq!(parse_decimal("100", 0), Ok(Amount(100)));
        assert_eq!(parse_decimal("0.001", 2), Err(MoneyError::TooPrecise(2)));
        assert_eq!(parse_decimal("1e3", 2), Err(MoneyError::NotANumber));
        assert_eq!(parse_decimal("1.", 2), Err(MoneyError::NotANumber));
        assert_eq!(parse_decimal(".5", 2), Err(MoneyError::NotANumber));
        assert_eq!(parse_decimal("+5", 2), Err(MoneyError::NotANumber));
        assert_eq!(parse_decimal("", 2), Err(MoneyError::NotANumber));
        assert_eq!(
            parse_decimal("99999999999999999999", 2),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(parse_non_negative("-1", 2), Err(MoneyError::Negative));
    }

    #[test]
    fn formats() {
        assert_eq!(format_decimal(Amount(21125), 2), "211.25");
        assert_eq!(format_decimal(Amount(-4225), 2), "-42.25");
        assert_eq!(format_decimal(Amount(-5), 2), "-0.05");
        assert_eq!(format_decimal_trimmed(Amount(7650), 2), "76.5");
        assert_eq!(format_decimal_trimmed(Amount(10000), 2), "100");
    }

    #[test]
    fn rounds_explicitly() {
        assert_eq!(
            apply_bps(Amount(21125), 2000, Rounding::HalfUp),
            Amount(4225)
        );
        assert_eq!(Rounding::HalfUp.divide(5, 10), 1);
        assert_eq!(Rounding::HalfEven.divide(5, 10), 0);
        assert_eq!(Rounding::HalfEven.divide(15, 10), 2);
        assert_eq!(Rounding::Down.divide(19, 10), 1);
        assert_eq!(Rounding::Up.divide(11, 10), 2);
        assert_eq!(Rounding::HalfUp.divide(-5, 10), -1);
    }

    #[test]
    fn huge_results_saturate_instead_of_wrapping() {
        let max = Amount(MAX_AMOUNT);
        assert_eq!(rescale(max, 0, 6, Rounding::HalfUp), Amount(i64::MAX));
        assert_eq!(
            rescale(Amount(-MAX_AMOUNT), 0, 6, Rounding::HalfUp),
            Amount(i64::MIN)
        );
        assert_eq!(
            apply_bps(Amount(i64::MAX), 1_000_000, Rounding::HalfUp),
            Amount(i64::MAX)
        );
        assert_eq!(rescale(Amount(12), 0, 2, Rounding::HalfUp), Amount(1200));
    }

    #[test]
    fn allocates_without_losing_a_kopeck() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(allocate(7, &[0, 0]), vec![7, 0]);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(v in -MAX_AMOUNT..=MAX_AMOUNT, d in 0u8..=4) {
            prop_assert_eq!(parse_decimal(&format_decimal(Amount(v), d), d), Ok(Amount(v)));
        }

        #[test]
        fn allocation_sums_to_total(total in -1_000_000_000i64..1_000_000_000, weights in proptest::collection::vec(0i64..1_000_000, 1..20)) {
            let parts = allocate(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            let sum: i128 = weights.iter().map(|w| *w as i128).sum();
            if sum > 0 {
                for (p, w) in parts.iter().zip(&weights) {
                    let exact = total as i128 * *w as i128;
                    let floor = exact.div_euclid(sum);
                    prop_assert!((*p as i128 - floor).abs() <= 1);
                }
            }
        }
    }
}
