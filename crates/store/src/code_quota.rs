//! Codes sent by SMS, counted on each key of `kopilka_domain::code_quota` (`code_sends`).

use crate::tx::{execute, int, Tx};
use crate::StoreResult;
use kopilka_domain::code_quota::{self, CodesSent, Exceeded, Surface};

/// One code about to go out: to whom, asked from where, for which shop or platform.
#[derive(Debug, Clone, Copy)]
pub struct CodeSending<'a> {
    pub surface: Surface,
    pub phone: &'a str,
    pub address: &'a str,
    /// `merchant:ID`, `platform:ID`, `cabinet`.
    pub sender: &'a str,
}

impl Tx {
    /// Makes the requests naming one phone, address or sender of `sending` run one after the
    /// other in every process, to the transaction's end (phone, then address, then sender,
    /// everywhere). A caller that must look before it sends (is a code still valid?) takes
    /// this first; [`Tx::spend_code_quota`] takes it anyway.
    pub async fn serialize_code_sending(&mut self, sending: CodeSending<'_>) -> StoreResult<()> {
        let surface = sending.surface.name();
        self.serialize_on(&format!("codes:{surface}:phone:{}", sending.phone))
            .await?;
        self.serialize_on(&format!("codes:{surface}:address:{}", sending.address))
            .await?;
        self.serialize_on(&format!("codes:{surface}:sender:{}", sending.sender))
            .await
    }

    /// Counts the code against its quotas and records it when every quota allows it,
    /// serialized per key ([`Tx::serialize_code_sending`]) so concurrent requests never exceed
    /// a quota. The sender's rows past the window go as its count is taken (every row has a
    /// sender, and senders are few).
    pub async fn spend_code_quota(
        &mut self,
        sending: CodeSending<'_>,
    ) -> StoreResult<Result<(), Exceeded>> {
        self.serialize_code_sending(sending).await?;
        let surface = sending.surface.name();
        let since = self.now() - code_quota::WINDOW_MS;
        execute!(
            self,
            "DELETE FROM code_sends WHERE surface = $1 AND sender = $2 AND at < $3",
            surface,
            sending.sender,
            since
        )?;
        let count = |column: &'static str| {
            format!(
                "SELECT COUNT(*) FROM code_sends WHERE surface = $1 AND {column} = $2 AND at >= $3"
            )
        };
        let sent = CodesSent {
            by_phone: int!(self, &count("phone"), surface, sending.phone, since)?,
            by_address: int!(self, &count("address"), surface, sending.address, since)?,
            by_sender: int!(self, &count("sender"), surface, sending.sender, since)?,
        };
        if let Err(exceeded) = code_quota::check(sending.surface.quota(), sent) {
            let key = match exceeded {
                Exceeded::Phone => "phone",
                Exceeded::Address => "address",
                Exceeded::Sender => "sender",
            };
            metrics::counter!("kopilka_code_quota_refusals_total", "surface" => surface, "key" => key)
                .increment(1);
            return Ok(Err(exceeded));
        }
        let now = self.now();
        execute!(
            self,
            "INSERT INTO code_sends (surface, phone, address, sender, at) VALUES ($1, $2, $3, $4, $5)",
            surface,
            sending.phone,
            sending.address,
            sending.sender,
            now
        )?;
        Ok(Ok(()))
    }
}
