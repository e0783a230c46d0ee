//! Phone numbers: stored as E.164 digits (no '+'), masked in responses and logs.

use crate::DomainError;

/// A phone number in E.164 form without the '+': "380671111111".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Accepts the common ways people write a number: "+380 67 111-11-11", "380671111111",
    /// "(916) 123-45-67" is refused (no country code), a Russian trunk "8 916 123 45 67" becomes
    /// 79161234567.
    pub fn parse(text: &str) -> Result<Phone, DomainError> {
        let trimmed = text.trim();
        let mut digits = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(invalid("contains characters other than digits")),
            }
        }
        if digits.len() == 11 && digits.starts_with('8') && !trimmed.starts_with('+') {
            digits.replace_range(0..1, "7");
        }
        if !(10..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(invalid("must be 10 to 15 digits with the country code"));
        }
        Ok(Phone(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// "***1111": the last four digits only.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks any string of digits as `***` + its last four characters.
pub fn mask(digits: &str) -> String {
    let tail: String = digits
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}

fn invalid(reason: &str) -> DomainError {
    DomainError::Invalid {
        field: "phone",
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_common_formats() {
        assert_eq!(Phone::parse("380671111111").unwrap().digits(), "380671111111");
        assert_eq!(
            Phone::parse("+380 (67) 111-11-11").unwrap().digits(),
            "380671111111"
        );
        assert_eq!(
            Phone::parse("8 916 123 45 67").unwrap().digits(),
            "79161234567"
        );
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("38067abc").is_err());
        assert_eq!(Phone::parse("380671111111").unwrap().masked(), "***1111");
    }
}
