//! Offers (migration 0023, docs/offers.md): their versions, and applying one event — the usage
//! buckets the engine names locked, the evaluation written whole with its ledger operations —
//! in one transaction, once per event id.

use crate::ledger::{self, Action, LedgerRequest};
use crate::outbox::NewMessage;
use crate::tx::{execute, fetch, scalar, Tx};
use crate::{StoreError, StoreResult};
use kopilka_domain::ids::{CustomerId, OfferId, OperationId, ProgramId};
use kopilka_domain::ledger::{check_replay, OperationKind, Owner};
use kopilka_domain::message::{self, Language};
use kopilka_domain::money::format_decimal_trimmed;
use kopilka_domain::offers::{
    evaluate, usage_keys, Channel, Customer, Effect, EffectKey, EffectKind, Evaluation, Offer,
    PastEffect, TraceEntry, Trigger, Usage, UsageChange, UsageKey, Used,
};
use kopilka_domain::program::ProgramRules;
use kopilka_domain::subscriptions;
use kopilka_domain::{Amount, DomainError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event to apply: `trigger.undoes` is filled here, from `undoes` (the event id it undoes).
#[derive(Debug, Clone)]
pub struct EventRequest {
    pub program_id: ProgramId,
    pub rules: ProgramRules,
    pub customer: Customer,
    pub trigger: Trigger,
    pub undoes: Option<String>,
    /// The request's content: a repeat of the event id with other content is refused.
    pub fingerprint: String,
}

/// What an event gave, as recorded and answered again to its repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    pub effects: Vec<Effect>,
    pub trace: Vec<TraceEntry>,
    /// The ledger operations the effects posted, in the effects' order.
    pub operations: Vec<OperationId>,
    /// What the event counted towards the offers' limits: a refund of a cheque returns it
    /// (`return_usage`). Empty in results recorded before it was kept.
    #[serde(default)]
    pub usage_changes: Vec<UsageChange>,
}

#[derive(Debug, Clone)]
pub struct Applied {
    pub result: EventResult,
    /// True when the event id was applied before and nothing changed.
    pub replayed: bool,
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("offers' types serialize")
}

impl Tx {
    /// Stores a version of an offer; a version already stored is `StoreError::Duplicate`.
    pub async fn create_offer(&mut self, program_id: ProgramId, offer: &Offer) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO offers (program_id, offer_id, version, effective_from, effective_to, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            program_id.0,
            offer.id.0,
            i64::from(offer.version),
            offer.effective_from,
            offer.effective_to,
            json(offer),
            now,
        )?;
        Ok(())
    }

    /// Every version of every offer of the program, by id and version.
    pub async fn offers(&mut self, program_id: ProgramId) -> StoreResult<Vec<Offer>> {
        let bodies = scalar!(
            self,
            fetch_all,
            String,
            "SELECT body FROM offers WHERE program_id = $1 ORDER BY offer_id, version",
            program_id.0,
        )?;
        bodies
            .iter()
            .map(|body| {
                serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("offer: {e}")))
            })
            .collect()
    }
}

impl Tx {
    /// How many offer versions the program has. Versions are only ever added, so a copy of
    /// the offers read at the same count is current.
    pub async fn offers_revision(&mut self, program_id: ProgramId) -> StoreResult<i64> {
        scalar!(
            self,
            fetch_one,
            i64,
            "SELECT COUNT(*) FROM offers WHERE program_id = $1",
            program_id.0,
        )
    }

    /// The customer's counters, by name.
    pub async fn offer_counters(
        &mut self,
        program_id: ProgramId,
        customer_id: CustomerId,
    ) -> StoreResult<BTreeMap<String, i64>> {
        counters(self, program_id, customer_id).await
    }

