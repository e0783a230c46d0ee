//! A member's standing (may points move?) and the rules on the personal data an operator
//! enters: e-mail, name, birthday, attributes.

use crate::ids::CustomerId;
use crate::DomainError;

/// Where a customer stands for the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Active, or registering through Loymax: points move.
    Open,
    Blocked,
    Merged {
        into: CustomerId,
    },
    Anonymised,
}

impl Standing {
    /// Whether the customer may earn, be accrued, redeem, be withdrawn from or transfer.
    /// Confirming, voiding and reversing what was done before stay possible for a blocked
    /// customer (a refund must still come back); reads always are.
    pub fn may_move_points(self) -> Result<(), DomainError> {
        match self {
            Standing::Open => Ok(()),
            Standing::Blocked => Err(DomainError::CustomerBlocked),
            Standing::Merged { into } => Err(DomainError::CustomerMerged { into }),
            Standing::Anonymised => Err(DomainError::CustomerAnonymised),
        }
    }

    /// Whether confirm, void and reversal of the customer's operations may run: not once the
    /// account is closed (merged: its points moved; anonymised: burned).
    pub fn may_resolve(self) -> Result<(), DomainError> {
        match self {
            Standing::Open | Standing::Blocked => Ok(()),
            closed => closed.may_move_points(),
        }
    }
}

/// The longest block reason kept.
pub const MAX_BLOCK_REASON: usize = 500;

fn invalid(field: &'static str, reason: &str) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

/// An e-mail address as entered, trimmed; compared and searched case-insensitively.
pub fn parse_email(text: &str) -> Result<String, DomainError> {
    let email = text.trim();
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or_else(|| invalid("email", "not an e-mail address"))?;
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || email.len() > 254
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("email", "not an e-mail address"));
    }
    Ok(email.to_string())
}

/// A person's name: 1 to 200 characters, no control characters; inner runs of spaces kept.
pub fn parse_name(text: &str) -> Result<String, DomainError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "1 to 200 characters without control characters",
        ));
    }
    Ok(name.to_string())
}

/// What names are searched by: lower case in every script (SQLite's `lower` folds ASCII
/// only, so the store keeps this next to the name).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A birthday as `YYYY-MM-DD`, a real date between 1900-01-01 and `today` (`YYYY-MM-DD`).
pub fn parse_birthday(text: &str, today: &str) -> Result<String, DomainError> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| invalid("birthday", "a date as YYYY-MM-DD"))?;
    let formatted = date.format("%Y-%m-%d").to_string();
    if formatted.as_str() < "1900-01-01" || formatted.as_str() > today {
        return Err(invalid("birthday", "between 1900-01-01 and today"));
    }
    Ok(formatted)
}

/// Attributes: a JSON object of at most 50 keys of at most 64 characters, 8 KiB in all.
pub fn check_attributes(value: &serde_json::Value) -> Result<(), DomainError> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid("attributes", "a JSON object"))?;
    if object.len() > 50
        || object
            .keys()
            .any(|k| k.is_empty() || k.chars().count() > 64)
    {
        return Err(invalid(
            "attributes",
            "at most 50 keys of 1 to 64 characters",
        ));
    }
    if value.to_string().len() > 8192 {
        return Err(invalid("attributes", "at most 8 KiB"));
    }
    Ok(())
}

/// The member number an anonymised customer keeps: unique, and says nothing of the person.
pub fn anonymised_member_no(id: CustomerId) -> String {
    format!("anonymised-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_customers_move_points() {
        assert!(Standing::Open.may_move_points().is_ok());
        assert_eq!(
            Standing::Blocked.may_move_points(),
            Err(DomainError::CustomerBlocked)
        );
        assert!(Standing::Blocked.may_resolve().is_ok());
        assert_eq!(
            Standing::Merged {
                into: CustomerId(7)
            }
            .may_resolve(),
            Err(DomainError::CustomerMerged {
                into: CustomerId(7)
            })
        );
        assert!(Standing::Anonymised.may_resolve().is_err());
    }

    #[test]
    fn personal_data_is_checked() {
        assert_eq!(
            parse_email(" Ivan@Example.com ").unwrap(),
            "Ivan@Example.com"
        );
        for bad in [
            "ivan",
            "@example.com",
            "ivan@",
            "ivan@example",
            "iv an@example.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_name("  Олена Петренко ").unwrap(), "Олена Петренко");
        assert!(parse_name("").is_err());
        assert!(parse_name("a\u{0}b").is_err());
        assert_eq!(name_key("ОЛЕНА Petrenko"), "олена petrenko");
        assert_eq!(
            parse_birthday("1990-05-01", "2026-12-03").unwrap(),
            "1990-05-01"
        );
        assert!(parse_birthday("1990-02-30", "2026-12-03").is_err());
        assert!(parse_birthday("2030-01-01", "2026-12-03").is_err());
        assert!(parse_birthday("01.05.1990", "2026-12-03").is_err());
        assert!(check_attributes(&serde_json::json!({"city": "Kyiv"})).is_ok());
        assert!(check_attributes(&serde_json::json!([1])).is_err());
    }
}
