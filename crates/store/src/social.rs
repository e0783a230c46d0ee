//! Social networks (migration 0027, docs/social.md): each program's VK group and
//! Facebook/Instagram app, its OAuth clients, customers' network identities, the activity the
//! networks reported — so a removal takes back exactly what its like, comment, repost or join
//! gave — and the OAuth flows under way.

use crate::offers::{apply_event, Applied, EventRequest};
use crate::row::{row, select};
use crate::tx::{execute, fetch, scalar, Tx};
use crate::{StoreError, StoreResult};
use kopilka_domain::ids::{CustomerId, ProgramId};
use kopilka_domain::offers::{Customer, Event, Network, SocialEvent, SocialKind, Trigger};
use kopilka_domain::program::ProgramRules;
use kopilka_domain::DomainError;

/// A program's VK group and Facebook/Instagram app; secrets sealed by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocialSettings {
    pub vk_group_id: Option<i64>,
    pub vk_confirmation: Option<String>,
    pub sealed_vk_secret: Option<String>,
    pub sealed_facebook_app_secret: Option<String>,
    pub sealed_facebook_verify_token: Option<String>,
    pub facebook_page_ids: Vec<String>,
    pub instagram_account_ids: Vec<String>,
    /// The VK API token the periodic collector reads the community with; none: no collector.
    pub sealed_vk_access_token: Option<String>,
    /// The VK API's address (`https://api.vk.com/method`; a stand-in's in tests).
    pub vk_api_url: Option<String>,
}

/// An OAuth client of a network (VK ID, Facebook) for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub network: Network,
    pub client_id: String,
    pub sealed_client_secret: String,
    pub authorize_url: String,
    pub token_url: String,
    pub user_info_url: String,
}

/// A network profile a customer linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub network: Network,
    pub network_user_id: String,
    /// Unix milliseconds.
    pub linked_at: i64,
}

/// An OAuth flow under way, as its callback finds it.
#[derive(Debug, Clone)]
pub struct OAuthFlow {
    pub program_id: ProgramId,
    pub network: Network,
    /// `link` (a signed-in customer links a profile) or `signin` (sign in or register).
    pub purpose: String,
    pub customer_id: Option<CustomerId>,
    pub session_digest: Option<String>,
    pub sealed_code_verifier: String,
}

row!(
    SocialSettings,
    "social_settings.vk_group_id, social_settings.vk_confirmation, social_settings.sealed_vk_secret, social_settings.sealed_facebook_app_secret, social_settings.sealed_facebook_verify_token, social_settings.facebook_page_ids, social_settings.instagram_account_ids, social_settings.sealed_vk_access_token, social_settings.vk_api_url",
    |c| SocialSettings {
        vk_group_id: c.next()?,
        vk_confirmation: c.next()?,
        sealed_vk_secret: c.next()?,
        sealed_facebook_app_secret: c.next()?,
        sealed_facebook_verify_token: c.next()?,
        facebook_page_ids: c.json("facebook_page_ids")?,
        instagram_account_ids: c.json("instagram_account_ids")?,
        sealed_vk_access_token: c.next()?,
        vk_api_url: c.next()?,
    }
);
row!(
    OAuthClient,
    "social_oauth_clients.network, social_oauth_clients.client_id, social_oauth_clients.sealed_client_secret, social_oauth_clients.authorize_url, social_oauth_clients.token_url, social_oauth_clients.user_info_url",
    |c| OAuthClient {
        network: c.parse("network", |s: &String| parse_network(s))?,
        client_id: c.next()?,
        sealed_client_secret: c.next()?,
        authorize_url: c.next()?,
        token_url: c.next()?,
        user_info_url: c.next()?,
    }
);
row!(
    LinkedIdentity,
    "social_identities.network, social_identities.network_user_id, social_identities.created_at",
    |c| LinkedIdentity {
        network: c.parse("network", |s: &String| parse_network(s))?,
        network_user_id: c.next()?,
        linked_at: c.next()?,
    }
);
row!(
    OAuthFlow,
    "social_oauth_flows.program_id, social_oauth_flows.network, social_oauth_flows.purpose, social_oauth_flows.customer_id, social_oauth_flows.session_digest, social_oauth_flows.sealed_code_verifier",
    |c| OAuthFlow {
        program_id: ProgramId(c.next()?),
        network: c.parse("network", |s: &String| parse_network(s))?,
        purpose: c.next()?,
        customer_id: c.next::<Option<i64>>()?.map(CustomerId),
        session_digest: c.next()?,
        sealed_code_verifier: c.next()?,
    }
);

