//! A program's customers as an operator finds and looks after them: search with balances
//! (keyset pages, shared with the exports), merge and anonymisation (docs/customers.md).

use crate::ledger;
use crate::model::{Customer, CustomerState};
use crate::row::{row, Columns, FromColumns, Row};
use crate::tx::{execute, fetch, scalar, Tx};
use crate::StoreResult;
use kopilka_domain::customer::anonymised_member_no;
use kopilka_domain::ids::{CustomerId, OperationId, ProgramId};
use kopilka_domain::DomainError;

/// What a customer search matches; every filter given must match. `phone` is E.164 digits,
/// `email`, `card_number` and `member_no` match whole (e-mail in any case), `name` is a part
/// of the name in any case.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub program_id: Option<ProgramId>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub card_number: Option<String>,
    pub member_no: Option<String>,
    pub name: Option<String>,
    pub state: Option<CustomerState>,
}

/// A customer found, with their balance and held points in each currency they hold.
#[derive(Debug, Clone)]
pub struct CustomerWithBalances {
    pub customer: Customer,
    /// (currency, balance, held), by currency; empty for a customer who never held points.
    pub balances: Vec<(String, i64, i64)>,
}

struct Found {
    customer: Customer,
    account: Option<(String, i64, i64)>,
}

impl FromColumns for Found {
    fn decode(c: &mut Columns<'_>) -> StoreResult<Found> {
        let customer = Customer::decode(c)?;
        let currency: Option<String> = c.next()?;
        let balance: Option<i64> = c.next()?;
        let held: Option<i64> = c.next()?;
        Ok(Found {
            customer,
            account: currency.map(|currency| (currency, balance.unwrap_or(0), held.unwrap_or(0))),
        })
    }
}

/// `%`, `_` and `\` taken literally in a `LIKE … ESCAPE '\'` pattern.
fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Customers matching `filter`, newest first, `limit` of them after the keyset `before_id`,
/// each with their balances. Only the filters given become conditions, so a phone, e-mail,
/// member number or card is found through its index; a name is matched within the rows the
/// other filters leave (a program's customers at most), a page at a time.
pub async fn search(
    tx: &mut Tx,
    filter: &CustomerFilter,
    before_id: Option<CustomerId>,
    limit: i64,
) -> StoreResult<Vec<CustomerWithBalances>> {
    let condition = |given: bool, sql: &str, n: usize| {
        if given {
            sql.replace('#', &format!("${n}"))
        } else {
            format!("${n} IS NULL")
        }
    };
    let conditions = [
        condition(filter.program_id.is_some(), "customers.program_id = #", 1),
        condition(filter.phone.is_some(), "customers.phone = #", 2),
        condition(
            filter.email.is_some(),
            "lower(customers.email) = lower(#)",
            3,
        ),
        condition(
            filter.card_number.is_some(),
            "customers.id IN (SELECT cards.customer_id FROM cards WHERE cards.number = #)",
            4,
        ),
        condition(filter.member_no.is_some(), "customers.member_no = #", 5),
        condition(
            filter.name.is_some(),
            "customers.name_key LIKE # ESCAPE '\\'",
            6,
        ),
        condition(filter.state.is_some(), "customers.state = #", 7),
        condition(before_id.is_some(), "customers.id < #", 8),
    ];
    let sql = format!(
        "SELECT {}, accounts.currency, accounts.balance, accounts.held FROM (SELECT * FROM customers WHERE {} ORDER BY customers.id DESC LIMIT $9) customers LEFT JOIN accounts ON accounts.owner_kind = 'customer' AND accounts.owner_id = customers.id AND accounts.program_id = customers.program_id ORDER BY customers.id DESC, accounts.currency",
        Customer::COLUMNS,
        conditions.join(" AND "),
    );
    let rows = fetch!(
        tx,
        fetch_all,
        Found,
        &sql,
        filter.program_id.map(|id| id.0),
        filter.phone.clone(),
        filter.email.clone(),
        filter.card_number.clone(),
        filter.member_no.clone(),
        filter
            .name
            .as_deref()
            .map(|n| like_contains(&kopilka_domain::customer::name_key(n))),
        filter.state.map(|s| s.as_str().to_string()),
        before_id.map(|id| id.0),
        limit,
    )?;
    let mut found: Vec<CustomerWithBalances> = Vec::with_capacity(rows.len());
    for row in rows {
        match found.last_mut() {
            Some(last) if last.customer.id == row.customer.id => {
                last.balances.extend(row.account);
            }
            _ => found.push(CustomerWithBalances {
                customer: row.customer,
                balances: row.account.into_iter().collect(),
            }),
        }
    }
    Ok(found)
}