    /// The usage the engine would read for `keys`, without locking (a bucket never written
    /// is empty) — for pricing before the confirmation, and for the explain API — and the
    /// customer's counters.
    pub async fn offer_usage(
        &mut self,
        program_id: ProgramId,
        customer_id: CustomerId,
        keys: Vec<UsageKey>,
    ) -> StoreResult<Usage> {
        let mut usage = Usage {
            counters: counters(self, program_id, customer_id).await?,
            buckets: BTreeMap::new(),
        };
        for key in keys {
            let used = fetch!(
                self,
                fetch_optional,
                (i64, i64),
                "SELECT points, uses FROM offer_usage WHERE program_id = $1 AND owner = $2 AND period = $3",
                program_id.0,
                json(&key.owner),
                key.bucket.to_string(),
            )?;
            let (points, count) = used.unwrap_or_default();
            usage.buckets.insert(key, Used { points, count });
        }
        Ok(usage)
    }

    /// An event as recorded: its customer and what it gave (`None`: never recorded).
    pub async fn offer_event(
        &mut self,
        program_id: ProgramId,
        event_id: &str,
    ) -> StoreResult<Option<(CustomerId, EventResult)>> {
        let row = fetch!(
            self,
            fetch_optional,
            (i64, Option<String>),
            "SELECT customer_id, result FROM offer_events WHERE program_id = $1 AND event_id = $2",
            program_id.0,
            event_id,
        )?;
        let Some((customer, Some(result))) = row else {
            return Ok(None);
        };
        let result = serde_json::from_str(&result)
            .map_err(|e| StoreError::Corrupt(format!("event result: {e}")))?;
        Ok(Some((CustomerId(customer), result)))
    }
}

/// Applies an event in the caller's write transaction: records it (a repeat answers what was
/// recorded), locks the customer's account — which serializes the customer's counters and
/// take-backs — and the usage buckets the engine names, in key order, evaluates, and writes the
/// effects, their ledger operations, usage and counters.
pub async fn apply_event(tx: &mut Tx, request: EventRequest) -> StoreResult<Applied> {
    let program_id = request.program_id;
    let customer_id = request.customer.id;
    let event_id = request.trigger.event_id.clone();
    let now = tx.now();
    if let Some(result) =
        record_event(tx, program_id, &event_id, customer_id, &request.fingerprint).await?
    {
        return Ok(Applied {
            result,
            replayed: true,
        });
    }
    let currency = request.rules.currency.clone();
    ledger::lock_account(tx, program_id, &currency, Owner::Customer(customer_id)).await?;

    let mut trigger = request.trigger;
    let mut operations_of: BTreeMap<EffectKey, OperationId> = BTreeMap::new();
    if let Some(undone) = &request.undoes {
        for (past, operation) in past_effects(tx, program_id, customer_id, undone).await? {
            if let Some(operation) = operation {
                operations_of.insert(past.key.clone(), operation);
            }
            trigger.undoes.push(past);
        }
    }
    let offers = tx.offers(program_id).await?;
    let keys = usage_keys(&offers, &trigger, &request.customer, now)?;
    let usage = lock_usage(tx, program_id, customer_id, keys).await?;
    let evaluation = evaluate(&offers, &trigger, &request.customer, &usage, now)?;

    let names: BTreeMap<OfferId, &str> = offers.iter().map(|o| (o.id, o.name.as_str())).collect();
    let mut operations = Vec::new();
    for effect in &evaluation.effects {
        let description = format!(
            "offer {} \"{}\"",
            effect.key.offer,
            names.get(&effect.key.offer).copied().unwrap_or_default()
        );
        let details = serde_json::json!({
            "offer": effect.key.offer,
            "offer_version": effect.version,
            "event_id": effect.key.event_id,
        });
        let action = match &effect.kind {
            EffectKind::Accrue { points, .. } => Some(Action::Credit {
                kind: OperationKind::Accrue,
                customer_id,
                amount: Amount(*points),
                expires_at: request.rules.expiry_for(now),
            }),
            EffectKind::Withdraw { points } => Some(Action::Debit {
                kind: OperationKind::Withdraw,
                customer_id,
                amount: Amount(*points),
                hold: false,
            }),
            // The accrual's own operation reversed: its lot first, and History shows which.
            EffectKind::TakeBack { original, points } => {
                let operation_id = *operations_of
                    .get(original)
                    .ok_or_else(|| StoreError::Corrupt(format!("no operation for {original:?}")))?;
                Some(Action::Reverse {
                    operation_id,
                    amount: Some(Amount(*points)),
                })
            }
            _ => None,
        };
        let operation = match action {
            Some(action) => {
                let outcome = ledger::execute(
                    tx,
                    LedgerRequest {
                        program_id,
                        currency: currency.clone(),
                        merchant_id: None,
                        protocol: "offers".into(),
                        idempotency: None,
                        description: Some(description),
                        details,
                        action,
                    },
                )
                .await?;
                Some(outcome.operation.id)
            }
            None => None,
        };
        operations.push(operation);
    }
    let result = write_evaluation(
        tx,
        program_id,
        customer_id,
        &event_id,
        evaluation,
        &operations,
    )
    .await?;
    Ok(Applied {
        result,
        replayed: false,
    })
}

