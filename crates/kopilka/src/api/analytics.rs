//! `GET /v1/programs/{id}/analytics`: a program's figures for a period beside the period before
//! it, summed from the ledger (docs/analytics.md).

use crate::http::{ApiError, ApiResult, Id, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Days, NaiveDate, TimeZone};
use kopilka_domain::analytics::{
    days_to_keep, percentile, split_days, DaySplit, FlowTotals, Period, PointValue, Ratio,
    KEEP_AHEAD_DAYS, SETTLE_MS,
};
use kopilka_domain::ecommpay::PaymentStatus;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::program::ProgramRules;
use kopilka_store::analytics::{DayFigures, LedgerSums, Outstanding, Voucher};
use kopilka_store::{SharedStore, StoreResult};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 24 * 3_600_000;
const DEFAULT_PERIOD_MS: i64 = 30 * DAY_MS;
/// The ECommPay code of a payment that timed out: for a voucher, that it expired.
const TIMED_OUT: &str = "20602";

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start of the period, included: RFC 3339 (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`,
    /// its start in the program's time zone). Default: 30 days before `to`.
    pub from: Option<String>,
    /// End of the period, excluded: RFC 3339, or a date, which is included (the period ends at
    /// the start of the next day in the program's time zone). Default: now.
    pub to: Option<String>,
}

/// A ratio: basis points (10 000 = 100 %) rounded half to even, and the same as a percentage.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RatioView {
    pub bps: i64,
    /// Two decimals: "12.34".
    pub percent: String,
}

impl From<Ratio> for RatioView {
    fn from(ratio: Ratio) -> Self {
        RatioView {
            bps: ratio.bps,
            percent: ratio.percent(),
        }
    }
}

/// Confirmed operations of one kind through one protocol.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProtocolOperationsView {
    pub protocol: String,
    /// `earn`, `accrue`, `redeem`, `withdraw`, `reversal`, `expire`.
    pub kind: String,
    pub count: i64,
    pub points_minor: i64,
}

/// CashtoCode vouchers of payments created in the period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VouchersView {
    pub issued: i64,
    pub paid: i64,
    /// Declined with `20602` (time-out): the voucher expired unpaid.
    pub expired: i64,
    /// Expired ÷ issued; null with none issued.
    pub expired_share: Option<RatioView>,
    /// From the voucher's issue to its payment, nearest-rank; null with none paid.
    pub time_to_pay_median_ms: Option<i64>,
    pub time_to_pay_p90_ms: Option<i64>,
}

/// The figures of one period `[from, to)`; points in the program's minor units.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeriodView {
    /// Unix milliseconds, included.
    pub from: i64,
    /// Unix milliseconds, excluded.
    pub to: i64,
    /// Earn and accrue.
    pub issued_minor: i64,
    pub redeemed_minor: i64,
    pub withdrawn_minor: i64,
    pub expired_minor: i64,
    /// Every reversal; the three below by what they reversed.
    pub reversed_minor: i64,
    pub reversed_issued_minor: i64,
    pub reversed_redeemed_minor: i64,
    pub reversed_withdrawn_minor: i64,
    /// Expired ÷ issued; null with nothing issued.
    pub breakage: Option<RatioView>,
    /// Redeemed ÷ issued; null with nothing issued.
    pub redemption_rate: Option<RatioView>,
    /// Customers with a confirmed operation of their own (not an expiry) in the period.
    pub active_members: i64,
    /// Customers created in the period.
    pub new_members: i64,
    pub operations: Vec<ProtocolOperationsView>,
    pub ecommpay_vouchers: VouchersView,
}

/// The points the program owes its customers now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiabilityView {
    pub points_minor: i64,
    /// In money minor units at the program's `settings.point_value`, rounded half to even;
    /// absent when the program has no point value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money_minor: Option<i64>,
}

/// Points of open lots expiring before now + 30, 60 and 90 days (each includes the shorter).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExpiringView {
    pub within_30_days_minor: i64,
    pub within_60_days_minor: i64,
    pub within_90_days_minor: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AnalyticsView {
    pub program_id: i64,
    /// The points' currency and its decimal places.
    pub currency: String,
    pub decimals: u8,
    /// Decimal places of the money `liability.money_minor` is in.
    pub money_decimals: u8,
    /// When the liability and expiring figures were taken, unix milliseconds.
    pub as_of: i64,
    pub period: PeriodView,
    /// The period of equal length just before `period`.
    pub previous_period: PeriodView,
    pub liability: LiabilityView,
    pub expiring: ExpiringView,
}

struct PeriodSums {
    period: Period,
    ledger: LedgerSums,
    new_members: i64,
    vouchers: Vec<Voucher>,
}

#[utoipa::path(
    get,
    path = "/v1/programs/{id}/analytics",
    params(("id" = i64, Path, description = "The program's id"), AnalyticsQuery),
    responses(
        (status = 200, body = AnalyticsView),
        (status = 404, body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody),
    ),
    security(("admin" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Id(id): Id,
    QueryParams(query): QueryParams<AnalyticsQuery>,
) -> ApiResult<Json<AnalyticsView>> {
    let program = ProgramId(id);
    let found = state
        .store
        .read(move |tx| Box::pin(async move { tx.program(program).await }))
        .await?
        .ok_or_else(|| ApiError::not_found("program"))?;
    let point_value = PointValue::from_settings(&found.settings)?;
    let zone = program_zone(&found.rules);
    let now = kopilka_store::now_ms();
    let period = parse_period(&query, zone, now)?;
    let settled = now - SETTLE_MS;
    let splits = [period, period.previous()].map(|p| (p, days_of(p, zone, settled)));
    let (current, previous, outstanding, as_of, fresh) = state
        .store
        .read(move |tx| {
            Box::pin(async move {
                let [(period, current), (previous, before)] = splits;
                let (current, mut fresh) = period_sums(tx, program, period, &current).await?;
                let (previous, more) = period_sums(tx, program, previous, &before).await?;
                fresh.extend(more);
                let as_of = tx.now();
                let outstanding: Outstanding = tx.outstanding(program, as_of).await?;
                Ok((current, previous, outstanding, as_of, fresh))
            })
        })
        .await?;
    keep_days(&state, program, fresh).await;
    let [within_30, within_60, within_90] = outstanding.expiring;
    Ok(Json(AnalyticsView {
        program_id: id,
        currency: found.rules.currency.clone(),
        decimals: found.rules.decimals,
        money_decimals: found.rules.money_decimals,
        as_of,
        period: period_view(current),
        previous_period: period_view(previous),
        liability: LiabilityView {
            points_minor: outstanding.liability,
            money_minor: point_value.map(|v| v.money(outstanding.liability)),
        },
        expiring: ExpiringView {
            within_30_days_minor: within_30,
            within_60_days_minor: within_60,
            within_90_days_minor: within_90,
        },
    }))
}

/// A period's sums: the ledger's from its closed days and the parts around them (with the days
/// summed now that are final, to keep); members and vouchers as they are now.
async fn period_sums(
    tx: &mut kopilka_store::Tx,
    program: ProgramId,
    period: Period,
    split: &DaySplit,
) -> kopilka_store::StoreResult<(PeriodSums, Vec<DayFigures>)> {
    let (ledger, fresh) = tx.ledger_sums(program, split).await?;
    let sums = PeriodSums {
        period,
        ledger,
        new_members: tx.new_members(program, period).await?,
        vouchers: tx.vouchers(program, period).await?,
    };
    Ok((sums, fresh))
}

/// Keeps the final days a request summed, so the next reads them. A failure costs only time:
/// the next request sums them again.
async fn keep_days(state: &AppState, program: ProgramId, days: Vec<DayFigures>) {
    if days.is_empty() {
        return;
    }
    let kept = state
        .store
        .write(move |tx| Box::pin(async move { tx.keep_days(program, &days).await }))
        .await;
    if let Err(error) = kept {
        tracing::warn!(%error, "analytics: closed days not kept");
    }
}

/// Closed days summed (and kept) per round of the analytics job at most: a first start on a
/// big database catches up over several rounds, never in one long run.
const DAYS_PER_ROUND: usize = 64;

/// The analytics job's round: keeps each program's closed days of the last
/// [`KEEP_AHEAD_DAYS`] not kept yet, newest first, at most [`DAYS_PER_ROUND`] of them, each
/// summed in a read of its own and kept in a write of its own, so the store is never held long.
/// A day with an operation still pending stays unkept (a request sums it live). Answers how many
/// days it kept.
pub async fn keep_closed_days(store: &SharedStore, now: i64) -> StoreResult<usize> {
    let programs = store
        .read(|tx| Box::pin(async move { tx.programs().await }))
        .await?;
    let settled = now - SETTLE_MS;
    let window = Period {
        from: settled - KEEP_AHEAD_DAYS * DAY_MS,
        to: settled,
    };
    let mut budget = DAYS_PER_ROUND;
    let mut kept = 0;
    for program in programs {
        let id = program.id;
        let split = days_of(window, program_zone(&program.rules), settled);
        let (Some(first), Some(last)) = (split.days.first(), split.days.last()) else {
            continue;
        };
        let (from, to) = (first.from, last.to);
        let done = store
            .read(move |tx| Box::pin(async move { tx.kept_day_periods(id, from, to).await }))
            .await?;
        for day in days_to_keep(&split.days, &done) {
            if budget == 0 {
                return Ok(kept);
            }
            budget -= 1;
            let figures = store
                .read(move |tx| Box::pin(async move { tx.final_day(id, day).await }))
                .await?;
            if let Some(figures) = figures {
                store
                    .write(move |tx| Box::pin(async move { tx.keep_days(id, &[figures]).await }))
                    .await?;
                kept += 1;
            }
        }
    }
    Ok(kept)
}

/// The program's time zone (UTC when it names none the server knows).
fn program_zone(rules: &ProgramRules) -> chrono_tz::Tz {
    rules.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

/// `period` cut at the starts of days in `zone`: the days ended by `settled`, and the rest.
fn days_of(period: Period, zone: chrono_tz::Tz, settled: i64) -> DaySplit {
    let date = |ms: i64| {
        zone.timestamp_millis_opt(ms)
            .single()
            .map(|at| at.date_naive())
    };
    let (Some(first), Some(last)) = (date(period.from), date(period.to)) else {
        return split_days(period, &[], settled);
    };
    let boundaries: Vec<i64> = first
        .iter_days()
        .take_while(|day| *day <= last)
        .filter_map(|day| day_start(zone, day))
        .collect();
    split_days(period, &boundaries, settled)
}

fn period_view(sums: PeriodSums) -> PeriodView {
    let mut flows = FlowTotals::default();
    let mut operations: Vec<ProtocolOperationsView> = Vec::new();
    for sum in &sums.ledger.operations {
        flows.add(sum.kind, sum.reversed_kind, sum.amount);
        // Rows come ordered by protocol and kind; reversals of several kinds fold into one.
        match operations.last_mut() {
            Some(last) if last.protocol == sum.protocol && last.kind == sum.kind.as_str() => {
                last.count += sum.count;
                last.points_minor = last.points_minor.saturating_add(sum.amount);
            }
            _ => operations.push(ProtocolOperationsView {
                protocol: sum.protocol.clone(),
                kind: sum.kind.as_str().to_string(),
                count: sum.count,
                points_minor: sum.amount,
            }),
        }
    }
    PeriodView {
        from: sums.period.from,
        to: sums.period.to,
        issued_minor: flows.issued,
        redeemed_minor: flows.redeemed,
        withdrawn_minor: flows.withdrawn,
        expired_minor: flows.expired,
        reversed_minor: flows.reversed,
        reversed_issued_minor: flows.reversed_issued,
        reversed_redeemed_minor: flows.reversed_redeemed,
        reversed_withdrawn_minor: flows.reversed_withdrawn,
        breakage: flows.breakage().map(Into::into),
        redemption_rate: flows.redemption_rate().map(Into::into),
        active_members: sums.ledger.active_members,
        new_members: sums.new_members,
        operations,
        ecommpay_vouchers: vouchers_view(&sums.vouchers),
    }
}

fn vouchers_view(vouchers: &[Voucher]) -> VouchersView {
    let issued = vouchers.len() as i64;
    let expired = vouchers
        .iter()
        .filter(|v| v.status == PaymentStatus::Decline && v.code == TIMED_OUT)
        .count() as i64;
    let mut times: Vec<i64> = vouchers
        .iter()
        .filter(|v| v.status == PaymentStatus::Success)
        .filter_map(|v| Some(v.paid_at? - v.issued_at?))
        .collect();
    VouchersView {
        issued,
        paid: vouchers
            .iter()
            .filter(|v| v.status == PaymentStatus::Success)
            .count() as i64,
        expired,
        expired_share: Ratio::of(expired, issued).map(Into::into),
        time_to_pay_median_ms: percentile(&mut times, 50),
        time_to_pay_p90_ms: percentile(&mut times, 90),
    }
}

/// The query's period: defaults, dates at the start of their day in the program's `zone`.
fn parse_period(query: &AnalyticsQuery, zone: chrono_tz::Tz, now: i64) -> ApiResult<Period> {
    let to = match &query.to {
        Some(text) => instant("to", text, zone, 1)?,
        None => now,
    };
    let from = match &query.from {
        Some(text) => instant("from", text, zone, 0)?,
        None => to - DEFAULT_PERIOD_MS,
    };
    Ok(Period::new(from, to)?)
}

/// `text` as unix milliseconds: an RFC 3339 instant, or the start of the date `days_after` days
/// after the given date in `zone`.
fn instant(field: &str, text: &str, zone: chrono_tz::Tz, days_after: u64) -> ApiResult<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    let invalid = || {
        ApiError::invalid(
            field,
            "expected RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)",
        )
    };
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| invalid())?
        .checked_add_days(Days::new(days_after))
        .ok_or_else(invalid)?;
    day_start(zone, date).ok_or_else(invalid)
}

/// The first instant of `date` in `zone`: a midnight skipped by a clock change starts at the
/// first instant after it.
fn day_start(zone: chrono_tz::Tz, date: NaiveDate) -> Option<i64> {
    let start = date.and_hms_opt(0, 0, 0)?;
    zone.from_local_datetime(&start)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(start + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>) -> AnalyticsQuery {
        AnalyticsQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    #[test]
    fn periods_take_instants_and_dates_in_the_program_zone() {
        let kyiv: chrono_tz::Tz = "Europe/Kyiv".parse().unwrap();
        let now = 1_800_000_000_000;
        assert_eq!(
            parse_period(&query(None, None), kyiv, now).unwrap(),
            Period {
                from: now - DEFAULT_PERIOD_MS,
                to: now
            }
        );
        let day = parse_period(&query(Some("2026-11-01"), Some("2026-11-01")), kyiv, now).unwrap();
        // Kyiv is UTC+2 in November: the day runs from 22:00 UTC the evening before.
        assert_eq!(day.from, 1_793_484_000_000);
        assert_eq!(day.to - day.from, 24 * 3_600_000);
        let exact = parse_period(
            &query(
                Some("2026-11-01T00:00:00Z"),
                Some("2026-11-01T00:00:00.250Z"),
            ),
            kyiv,
            now,
        )
        .unwrap();
        assert_eq!(exact.to - exact.from, 250);
        assert!(parse_period(&query(Some("yesterday"), None), kyiv, now).is_err());
        assert!(parse_period(&query(Some("2026-11-02"), Some("2026-11-01")), kyiv, now).is_err());
    }
}
