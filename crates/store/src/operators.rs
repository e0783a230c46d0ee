//! Operators of the admin API, their API tokens (digests), the audit log of admin actions and
//! manual adjustments waiting for a second operator's approval (migration 0024).

use crate::row::{row, select};
use crate::tx::{execute, fetch, int, scalar, Tx};
use crate::{StoreError, StoreResult};
use kopilka_domain::ids::{CustomerId, OperationId, ProgramId};
use kopilka_domain::operator::{ProgramEntity, Role};

#[derive(Debug, Clone)]
pub struct Operator {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub sealed_totp: Option<String>,
    pub sealed_totp_pending: Option<String>,
    pub totp_last_step: i64,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The programs the operator is limited to (migration 0028); `None`: all of them.
    pub program_ids: Option<Vec<i64>>,
}
row!(
    Operator,
    "operators.id, operators.login, operators.display_name, operators.role, operators.password_hash, operators.sealed_totp, operators.sealed_totp_pending, operators.totp_last_step, operators.disabled, operators.created_at, operators.updated_at, operators.program_ids",
    |c| Operator {
        id: c.next()?,
        login: c.next()?,
        display_name: c.next()?,
        role: c.parse("operators.role", |s: &String| Role::parse(s))?,
        password_hash: c.next()?,
        sealed_totp: c.next()?,
        sealed_totp_pending: c.next()?,
        totp_last_step: c.next()?,
        disabled: c.next::<i64>()? != 0,
        created_at: c.next()?,
        updated_at: c.next()?,
        program_ids: c.parse("operators.program_ids", |s: &Option<String>| match s {
            None => Some(None),
            Some(text) => serde_json::from_str(text).ok().map(Some),
        })?,
    }
);

#[derive(Debug, Clone)]
pub struct Token {
    pub id: i64,
    pub operator_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}
row!(
    Token,
    "operator_tokens.id, operator_tokens.operator_id, operator_tokens.name, operator_tokens.created_at, operator_tokens.last_used_at, operator_tokens.expires_at, operator_tokens.revoked_at",
    |c| Token {
        id: c.next()?,
        operator_id: c.next()?,
        name: c.next()?,
        created_at: c.next()?,
        last_used_at: c.next()?,
        expires_at: c.next()?,
        revoked_at: c.next()?,
    }
);

impl Token {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// A token with its operator, read in one query.
#[derive(Debug, Clone)]
pub struct TokenHolder {
    pub token: Token,
    pub operator: Operator,
}

impl crate::row::FromColumns for TokenHolder {
    fn decode(columns: &mut crate::row::Columns<'_>) -> StoreResult<Self> {
        Ok(TokenHolder {
            token: Token::decode(columns)?,
            operator: Operator::decode(columns)?,
        })
    }
}

/// What an operator's update changes; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct OperatorChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    /// Removes the TOTP second factor (a lost phone).
    pub remove_totp: bool,
    /// `Some(None)`: all programs; `Some(Some(ids))`: limited to those.
    pub program_ids: Option<Option<Vec<i64>>>,
}

/// How often a token's `last_used_at` is written: at most once a minute, so reads do not
/// each become a write.
const TOUCH_EVERY_MS: i64 = 60_000;

