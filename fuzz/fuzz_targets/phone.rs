//! Phone numbers as people type them (`phonefactor::Phone::parse`, over
//! libphonenumber's rules), with or without a country chosen and with a
//! provider's blocked countries.
//!
//! Properties: an accepted number is E.164 (`+` and 2 to 15 digits); it
//! reads back to itself with no country chosen; it is not in a blocked
//! country; its masked form shows only its last four digits.
#![no_main]

use gatehouse_domain::phonefactor::{self, Phone};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Countries people pick, those that share a calling code (+1, +44, +7),
/// and some libphonenumber has little metadata for.
const REGIONS: &[&str] = &[
    "US", "CA", "GB", "GG", "IM", "JE", "DE", "FR", "IT", "ES", "NL", "CH", "IN", "BR", "JP", "AU",
    "NZ", "RU", "KZ", "CN", "SG", "ZA", "NG", "AR", "MX", "001", "XK", "AQ", "us", " gb ",
];

#[derive(Debug)]
struct Input {
    number: String,
    region: Option<String>,
    blocked: Vec<String>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let region = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(String::arbitrary(u)?),
            _ => Some((*u.choose(REGIONS)?).to_owned()),
        };
        let mut blocked = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            blocked.push((*u.choose(REGIONS)?).to_owned());
        }
        Ok(Self {
            region,
            blocked,
            number: String::from_utf8_lossy(u.bytes(u.len())?).into_owned(),
        })
    }
}

fuzz_target!(|input: Input| {
    let Input {
        number,
        region,
        blocked,
    } = input;
    let Ok(phone) = Phone::parse(&number, region.as_deref(), &blocked) else {
        return;
    };
    let e164 = phone.as_str();
    let digits = e164.strip_prefix('+').expect("E.164 starts with +");
    assert!(
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{number:?} gave {e164:?}"
    );
    assert!(
        !digits.starts_with('0'),
        "{e164:?}: no calling code starts with 0"
    );

    // Stored as E.164 and read again (the activation page, the API).
    let again = Phone::parse(e164, None, &blocked)
        .unwrap_or_else(|e| panic!("{number:?} gave {e164:?}, which does not parse: {e}"));
    assert_eq!(again, phone);
    // A country chosen does not matter once the number has its +.
    if let Some(region) = &region {
        match Phone::parse(e164, Some(region), &blocked) {
            Ok(same) => assert_eq!(same, phone),
            Err(e) => assert_eq!(e.field, "country", "{e164:?} with {region:?}: {e}"),
        }
    }

    let masked = phone.masked();
    assert!(masked.ends_with(&digits[digits.len() - 4.min(digits.len())..]));
    let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
    if digits.len() > 4 {
        // The first digit of the calling code and the last four.
        assert_eq!(shown.len(), 5, "{masked:?}");
    }
    let _ = phonefactor::is_fictional(e164);
});