/// Records the event `(program, event_id)` once. `Some` is the result recorded by the first
/// (the fingerprint must match: `idempotency_conflict` otherwise), and nothing may be written;
/// `None`: the event is new and the caller writes its evaluation with [`write_evaluation`] in
/// the same transaction. On PostgreSQL a concurrent insert of the same id waits here for the
/// first to end.
pub async fn record_event(
    tx: &mut Tx,
    program_id: ProgramId,
    event_id: &str,
    customer_id: CustomerId,
    fingerprint: &str,
) -> StoreResult<Option<EventResult>> {
    let now = tx.now();
    let inserted = execute!(
        tx,
        "INSERT INTO offer_events (program_id, event_id, customer_id, fingerprint, result, created_at) VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (program_id, event_id) DO NOTHING",
        program_id.0,
        event_id,
        customer_id.0,
        fingerprint,
        now,
    )?;
    if inserted > 0 {
        return Ok(None);
    }
    let (recorded, result) = fetch!(
        tx,
        fetch_one,
        (String, Option<String>),
        "SELECT fingerprint, result FROM offer_events WHERE program_id = $1 AND event_id = $2",
        program_id.0,
        event_id,
    )?;
    check_replay(&recorded, fingerprint)?;
    let result =
        result.ok_or_else(|| StoreError::Corrupt(format!("event {event_id} has no result")))?;
    serde_json::from_str(&result)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("event result: {e}")))
}

/// The usage the engine reads for `keys` (from `usage_keys`), each bucket created if new and
/// locked in key order, and the customer's counters. The caller holds the customer's account
/// lock, which serializes the counters.
pub async fn lock_usage(
    tx: &mut Tx,
    program_id: ProgramId,
    customer_id: CustomerId,
    keys: Vec<UsageKey>,
) -> StoreResult<Usage> {
    let mut usage = Usage {
        counters: counters(tx, program_id, customer_id).await?,
        buckets: BTreeMap::new(),
    };
    for key in keys {
        let used = lock_bucket(tx, program_id, &key).await?;
        usage.buckets.insert(key, used);
    }
    Ok(usage)
}

