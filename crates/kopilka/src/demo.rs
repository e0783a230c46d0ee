//! The demo data set: one readable TOML file (`demo/demo.toml`) seeded into a fresh store.

use crate::secrets::{self, Sealer};
use anyhow::{anyhow, Context};
use kopilka_domain::ids::{MerchantId, ProgramId};
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::money::parse_non_negative;
use kopilka_domain::phone::Phone;
use kopilka_domain::program::ProgramRules;
use kopilka_store::entities::NewCustomer;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use kopilka_store::model::{CardKind, CustomerState};
use kopilka_store::SharedStore;
use serde::Deserialize;

/// The demo file, compiled in so `kopilka demo` works from any directory.
pub const DEMO_TOML: &str = include_str!("../../../demo/demo.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoData {
    #[serde(default)]
    pub programs: Vec<DemoProgram>,
    #[serde(default)]
    pub merchants: Vec<DemoMerchant>,
    #[serde(default)]
    pub customers: Vec<DemoCustomer>,
    #[serde(default)]
    pub loymax_batch_keys: Vec<crate::loymax::processing::DemoBatchKey>,
    #[serde(default)]
    pub ecommpay_projects: Vec<DemoEcommpayProject>,
    #[serde(default)]
    pub cashtocode_terminals: Vec<DemoCashTerminal>,
    #[serde(default)]
    pub kupikupi: Vec<crate::kupikupi::demo::DemoPlatform>,
    /// Cards nobody holds yet (to bind with a protocol's card registration).
    #[serde(default)]
    pub cards: Vec<DemoFreeCard>,
    /// Programs' VK communities and Facebook pages, their social offers and linked accounts.
    #[serde(default)]
    pub social: Vec<crate::social::demo::DemoSocial>,
}