/// What a network's event was on: `object` is the network's id of the post, comment or group.
#[derive(Debug, Clone)]
pub struct NetworkEvent {
    pub program_id: ProgramId,
    pub rules: ProgramRules,
    /// The program's UTC offset at `at`, minutes.
    pub utc_offset_minutes: i32,
    /// Unique per program, prefixed with the network (`vk:…`).
    pub event_id: String,
    pub at: i64,
    pub network: Network,
    pub kind: SocialKind,
    pub group: Option<String>,
    /// Who did it, in the network's ids.
    pub network_user_id: String,
    pub object: String,
    /// A removal by anyone (a comment an admin deleted) finds its original by the object alone.
    pub undo_by_object: bool,
    /// The event's content as the network sent it: a repeat with other content is refused.
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub enum NetworkOutcome {
    /// Nobody linked that network account: nothing is applied (the seed asks for a linked
    /// profile), nothing is kept.
    Unlinked,
    Applied {
        customer_id: CustomerId,
        applied: Applied,
    },
}

/// What linking an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// Newly linked; `profile_linked` applied.
    New,
    /// That account was already this customer's.
    Already,
    /// The account is another customer's.
    TakenByAnother,
    /// The customer has another account of that network.
    CustomerHasAnother,
}

fn network_name(network: Network) -> String {
    serde_json::to_value(network)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse_network(name: &str) -> Option<Network> {
    serde_json::from_value(serde_json::Value::String(name.into())).ok()
}

fn ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("strings serialize")
}

/// The activity a kind records, and whether it undoes one.
fn activity_of(kind: SocialKind) -> Option<(&'static str, bool)> {
    Some(match kind {
        SocialKind::ProfileLinked => return None,
        SocialKind::GroupJoined => ("member", false),
        SocialKind::GroupLeft => ("member", true),
        SocialKind::Like => ("like", false),
        SocialKind::LikeRemoved => ("like", true),
        SocialKind::Comment => ("comment", false),
        SocialKind::CommentRemoved => ("comment", true),
        SocialKind::Repost => ("repost", false),
        SocialKind::RepostRemoved => ("repost", true),
    })
}

impl Tx {
    pub async fn social_settings(
        &mut self,
        program_id: ProgramId,
    ) -> StoreResult<Option<SocialSettings>> {
        let sql = select::<SocialSettings>("social_settings WHERE program_id = $1");
        fetch!(self, fetch_optional, SocialSettings, &sql, program_id.0)
    }

    /// Replaces the program's settings and OAuth clients.
    pub async fn put_social_settings(
        &mut self,
        program_id: ProgramId,
        settings: &SocialSettings,
        clients: &[OAuthClient],
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO social_settings (program_id, vk_group_id, vk_confirmation, sealed_vk_secret, sealed_facebook_app_secret, sealed_facebook_verify_token, facebook_page_ids, instagram_account_ids, updated_at, sealed_vk_access_token, vk_api_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (program_id) DO UPDATE SET vk_group_id = excluded.vk_group_id, vk_confirmation = excluded.vk_confirmation, sealed_vk_secret = excluded.sealed_vk_secret, sealed_facebook_app_secret = excluded.sealed_facebook_app_secret, sealed_facebook_verify_token = excluded.sealed_facebook_verify_token, facebook_page_ids = excluded.facebook_page_ids, instagram_account_ids = excluded.instagram_account_ids, updated_at = excluded.updated_at, sealed_vk_access_token = excluded.sealed_vk_access_token, vk_api_url = excluded.vk_api_url",
            program_id.0,
            settings.vk_group_id,
            &settings.vk_confirmation,
            &settings.sealed_vk_secret,
            &settings.sealed_facebook_app_secret,
            &settings.sealed_facebook_verify_token,
            ids_json(&settings.facebook_page_ids),
            ids_json(&settings.instagram_account_ids),
            now,
            &settings.sealed_vk_access_token,
            &settings.vk_api_url,
        )?;
        execute!(
            self,
            "DELETE FROM social_oauth_clients WHERE program_id = $1",
            program_id.0,
        )?;
        for client in clients {
            execute!(
                self,
                "INSERT INTO social_oauth_clients (program_id, network, client_id, sealed_client_secret, authorize_url, token_url, user_info_url, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                program_id.0,
                network_name(client.network),
                &client.client_id,
                &client.sealed_client_secret,
                &client.authorize_url,
                &client.token_url,
                &client.user_info_url,
                now,
            )?;
        }
        Ok(())
    }

    /// The program's OAuth clients, by network.
    pub async fn oauth_clients(&mut self, program_id: ProgramId) -> StoreResult<Vec<OAuthClient>> {
        let sql =
            select::<OAuthClient>("social_oauth_clients WHERE program_id = $1 ORDER BY network");
        fetch!(self, fetch_all, OAuthClient, &sql, program_id.0)
    }

