//! Retry schedules: how long to wait after each failed attempt, and when to give up.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A retry schedule. Durations are in schedule seconds (`outbox.schedule_unit_ms` long each:
/// 1 000 in production, 1 in tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The waits after the first failed attempts, in order.
    pub delays: Vec<u64>,
    /// Each later wait is the previous one times `growth_percent` / 100…
    pub growth_percent: u64,
    /// …but never longer than this.
    pub max_delay: u64,
    /// Once the waits so far add up to more than this, the message is dead.
    pub give_up_after: u64,
    /// Each wait is moved randomly by up to this share of it, both ways, so messages that
    /// failed together do not retry together.
    pub jitter_percent: u64,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

impl Schedule {
    /// About 10 s, 1 min, 5 min, 30 min, 2 h, then every 6 h for 3 days.
    pub fn default_schedule() -> Schedule {
        Schedule {
            delays: vec![10, MINUTE, 5 * MINUTE, 30 * MINUTE, 2 * HOUR],
            growth_percent: 300,
            max_delay: 6 * HOUR,
            give_up_after: 3 * DAY,
            jitter_percent: 20,
        }
    }

    /// ECommPay's callbacks: 6 × 10 s, then doubling waits up to 4 h, for up to 11 days.
    pub fn ecommpay() -> Schedule {
        Schedule {
            delays: vec![10; 6],
            growth_percent: 200,
            max_delay: 4 * HOUR,
            give_up_after: 11 * DAY,
            jitter_percent: 10,
        }
    }

    /// The nominal wait after `failed` failed attempts (1 after the first), or `None` once the
    /// schedule is used up.
    pub fn nominal_delay(&self, failed: u64) -> Option<u64> {
        let mut total = 0u64;
        let mut delay = 0u64;
        for n in 1..=failed.max(1) {
            delay = match self.delays.get((n - 1) as usize) {
                Some(&d) => d,
                None => {
                    (delay.max(1).saturating_mul(self.growth_percent) / 100).min(self.max_delay)
                }
            };
            total = total.saturating_add(delay);
            if total > self.give_up_after {
                return None;
            }
        }
        Some(delay)
    }

    /// The wait after `failed` failed attempts with jitter, in milliseconds.
    pub fn delay_ms(&self, failed: u64, unit_ms: u64) -> Option<u64> {
        let nominal = self.nominal_delay(failed)?.saturating_mul(unit_ms);
        let spread = nominal.saturating_mul(self.jitter_percent.min(100)) / 100;
        if spread == 0 {
            return Some(nominal);
        }
        let shift = rand::thread_rng().gen_range(0..=2 * spread);
        Some(nominal - spread + shift)
    }

    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.growth_percent < 100 {
            return Err(format!(
                "outbox.schedules.{name}.growth_percent must be at least 100"
            ));
        }
        if self.max_delay == 0 || self.delays.contains(&0) {
            return Err(format!("outbox.schedules.{name}: waits must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(schedule: &Schedule) -> Vec<u64> {
        (1..).map_while(|n| schedule.nominal_delay(n)).collect()
    }

    #[test]
    fn the_default_schedule_retries_every_six_hours_for_three_days() {
        let delays = all(&Schedule::default_schedule());
        assert_eq!(&delays[..6], &[10, 60, 300, 1800, 7200, 21600]);
        assert!(delays[5..].iter().all(|&d| d == 21600));
        let total: u64 = delays.iter().sum();
        assert!(total <= 3 * DAY && total + 21600 > 3 * DAY, "{total}");
        assert_eq!(delays.len(), 16);
    }

    #[test]
    fn the_ecommpay_schedule_grows_to_four_hours_for_eleven_days() {
        let delays = all(&Schedule::ecommpay());
        assert_eq!(&delays[..9], &[10, 10, 10, 10, 10, 10, 20, 40, 80]);
        assert_eq!(*delays.last().unwrap(), 4 * HOUR);
        let total: u64 = delays.iter().sum();
        assert!(total <= 11 * DAY && total + 4 * HOUR > 11 * DAY, "{total}");
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let schedule = Schedule::default_schedule();
        for _ in 0..200 {
            let d = schedule.delay_ms(1, 1000).unwrap();
            assert!((8000..=12000).contains(&d), "{d}");
        }
        assert_eq!(schedule.delay_ms(100, 1000), None);
    }
}
