//! Phone numbers: parsed with libphonenumber's metadata (the `phonenumber` crate) in the
//! program's region, stored as E.164 digits (no '+'), masked in responses and logs.

use crate::DomainError;
use phonenumber::country::Id;

/// A phone number in E.164 form without the '+': "380671111111".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// The region (ISO 3166-1 alpha-2) whose national spellings a program's phones are read in:
/// "067 111 11 11" in `UA` is +380 67 111 11 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Id);

impl Region {
    /// "UA", "ru", …; `None` for a code libphonenumber has no numbering plan for.
    pub fn parse(code: &str) -> Option<Region> {
        code.trim()
            .to_ascii_uppercase()
            .parse::<Id>()
            .ok()
            .map(Region)
    }

    /// The region a program in this IANA time zone most likely serves; `None` when the zone
    /// names no single country (UTC, or a zone this table does not know).
    pub fn of_time_zone(zone: &str) -> Option<Region> {
        let code = match zone {
            "Europe/Kyiv" | "Europe/Kiev" | "Europe/Uzhgorod" | "Europe/Zaporozhye" => "UA",
            "Europe/Moscow" | "Europe/Kaliningrad" | "Europe/Samara" | "Europe/Volgograd"
            | "Asia/Yekaterinburg" | "Asia/Omsk" | "Asia/Novosibirsk" | "Asia/Krasnoyarsk"
            | "Asia/Irkutsk" | "Asia/Yakutsk" | "Asia/Vladivostok" | "Asia/Magadan"
            | "Asia/Kamchatka" => "RU",
            "Asia/Almaty" | "Asia/Qostanay" | "Asia/Aqtobe" | "Asia/Aqtau" | "Asia/Atyrau"
            | "Asia/Oral" | "Asia/Qyzylorda" => "KZ",
            "Europe/Minsk" => "BY",
            "Europe/Chisinau" => "MD",
            "Europe/Warsaw" => "PL",
            "Europe/Berlin" => "DE",
            "Europe/Vienna" => "AT",
            "Europe/London" => "GB",
            "Europe/Paris" => "FR",
            "Asia/Tbilisi" => "GE",
            "Asia/Tashkent" | "Asia/Samarkand" => "UZ",
            "America/New_York"
            | "America/Chicago"
            | "America/Denver"
            | "America/Los_Angeles"
            | "America/Phoenix"
            | "America/Anchorage"
            | "Pacific/Honolulu" => "US",
            _ => return None,
        };
        Region::parse(code)
    }
}

impl Phone {
    /// A number written with its country code: "+380 67 111-11-11", "380671111111",
    /// "+7 (916) 123-45-67". National spellings ("067 …", "8 916 …") are refused: without a
    /// region they could be any country's. See [`Phone::parse_in`].
    pub fn parse(text: &str) -> Result<Phone, DomainError> {
        Phone::parse_in(text, None)
    }