fn program_ids_text(ids: &[i64]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

impl Tx {
    /// The program an entity belongs to; `None` when there is no such entity.
    pub async fn program_of(&mut self, entity: ProgramEntity, id: i64) -> StoreResult<Option<i64>> {
        let table = match entity {
            ProgramEntity::Program => "programs WHERE id = $1",
            ProgramEntity::Customer => "customers WHERE id = $1",
            ProgramEntity::Operation => "operations WHERE id = $1",
            ProgramEntity::Merchant => "merchants WHERE id = $1",
        };
        let column = match entity {
            ProgramEntity::Program => "id",
            _ => "program_id",
        };
        Ok(scalar!(
            self,
            fetch_optional,
            i64,
            &format!("SELECT {column} FROM {table}"),
            id
        )?)
    }

    pub async fn create_operator(
        &mut self,
        login: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
        program_ids: Option<&[i64]>,
    ) -> StoreResult<Operator> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO operators (login, display_name, role, password_hash, totp_last_step, disabled, created_at, updated_at, program_ids) VALUES ($1, $2, $3, $4, 0, 0, $5, $5, $6) RETURNING id",
            login,
            display_name,
            role.as_str(),
            password_hash,
            now,
            program_ids.map(program_ids_text)
        )?;
        self.operator(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("operator just created".into()))
    }

    pub async fn operator(&mut self, id: i64) -> StoreResult<Option<Operator>> {
        fetch!(
            self,
            fetch_optional,
            Operator,
            &select::<Operator>("operators WHERE id = $1"),
            id
        )
    }

    pub async fn operator_by_login(&mut self, login: &str) -> StoreResult<Option<Operator>> {
        fetch!(
            self,
            fetch_optional,
            Operator,
            &select::<Operator>("operators WHERE login = $1"),
            login
        )
    }

    pub async fn operators(&mut self) -> StoreResult<Vec<Operator>> {
        fetch!(
            self,
            fetch_all,
            Operator,
            &select::<Operator>("operators ORDER BY id")
        )
    }

    /// Applies `change`; false when there is no such operator.
    pub async fn update_operator(&mut self, id: i64, change: &OperatorChange) -> StoreResult<bool> {
        let now = self.now();
        let changed = execute!(
            self,
            "UPDATE operators SET display_name = COALESCE($1, display_name), role = COALESCE($2, role), password_hash = COALESCE($3, password_hash), disabled = COALESCE($4, disabled), updated_at = $5 WHERE id = $6",
            change.display_name.clone(),
            change.role.map(|r| r.as_str().to_string()),
            change.password_hash.clone(),
            change.disabled.map(i64::from),
            now,
            id
        )?;
        if let (true, Some(programs)) = (changed > 0, &change.program_ids) {
            execute!(
                self,
                "UPDATE operators SET program_ids = $1 WHERE id = $2",
                programs.as_deref().map(program_ids_text),
                id
            )?;
        }
        if changed > 0 && change.remove_totp {
            execute!(
                self,
                "UPDATE operators SET sealed_totp = NULL, sealed_totp_pending = NULL WHERE id = $1",
                id
            )?;
        }
        Ok(changed > 0)
    }

    /// A new TOTP secret (sealed), in force once a code confirms it.
    pub async fn set_pending_totp(&mut self, id: i64, sealed: &str) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE operators SET sealed_totp_pending = $1, updated_at = $2 WHERE id = $3",
            sealed,
            now,
            id
        )?;
        Ok(())
    }

    /// The pending secret becomes the operator's second factor.
    pub async fn confirm_totp(&mut self, id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE operators SET sealed_totp = sealed_totp_pending, sealed_totp_pending = NULL, updated_at = $1 WHERE id = $2 AND sealed_totp_pending IS NOT NULL",
            now,
            id
        )?;
        Ok(())
    }

    /// Takes TOTP time step `step` for the operator if no later or equal step was taken: one
    /// conditional update, so two nodes given the same code never both take it.
    pub async fn take_totp_step(&mut self, id: i64, step: i64) -> StoreResult<bool> {
        let taken = execute!(
            self,
            "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            step,
            id
        )?;
        Ok(taken > 0)
    }

    pub async fn create_operator_token(
        &mut self,
        operator_id: i64,
        name: &str,
        token_digest: &str,
        expires_at: Option<i64>,
    ) -> StoreResult<Token> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO operator_tokens (operator_id, name, token_digest, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            operator_id,
            name,
            token_digest,
            now,
            expires_at
        )?;
        fetch!(
            self,
            fetch_one,
            Token,
            &select::<Token>("operator_tokens WHERE id = $1"),
            id
        )
    }

    /// The token with this digest and its operator, whatever their state.
    pub async fn operator_token(&mut self, token_digest: &str) -> StoreResult<Option<TokenHolder>> {
        let sql = format!(
            "SELECT {}, {} FROM operator_tokens JOIN operators ON operators.id = operator_tokens.operator_id WHERE operator_tokens.token_digest = $1",
            <Token as crate::row::Row>::COLUMNS,
            <Operator as crate::row::Row>::COLUMNS
        );
        fetch!(self, fetch_optional, TokenHolder, &sql, token_digest)
    }

    /// Records that the token was used now, if it was not within the last minute.
    pub async fn touch_operator_token(&mut self, id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE operator_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            now,
            id,
            now - TOUCH_EVERY_MS
        )?;
        Ok(())
    }

    pub async fn operator_tokens(&mut self, operator_id: i64) -> StoreResult<Vec<Token>> {
        fetch!(
            self,
            fetch_all,
            Token,
            &select::<Token>("operator_tokens WHERE operator_id = $1 ORDER BY id"),
            operator_id
        )
    }

    /// Revokes one of the operator's tokens; false when it has no such live token.
    pub async fn revoke_operator_token(&mut self, operator_id: i64, id: i64) -> StoreResult<bool> {
        let now = self.now();
        let revoked = execute!(
            self,
            "UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND operator_id = $3 AND revoked_at IS NULL",
            now,
            id,
            operator_id
        )?;
        Ok(revoked > 0)
    }
}

