//! What is sealed with the server's key: the key's check value, and every column holding a
//! sealed secret (for the start-up check and the key's rotation).

use crate::tx::{execute, fetch, scalar};
use crate::{StoreResult, Tx};

/// A column whose values are sealed with the server's key, in a table keyed by `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

/// Every sealed column. A new one must be added here, or rotating the key leaves it unreadable.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "merchants",
        column: "webhook_secret",
    },
    SealedColumn {
        table: "credentials",
        column: "sealed_secret",
    },
    SealedColumn {
        table: "ecommpay_projects",
        column: "sealed_secret",
    },
    SealedColumn {
        table: "kupikupi_platforms",
        column: "sealed_secret",
    },
    SealedColumn {
        table: "kupikupi_platforms",
        column: "sealed_dev_secret",
    },
    SealedColumn {
        table: "kupikupi_transfers",
        column: "sealed_code",
    },
    SealedColumn {
        table: "social_settings",
        column: "sealed_vk_secret",
    },
    SealedColumn {
        table: "social_settings",
        column: "sealed_facebook_app_secret",
    },
    SealedColumn {
        table: "social_settings",
        column: "sealed_vk_access_token",
    },
    SealedColumn {
        table: "social_settings",
        column: "sealed_facebook_verify_token",
    },
    SealedColumn {
        table: "social_oauth_clients",
        column: "sealed_client_secret",
    },
    SealedColumn {
        table: "social_oauth_flows",
        column: "sealed_code_verifier",
    },
    SealedColumn {
        table: "operators",
        column: "sealed_totp",
    },
    SealedColumn {
        table: "operators",
        column: "sealed_totp_pending",
    },
];

impl Tx {
    /// The stored check value of the seal key, if one was stored.
    pub async fn seal_key_check(&mut self) -> StoreResult<Option<String>> {
        scalar!(
            self,
            fetch_optional,
            String,
            "SELECT check_value FROM seal_key_check WHERE id = 1"
        )
    }

    /// Stores `check_value` unless one is stored already (a node starting at the same time may
    /// have stored its own; the caller reads back which one won).
    pub async fn store_seal_key_check_if_absent(&mut self, check_value: &str) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO seal_key_check (id, check_value, updated_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
            check_value,
            now,
        )?;
        Ok(())
    }

    /// Replaces the check value (the key was rotated).
    pub async fn replace_seal_key_check(&mut self, check_value: &str) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE seal_key_check SET check_value = $1, updated_at = $2 WHERE id = 1",
            check_value,
            now,
        )?;
        Ok(())
    }

    /// One sealed value of any sealed column, if the database holds any.
    pub async fn any_sealed_value(&mut self) -> StoreResult<Option<String>> {
        for column in SEALED_COLUMNS {
            let sql = format!(
                "SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY id LIMIT 1",
                t = column.table,
                c = column.column
            );
            if let Some(value) = scalar!(self, fetch_optional, String, &sql)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// The sealed values of `column` by row id, locked on PostgreSQL.
    pub async fn sealed_values(&mut self, column: SealedColumn) -> StoreResult<Vec<(i64, String)>> {
        let sql = format!(
            "SELECT id, {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY id{lock}",
            t = column.table,
            c = column.column,
            lock = self.lock_suffix()
        );
        fetch!(self, fetch_all, (i64, String), &sql)
    }

    /// Replaces one sealed value of `column` (the key's rotation).
    pub async fn replace_sealed_value(
        &mut self,
        column: SealedColumn,
        id: i64,
        sealed: &str,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {t} SET {c} = $1 WHERE id = $2",
            t = column.table,
            c = column.column
        );
        execute!(self, &sql, sealed, id)?;
        Ok(())
    }
}