    /// A number as people of `region` write it: the international forms of [`Phone::parse`],
    /// and the region's national form ("067 111 11 11" in UA, "8 916 123 45 67" in RU). The
    /// number must be valid in libphonenumber's metadata, so a national spelling of another
    /// country ("8 067 111 11 11" in UA) is refused, never turned into that country's number.
    pub fn parse_in(text: &str, region: Option<Region>) -> Result<Phone, DomainError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(invalid("must be a phone number"));
        }
        if !trimmed.chars().enumerate().all(|(i, c)| {
            c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.') || (c == '+' && i == 0)
        }) {
            return Err(invalid("contains characters other than digits"));
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let international = trimmed.starts_with('+');
        // National spelling first (it is what the region's people type), then the digits as
        // an international number written without its '+'.
        let mut candidates: Vec<(Option<Id>, String)> = Vec::with_capacity(2);
        if international {
            candidates.push((None, format!("+{digits}")));
        } else {
            if let Some(Region(id)) = region {
                candidates.push((Some(id), digits.clone()));
            }
            candidates.push((None, format!("+{digits}")));
        }
        for (country, candidate) in candidates {
            let Ok(number) = phonenumber::parse(country, &candidate) else {
                continue;
            };
            if phonenumber::is_valid(&number) {
                let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
                return Ok(Phone(e164.trim_start_matches('+').to_string()));
            }
        }
        Err(invalid(if region.is_some() {
            "not a valid number in the program's region or with a country code"
        } else {
            "not a valid number with its country code"
        }))
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

    fn in_region(code: &str, text: &str) -> Result<String, DomainError> {
        Phone::parse_in(text, Some(Region::parse(code).unwrap())).map(|p| p.digits().to_string())
    }

    #[test]
    fn international_spellings_need_no_region() {
        for text in [
            "380671111111",
            "+380671111111",
            "+380 (67) 111-11-11",
            "+38 067 111 11 11",
            " +380.67.111.11.11 ",
        ] {
            assert_eq!(
                Phone::parse(text).unwrap().digits(),
                "380671111111",
                "{text}"
            );
        }
        assert_eq!(
            Phone::parse("+7 916 123-45-67").unwrap().digits(),
            "79161234567"
        );
        assert_eq!(Phone::parse("79161234567").unwrap().digits(), "79161234567");
        assert_eq!(
            Phone::parse("+49 30 901820").unwrap().digits(),
            "4930901820"
        );
        assert_eq!(
            Phone::parse("+1 (212) 555-0123").unwrap().digits(),
            "12125550123"
        );
        // National spellings are ambiguous without a region.
        assert!(Phone::parse("067 111 11 11").is_err());
        assert!(Phone::parse("8 916 123 45 67").is_err());
    }

    #[test]
    fn ukrainian_spellings() {
        for text in [
            "067 111 11 11",
            "0671111111",
            "(067) 111-11-11",
            "067-111-11-11",
            "+380 67 111 11 11",
            "380671111111",
            "+38 (067) 111 11 11",
        ] {
            assert_eq!(in_region("UA", text).unwrap(), "380671111111", "{text}");
        }
        assert_eq!(in_region("UA", "050 123 45 67").unwrap(), "380501234567");
        assert_eq!(in_region("UA", "044 234 56 78").unwrap(), "380442345678");
        // A Russian trunk prefix is never read as Russian in a Ukrainian program…
        assert!(in_region("UA", "8 067 111 11 11").is_err());
        assert!(in_region("UA", "80671111111").is_err());
        // …but a number written with +7 stays Russian anywhere.
        assert_eq!(in_region("UA", "+7 916 123 45 67").unwrap(), "79161234567");
    }

    #[test]
    fn russian_spellings() {
        for text in [
            "8 916 123 45 67",
            "8 (916) 123-45-67",
            "89161234567",
            "+7 916 123-45-67",
            "7 916 123 45 67",
            "916 123 45 67",
            "(916) 123-45-67",
        ] {
            assert_eq!(in_region("RU", text).unwrap(), "79161234567", "{text}");
        }
        assert_eq!(in_region("RU", "8 495 123-45-67").unwrap(), "74951234567");
        assert_eq!(
            in_region("RU", "+380 67 111 11 11").unwrap(),
            "380671111111"
        );
    }

    #[test]
    fn kazakh_spellings() {
        for text in [
            "8 701 123 45 67",
            "+7 701 123 45 67",
            "87011234567",
            "8 (701) 123-45-67",
        ] {
            assert_eq!(in_region("KZ", text).unwrap(), "77011234567", "{text}");
        }
        assert_eq!(in_region("KZ", "8 727 258 12 34").unwrap(), "77272581234");
    }

    #[test]
    fn german_spellings() {
        for text in [
            "030 901820",
            "030/901820",
            "+49 30 901820",
            "0049 30 901820",
        ] {
            if text.contains('/') {
                assert!(in_region("DE", text).is_err(), "{text}: '/' is not taken");
                continue;
            }
            assert_eq!(in_region("DE", text).unwrap(), "4930901820", "{text}");
        }
        assert_eq!(in_region("DE", "0151 23456789").unwrap(), "4915123456789");
    }

    #[test]
    fn american_spellings() {
        for text in [
            "(212) 555-0123",
            "212-555-0123",
            "212.555.0123",
            "1 212 555 0123",
            "+1 212 555 0123",
        ] {
            assert_eq!(in_region("US", text).unwrap(), "12125550123", "{text}");
        }
    }

    #[test]
    fn refuses_what_is_no_number() {
        for text in [
            "",
            "12345",
            "38067abc",
            "+",
            "++380671111111",
            "380 67 111 11 11 11 11 11 11",
        ] {
            assert!(Phone::parse(text).is_err(), "{text}");
            assert!(in_region("UA", text).is_err(), "{text}");
        }
        assert!(in_region("UA", &"1".repeat(40)).is_err());
    }

    #[test]
    fn regions_come_from_codes_and_time_zones() {
        assert_eq!(Region::parse("ua"), Region::parse("UA"));
        assert!(Region::parse("XX").is_none());
        assert_eq!(Region::of_time_zone("Europe/Kyiv"), Region::parse("UA"));
        assert_eq!(Region::of_time_zone("Asia/Almaty"), Region::parse("KZ"));
        assert_eq!(Region::of_time_zone("UTC"), None);
    }

    #[test]
    fn masks() {
        assert_eq!(Phone::parse("380671111111").unwrap().masked(), "***1111");
    }
}