/// One admin action as the audit log keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `bootstrap` or `operator`.
    pub actor: String,
    pub operator_id: Option<i64>,
    pub token_id: Option<i64>,
    pub method: String,
    /// The route's template, `/v1/programs/{id}`.
    pub route: String,
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub status: i64,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request: Option<serde_json::Value>,
}
row!(
    AuditEntry,
    "audit_log.id, audit_log.at, audit_log.actor, audit_log.operator_id, audit_log.token_id, audit_log.method, audit_log.route, audit_log.entity_kind, audit_log.entity_id, audit_log.status, audit_log.before_json, audit_log.after_json, audit_log.request_json",
    |c| AuditEntry {
        id: c.next()?,
        at: c.next()?,
        actor: c.next()?,
        operator_id: c.next()?,
        token_id: c.next()?,
        method: c.next()?,
        route: c.next()?,
        entity_kind: c.next()?,
        entity_id: c.next()?,
        status: c.next()?,
        before: json_column(c, "audit_log.before_json")?,
        after: json_column(c, "audit_log.after_json")?,
        request: json_column(c, "audit_log.request_json")?,
    }
);

fn json_column(
    c: &mut crate::row::Columns<'_>,
    what: &str,
) -> StoreResult<Option<serde_json::Value>> {
    let text: Option<String> = c.next()?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    })
    .transpose()
}

/// Which audit rows to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub operator_id: Option<i64>,
    /// `bootstrap` or `operator`.
    pub actor: Option<String>,
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Tx {
    pub async fn record_audit(&mut self, entry: &AuditEntry) -> StoreResult<i64> {
        let text = |value: &Option<serde_json::Value>| value.as_ref().map(|v| v.to_string());
        int!(
            self,
            "INSERT INTO audit_log (at, actor, operator_id, token_id, method, route, entity_kind, entity_id, status, before_json, after_json, request_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            entry.at,
            entry.actor.clone(),
            entry.operator_id,
            entry.token_id,
            entry.method.clone(),
            entry.route.clone(),
            entry.entity_kind.clone(),
            entry.entity_id.clone(),
            entry.status,
            text(&entry.before),
            text(&entry.after),
            text(&entry.request)
        )
    }

    pub async fn audit_entries(&mut self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let condition = |given: bool, column: &str, n: usize| match given {
            true => format!("{column} ${n}"),
            false => format!("${n} IS NULL"),
        };
        let sql = format!(
            "{} WHERE {} AND {} AND {} AND {} AND {} AND {} AND {} ORDER BY id DESC LIMIT $8",
            select::<AuditEntry>("audit_log"),
            condition(filter.operator_id.is_some(), "operator_id =", 1),
            condition(filter.actor.is_some(), "actor =", 2),
            condition(filter.entity_kind.is_some(), "entity_kind =", 3),
            condition(filter.entity_id.is_some(), "entity_id =", 4),
            condition(filter.from.is_some(), "at >=", 5),
            condition(filter.to.is_some(), "at <", 6),
            condition(filter.before_id.is_some(), "id <", 7),
        );
        fetch!(
            self,
            fetch_all,
            AuditEntry,
            &sql,
            filter.operator_id,
            filter.actor.clone(),
            filter.entity_kind.clone(),
            filter.entity_id.clone(),
            filter.from,
            filter.to,
            filter.before_id,
            filter.limit
        )
    }
}

