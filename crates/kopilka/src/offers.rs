//! Offers as every surface triggers them (docs/offers.md): the customer as conditions see
//! them, a program's cheque offers kept parsed between calls, and the welcome triggers
//! (registration, card activation) applied in the caller's transaction.

use chrono::{Offset, TimeZone};
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::offers::{ChequeOfferIndex, Customer, Event, Offer, Trigger, TriggerKind};
use kopilka_domain::program::ProgramRules;
use kopilka_store::model::Program;
use kopilka_store::offers::{apply_event, Applied, EventRequest};
use kopilka_store::{StoreResult, Tx};
use std::sync::{Arc, Mutex};

/// The customer as offers' conditions see them at `at` (unix ms): periods and time windows
/// are the program's local calendar then. A zone that does not parse counts as UTC (the
/// admin API refuses one).
pub fn customer_at(rules: &ProgramRules, id: CustomerId, at: i64) -> Customer {
    let zone: chrono_tz::Tz = rules.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let utc_offset_minutes = chrono::DateTime::from_timestamp_millis(at).map_or(0, |instant| {
        zone.offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc()
            / 60
    });
    Customer {
        id,
        utc_offset_minutes,
        ..Customer::default()
    }
}

/// A program's cheque offers, parsed and indexed once per revision of its stored versions
/// (versions are only added, so their count is the revision): only the offers a cheque can
/// trigger, indexed by what a cheque must carry for them.
#[derive(Debug, Default)]
pub struct ChequeOffersCache {
    copy: Mutex<Option<(i64, Arc<ChequeOfferIndex>)>>,
}

impl ChequeOffersCache {
    /// The program's stored cheque offers followed by `rules_offers` (its purchase rules read
    /// as offers), current in `tx`.
    pub async fn get(
        &self,
        tx: &mut Tx,
        program_id: ProgramId,
        rules_offers: &[Offer],
    ) -> StoreResult<Arc<ChequeOfferIndex>> {
        let revision = tx.offers_revision(program_id).await?;
        if let Some((cached, offers)) = self.copy.lock().ok().and_then(|c| c.clone()) {
            if cached == revision {
                return Ok(offers);
            }
        }
        let mut offers: Vec<Offer> = tx
            .offers(program_id)
            .await?
            .into_iter()
            .filter(|o| o.triggers.contains(&TriggerKind::Cheque))
            .collect();
        offers.extend_from_slice(rules_offers);
        let offers = Arc::new(ChequeOfferIndex::new(offers));
        if let Ok(mut copy) = self.copy.lock() {
            *copy = Some((revision, offers.clone()));
        }
        Ok(offers)
    }
}

/// A welcome trigger: a customer registered, or activated a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Welcome {
    Registration,
    CardActivated { card: i64 },
}

/// Applies a welcome trigger in the caller's write transaction: the program's offers on it
/// (a welcome bonus) with their limits, once per event (`registration:{customer}`,
/// `card:{card}`), atomically with what the caller writes.
pub async fn welcome(
    tx: &mut Tx,
    program: &Program,
    customer_id: CustomerId,
    kind: Welcome,
) -> StoreResult<Applied> {
    let at = tx.now();
    let (event, event_id) = match kind {
        Welcome::Registration => (Event::Registration, format!("registration:{customer_id}")),
        Welcome::CardActivated { card } => (Event::CardActivated, format!("card:{card}")),
    };
    let rules = &program.rules;
    let fingerprint = kopilka_domain::ledger::fingerprint(&[&customer_id.0.to_string()]);
    apply_event(
        tx,
        EventRequest {
            program_id: program.id,
            rules: rules.clone(),
            customer: customer_at(rules, customer_id, at),
            trigger: Trigger {
                event_id,
                at,
                event,
                undoes: Vec::new(),
            },
            undoes: None,
            fingerprint,
        },
    )
    .await
}