/// Writes an evaluation of a recorded event: each effect (unique key; a take-back unique per
/// original) with the ledger operation that posted it (`operations`, by effect), the usage and
/// counter changes, and the result answered to a repeat.
pub async fn write_evaluation(
    tx: &mut Tx,
    program_id: ProgramId,
    customer_id: CustomerId,
    event_id: &str,
    evaluation: Evaluation,
    operations: &[Option<OperationId>],
) -> StoreResult<EventResult> {
    let now = tx.now();
    for (index, effect) in evaluation.effects.iter().enumerate() {
        let operation = operations.get(index).copied().flatten();
        let (points, original) = match &effect.kind {
            EffectKind::Accrue { points, .. } | EffectKind::Withdraw { points } => (*points, None),
            EffectKind::TakeBack { original, points } => (*points, Some(json(original))),
            _ => (0, None),
        };
        execute!(
            tx,
            "INSERT INTO offer_effects (program_id, effect_key, event_id, offer_id, version, customer_id, points, effect, operation_id, original, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            program_id.0,
            json(&effect.key),
            event_id,
            effect.key.offer.0,
            i64::from(effect.version),
            customer_id.0,
            points,
            json(effect),
            operation.map(|id| id.0),
            original,
            now,
        )?;
    }
    deliver(tx, program_id, customer_id, &evaluation.effects).await?;
    for change in &evaluation.usage_changes {
        execute!(
            tx,
            "UPDATE offer_usage SET points = points + $1, uses = uses + $2 WHERE program_id = $3 AND owner = $4 AND period = $5",
            change.points,
            change.count,
            program_id.0,
            json(&change.key.owner),
            change.key.bucket.to_string(),
        )?;
    }
    for change in &evaluation.counter_changes {
        execute!(
            tx,
            "INSERT INTO offer_counters (program_id, customer_id, name, value) VALUES ($1, $2, $3, $4) ON CONFLICT (program_id, customer_id, name) DO UPDATE SET value = offer_counters.value + excluded.value",
            program_id.0,
            customer_id.0,
            &change.counter,
            change.by,
        )?;
    }
    let result = EventResult {
        effects: evaluation.effects,
        trace: evaluation.trace,
        operations: operations.iter().flatten().copied().collect(),
        usage_changes: evaluation.usage_changes,
    };
    execute!(
        tx,
        "UPDATE offer_events SET result = $1 WHERE program_id = $2 AND event_id = $3",
        json(&result),
        program_id.0,
        event_id,
    )?;
    Ok(result)
}

/// The accruals recorded for `event_id`, with whether each is taken back and the operation
/// that posted it. An event not recorded undoes nothing; another customer's is refused.
async fn past_effects(
    tx: &mut Tx,
    program_id: ProgramId,
    customer_id: CustomerId,
    event_id: &str,
) -> StoreResult<Vec<(PastEffect, Option<OperationId>)>> {
    let rows = fetch!(
        tx,
        fetch_all,
        (i64, String, Option<i64>, i64),
        "SELECT e.customer_id, e.effect, e.operation_id, (SELECT COUNT(*) FROM offer_effects t WHERE t.program_id = e.program_id AND t.original = e.effect_key) FROM offer_effects e WHERE e.program_id = $1 AND e.event_id = $2 ORDER BY e.effect_key",
        program_id.0,
        event_id,
    )?;
    let mut past = Vec::new();
    for (customer, effect, operation, take_backs) in rows {
        if customer != customer_id.0 {
            return Err(DomainError::Invalid {
                field: "undoes",
                reason: "an event of another customer".into(),
            }
            .into());
        }
        let effect: Effect = serde_json::from_str(&effect)
            .map_err(|e| StoreError::Corrupt(format!("offer effect: {e}")))?;
        if let EffectKind::Accrue { points, counted_in } = effect.kind {
            past.push((
                PastEffect {
                    key: effect.key,
                    points,
                    taken_back: take_backs > 0,
                    counted_in,
                },
                operation.map(OperationId),
            ));
        }
    }
    Ok(past)
}

async fn counters(
    tx: &mut Tx,
    program_id: ProgramId,
    customer_id: CustomerId,
) -> StoreResult<BTreeMap<String, i64>> {
    let rows = fetch!(
        tx,
        fetch_all,
        (String, i64),
        "SELECT name, value FROM offer_counters WHERE program_id = $1 AND customer_id = $2",
        program_id.0,
        customer_id.0,
    )?;
    Ok(rows.into_iter().collect())
}

/// Creates the bucket if it is new and locks it (on PostgreSQL; SQLite's single writer already
/// serializes). Callers lock buckets in key order, so two events never wait on each other.
async fn lock_bucket(tx: &mut Tx, program_id: ProgramId, key: &UsageKey) -> StoreResult<Used> {
    let owner = json(&key.owner);
    let period = key.bucket.to_string();
    execute!(
        tx,
        "INSERT INTO offer_usage (program_id, owner, period, points, uses) VALUES ($1, $2, $3, 0, 0) ON CONFLICT (program_id, owner, period) DO NOTHING",
        program_id.0,
        &owner,
        &period,
    )?;
    let sql = format!(
        "SELECT points, uses FROM offer_usage WHERE program_id = $1 AND owner = $2 AND period = $3{}",
        tx.lock_suffix()
    );
    let (points, count) = fetch!(
        tx,
        fetch_one,
        (i64, i64),
        &sql,
        program_id.0,
        &owner,
        &period
    )?;
    Ok(Used { points, count })
}

