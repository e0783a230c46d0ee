//! Programs, merchants, credentials, customers and cards.

use crate::model::{
    Card, CardKind, CardState, Credential, Customer, CustomerState, Merchant, Program,
};
use crate::row::{select, Columns, FromColumns, Row};
use crate::tx::{execute, fetch, int, Tx};
use crate::StoreResult;
use kopilka_domain::ids::{CustomerId, MerchantId, ProgramId};
use kopilka_domain::program::ProgramRules;

impl Tx {
    pub async fn create_program(
        &mut self,
        code: &str,
        name: &str,
        rules: &ProgramRules,
        settings: &serde_json::Value,
    ) -> StoreResult<Program> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO programs (code, name, rules, settings, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            code,
            name,
            serde_json::to_string(rules).expect("rules serialize"),
            settings.to_string(),
            now,
        )?;
        self.program(ProgramId(id))
            .await
            .map(|p| p.expect("just inserted"))
    }

    pub async fn update_program(
        &mut self,
        id: ProgramId,
        name: &str,
        rules: &ProgramRules,
        settings: &serde_json::Value,
    ) -> StoreResult<Option<Program>> {
        execute!(
            self,
            "UPDATE programs SET name = $1, rules = $2, settings = $3 WHERE id = $4",
            name,
            serde_json::to_string(rules).expect("rules serialize"),
            settings.to_string(),
            id.0,
        )?;
        self.program(id).await
    }

    pub async fn program(&mut self, id: ProgramId) -> StoreResult<Option<Program>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Program,
            &select::<Program>("programs WHERE id = $1"),
            id.0
        )?)
    }

    /// A customer's program and, when `merchant_id` is given and exists, that merchant's
    /// program id and webhook URL: what an operation request checks before its write, in one
    /// statement. `None` when there is no such customer.
    pub async fn program_of_customer(
        &mut self,
        customer_id: CustomerId,
        merchant_id: Option<MerchantId>,
    ) -> StoreResult<Option<CustomerProgram>> {
        let sql = format!(
            "SELECT {}, merchants.program_id, merchants.webhook_url FROM customers c JOIN programs ON programs.id = c.program_id LEFT JOIN merchants ON merchants.id = $2 WHERE c.id = $1",
            Program::COLUMNS
        );
        Ok(fetch!(
            self,
            fetch_optional,
            CustomerProgram,
            &sql,
            customer_id.0,
            merchant_id.map(|id| id.0),
        )?)
    }

    pub async fn programs(&mut self) -> StoreResult<Vec<Program>> {
        Ok(fetch!(
            self,
            fetch_all,
            Program,
            &select::<Program>("programs ORDER BY id")
        )?)
    }

    pub async fn create_merchant(
        &mut self,
        program_id: ProgramId,
        name: &str,
        sms_name: &str,
        return_hosts: &[String],
    ) -> StoreResult<Merchant> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO merchants (program_id, name, sms_name, return_hosts, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            program_id.0,
            name,
            sms_name,
            serde_json::to_string(return_hosts).expect("hosts serialize"),
            now,
        )?;
        self.merchant(MerchantId(id))
            .await
            .map(|m| m.expect("just inserted"))
    }

    pub async fn update_merchant(
        &mut self,
        id: MerchantId,
        name: &str,
        sms_name: &str,
        return_hosts: &[String],
        webhook_url: Option<&str>,
    ) -> StoreResult<Option<Merchant>> {
        execute!(
            self,
            "UPDATE merchants SET name = $1, sms_name = $2, return_hosts = $3, webhook_url = $4 WHERE id = $5",
            name,
            sms_name,
            serde_json::to_string(return_hosts).expect("hosts serialize"),
            webhook_url,
            id.0,
        )?;
        self.merchant(id).await
    }

    pub async fn set_webhook_secret(&mut self, id: MerchantId, sealed: &str) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE merchants SET webhook_secret = $1 WHERE id = $2",
            sealed,
            id.0
        )?;
        Ok(())
    }

    pub async fn merchant(&mut self, id: MerchantId) -> StoreResult<Option<Merchant>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Merchant,
            &select::<Merchant>("merchants WHERE id = $1"),
            id.0
        )?)
    }

    pub async fn merchants(&mut self, program_id: Option<ProgramId>) -> StoreResult<Vec<Merchant>> {
        Ok(fetch!(
            self,
            fetch_all,
            Merchant,
            &select::<Merchant>("merchants WHERE ($1 IS NULL OR program_id = $1) ORDER BY id"),
            program_id.map(|id| id.0)
        )?)
    }

    pub async fn add_credential(
        &mut self,
        merchant_id: MerchantId,
        protocol: &str,
        login: &str,
        secret_hash: Option<&str>,
        sealed_secret: Option<&str>,
        meta: &serde_json::Value,
    ) -> StoreResult<Credential> {
        let now = self.now();
        let id = int!(
            self,
            "INSERT INTO credentials (merchant_id, protocol, login, secret_hash, sealed_secret, meta, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            merchant_id.0,
            protocol,
            login,
            secret_hash,
            sealed_secret,
            meta.to_string(),
            now,
        )?;
        Ok(fetch!(
            self,
            fetch_one,
            Credential,
            &select::<Credential>("credentials WHERE id = $1"),
            id
        )?)
    }

    pub async fn credential(
        &mut self,
        protocol: &str,
        login: &str,
    ) -> StoreResult<Option<Credential>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Credential,
            &select::<Credential>("credentials WHERE protocol = $1 AND login = $2"),
            protocol,
            login
        )?)
    }

    pub async fn credentials_of(
        &mut self,
        merchant_id: MerchantId,
    ) -> StoreResult<Vec<Credential>> {
        Ok(fetch!(
            self,
            fetch_all,
            Credential,
            &select::<Credential>("credentials WHERE merchant_id = $1 ORDER BY id"),
            merchant_id.0
        )?)
    }

    /// Every credential of one protocol, oldest first.
    pub async fn credentials_for(&mut self, protocol: &str) -> StoreResult<Vec<Credential>> {
        Ok(fetch!(
            self,
            fetch_all,
            Credential,
            &select::<Credential>("credentials WHERE protocol = $1 ORDER BY id"),
            protocol
        )?)
    }

    /// A new secret's hash for a credential that is not disabled; whether it was one.
    pub async fn set_credential_secret_hash(&mut self, id: i64, hash: &str) -> StoreResult<bool> {
        let changed = execute!(
            self,
            "UPDATE credentials SET secret_hash = $1 WHERE id = $2 AND disabled_at IS NULL",
            hash,
            id
        )?;
        Ok(changed == 1)
    }

    /// Disables the credential (once: a disabled one keeps its first time).
    pub async fn disable_credential(&mut self, id: i64) -> StoreResult<()> {
        let now = self.now();
        execute!(
            self,
            "UPDATE credentials SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2",
            now,
            id
        )?;
        Ok(())
    }

    pub async fn create_customer(&mut self, new: &NewCustomer) -> StoreResult<Customer> {
        let now = self.now();
        let member_no = new
            .member_no
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id = int!(
            self,
            "INSERT INTO customers (program_id, phone, email, password_hash, pin_hash, member_no, state, profile, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            new.program_id.0,
            &new.phone,
            &new.email,
            &new.password_hash,
            &new.pin_hash,
            member_no,
            new.state.as_str(),
            new.profile.to_string(),
            now,
        )?;
        if new.member_no.is_none() {
            // Member numbers follow the row id, so concurrent enrolments never collide.
            execute!(
                self,
                "UPDATE customers SET member_no = $1 WHERE id = $2",
                format!("{}", 1_000_000_000 + id),
                id,
            )?;
        }
        self.customer(CustomerId(id))
            .await
            .map(|c| c.expect("just inserted"))
    }

    pub async fn customer(&mut self, id: CustomerId) -> StoreResult<Option<Customer>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Customer,
            &select::<Customer>("customers WHERE id = $1"),
            id.0
        )?)
    }

    /// The customer with this phone in the program; a merged customer's phone leads to the
    /// customer it was merged into.
    pub async fn customer_by_phone(
        &mut self,
        program_id: ProgramId,
        phone: &str,
    ) -> StoreResult<Option<Customer>> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {} FROM customers JOIN customers owner ON owner.program_id = customers.program_id AND owner.phone = $2 WHERE customers.id = COALESCE(owner.merged_into, owner.id) AND owner.program_id = $1",
                Customer::COLUMNS
            )
        });
        Ok(fetch!(
            self,
            fetch_optional,
            Customer,
            &SQL,
            program_id.0,
            phone
        )?)
    }

    pub async fn update_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE customers SET phone = $1, email = $2, password_hash = $3, pin_hash = $4, state = $5, profile = $6, name = $7, name_key = $8, birthday = $9, blocked_reason = $10, merged_into = $11, closed_at = $12, member_no = $13 WHERE id = $14",
            &customer.phone,
            &customer.email,
            &customer.password_hash,
            &customer.pin_hash,
            customer.state.as_str(),
            customer.profile.to_string(),
            &customer.name,
            customer.name.as_deref().map(kopilka_domain::customer::name_key),
            &customer.birthday,
            &customer.blocked_reason,
            customer.merged_into.map(|id| id.0),
            customer.closed_at,
            &customer.member_no,
            customer.id.0,
        )?;
        Ok(())
    }

    pub async fn create_card(
        &mut self,
        program_id: ProgramId,
        number: &str,
        kind: CardKind,
        customer_id: Option<CustomerId>,
    ) -> StoreResult<Card> {
        let now = self.now();
        let state = if customer_id.is_some() {
            CardState::Active
        } else {
            CardState::Free
        };
        let id = int!(
            self,
            "INSERT INTO cards (program_id, number, kind, state, customer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            program_id.0,
            number,
            kind.as_str(),
            state.as_str(),
            customer_id.map(|id| id.0),
            now,
        )?;
        Ok(fetch!(
            self,
            fetch_one,
            Card,
            &select::<Card>("cards WHERE id = $1"),
            id
        )?)
    }

    pub async fn card(&mut self, id: i64) -> StoreResult<Option<Card>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Card,
            &select::<Card>("cards WHERE id = $1"),
            id
        )?)
    }

    pub async fn card_by_number(
        &mut self,
        program_id: ProgramId,
        number: &str,
    ) -> StoreResult<Option<Card>> {
        Ok(fetch!(
            self,
            fetch_optional,
            Card,
            &select::<Card>("cards WHERE program_id = $1 AND number = $2"),
            program_id.0,
            number
        )?)
    }

    pub async fn cards(
        &mut self,
        program_id: Option<ProgramId>,
        customer_id: Option<CustomerId>,
    ) -> StoreResult<Vec<Card>> {
        Ok(fetch!(
            self,
            fetch_all,
            Card,
            &select::<Card>("cards WHERE ($1 IS NULL OR program_id = $1) AND ($2 IS NULL OR customer_id = $2) ORDER BY id"),
            program_id.map(|id| id.0),
            customer_id.map(|id| id.0)
        )?)
    }

    pub async fn update_card(
        &mut self,
        id: i64,
        state: CardState,
        customer_id: Option<CustomerId>,
    ) -> StoreResult<()> {
        execute!(
            self,
            "UPDATE cards SET state = $1, customer_id = $2 WHERE id = $3",
            state.as_str(),
            customer_id.map(|id| id.0),
            id,
        )?;
        Ok(())
    }
}

impl FromColumns for CustomerProgram {
    fn decode(c: &mut Columns<'_>) -> StoreResult<CustomerProgram> {
        Ok(CustomerProgram {
            program: Program::decode(c)?,
            merchant_program: c.next::<Option<i64>>()?.map(ProgramId),
            merchant_webhook_url: c.next()?,
        })
    }
}

/// A customer's program, and what an operation request needs of the merchant it names.
#[derive(Debug, Clone)]
pub struct CustomerProgram {
    pub program: Program,
    /// The merchant's program; `None` when no merchant is named or there is no such merchant.
    pub merchant_program: Option<ProgramId>,
    /// Where the merchant wants its operations' events; read here so the write job need not.
    pub merchant_webhook_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub program_id: ProgramId,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub pin_hash: Option<String>,
    pub member_no: Option<String>,
    pub state: CustomerState,
    pub profile: serde_json::Value,
}

impl NewCustomer {
    pub fn active(program_id: ProgramId, phone: Option<String>) -> NewCustomer {
        NewCustomer {
            program_id,
            phone,
            email: None,
            password_hash: None,
            pin_hash: None,
            member_no: None,
            state: CustomerState::Active,
            profile: serde_json::json!({}),
        }
    }
}