/// A lot a customer holds points in: what is left of what an operation credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLot {
    pub id: i64,
    pub program_id: ProgramId,
    pub currency: String,
    /// The operation that credited the lot.
    pub origin: OperationId,
    pub amount: i64,
    pub remaining: i64,
    pub created_at: i64,
    /// Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
}

row!(
    CustomerLot,
    "lots.id, accounts.program_id, accounts.currency, lots.origin, lots.amount, lots.remaining, lots.created_at, lots.expires_at",
    |c| CustomerLot {
        id: c.next()?,
        program_id: ProgramId(c.next()?),
        currency: c.next()?,
        origin: OperationId(c.next()?),
        amount: c.next()?,
        remaining: c.next()?,
        created_at: c.next()?,
        expires_at: c.next()?,
    }
);

/// The order lots are spent in (`Position::sort_lots`): soonest expiry first, never-expiring
/// last, older first among equals.
const LOT_ORDER: &str =
    "CASE WHEN lots.expires_at IS NULL THEN 1 ELSE 0 END, COALESCE(lots.expires_at, 0), lots.id";

/// A customer's lots with points left — together their balance — in spending order, `limit`
/// of them after the lot `after_id`. A lot past its expiry stays until the expiry job burns
/// it, as it stays in the balance.
pub async fn open_lots(
    tx: &mut Tx,
    customer_id: CustomerId,
    after_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<CustomerLot>> {
    let sql = format!(
        "SELECT {} FROM lots JOIN accounts ON accounts.id = lots.account_id \
         WHERE accounts.owner_kind = 'customer' AND accounts.owner_id = $1 AND lots.remaining > 0 \
         AND ($2 IS NULL OR ({LOT_ORDER}) > (SELECT {} FROM lots WHERE lots.id = $2)) \
         ORDER BY {LOT_ORDER} LIMIT $3",
        CustomerLot::COLUMNS,
        LOT_ORDER,
    );
    Ok(fetch!(
        tx,
        fetch_all,
        CustomerLot,
        &sql,
        customer_id.0,
        after_id,
        limit
    )?)
}

/// What a merge did: the merge operations written now (none on a repeat).
#[derive(Debug, Clone)]
pub struct Merged {
    pub target: Customer,
    pub operations: Vec<crate::model::Operation>,
    /// True when the source was already merged into the target and nothing changed.
    pub replayed: bool,
}

/// Merges `source` into `target`, two customers of one program, in the caller's
/// transaction: the source's points (lots with their expiry) move through `merge`
/// operations, its cards follow, its phone and e-mail pass to the target when the target
/// has none (else they stay on the source and lead to the target), its sessions end, and it
/// is marked merged. A repeat of a merge done is answered as done.
pub async fn merge(
    tx: &mut Tx,
    source_id: CustomerId,
    target_id: CustomerId,
) -> StoreResult<Merged> {
    if source_id == target_id {
        return Err(invalid(
            "target_id",
            "a customer cannot be merged into itself",
        ));
    }
    let source = tx
        .customer(source_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    let target = tx
        .customer(target_id)
        .await?
        .ok_or_else(|| invalid("target_id", "no such customer"))?;
    if source.program_id != target.program_id {
        return Err(invalid(
            "target_id",
            "the customers are of different programs",
        ));
    }
    let program = tx
        .program(source.program_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "program" })?;
    let mut currencies = vec![program.rules.currency.clone()];
    for account in
        ledger::accounts_of(tx, kopilka_domain::ledger::Owner::Customer(source_id)).await?
    {
        if !currencies.contains(&account.currency) {
            currencies.push(account.currency);
        }
    }
    // Lock first, then decide on what is committed: a concurrent merge, block or earn
    // either finished before (and is seen now) or waits for this one.
    let locked =
        ledger::lock_customers(tx, program.id, &currencies, &[source_id, target_id]).await?;
    let mut source = tx
        .customer(source_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    let mut target = tx
        .customer(target_id)
        .await?
        .ok_or_else(|| invalid("target_id", "no such customer"))?;
    if source.state == CustomerState::Merged && source.merged_into == Some(target_id) {
        return Ok(Merged {
            target,
            operations: Vec::new(),
            replayed: true,
        });
    }
    source.standing().may_resolve()?;
    target.standing().may_resolve()?;
    let operations = ledger::merge_locked(tx, &locked, &currencies, source_id, target_id).await?;
    execute!(
        tx,
        "UPDATE cards SET customer_id = $1 WHERE customer_id = $2",
        target_id.0,
        source_id.0,
    )?;
    execute!(
        tx,
        "DELETE FROM loymax_tokens WHERE customer_id = $1",
        source_id.0
    )?;
    execute!(
        tx,
        "DELETE FROM cabinet_sessions WHERE customer_id = $1",
        source_id.0
    )?;
    // Every customer merged into the source before now leads to the target.
    execute!(
        tx,
        "UPDATE customers SET merged_into = $1 WHERE merged_into = $2",
        target_id.0,
        source_id.0,
    )?;
    let now = tx.now();
    let moves_phone = target.phone.is_none() && source.phone.is_some();
    let moves_email = target.email.is_none() && source.email.is_some();
    if moves_phone {
        target.phone = source.phone.take();
    }
    if moves_email {
        target.email = source.email.take();
    }
    source.state = CustomerState::Merged;
    source.merged_into = Some(target_id);
    source.closed_at = Some(now);
    // The source lets go of the phone before the target takes it (unique per program).
    tx.update_customer(&source).await?;
    if moves_phone || moves_email {
        tx.update_customer(&target).await?;
    }
    Ok(Merged {
        target,
        operations,
        replayed: false,
    })
}

/// Anonymises a customer on request, in the caller's transaction: holds voided and the
/// balance burned (`withdraw` operations, so liability falls and the ledger still adds
/// up), then every personal datum removed — the customer's name, phone, e-mail, birthday,
/// attributes and secrets, the phones of customers merged into them, their messages'
/// recipients and texts, codes and sessions. Operations stay, under the customer's id.
/// Irreversible; a second call changes nothing and answers `false`.
pub async fn anonymise(tx: &mut Tx, customer_id: CustomerId) -> StoreResult<bool> {
    let customer = tx
        .customer(customer_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    let program = tx
        .program(customer.program_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "program" })?;
    let mut currencies = vec![program.rules.currency.clone()];
    for account in
        ledger::accounts_of(tx, kopilka_domain::ledger::Owner::Customer(customer_id)).await?
    {
        if !currencies.contains(&account.currency) {
            currencies.push(account.currency);
        }
    }
    ledger::lock_customers(tx, program.id, &currencies, &[customer_id]).await?;
    let mut customer = tx
        .customer(customer_id)
        .await?
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    match customer.state {
        CustomerState::Anonymised => return Ok(false),
        CustomerState::Merged => {
            // Its points already moved; only its personal data remain to remove.
        }
        _ => {
            for currency in &currencies {
                ledger::close_account(
                    tx,
                    program.id,
                    currency,
                    customer_id,
                    "customer anonymised: balance burned",
                )
                .await?;
            }
        }
    }
    let phones: Vec<String> = scalar!(
        tx,
        fetch_all,
        String,
        "SELECT phone FROM customers WHERE (id = $1 OR merged_into = $1) AND phone IS NOT NULL",
        customer_id.0,
    )?;
    let emails: Vec<String> = scalar!(
        tx,
        fetch_all,
        String,
        "SELECT email FROM customers WHERE (id = $1 OR merged_into = $1) AND email IS NOT NULL",
        customer_id.0,
    )?;
    execute!(
        tx,
        "UPDATE customers SET phone = NULL, email = NULL, name = NULL, name_key = NULL, birthday = NULL, profile = '{}', password_hash = NULL, pin_hash = NULL WHERE merged_into = $1",
        customer_id.0,
    )?;
    let gone = "";
    // Texts sent to the person, and those still to send (which are not sent now).
    execute!(
        tx,
        "UPDATE messages SET state = 'dead', last_error = 'recipient anonymised', lease_until = NULL WHERE customer_id = $1 AND kind IN ('sms', 'email') AND state = 'pending' AND purpose IS NULL",
        customer_id.0,
    )?;
    execute!(
        tx,
        "UPDATE messages SET recipient = $1, body = $1 WHERE customer_id = $2 AND kind IN ('sms', 'email')",
        gone,
        customer_id.0,
    )?;
    for recipient in phones.iter().chain(emails.iter()) {
        execute!(
            tx,
            "UPDATE messages SET state = CASE WHEN state = 'pending' AND purpose IS NULL THEN 'dead' ELSE state END, recipient = $1, body = $1 WHERE recipient = $2 AND kind IN ('sms', 'email')",
            gone,
            recipient.as_str(),
        )?;
        execute!(
            tx,
            "UPDATE loymax_codes SET target = $1 WHERE target = $2",
            gone,
            recipient.as_str(),
        )?;
        execute!(
            tx,
            "DELETE FROM cabinet_codes WHERE program_id = $1 AND phone = $2",
            program.id.0,
            recipient.as_str(),
        )?;
        execute!(
            tx,
            "DELETE FROM incust_attempts WHERE program_id = $1 AND cardphone = $2",
            program.id.0,
            recipient.as_str(),
        )?;
    }
    execute!(
        tx,
        "UPDATE incust_transactions SET cardphone = $1 WHERE customer_id = $2",
        gone,
        customer_id.0,
    )?;
    execute!(
        tx,
        "UPDATE incust_pages SET cardphone = $1 WHERE customer_id = $2",
        gone,
        customer_id.0,
    )?;
    execute!(
        tx,
        "UPDATE kupikupi_transfers SET phone = $1 WHERE customer_id = $2",
        gone,
        customer_id.0,
    )?;
    execute!(
        tx,
        "UPDATE loymax_codes SET target = $1 WHERE customer_id = $2",
        gone,
        customer_id.0,
    )?;
    execute!(
        tx,
        "DELETE FROM cabinet_sessions WHERE customer_id = $1",
        customer_id.0
    )?;
    execute!(
        tx,
        "DELETE FROM loymax_tokens WHERE customer_id = $1",
        customer_id.0
    )?;
    execute!(
        tx,
        "DELETE FROM loymax_registrations WHERE customer_id = $1",
        customer_id.0
    )?;
    customer.phone = None;
    customer.email = None;
    customer.name = None;
    customer.birthday = None;
    customer.profile = serde_json::json!({});
    customer.password_hash = None;
    customer.pin_hash = None;
    customer.blocked_reason = None;
    customer.member_no = anonymised_member_no(customer_id);
    customer.state = CustomerState::Anonymised;
    customer.closed_at = Some(tx.now());
    tx.update_customer(&customer).await?;
    Ok(true)
}

fn invalid(field: &'static str, reason: &str) -> crate::StoreError {
    DomainError::Invalid {
        field,
        reason: reason.to_string(),
    }
    .into()
}