/// Returns usage to the offers' limits (a refund of a cheque: `refund_usage`'s changes, whose
/// amounts are negative), in key order as buckets are locked. The caller holds the customer's
/// account lock and recorded the refund once, so the same usage never returns twice.
pub async fn return_usage(
    tx: &mut Tx,
    program_id: ProgramId,
    changes: &[UsageChange],
) -> StoreResult<()> {
    let mut changes: Vec<&UsageChange> = changes.iter().collect();
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    for change in changes {
        execute!(
            tx,
            "UPDATE offer_usage SET points = points + $1, uses = uses + $2 WHERE program_id = $3 AND owner = $4 AND period = $5",
            change.points,
            change.count,
            program_id.0,
            json(&change.key.owner),
            change.key.bucket.to_string(),
        )?;
    }
    Ok(())
}

/// What the effects that post nothing do, in the transaction that records them (so once per
/// effect key): a coupon issued to the customer, the customer's mailing subscription switched,
/// a message queued in the outbox for its sender. A customer without the channel's address
/// (no phone, no e-mail, no push device), or who turned personal offers off on it, gets no
/// message; the effect stays recorded.
async fn deliver(
    tx: &mut Tx,
    program_id: ProgramId,
    customer_id: CustomerId,
    effects: &[Effect],
) -> StoreResult<()> {
    let delivered = |e: &&Effect| {
        matches!(
            e.kind,
            EffectKind::Message { .. }
                | EffectKind::Subscription { .. }
                | EffectKind::IssueCoupon { .. }
        )
    };
    if !effects.iter().any(|e| delivered(&e)) {
        return Ok(());
    }
    let now = tx.now();
    let mut coupons: BTreeMap<OfferId, String> = BTreeMap::new();
    for effect in effects {
        if let EffectKind::IssueCoupon { series } = &effect.kind {
            let code = coupon_code(series);
            execute!(
                tx,
                "INSERT INTO offer_coupons (program_id, code, series, customer_id, effect_key, issued_at) VALUES ($1, $2, $3, $4, $5, $6)",
                program_id.0,
                &code,
                series,
                customer_id.0,
                json(&effect.key),
                now,
            )?;
            coupons.insert(effect.key.offer, code);
        }
    }
    let mut customer = tx
        .customer(customer_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no customer {customer_id}")))?;
    let switches: Vec<(Channel, bool)> = effects
        .iter()
        .filter_map(|e| match e.kind {
            EffectKind::Subscription { channel, on } => Some((channel, on)),
            _ => None,
        })
        .collect();
    if !switches.is_empty() {
        let mut profile = customer.profile.as_object().cloned().unwrap_or_default();
        let changes = switches
            .into_iter()
            .flat_map(|(channel, on)| {
                subscriptions::TYPES
                    .iter()
                    .filter(|(_, external_id, _)| !subscriptions::read_only(external_id))
                    .map(move |(type_id, _, _)| (*type_id, channel.subscription_field(), on))
            })
            .collect();
        subscriptions::set(&mut profile, changes);
        customer.profile = serde_json::Value::Object(profile);
        tx.update_customer(&customer).await?;
    }
    let messages: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e.kind, EffectKind::Message { .. }))
        .collect();
    if messages.is_empty() {
        return Ok(());
    }
    let program = tx
        .program(program_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no program {program_id}")))?;
    let offers = tx.offers(program_id).await?;
    let language = Language::parse(&program.rules.language);
    for effect in messages {
        let EffectKind::Message { channel, template } = &effect.kind else {
            continue;
        };
        let declined = customer
            .profile
            .pointer(&format!(
                "/subscriptions/{}/{}",
                subscriptions::OFFERS,
                channel.subscription_field()
            ))
            .and_then(serde_json::Value::as_bool)
            == Some(false);
        if declined {
            continue;
        }
        let offer_name = offers
            .iter()
            .find(|o| o.id == effect.key.offer && o.version == effect.version)
            .map_or("", |o| o.name.as_str());
        let points: i64 = effects
            .iter()
            .filter(|e| e.key.offer == effect.key.offer)
            .map(|e| match e.kind {
                EffectKind::Accrue { points, .. } => points,
                _ => 0,
            })
            .sum();
        let points = format_decimal_trimmed(Amount(points), program.rules.decimals);
        let coupon = coupons.get(&effect.key.offer).cloned().unwrap_or_default();
        let values = [
            ("program", program.name.as_str()),
            ("offer", offer_name),
            ("points", points.as_str()),
            ("coupon", coupon.as_str()),
        ];
        let body = message::render(template, language, &program.settings, &values)
            .map_err(|e| StoreError::Corrupt(format!("offer message: {e}")))?;
        let recipients: Vec<String> = match channel {
            Channel::Sms | Channel::Viber => customer.phone.iter().cloned().collect(),
            Channel::Email => customer.email.iter().cloned().collect(),
            // Every device the customer registered for push (Loymax's `POST Pushes`).
            Channel::Push => customer
                .profile
                .get("pushDevices")
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flat_map(|devices| devices.values())
                .filter_map(|device| device.get("token")?.as_str().map(String::from))
                .collect(),
        };
        for recipient in recipients {
            let mut message = match channel {
                Channel::Sms => NewMessage::sms(&recipient, body.clone()),
                Channel::Email => {
                    let subject = format!("{}: {offer_name}", program.name);
                    NewMessage::email(&recipient, subject, body.clone())
                }
                Channel::Push => NewMessage::push(&recipient, body.clone()),
                Channel::Viber => NewMessage::viber(&recipient, body.clone()),
            };
            message.customer_id = Some(customer_id);
            tx.enqueue(&message).await?;
        }
    }
    Ok(())
}