    /// The customer a network account is linked to.
    pub async fn social_identity(
        &mut self,
        program_id: ProgramId,
        network: Network,
        network_user_id: &str,
    ) -> StoreResult<Option<CustomerId>> {
        Ok(scalar!(
            self,
            fetch_optional,
            i64,
            "SELECT customer_id FROM social_identities WHERE program_id = $1 AND network = $2 AND network_user_id = $3",
            program_id.0,
            network_name(network),
            network_user_id,
        )?
        .map(CustomerId))
    }

    /// The networks a customer linked, by network.
    pub async fn social_identities_of(
        &mut self,
        customer_id: CustomerId,
    ) -> StoreResult<Vec<LinkedIdentity>> {
        Ok(fetch!(
            self,
            fetch_all,
            LinkedIdentity,
            &select::<LinkedIdentity>("social_identities WHERE customer_id = $1 ORDER BY network"),
            customer_id.0,
        )?)
    }

    pub async fn create_oauth_flow(
        &mut self,
        state_digest: &str,
        flow: &OAuthFlow,
        expires_at: i64,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO social_oauth_flows (state_digest, program_id, network, purpose, customer_id, session_digest, sealed_code_verifier, used, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
            state_digest,
            flow.program_id.0,
            network_name(flow.network),
            &flow.purpose,
            flow.customer_id.map(|c| c.0),
            &flow.session_digest,
            &flow.sealed_code_verifier,
            expires_at,
            now,
        )?;
        Ok(())
    }

    /// Takes the flow of a `state`, once: an unknown, used or expired state finds none.
    pub async fn take_oauth_flow(&mut self, state_digest: &str) -> StoreResult<Option<OAuthFlow>> {
        let now = self.now();
        // The update is the claim: of two callbacks with one state, one changes the row.
        let claimed = execute!(
            self,
            "UPDATE social_oauth_flows SET used = 1 WHERE state_digest = $1 AND used = 0 AND expires_at > $2",
            state_digest,
            now,
        )?;
        if claimed == 0 {
            return Ok(None);
        }
        let sql = select::<OAuthFlow>("social_oauth_flows WHERE state_digest = $1");
        Ok(Some(fetch!(
            self,
            fetch_one,
            OAuthFlow,
            &sql,
            state_digest
        )?))
    }
}

/// Links a network account to a customer and applies `profile_linked` at once (event id
/// `link:{network}:{account}`: an account earns its linking bonus once per program).
pub async fn link_identity(
    tx: &mut Tx,
    rules: ProgramRules,
    utc_offset_minutes: i32,
    customer_id: CustomerId,
    network: Network,
    network_user_id: &str,
) -> StoreResult<Linked> {
    let customer = tx
        .customer(customer_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("customer {} is gone", customer_id.0)))?;
    let program_id = customer.program_id;
    match tx
        .social_identity(program_id, network, network_user_id)
        .await?
    {
        Some(owner) if owner == customer_id => return Ok(Linked::Already),
        Some(_) => return Ok(Linked::TakenByAnother),
        None => {}
    }
    let has_another = scalar!(
        tx,
        fetch_optional,
        String,
        "SELECT network_user_id FROM social_identities WHERE program_id = $1 AND customer_id = $2 AND network = $3",
        program_id.0,
        customer_id.0,
        network_name(network),
    )?;
    if has_another.is_some() {
        return Ok(Linked::CustomerHasAnother);
    }
    let now = tx.now();
    let inserted = execute!(
        tx,
        "INSERT INTO social_identities (program_id, network, network_user_id, customer_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        program_id.0,
        network_name(network),
        network_user_id,
        customer_id.0,
        now,
    )?;
    if inserted == 0 {
        // A concurrent link of the same account or network won.
        return Ok(Linked::TakenByAnother);
    }
    let name = network_name(network);
    apply_event(
        tx,
        EventRequest {
            program_id,
            rules,
            customer: Customer {
                id: customer_id,
                utc_offset_minutes,
                ..Customer::default()
            },
            trigger: Trigger {
                event_id: format!("link:{name}:{network_user_id}"),
                at: now,
                event: Event::Social(SocialEvent {
                    network,
                    kind: SocialKind::ProfileLinked,
                    group: None,
                }),
                undoes: Vec::new(),
            },
            undoes: None,
            fingerprint: kopilka_domain::ledger::fingerprint(&[&name, network_user_id]),
        },
    )
    .await?;
    Ok(Linked::New)
}

