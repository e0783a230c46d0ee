//! `[[social]]` in demo.toml: a program's VK community and Facebook page with the seed's
//! offers, and customers whose network accounts are linked already, so the VK events of
//! docs/social-demo.sh move a balance at once.

use crate::secrets::Sealer;
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::offers::{Network, Offer};
use kopilka_store::social::{link_identity, SocialSettings};
use kopilka_store::SharedStore;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSocial {
    /// The program's code in `[[programs]]`.
    pub program: String,
    pub vk_group_id: i64,
    pub vk_confirmation: String,
    pub vk_secret: String,
    pub facebook_app_secret: String,
    pub facebook_verify_token: String,
    #[serde(default)]
    pub facebook_page_ids: Vec<String>,
    #[serde(default)]
    pub offers: Vec<Offer>,
    #[serde(default)]
    pub identities: Vec<DemoIdentity>,
}

/// A customer's linked account: `customer` is the phone in `[[customers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoIdentity {
    pub customer: String,
    pub network: Network,
    pub user_id: String,
}

pub async fn seed(
    store: &SharedStore,
    sealer: &Sealer,
    social: &[DemoSocial],
    programs: &[(String, i64)],
    customers: &[(String, i64)],
) -> anyhow::Result<()> {
    for s in social {
        let program = programs
            .iter()
            .find(|(code, _)| *code == s.program)
            .map(|(_, id)| ProgramId(*id))
            .ok_or_else(|| anyhow::anyhow!("social: unknown program {}", s.program))?;
        for offer in &s.offers {
            offer
                .validate()
                .map_err(|e| anyhow::anyhow!("social offer {}: {e}", offer.id))?;
        }
        let settings = SocialSettings {
            vk_group_id: Some(s.vk_group_id),
            vk_confirmation: Some(s.vk_confirmation.clone()),
            sealed_vk_secret: Some(sealer.seal(&s.vk_secret)),
            sealed_facebook_app_secret: Some(sealer.seal(&s.facebook_app_secret)),
            sealed_facebook_verify_token: Some(sealer.seal(&s.facebook_verify_token)),
            facebook_page_ids: s.facebook_page_ids.clone(),
            instagram_account_ids: Vec::new(),
            // The demo gets its events from VK's push: no collector.
            sealed_vk_access_token: None,
            vk_api_url: None,
        };
        let mut identities = Vec::new();
        for identity in &s.identities {
            let customer = customers
                .iter()
                .find(|(phone, _)| *phone == identity.customer)
                .map(|(_, id)| CustomerId(*id))
                .ok_or_else(|| anyhow::anyhow!("social: unknown customer {}", identity.customer))?;
            identities.push((customer, identity.network, identity.user_id.clone()));
        }
        let offers = s.offers.clone();
        store
            .write(move |tx| {
                Box::pin(async move {
                    for offer in &offers {
                        tx.create_offer(program, offer).await?;
                    }
                    tx.put_social_settings(program, &settings, &[]).await?;
                    let rules = tx
                        .program(program)
                        .await?
                        .map(|p| p.rules)
                        .unwrap_or_default();
                    for (customer, network, user) in identities {
                        let offset = super::utc_offset_minutes(&rules, tx.now());
                        link_identity(tx, rules.clone(), offset, customer, network, &user).await?;
                    }
                    Ok(())
                })
            })
            .await?;
    }
    Ok(())
}