/// A coupon's code: its series and 12 random hexadecimal digits (48 bits, drawn from a v4
/// UUID), so a code cannot be guessed from another.
fn coupon_code(series: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{}-{}", series.trim().to_uppercase(), &random[..12])
}

impl Tx {
    /// Of the codes a cheque presents, the customer's issued coupons not yet used: code →
    /// series. A code presented in any case matches.
    pub async fn offer_coupons(
        &mut self,
        program_id: ProgramId,
        customer_id: CustomerId,
        codes: &[String],
    ) -> StoreResult<BTreeMap<String, String>> {
        let mut found = BTreeMap::new();
        for code in codes {
            let code = code.trim().to_uppercase();
            let series = scalar!(
                self,
                fetch_optional,
                String,
                "SELECT series FROM offer_coupons WHERE program_id = $1 AND code = $2 AND customer_id = $3 AND used_at IS NULL",
                program_id.0,
                &code,
                customer_id.0,
            )?;
            if let Some(series) = series {
                found.insert(code, series);
            }
        }
        Ok(found)
    }

    /// Marks the customer's coupons `codes` used by `event_id` (a confirmed cheque). A code
    /// already used is `StoreError::Duplicate`: the cheque cannot take it again.
    pub async fn use_offer_coupons(
        &mut self,
        program_id: ProgramId,
        customer_id: CustomerId,
        codes: &[String],
        event_id: &str,
    ) -> StoreResult<()> {
        let now = self.now();
        for code in codes {
            let used = execute!(
                self,
                "UPDATE offer_coupons SET used_at = $1, used_by = $2 WHERE program_id = $3 AND code = $4 AND customer_id = $5 AND used_at IS NULL",
                now,
                event_id,
                program_id.0,
                code,
                customer_id.0,
            )?;
            if used == 0 {
                return Err(StoreError::Duplicate(format!("coupon {code} already used")));
            }
        }
        Ok(())
    }
}
