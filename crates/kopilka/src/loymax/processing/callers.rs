//! Who calls a processing method: the Bearer token's customer, the merchant of the OAuth
//! application it was issued to, and their program with its rules and settings parsed.
//!
//! Remembered per server, so a call reads nothing before its write job. Only facts that never
//! change are remembered (a token's customer and application, an application's merchant, a
//! customer's program); whether the token is still a live access token and the customer not
//! blocked is checked inside the job, in the statement that reads the purchase, and so is the
//! program's stored rules and settings text against the parsed copy: logout, rotation, a block
//! or a changed program take effect on the next call, from any process.

use super::purchases::Caller;
use crate::loymax::wire::{LmError, LmResult};
use crate::offers::ChequeOffersCache;
use kopilka_domain::ids::ProgramId;
use kopilka_domain::loymax_purchase::ProcessingSettings;
use kopilka_domain::offers::{rules_as_offers, Offer};
use kopilka_domain::program::ProgramRules;
use kopilka_store::model::{CustomerState, Program};
use kopilka_store::SharedStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept before the map is cleared (a token costs about a hundred bytes).
const MAX_TOKENS: usize = 100_000;

/// A program as processing uses it: parsed once per version of its stored text.
#[derive(Debug)]
pub struct ProgramEntry {
    pub program: Program,
    pub rules: ProgramRules,
    pub settings: Result<ProcessingSettings, String>,
    /// The purchase rules of the settings, read as offers.
    pub rules_offers: Vec<Offer>,
    /// The program's cheque offers with the rules' offers, parsed once per revision.
    pub cheque_offers: ChequeOffersCache,
}

impl ProgramEntry {
    fn new(program: Program) -> ProgramEntry {
        let settings = ProcessingSettings::from_program(&program.settings);
        ProgramEntry {
            rules: program.rules.clone(),
            rules_offers: settings
                .as_ref()
                .map(|s| rules_as_offers(&s.rules))
                .unwrap_or_default(),
            settings,
            cheque_offers: ChequeOffersCache::default(),
            program,
        }
    }

    /// The stored text this copy was parsed from is still the program's.
    pub fn is_current(&self, rules: &str, settings: &str) -> bool {
        self.program.is_stored_as(rules, settings)
    }
}

#[derive(Debug, Clone, Copy)]
struct TokenEntry {
    token_id: i64,
    customer_id: i64,
    merchant_id: i64,
    program_id: i64,
}

#[derive(Debug, Default)]
pub struct Callers {
    tokens: Mutex<HashMap<String, TokenEntry>>,
    programs: Mutex<HashMap<i64, Arc<ProgramEntry>>>,
}

impl Callers {
    /// The caller of a token (by its digest): remembered, or read and checked. A token that
    /// is unknown, not a live access token, of a blocked customer or issued to no
    /// application cannot process.
    pub async fn resolve(&self, store: &SharedStore, digest: &str) -> LmResult<Caller> {
        let known = self.tokens.lock().ok().and_then(|t| t.get(digest).copied());
        let entry = match known {
            Some(entry) => entry,
            None => {
                let entry = read_token(store, digest.to_string())
                    .await?
                    .ok_or(LmError::Unauthorized)?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    if tokens.len() >= MAX_TOKENS {
                        tokens.clear();
                    }
                    tokens.insert(digest.to_string(), entry);
                }
                entry
            }
        };
        Ok(Caller {
            program: self.program(store, entry.program_id).await?,
            merchant_id: entry.merchant_id,
            customer_id: entry.customer_id,
            token_id: entry.token_id,
        })
    }

    /// Forgets a token the job found ended (or its customer blocked).
    pub fn forget_token(&self, digest: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(digest);
        }
    }

    /// Forgets a program the job found changed; the next call reads it again.
    pub fn forget_program(&self, id: i64) {
        if let Ok(mut programs) = self.programs.lock() {
            programs.remove(&id);
        }
    }

    async fn program(&self, store: &SharedStore, id: i64) -> LmResult<Arc<ProgramEntry>> {
        if let Some(entry) = self.programs.lock().ok().and_then(|p| p.get(&id).cloned()) {
            return Ok(entry);
        }
        let program = store
            .read(move |tx| Box::pin(async move { tx.program(ProgramId(id)).await }))
            .await?
            .ok_or(LmError::Unauthorized)?;
        let entry = Arc::new(ProgramEntry::new(program));
        if let Ok(mut programs) = self.programs.lock() {
            programs.insert(id, entry.clone());
        }
        Ok(entry)
    }
}

async fn read_token(store: &SharedStore, digest: String) -> LmResult<Option<TokenEntry>> {
    Ok(store
        .read(move |tx| {
            Box::pin(async move {
                let Some(token) = tx.loymax_live_access_token(&digest).await? else {
                    return Ok(None);
                };
                let Some(credential) = token.credential_id else {
                    return Ok(None);
                };
                let Some(customer) = tx.customer(token.customer_id).await? else {
                    return Ok(None);
                };
                if customer.state == CustomerState::Blocked {
                    return Ok(None);
                }
                let merchant = tx.loymax_credential_merchant(credential).await?;
                Ok(merchant.map(|merchant_id| TokenEntry {
                    token_id: token.id,
                    customer_id: customer.id.0,
                    merchant_id: merchant_id.0,
                    program_id: customer.program_id.0,
                }))
            })
        })
        .await?)
}
