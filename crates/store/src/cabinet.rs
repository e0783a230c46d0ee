//! The customer cabinet: sign-in codes sent by SMS and the sessions they open.

use crate::row::{row, select};
use crate::tx::{execute, fetch, int, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, ProgramId};

#[derive(Debug, Clone)]
pub struct SignInCode {
    pub id: i64,
    pub program_id: ProgramId,
    pub phone: String,
    pub code_digest: String,
    pub attempts: i64,
    pub used: i64,
    pub expires_at: i64,
    pub created_at: i64,
}
row!(
    SignInCode,
    "cabinet_codes.id, cabinet_codes.program_id, cabinet_codes.phone, cabinet_codes.code_digest, cabinet_codes.attempts, cabinet_codes.used, cabinet_codes.expires_at, cabinet_codes.created_at",
    |c| SignInCode {
        id: c.next()?,
        program_id: ProgramId(c.next()?),
        phone: c.next()?,
        code_digest: c.next()?,
        attempts: c.next()?,
        used: c.next()?,
        expires_at: c.next()?,
        created_at: c.next()?,
    }
);

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub customer_id: CustomerId,
    pub created_at: i64,
    pub expires_at: i64,
}
row!(
    Session,
    "cabinet_sessions.id, cabinet_sessions.customer_id, cabinet_sessions.created_at, cabinet_sessions.expires_at",
    |c| Session {
        id: c.next()?,
        customer_id: CustomerId(c.next()?),
        created_at: c.next()?,
        expires_at: c.next()?,
    }
);

impl Tx {
    pub async fn create_cabinet_code(
        &mut self,
        program_id: ProgramId,
        phone: &str,
        code_digest: &str,
        expires_at: i64,
    ) -> StoreResult<i64> {
        let now = self.now();
        Ok(int!(
            self,
            "INSERT INTO cabinet_codes (program_id, phone, code_digest, attempts, used, expires_at, created_at) VALUES ($1, $2, $3, 0, 0, $4, $5) RETURNING id",
            program_id.0,
            phone,
            code_digest,
            expires_at,
            now
        )?)
    }

    /// The newest unused, unexpired code of `phone`, locked on PostgreSQL.
    pub async fn cabinet_current_code(
        &mut self,
        program_id: ProgramId,
        phone: &str,
    ) -> StoreResult<Option<SignInCode>> {
        let now = self.now();
        let sql = self.select_locked::<SignInCode>("cabinet_codes WHERE program_id = $1 AND phone = $2 AND used = 0 AND expires_at > $3 ORDER BY id DESC LIMIT 1");
        Ok(fetch!(
            self,
            fetch_optional,
            SignInCode,
            &sql,
            program_id.0,
            phone,
            now
        )?)
    }

    pub async fn update_cabinet_code(
        &mut self,
        id: i64,
        attempts: i64,
        used: bool,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE cabinet_codes SET attempts = $1, used = $2 WHERE id = $3",
            attempts,
            i64::from(used),
            id
        )?;
        Ok(())
    }

    pub async fn create_cabinet_session(
        &mut self,
        customer_id: CustomerId,
        token_digest: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO cabinet_sessions (customer_id, token_digest, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            customer_id.0,
            token_digest,
            now,
            expires_at
        )?;
        Ok(())
    }

    pub async fn cabinet_session(&mut self, token_digest: &str) -> StoreResult<Option<Session>> {
        let now = self.now();
        Ok(fetch!(
            self,
            fetch_optional,
            Session,
            &select::<Session>("cabinet_sessions WHERE token_digest = $1 AND expires_at > $2"),
            token_digest,
            now
        )?)
    }

    pub async fn delete_cabinet_session(&mut self, token_digest: &str) -> StoreResult<()> {
        execute!(
            self,
            "DELETE FROM cabinet_sessions WHERE token_digest = $1",
            token_digest
        )?;
        Ok(())
    }
}