/// A manual adjustment waiting for (or given) a second operator's decision.
#[derive(Debug, Clone)]
pub struct Adjustment {
    pub id: i64,
    pub program_id: ProgramId,
    pub customer_id: CustomerId,
    /// `accrue` or `withdraw`.
    pub kind: String,
    pub amount: i64,
    pub reason: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// `bootstrap` or `operator:ID`.
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub operation_id: Option<OperationId>,
    pub idem_key: Option<String>,
    pub fingerprint: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}
row!(
    Adjustment,
    "adjustments.id, adjustments.program_id, adjustments.customer_id, adjustments.kind, adjustments.amount, adjustments.reason, adjustments.status, adjustments.requested_by, adjustments.decided_by, adjustments.operation_id, adjustments.idem_key, adjustments.fingerprint, adjustments.created_at, adjustments.decided_at",
    |c| Adjustment {
        id: c.next()?,
        program_id: ProgramId(c.next()?),
        customer_id: CustomerId(c.next()?),
        kind: c.next()?,
        amount: c.next()?,
        reason: c.next()?,
        status: c.next()?,
        requested_by: c.next()?,
        decided_by: c.next()?,
        operation_id: c.next::<Option<i64>>()?.map(OperationId),
        idem_key: c.next()?,
        fingerprint: c.next()?,
        created_at: c.next()?,
        decided_at: c.next()?,
    }
);

/// A manual adjustment to record as pending.
#[derive(Debug, Clone)]
pub struct NewAdjustment {
    pub program_id: ProgramId,
    pub customer_id: CustomerId,
    pub kind: String,
    pub amount: i64,
    pub reason: String,
    pub requested_by: String,
    pub idem_key: Option<String>,
    pub fingerprint: Option<String>,
}

impl Tx {
    pub async fn create_adjustment(&mut self, new: &NewAdjustment) -> StoreResult<Adjustment> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO adjustments (program_id, customer_id, kind, amount, reason, status, requested_by, idem_key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9) RETURNING id",
            new.program_id.0,
            new.customer_id.0,
            new.kind.clone(),
            new.amount,
            new.reason.clone(),
            new.requested_by.clone(),
            new.idem_key.clone(),
            new.fingerprint.clone(),
            now
        )?;
        fetch!(
            self,
            fetch_one,
            Adjustment,
            &select::<Adjustment>("adjustments WHERE id = $1"),
            id
        )
    }

    /// The adjustment, locked on PostgreSQL (its decision is taken once).
    pub async fn adjustment_locked(&mut self, id: i64) -> StoreResult<Option<Adjustment>> {
        let sql = self.select_locked::<Adjustment>("adjustments WHERE id = $1");
        fetch!(self, fetch_optional, Adjustment, &sql, id)
    }

    /// The adjustment a request's idempotency key made.
    pub async fn adjustment_by_key(&mut self, key: &str) -> StoreResult<Option<Adjustment>> {
        fetch!(
            self,
            fetch_optional,
            Adjustment,
            &select::<Adjustment>("adjustments WHERE idem_key = $1"),
            key
        )
    }

    pub async fn adjustment(&mut self, id: i64) -> StoreResult<Option<Adjustment>> {
        fetch!(
            self,
            fetch_optional,
            Adjustment,
            &select::<Adjustment>("adjustments WHERE id = $1"),
            id
        )
    }

    /// Adjustments of `status` (every one when `None`), newest first, before `before_id`.
    pub async fn adjustments(
        &mut self,
        status: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Adjustment>> {
        let sql = format!(
            "{} WHERE ({}) AND ({}) ORDER BY id DESC LIMIT $3",
            select::<Adjustment>("adjustments"),
            match status {
                Some(_) => "status = $1",
                None => "$1 IS NULL",
            },
            match before_id {
                Some(_) => "id < $2",
                None => "$2 IS NULL",
            },
        );
        fetch!(
            self,
            fetch_all,
            Adjustment,
            &sql,
            status.map(str::to_string),
            before_id,
            limit
        )
    }

    /// Records the decision on a pending adjustment.
    pub async fn decide_adjustment(
        &mut self,
        id: i64,
        status: &str,
        decided_by: &str,
        operation_id: Option<OperationId>,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE adjustments SET status = $1, decided_by = $2, operation_id = $3, decided_at = $4 WHERE id = $5 AND status = 'pending'",
            status,
            decided_by,
            operation_id.map(|id| id.0),
            now,
            id
        )?;
        Ok(())
    }
}