/// Applies a network's event in the caller's write transaction: finds the customer (through
/// the account's identity, or for a removal through the activity it undoes), applies the
/// event with what it undoes, and records its activity for a later removal.
pub async fn apply_network_event(tx: &mut Tx, event: NetworkEvent) -> StoreResult<NetworkOutcome> {
    let (activity, undoing) = activity_of(event.kind).ok_or_else(|| DomainError::Invalid {
        field: "kind",
        reason: "linking a profile is not a network's event".into(),
    })?;
    let network = network_name(event.network);
    let mut undone: Option<(String, CustomerId)> = None;
    if undoing {
        // A comment's deletion may be an admin's: found by the comment alone ('' matches all).
        let user = if event.undo_by_object {
            ""
        } else {
            event.network_user_id.as_str()
        };
        undone = fetch!(
            tx,
            fetch_optional,
            (String, i64),
            "SELECT event_id, customer_id FROM social_activity WHERE program_id = $1 AND network = $2 AND activity = $3 AND object = $4 AND ($5 = '' OR network_user_id = $5) ORDER BY id DESC LIMIT 1",
            event.program_id.0,
            &network,
            activity,
            &event.object,
            user,
        )?
        .map(|(id, customer)| (id, CustomerId(customer)));
    }
    let customer_id = match &undone {
        Some((_, customer)) => *customer,
        None => match tx
            .social_identity(event.program_id, event.network, &event.network_user_id)
            .await?
        {
            Some(customer) => customer,
            None => return Ok(NetworkOutcome::Unlinked),
        },
    };
    let applied = apply_event(
        tx,
        EventRequest {
            program_id: event.program_id,
            rules: event.rules,
            customer: Customer {
                id: customer_id,
                utc_offset_minutes: event.utc_offset_minutes,
                ..Customer::default()
            },
            trigger: Trigger {
                event_id: event.event_id.clone(),
                at: event.at,
                event: Event::Social(SocialEvent {
                    network: event.network,
                    kind: event.kind,
                    group: event.group,
                }),
                undoes: Vec::new(),
            },
            undoes: undone.map(|(id, _)| id),
            fingerprint: event.fingerprint,
        },
    )
    .await?;
    if !undoing && !applied.replayed {
        let now = tx.now();
        execute!(
            tx,
            "INSERT INTO social_activity (program_id, event_id, network, activity, object, network_user_id, customer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            event.program_id.0,
            &event.event_id,
            &network,
            activity,
            &event.object,
            &event.network_user_id,
            customer_id.0,
            now,
        )?;
    }
    Ok(NetworkOutcome::Applied {
        customer_id,
        applied,
    })
}

/// A customer registered through a network: no phone, the account linked at once.
pub async fn register_with_identity(
    tx: &mut Tx,
    program_id: ProgramId,
    rules: ProgramRules,
    utc_offset_minutes: i32,
    network: Network,
    network_user_id: &str,
) -> StoreResult<CustomerId> {
    let customer = tx
        .create_customer(&crate::entities::NewCustomer::active(program_id, None))
        .await?;
    match link_identity(
        tx,
        rules,
        utc_offset_minutes,
        customer.id,
        network,
        network_user_id,
    )
    .await?
    {
        Linked::New => Ok(customer.id),
        // Someone registered with that account at the same moment: roll back and let the
        // caller sign in again.
        _ => Err(StoreError::Duplicate("social identity".into())),
    }
}

impl Tx {
    /// The programs whose VK community the periodic collector reads (a token is set).
    pub async fn collected_programs(&mut self) -> StoreResult<Vec<ProgramId>> {
        let ids = scalar!(
            self,
            fetch_all,
            i64,
            "SELECT program_id FROM social_settings WHERE sealed_vk_access_token IS NOT NULL AND vk_group_id IS NOT NULL ORDER BY program_id",
        )?;
        Ok(ids.into_iter().map(ProgramId).collect())
    }

    /// What the collector last saw of `subject`: the sorted account ids and the round
    /// (`None`: never read).
    pub async fn collector_round(
        &mut self,
        program_id: ProgramId,
        network: Network,
        subject: &str,
    ) -> StoreResult<Option<(Vec<String>, i64)>> {
        let row = fetch!(
            self,
            fetch_optional,
            (String, i64),
            "SELECT members, round FROM social_collector_rounds WHERE program_id = $1 AND network = $2 AND subject = $3",
            program_id.0,
            network_name(network),
            subject,
        )?;
        row.map(|(members, round)| {
            serde_json::from_str(&members)
                .map(|members| (members, round))
                .map_err(|e| StoreError::Corrupt(format!("collector round: {e}")))
        })
        .transpose()
    }

    /// Keeps what the collector saw of `subject` as of `round`.
    pub async fn save_collector_round(
        &mut self,
        program_id: ProgramId,
        network: Network,
        subject: &str,
        members: &[String],
        round: i64,
    ) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "INSERT INTO social_collector_rounds (program_id, network, subject, members, round, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (program_id, network, subject) DO UPDATE SET members = excluded.members, round = excluded.round, updated_at = excluded.updated_at",
            program_id.0,
            network_name(network),
            subject,
            serde_json::to_string(members).expect("ids serialize"),
            round,
            now,
        )?;
        Ok(())
    }
}