/// An ECommPay project; its secret is sealed when seeded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoEcommpayProject {
    pub project_id: i64,
    /// The merchant's name.
    pub merchant: String,
    pub name: String,
    pub secret: String,
    /// A path (`/demo/shop/…`) is on this kopilka.
    pub callback_url: Option<String>,
    #[serde(default)]
    pub return_hosts: Vec<String>,
    pub voucher_ttl_secs: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCashTerminal {
    pub terminal_id: String,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoFreeCard {
    pub program: String,
    pub number: String,
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoProgram {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub rules: ProgramRules,
    #[serde(default)]
    pub settings: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoMerchant {
    pub program: String,
    pub name: String,
    pub sms_name: Option<String>,
    #[serde(default)]
    pub return_hosts: Vec<String>,
    #[serde(default)]
    pub credentials: Vec<DemoCredential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCredential {
    pub protocol: String,
    pub login: String,
    pub secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCustomer {
    pub program: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub pin: Option<String>,
    pub password: Option<String>,
    pub member_no: Option<String>,
    /// Opening balance in the program currency's units.
    pub balance: Option<String>,
    #[serde(default)]
    pub cards: Vec<DemoCard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCard {
    pub number: String,
    pub kind: String,
}

pub fn parse(text: &str) -> anyhow::Result<DemoData> {
    toml::from_str(text).context("demo data")
}

/// What seeding created, by name, for printing and for tests.
#[derive(Debug, Default)]
pub struct Seeded {
    pub programs: Vec<(String, i64)>,
    pub merchants: Vec<(String, i64)>,
    pub customers: Vec<(String, i64)>,
}

/// Seeds `data`; `sealer` seals the secrets kopilka must use itself (signing keys).
pub async fn seed(store: &SharedStore, sealer: &Sealer, data: &DemoData) -> anyhow::Result<Seeded> {
    let mut seeded = Seeded::default();
    for p in &data.programs {
        p.rules
            .validate()
            .map_err(|e| anyhow!("program {}: {e}", p.code))?;
        let settings = match &p.settings {
            Some(v) => serde_json::to_value(v)?,
            None => serde_json::json!({}),
        };
        let (code, name, rules) = (p.code.clone(), p.name.clone(), p.rules.clone());
        let program = store
            .write(move |tx| {
                Box::pin(async move { tx.create_program(&code, &name, &rules, &settings).await })
            })
            .await?;
        seeded.programs.push((p.code.clone(), program.id.0));
    }
    let program_id = |code: &str| {
        seeded
            .programs
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, id)| *id)
            .ok_or_else(|| anyhow!("unknown program {code}"))
    };
    let mut merchants = Vec::new();
    for m in &data.merchants {
        let pid = program_id(&m.program)?;
        let mut hashed = Vec::new();
        for c in &m.credentials {
            hashed.push((
                c.protocol.clone(),
                c.login.clone(),
                secrets::hash_secret_async(c.secret.clone()).await,
            ));
        }
        let (name, sms, hosts) = (
            m.name.clone(),
            m.sms_name.clone().unwrap_or_else(|| m.name.clone()),
            m.return_hosts.clone(),
        );
        let merchant = store
            .write(move |tx| {
                Box::pin(async move {
                    let merchant = tx
                        .create_merchant(ProgramId(pid), &name, &sms, &hosts)
                        .await?;
                    for (protocol, login, hash) in hashed {
                        tx.add_credential(
                            merchant.id,
                            &protocol,
                            &login,
                            Some(&hash),
                            None,
                            &serde_json::json!({}),
                        )
                        .await?;
                    }
                    Ok(merchant)
                })
            })
            .await?;
        merchants.push((m.name.clone(), merchant.id.0));
    }
    seeded.merchants = merchants;
    crate::loymax::processing::seed_demo(store, &data.loymax_batch_keys, &seeded.merchants).await?;
    crate::kupikupi::demo::seed(store, sealer, &data.kupikupi, &seeded.merchants).await?;
    for c in &data.customers {
        let pid = program_id(&c.program)?;
        let phone = match &c.phone {
            Some(p) => Some(Phone::parse(p)?.digits().to_string()),
            None => None,
        };
        let pin_hash = match &c.pin {
            Some(p) => Some(secrets::hash_secret_async(p.clone()).await),
            None => None,
        };
        let password_hash = match &c.password {
            Some(p) => Some(secrets::hash_secret_async(p.clone()).await),
            None => None,
        };
        let new = NewCustomer {
            program_id: ProgramId(pid),
            phone: phone.clone(),
            email: c.email.clone(),
            password_hash,
            pin_hash,
            member_no: c.member_no.clone(),
            state: CustomerState::Active,
            profile: serde_json::json!({}),
        };
        let cards = c
            .cards
            .iter()
            .map(|k| Ok((k.number.clone(), card_kind(&k.kind)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let balance = c.balance.clone();
        let customer = store
            .write(move |tx| {
                Box::pin(async move {
                    let program = tx
                        .program(ProgramId(pid))
                        .await?
                        .expect("program seeded above");
                    let rules = program.rules.clone();
                    let customer = tx.create_customer(&new).await?;
                    for (number, kind) in cards {
                        tx.create_card(ProgramId(pid), &number, kind, Some(customer.id))
                            .await?;
                    }
                    if let Some(text) = balance {
                        let amount = parse_non_negative(&text, rules.decimals).map_err(|e| {
                            kopilka_domain::DomainError::Invalid {
                                field: "balance",
                                reason: e.to_string(),
                            }
                        })?;
                        if amount.0 > 0 {
                            ledger::execute(
                                tx,
                                LedgerRequest {
                                    program_id: ProgramId(pid),
                                    currency: rules.currency.clone(),
                                    merchant_id: None,
                                    protocol: "demo".into(),
                                    idempotency: None,
                                    description: Some("demo opening balance".into()),
                                    details: serde_json::json!({}),
                                    action: Action::Credit {
                                        kind: OperationKind::Accrue,
                                        customer_id: customer.id,
                                        amount,
                                        expires_at: None,
                                    },
                                },
                            )
                            .await?;
                        }
                    }
                    Ok(customer)
                })
            })
            .await?;
        seeded.customers.push((
            phone.unwrap_or_else(|| customer.member_no.clone()),
            customer.id.0,
        ));
    }
    for p in &data.ecommpay_projects {
        let merchant_id = seeded
            .merchants
            .iter()
            .find(|(name, _)| name == &p.merchant)
            .map(|(_, id)| *id)
            .ok_or_else(|| anyhow!("unknown merchant {}", p.merchant))?;
        let settings = kopilka_store::ecommpay::ProjectSettings {
            merchant_id: MerchantId(merchant_id),
            name: p.name.clone(),
            callback_url: p.callback_url.clone(),
            methods: vec![kopilka_domain::ecommpay::CASHTOCODE.to_string()],
            return_hosts: p.return_hosts.clone(),
            voucher_ttl_secs: p.voucher_ttl_secs,
        };
        let (id, sealed) = (p.project_id, sealer.seal(&p.secret));
        store
            .write(move |tx| {
                Box::pin(async move {
                    tx.create_ecommpay_project(Some(id), &settings, &sealed)
                        .await
                })
            })
            .await?;
    }
    for t in &data.cashtocode_terminals {
        let (id, name, digest) = (
            t.terminal_id.clone(),
            t.name.clone(),
            secrets::token_digest(&t.key),
        );
        store
            .write(move |tx| {
                Box::pin(async move { tx.create_cash_terminal(&id, &name, &digest).await })
            })
            .await?;
    }
    for card in &data.cards {
        let pid = program_id(&card.program)?;
        let (number, kind) = (card.number.clone(), card_kind(&card.kind)?);
        store
            .write(move |tx| {
                Box::pin(async move { tx.create_card(ProgramId(pid), &number, kind, None).await })
            })
            .await?;
    }
    crate::social::demo::seed(
        store,
        sealer,
        &data.social,
        &seeded.programs,
        &seeded.customers,
    )
    .await?;
    Ok(seeded)
}

fn card_kind(kind: &str) -> anyhow::Result<CardKind> {
    CardKind::parse(kind).ok_or_else(|| anyhow::anyhow!("card kind {kind}: physical or virtual"))
}
