//! A ledger on a real store for the ledger tests: a fresh SQLite file or a fresh PostgreSQL
//! schema, one program and two merchants, and helpers that run ledger requests as write jobs.
use kopilka_domain::ids::{CustomerId, MerchantId, OperationId, ProgramId};
use kopilka_domain::ledger::{OperationKind, OperationStatus, Owner};
use kopilka_domain::loymax::HistoryType;
use kopilka_domain::program::ProgramRules;
use kopilka_domain::{Amount, DomainError};
use kopilka_store::entities::NewCustomer;
use kopilka_store::ledger::{self, Action, Idempotency, LedgerRequest, OperationFilter, Outcome};
use kopilka_store::loymax::HistoryQuery;
use kopilka_store::model::Operation;
use kopilka_store::Tx;
use kopilka_store::{PgStore, SharedStore, StoreError, StoreKind, StoreResult};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::task::JoinHandle;

pub fn postgres_url() -> String {
    std::env::var("KOPILKA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub const CURRENCY: &str = "BONUS";

pub struct Ledger {
    pub store: SharedStore,
    pub program: ProgramId,
    pub merchant: MerchantId,
    /// A merchant that owns none of the operations the tests make.
    pub stranger: MerchantId,
    /// Where the store is: its SQLite file's directory, or its PostgreSQL URL and schema.
    place: Place,
}

enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Ledger {
    pub async fn open(kind: StoreKind) -> Ledger {
        match kind {
            StoreKind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
                let store = kopilka_store::open(&url).await.expect("sqlite store");
                Ledger::with_store(store, Place::Sqlite(dir)).await
            }
            StoreKind::Postgres => Ledger::open_postgres(&postgres_url()).await,
        }
    }

    /// A ledger in a fresh schema of the PostgreSQL database `url` names (its role included).
    pub async fn open_postgres(url: &str) -> Ledger {
        let schema = format!("st_{}", uuid::Uuid::new_v4().simple());
        let store = PgStore::open(url, Some(&schema))
            .await
            .expect("postgres store (is PostgreSQL running on 127.0.0.1:5432?)");
        let place = Place::Postgres {
            url: url.to_string(),
            schema,
        };
        Ledger::with_store(Arc::new(store), place).await
    }

    async fn with_store(store: SharedStore, place: Place) -> Ledger {
        let (program, merchant, stranger) = store
            .write(|tx| {
                Box::pin(async move {
                    let p = tx
                        .create_program(
                            "test",
                            "Test",
                            &ProgramRules::default(),
                            &serde_json::json!({}),
                        )
                        .await?;
                    let m = tx.create_merchant(p.id, "Shop", "Shop", &[]).await?;
                    let s = tx.create_merchant(p.id, "Other", "Other", &[]).await?;
                    Ok((p.id, m.id, s.id))
                })
            })
            .await
            .expect("fixture");
        Ledger {
            store,
            program,
            merchant,
            stranger,
            place,
        }
    }

    /// The SQLite database file, for tests of the file itself.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self.place {
            Place::Sqlite(dir) => Some(dir.path().join("ledger.db")),
            Place::Postgres { .. } => None,
        }
    }

    /// Runs SQL on the database itself, past the store (to damage what it stored).
    pub async fn raw_sql(&self, sql: &str) {
        use sqlx::Connection;
        match &self.place {
            Place::Sqlite(dir) => {
                let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
                let mut db = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
                sqlx::raw_sql(sql).execute(&mut db).await.expect("sql");
            }
            Place::Postgres { url, schema } => {
                let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
                let sql = format!("SET search_path TO {schema}; {sql}");
                sqlx::raw_sql(&sql).execute(&mut db).await.expect("sql");
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self.store.kind() {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }

    pub async fn customer(&self) -> CustomerId {
        let program = self.program;
        self.store
            .write(move |tx| {
                Box::pin(async move {
                    tx.create_customer(&NewCustomer::active(program, None))
                        .await
                })
            })
            .await
            .expect("customer")
            .id
    }

    pub async fn new_merchant(&self) -> MerchantId {
        let program = self.program;
        self.store
            .write(move |tx| {
                Box::pin(async move { tx.create_merchant(program, "M", "M", &[]).await })
            })
            .await
            .expect("merchant")
            .id
    }

    /// A request from the test merchant, without an idempotency key.
    pub fn request(&self, action: Action) -> LedgerRequest {
        LedgerRequest {
            program_id: self.program,
            currency: CURRENCY.into(),
            merchant_id: Some(self.merchant),
            protocol: "test".into(),
            idempotency: None,
            description: None,
            details: serde_json::json!({}),
            action,
        }
    }

    /// Runs a request as a write job, again if it lost a race on a unique key.
    pub async fn exec(&self, request: LedgerRequest) -> StoreResult<Outcome> {
        exec_retrying(&self.store, request).await
    }

    /// Runs the test merchant's request for `action` under an idempotency key.
    pub async fn exec_keyed(
        &self,
        action: Action,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<Outcome> {
        self.exec(keyed(self.request(action), key, fingerprint))
            .await
    }

    /// Runs a request as a write job in a task of its own; a job that loses a race fails.
    pub fn spawn(&self, request: LedgerRequest) -> JoinHandle<StoreResult<Outcome>> {
        let store = self.store.clone();
        tokio::spawn(async move { exec_once(&store, request).await })
    }

    /// [`Ledger::spawn`], running the job again if it lost a race on a unique key.
    pub fn spawn_retrying(&self, request: LedgerRequest) -> JoinHandle<StoreResult<Outcome>> {
        let store = self.store.clone();
        tokio::spawn(async move { exec_retrying(&store, request).await })
    }

    /// A ledger request run as a bulk job.
    pub async fn exec_bulk(&self, request: LedgerRequest) -> StoreResult<Outcome> {
        self.store
            .write_bulk(move |tx| Box::pin(async move { ledger::execute(tx, request).await }))
            .await
    }

    pub async fn credit(
        &self,
        customer: CustomerId,
        amount: i64,
        expires_at: Option<i64>,
    ) -> Outcome {
        self.exec(self.request(credit(customer, amount, expires_at)))
            .await
            .expect("credit")
    }

    pub async fn redeem(
        &self,
        customer: CustomerId,
        amount: i64,
        hold: bool,
    ) -> StoreResult<Outcome> {
        self.exec(self.request(debit(OperationKind::Redeem, customer, amount, hold)))
            .await
    }

    pub async fn confirm(&self, id: OperationId) -> StoreResult<Outcome> {
        self.exec(self.request(Action::Confirm { operation_id: id }))
            .await
    }

    pub async fn void(&self, id: OperationId) -> StoreResult<Outcome> {
        self.exec(self.request(Action::Void { operation_id: id }))
            .await
    }

    pub async fn reverse(&self, id: OperationId, amount: Option<i64>) -> StoreResult<Outcome> {
        self.exec(self.request(Action::Reverse {
            operation_id: id,
            amount: amount.map(Amount),
        }))
        .await
    }

    pub async fn expire(&self, now: i64) -> Vec<Operation> {
        self.store
            .write(move |tx| Box::pin(async move { ledger::expire_due(tx, now, 100).await }))
            .await
            .expect("expiry")
    }

    /// (balance, held) of a member account, as stored.
    pub async fn balance(&self, owner: Owner) -> (i64, i64) {
        let program = self.program;
        self.store
            .read(move |tx| {
                Box::pin(async move { ledger::balance(tx, program, CURRENCY, owner).await })
            })
            .await
            .expect("balance")
    }

    pub async fn operation(&self, id: OperationId) -> Operation {
        self.store
            .read(move |tx| Box::pin(async move { ledger::operation(tx, id).await }))
            .await
            .expect("read")
            .expect("operation exists")
    }

    /// Every operation of a customer, newest first.
    pub async fn operations_of(&self, customer: CustomerId) -> Vec<Operation> {
        let filter = OperationFilter {
            customer_id: Some(customer),
            limit: 500,
            ..Default::default()
        };
        self.store
            .read(move |tx| Box::pin(async move { ledger::operations(tx, &filter).await }))
            .await
            .expect("operations")
    }

    /// The ledger's invariants over the whole store: member balances equal their postings and
    /// their lots, every operation's postings sum to zero, no reversal beyond its original.
    pub async fn check_invariants(&self) {
        self.check_invariants_of(None).await;
    }

    /// The same, for the operations of one customer (and the audit of every account).
    pub async fn check_invariants_of(&self, customer: Option<CustomerId>) {
        let store = self.store.clone();
        let (mismatched, problems) = store
            .read(move |tx| {
                Box::pin(async move {
                    let mismatched = ledger::audit(tx).await?;
                    let mut problems = Vec::new();
                    let mut before = None;
                    // (customer, kind, status, reversed id) of every operation, by id.
                    let mut seen = HashMap::new();
                    loop {
                        let filter = OperationFilter {
                            customer_id: customer,
                            before_id: before,
                            limit: 500,
                            ..Default::default()
                        };
                        let page = ledger::operations(tx, &filter).await?;
                        for op in &page {
                            seen.insert(op.id, (op.customer_id, op.kind, op.status, op.reverses));
                            let postings = ledger::postings_of(tx, op.id).await?;
                            let sum: i64 = postings.iter().map(|p| p.amount).sum();
                            if sum != 0 {
                                problems.push(format!("operation {} postings sum to {sum}", op.id));
                            }
                            let moves = op.status == OperationStatus::Confirmed;
                            if moves == postings.is_empty() {
                                problems.push(format!("operation {} ({}) has {} postings", op.id, op.status.as_str(), postings.len()));
                            }
                            if op.reversed < 0 || op.reversed > op.amount {
                                problems.push(format!("operation {} reversed {} of {}", op.id, op.reversed, op.amount));
                            }
                            let reversals: i64 = ledger::reversals_of(tx, op.id)
                                .await?
                                .iter()
                                .map(|r| r.amount)
                                .sum();
                            if reversals != op.reversed {
                                problems.push(format!("operation {} records {} reversed, its reversals sum to {reversals}", op.id, op.reversed));
                            }
                        }
                        if page.len() < 500 {
                            break;
                        }
                        before = page.last().map(|o| o.id);
                    }
                    problems.extend(history_count_problems(tx, &seen).await?);
                    Ok((mismatched, problems))
                })
            })
            .await
            .expect("invariants");
        assert_eq!(
            mismatched,
            Vec::<i64>::new(),
            "{}: audit found mismatched accounts",
            self.name()
        );
        assert!(problems.is_empty(), "{}: {problems:#?}", self.name());
    }
}

async fn exec_once(store: &SharedStore, request: LedgerRequest) -> StoreResult<Outcome> {
    store
        .write(move |tx| Box::pin(async move { ledger::execute(tx, request).await }))
        .await
}

async fn exec_retrying(store: &SharedStore, request: LedgerRequest) -> StoreResult<Outcome> {
    store
        .write_retrying(move || {
            let request = request.clone();
            move |tx| Box::pin(async move { ledger::execute(tx, request).await })
        })
        .await
}

/// How many of `results` succeeded; each failure must be a refusal that `expected` accepts.
pub fn succeeded(
    results: Vec<StoreResult<Outcome>>,
    expected: impl Fn(&DomainError) -> bool,
) -> usize {
    let mut succeeded = 0;
    for result in results {
        match result {
            Ok(_) => succeeded += 1,
            Err(StoreError::Domain(e)) if expected(&e) => {}
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    succeeded
}

/// What the spawned requests did, in the order given.
pub async fn joined(
    tasks: impl IntoIterator<Item = JoinHandle<StoreResult<Outcome>>>,
) -> Vec<StoreResult<Outcome>> {
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|task| task.expect("the request's task"))
        .collect()
}

/// An operation as the invariant checks see it: customer, kind, status and what it reverses.
type SeenOperation = (
    Option<CustomerId>,
    OperationKind,
    OperationStatus,
    Option<OperationId>,
);

/// Loymax history's counts (which read the per-customer counter) against the operations
/// seen: every customer's confirmed operations, in all and by history type.
async fn history_count_problems(
    tx: &mut Tx,
    seen: &HashMap<OperationId, SeenOperation>,
) -> StoreResult<Vec<String>> {
    // Operations shown inside another's row (a purchase's payment) are not rows of their own.
    let mut parts = BTreeSet::new();
    let customers: BTreeSet<CustomerId> = seen.values().filter_map(|o| o.0).collect();
    for customer in &customers {
        let mut q = history_query(*customer, None, 0, i64::MAX);
        q.limit = i64::MAX;
        let rows = tx.loymax_history(&q, 0).await?;
        parts.extend(rows.iter().filter_map(|r| r.part.map(|p| p.id)));
    }
    let mut expected: BTreeMap<(CustomerId, Option<&str>), i64> = BTreeMap::new();
    for (id, (customer, kind, status, reverses)) in seen {
        let Some(customer) = customer else { continue };
        expected.entry((*customer, None)).or_default();
        if *status != OperationStatus::Confirmed || parts.contains(id) {
            continue;
        }
        let reversed = reverses.and_then(|id| seen.get(&id)).map(|o| o.1);
        let kind = HistoryType::of(*kind, reversed);
        *expected.entry((*customer, None)).or_default() += 1;
        *expected.entry((*customer, Some(kind.name()))).or_default() += 1;
    }
    let customers: BTreeSet<CustomerId> = expected.keys().map(|k| k.0).collect();
    let mut problems = Vec::new();
    for customer in customers {
        for kind in [
            None,
            Some(HistoryType::Purchase),
            Some(HistoryType::RewardData),
            Some(HistoryType::WithdrawData),
        ] {
            let want = expected
                .get(&(customer, kind.map(HistoryType::name)))
                .copied()
                .unwrap_or(0);
            let got = tx
                .loymax_history_count(&history_query(customer, kind, 0, i64::MAX))
                .await?;
            if got != want {
                problems.push(format!(
                    "customer {customer}: history counts {got} {kind:?} rows, the ledger has {want}"
                ));
            }
        }
    }
    Ok(problems)
}

/// A history query of a customer's rows between two times, of one type or all.
pub fn history_query(
    customer: CustomerId,
    kind: Option<HistoryType>,
    from: i64,
    to: i64,
) -> HistoryQuery {
    HistoryQuery {
        customer_id: customer,
        from,
        to,
        kinds: kind.map(HistoryType::kinds),
        card: None,
        before: None,
        offset: 0,
        limit: 0,
    }
}

pub fn credit(customer: CustomerId, amount: i64, expires_at: Option<i64>) -> Action {
    Action::Credit {
        kind: OperationKind::Accrue,
        customer_id: customer,
        amount: Amount(amount),
        expires_at,
    }
}

pub fn debit(kind: OperationKind, customer: CustomerId, amount: i64, hold: bool) -> Action {
    Action::Debit {
        kind,
        customer_id: customer,
        amount: Amount(amount),
        hold,
    }
}

pub fn keyed(mut request: LedgerRequest, key: &str, fingerprint: &str) -> LedgerRequest {
    request.idempotency = Some(Idempotency {
        scope: format!("merchant:{}", request.merchant_id.unwrap_or_default()),
        key: key.into(),
        fingerprint: fingerprint.into(),
    });
    request
}

/// The domain refusal a store error carries; panics on anything else.
pub fn refusal(result: StoreResult<Outcome>) -> DomainError {
    match result {
        Err(StoreError::Domain(e)) => e,
        Err(other) => panic!("expected a domain refusal, got {other}"),
        Ok(o) => panic!("expected a refusal, got operation {:?}", o.operation),
    }
}

/// A time well ahead of the wall clock, so lots given expiry dates around it are not due
/// before a test asks.
pub fn base_time() -> i64 {
    kopilka_store::now_ms() + 30 * 86_400_000
}
