//! The domain's parsers of what people and clients type: each input
//! becomes a newtype through `parse` (STYLE.md, "Parse, don't validate");
//! and the one value the domain writes for another program to parse, the
//! `otpauth://` URI of a soft token.
//!
//! Input: one octet choosing the parser, then its arguments. Properties, for
//! each: no panic; what parses is in canonical form and parses again to
//! itself (`parse(display(x)) == x`); the money helpers round and print
//! exactly.
//!
//! `otpauth://` (`oath::key_uri`, shown as a QR code) is read back the way
//! an authenticator app reads it (Key-Uri-Format): parsed with the `url`
//! crate, the label path `issuer:account`, the query `secret`, `issuer`,
//! `algorithm`, `digits` and `period` or `counter`. Gatehouse builds these
//! URIs and never parses one, so the property is a round trip: whatever the
//! issuer and account name (`&secret=…`, `?`, `#`, `:`, `%`, `/`, spaces,
//! any Unicode), the URI gives back exactly the fields it was built from,
//! and nothing in a name can add, drop or change a parameter.
#![no_main]

use std::net::IpAddr;

use gatehouse_domain::account::{AccountName, AccountNumber};
use gatehouse_domain::billing::{self, Period};
use gatehouse_domain::credential_id::CredentialId;
use gatehouse_domain::device::{self, DeviceKey};
use gatehouse_domain::oath::{self, HashAlg, Kind, OathParams};
use gatehouse_domain::phonefactor::{self, AppDecision, KeyPress};
use gatehouse_domain::pricing::{self, Currency, Discount, PromoCode};
use gatehouse_domain::radius::{self, ClientMode, ClientName, SecondFactor, SourceRange};
use gatehouse_domain::text;
use gatehouse_domain::user::{DisplayName, Email, Role, UserStatus, Username};
use gatehouse_domain::{Method, password};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = one(&mut u);
});

fn one(u: &mut Unstructured<'_>) -> Result<()> {
    let which: u8 = u.arbitrary()?;
    match which % 26 {
        0 => credential_id(u.arbitrary()?),
        1 => username(u.arbitrary()?),
        2 => email(u.arbitrary()?),
        3 => names(u.arbitrary()?),
        4 => account_number(u.arbitrary()?),
        5 => currency_and_promo(u.arbitrary()?),
        6 => enums(u.arbitrary()?),
        7 => client_name(u.arbitrary()?),
        8 => source_range(u.arbitrary()?),
        9 => separator(u.arbitrary()?),
        10 => split_password(u.arbitrary()?, u.arbitrary()?, u.int_in_range(0..=10)?),
        11 => period(u.arbitrary()?),
        12 => base32(u.arbitrary()?),
        13 => discount(
            u.choose(&["percent", "amount", "other"])?,
            u.arbitrary()?,
            u.int_in_range(0..=100_000_000)?,
        ),
        14 => mul_div(u.arbitrary()?, u.arbitrary()?, u.arbitrary()?),
        15 => money(u.arbitrary()?, u.arbitrary()?),
        16 => keys_and_replies(u.arbitrary()?),
        17 => device_key(u.arbitrary()?, u.arbitrary()?, u.arbitrary()?),
        18 => device_request(
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
            u.arbitrary()?,
        ),
        19 => password_policy(u.arbitrary()?, u.arbitrary()?),
        20 => csv(u.arbitrary()?),
        21 => radius_code(u.arbitrary()?),
        22 => amount(u.arbitrary()?),
        23 => freshness(u.arbitrary()?, u.arbitrary()?),
        24 => free_text(u.arbitrary()?, u.int_in_range(0..=300)?),
        _ => key_uri(u.arbitrary()?),
    }
    Ok(())
}

fn credential_id(s: &str) {
    let Ok(id) = CredentialId::parse(s) else {
        return;
    };
    let canonical = id.as_str();
    assert_eq!(id.to_string(), canonical);
    let letters = id.prefix();
    assert!((2..=4).contains(&letters.len()));
    assert!(letters.bytes().all(|b| b.is_ascii_uppercase()));
    let digits = &canonical[letters.len()..];
    assert!((8..=10).contains(&digits.len()));
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(CredentialId::parse(canonical).as_ref(), Ok(&id));
    assert_eq!(canonical.parse::<CredentialId>().as_ref(), Ok(&id));
    // The printed form, in lower case with spaces, is the same ID.
    let printed = format!(" {} {} ", letters.to_ascii_lowercase(), digits);
    assert_eq!(CredentialId::parse(&printed).as_ref(), Ok(&id));
    let masked = id.masked();
    assert!(masked.starts_with(letters) && masked.ends_with(&digits[digits.len() - 4..]));
    assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 4);
}

fn username(s: &str) {
    let Ok(name) = Username::parse(s) else {
        return;
    };
    let n = name.as_str();
    assert!((3..=64).contains(&n.chars().count()));
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".@_-".contains(&b))
    );
    assert!(n.as_bytes()[0].is_ascii_alphanumeric());
    assert_eq!(name.to_string(), n);
    assert_eq!(Username::parse(n).as_ref(), Ok(&name));
    assert_eq!(Username::parse(&n.to_uppercase()).as_ref(), Ok(&name));
}

fn email(s: &str) {
    let Ok(email) = Email::parse(s) else {
        return;
    };
    let e = email.as_str();
    assert!(e.len() <= 254);
    let (local, domain) = e.rsplit_once('@').unwrap();
    assert!(!local.is_empty() && !local.contains('@'));
    assert!(domain.contains('.'));
    assert_eq!(domain, domain.to_lowercase());
    assert!(!e.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert_eq!(Email::parse(e).as_ref(), Ok(&email));
}

fn names(s: &str) {
    if let Ok(name) = DisplayName::parse(s) {
        assert!(name.as_str().chars().count() <= 100);
        assert_eq!(name.as_str(), name.as_str().trim());
        assert_eq!(DisplayName::parse(name.as_str()).as_ref(), Ok(&name));
    }
    if let Ok(name) = AccountName::parse(s) {
        assert!((1..=100).contains(&name.as_str().chars().count()));
        assert!(!name.as_str().chars().any(char::is_control));
        assert_eq!(AccountName::parse(name.as_str()).as_ref(), Ok(&name));
    }
}

/// The free text behind names, labels and agreements (`text::line`,
/// `text::paragraphs`) and search terms: what passes is trimmed, within its
/// length, without control characters, and passes again unchanged.
fn free_text(s: &str, max: usize) {
    if let Ok(line) = text::line("name", s, max, "A name") {
        assert_eq!(line, line.trim());
        assert!(line.chars().count() <= max);
        assert!(!line.chars().any(char::is_control));
        assert!(!line.chars().any(text::is_invisible_format));
        assert_eq!(text::line("name", &line, max, "A name").as_ref(), Ok(&line));
    }
    if let Ok(p) = text::paragraphs("body", s, max, "The text") {
        assert_eq!(p, s.trim());
        assert!(!p.chars().any(text::is_invisible_format));
        assert_eq!(
            text::paragraphs("body", &p, max, "The text").as_ref(),
            Ok(&p)
        );
    }
    if let Ok(term) = text::search("q", s) {
        assert!(term.chars().count() <= text::SEARCH_MAX);
        assert_eq!(text::search("q", &term).as_ref(), Ok(&term));
    }
    if text::is_key(s, max) {
        assert!(s.is_ascii() && !s.is_empty() && s.len() <= max);
    }
}

fn account_number(s: &str) {
    let Ok(n) = AccountNumber::parse(s) else {
        return;
    };
    let digits = n.as_str();
    assert_eq!(digits.len(), 8);
    assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
    assert_eq!(n.to_string(), digits);
    assert_eq!(AccountNumber::parse(digits).as_ref(), Ok(&n));
}

fn currency_and_promo(s: &str) {
    if let Ok(c) = Currency::parse(s) {
        assert_eq!(c.as_str().len(), 3);
        assert!(c.as_str().bytes().all(|b| b.is_ascii_uppercase()));
        assert_eq!(Currency::parse(c.as_str()).as_ref(), Ok(&c));
    }
    if let Ok(p) = PromoCode::parse(s) {
        let code = p.as_str();
        assert!((3..=32).contains(&code.len()));
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        );
        assert_eq!(PromoCode::parse(code).as_ref(), Ok(&p));
        assert_eq!(
            PromoCode::parse(&code.to_ascii_lowercase()).as_ref(),
            Ok(&p)
        );
    }
}

/// The closed sets: a name that parses names a value whose own name parses
/// back to it.
fn enums(s: &str) {
    if let Ok(m) = Method::parse(s) {
        assert_eq!(Method::parse(m.as_str()), Ok(m));
    }
    if let Ok(m) = phonefactor::Mode::parse(s) {
        assert_eq!(phonefactor::Mode::parse(m.as_str()), Ok(m));
    }
    if let Ok(r) = Role::parse(s) {
        assert_eq!(Role::parse(r.as_str()), Ok(r));
    }
    if let Ok(st) = UserStatus::parse(s) {
        assert_eq!(UserStatus::parse(st.as_str()), Ok(st));
    }
    if let Ok(a) = HashAlg::parse(s) {
        assert_eq!(HashAlg::parse(&a.to_string()), Ok(a));
    }
    if let Ok(m) = s.parse::<ClientMode>() {
        assert_eq!(m.to_string().parse::<ClientMode>(), Ok(m));
    }
    if let Ok(d) = AppDecision::parse(s) {
        assert_eq!(AppDecision::parse(&format!("{d:?}").to_lowercase()), Ok(d));
    }
    if let Some(v) = oath::Validation::parse(s) {
        assert_eq!(oath::Validation::parse(v.as_str()), Some(v));
    }
}

fn client_name(s: &str) {
    let Ok(name) = ClientName::parse(s) else {
        return;
    };
    assert!((1..=64).contains(&name.as_str().len()));
    assert_eq!(name.to_string(), name.as_str());
    assert_eq!(ClientName::parse(name.as_str()).as_ref(), Ok(&name));
}

fn source_range(s: &str) {
    let Ok(range) = SourceRange::parse(s) else {
        return;
    };
    let shown = range.to_string();
    assert_eq!(
        SourceRange::parse(&shown),
        Ok(range),
        "{s:?} shown as {shown:?}"
    );
    let (network, prefix) = shown.split_once('/').expect("address/prefix");
    let network: IpAddr = network.parse().expect("an address");
    assert_eq!(prefix.parse::<u8>(), Ok(range.prefix_len()));
    assert!(range.contains(network));
    // An IPv4 sender seen on a dual-stack socket is the same sender.
    if let IpAddr::V4(v4) = network {
        assert!(range.contains(IpAddr::V6(v4.to_ipv6_mapped())));
    }
}

fn separator(s: &str) {
    match radius::parse_separator(s) {
        Ok(None) => assert!(s.is_empty()),
        Ok(Some(c)) => {
            assert!(!c.is_alphanumeric() && !c.is_whitespace());
            assert_eq!(s.chars().count(), 1);
        }
        Err(e) => assert_eq!(e.field, "separator"),
    }
}

fn split_password(input: &str, separator: Option<char>, digits: usize) {
    let split = radius::split_password(input, separator, digits);
    if input.starts_with("SCRV1:") {
        // OpenVPN's static challenge is decoded, not split.
        return;
    }
    match &split.second {
        None => assert_eq!(split.password, input),
        Some(second) => {
            assert!(!split.password.is_empty());
            let tail = input
                .strip_prefix(split.password.as_str())
                .expect("the password is the start of the input");
            let tail = match separator {
                Some(sep) => {
                    let tail = tail.strip_prefix(sep).expect("then the separator");
                    // Split at the last separator.
                    assert!(!tail.contains(sep));
                    tail
                }
                None => tail,
            };
            match second {
                SecondFactor::Code(code) => {
                    assert_eq!(code, tail);
                    assert!(radius::is_code(code));
                    if separator.is_none() {
                        assert_eq!(code.len(), digits);
                    }
                }
                SecondFactor::Push => assert!(tail.eq_ignore_ascii_case("push")),
                SecondFactor::Phone => assert!(tail.eq_ignore_ascii_case("phone")),
                SecondFactor::Sms => assert!(tail.eq_ignore_ascii_case("sms")),
            }
        }
    }
}

fn period(s: &str) {
    let Ok(p) = Period::parse(s) else {
        return;
    };
    assert_eq!(Period::parse(&p.to_string()), Ok(p));
    assert!((1..=12).contains(&p.month()));
    assert!((28..=31).contains(&p.days()));
    assert_eq!(p.end_day() - p.first_day(), p.days());
    assert_eq!(p.next().prev(), p);
    assert_eq!(p.next().months_since(p), 1);
    assert_eq!(Period::containing(p.start()), p);
}

fn base32(s: &str) {
    let Ok(secret) = oath::secret_from_base32(s) else {
        return;
    };
    assert!(!secret.is_empty());
    let encoded = oath::secret_to_base32(&secret);
    assert_eq!(oath::secret_from_base32(&encoded), Ok(secret.clone()));
    assert_eq!(
        oath::secret_from_base32(&encoded.to_lowercase()),
        Ok(secret)
    );
}

fn discount(kind: &str, value: i64, price: i64) {
    let Ok(d) = Discount::parse(kind, value) else {
        return;
    };
    assert_eq!(Discount::parse(d.kind(), d.value()), Ok(d));
    let off = d.off(price);
    assert!((0..=price).contains(&off), "{d:?} takes {off} off {price}");
    let q = pricing::quote(price, Some(d));
    assert_eq!(q.total + q.discount, q.monthly_fee);
    assert!(q.total >= 0);
}

/// `amount × n / d` rounded half to even, for fractions of at most one (how
/// it is used: a share of days, a percentage): exact, whatever the amount.
fn mul_div(amount: i64, numerator: u32, denominator: u32) {
    let d = i64::from(denominator.max(1));
    let n = i64::from(numerator) % (d + 1);
    let r = pricing::mul_div_half_even(amount, n, d);
    let exact = i128::from(amount) * i128::from(n);
    let error = i128::from(r) * i128::from(d) - exact;
    // Within half a unit, and a tie goes to the even neighbour.
    assert!(
        2 * error.abs() <= i128::from(d),
        "{amount}×{n}/{d} gave {r}"
    );
    if 2 * error.abs() == i128::from(d) {
        assert_eq!(r % 2, 0, "{amount}×{n}/{d} gave {r}");
    }
}

fn money(minor: i64, currency: &str) {
    let shown = pricing::format_money(minor, currency);
    let number = shown
        .strip_suffix(currency)
        .and_then(|s| s.strip_suffix(' '))
        .expect("the amount, a space, the currency");
    assert_eq!(number, billing::decimal(minor));
    let (units, cents) = number.split_once('.').expect("a decimal point");
    assert_eq!(cents.len(), 2);
    let negative = units.starts_with('-');
    let units: i128 = units.trim_start_matches('-').parse().unwrap();
    let cents: i128 = cents.parse().unwrap();
    let value = units * 100 + cents;
    assert_eq!(if negative { -value } else { value }, i128::from(minor));
}

fn keys_and_replies(s: &str) {
    let _ = phonefactor::is_fraud_reply(s);
    match phonefactor::classify_keys(s) {
        KeyPress::Approve => assert_eq!(s.trim(), "#"),
        KeyPress::Fraud => assert!(matches!(s.trim(), "0#" | "0")),
        KeyPress::Other => {}
    }
}

fn device_key(key: &str, canonical: &str, signature: &str) {
    let Ok(k) = DeviceKey::parse(key) else {
        return;
    };
    assert_eq!(DeviceKey::parse(&k.to_base64()), Ok(k.clone()));
    // A signature the fuzzer made up does not verify (strict Ed25519: no
    // small-order keys or malleable signatures to forge with).
    assert!(!k.verify(canonical, signature));
}

fn device_request(method: &str, path: &str, timestamp: i64, body: &[u8]) {
    let canonical = device::canonical_request(method, path, timestamp, body);
    assert!(canonical.starts_with("GATEHOUSE-DEVICE-V1\n"));
    let signer = device::DeviceSigner::from_seed(&[7; 32]);
    let signature = signer.sign(&canonical);
    assert!(signer.public_key().verify(&canonical, &signature));
    let other = device::canonical_request(method, path, timestamp.wrapping_add(1), body);
    assert!(!signer.public_key().verify(&other, &signature));
}

fn password_policy(candidate: &str, personal: &str) {
    if password::check_policy(candidate, &[personal]).is_ok() {
        let n = candidate.chars().count();
        assert!((password::MIN_LENGTH..=password::MAX_LENGTH).contains(&n));
        assert!(personal.is_empty() || candidate.to_lowercase() != personal.to_lowercase());
    }
}

/// RFC 4180 read back: every field as given, but for a `'` before text
/// that a spreadsheet would run as a formula.
fn csv(fields: Vec<&str>) {
    let record = billing::csv_record(&fields);
    let line = record.strip_suffix("\r\n").expect("ends in CRLF");
    let read = read_csv(line);
    if fields.is_empty() {
        assert_eq!(read, [""]);
        return;
    }
    assert_eq!(read.len(), fields.len(), "{record:?}");
    for (f, r) in fields.iter().zip(&read) {
        if r != f {
            assert_eq!(r.strip_prefix('\''), Some(*f), "{record:?}");
            assert!(f.starts_with(['=', '+', '-', '@', '\t', '\r']));
        }
    }
}

fn read_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().unwrap();
        match (quoted, c) {
            (false, '"') if field.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => fields.push(String::new()),
            (_, c) => field.push(c),
        }
    }
    assert!(!quoted, "an unterminated quote in {line:?}");
    fields
}

fn radius_code(s: &str) {
    if radius::is_code(s) {
        assert!(matches!(s.len(), 6 | 8));
    }
}

fn amount(value: i64) {
    match pricing::parse_amount(value) {
        Ok(v) => assert!((0..=100_000_000).contains(&v) && v == value),
        Err(e) => assert_eq!(e.field, "amount"),
    }
}

fn freshness(timestamp: i64, now: i64) {
    let fresh = device::fresh(timestamp, now);
    assert_eq!(
        fresh,
        (i128::from(timestamp) - i128::from(now)).abs() <= i128::from(device::MAX_SKEW_MS)
    );
}

#[derive(Debug)]
struct KeyUri {
    issuer: String,
    account: String,
    secret: Vec<u8>,
    params: OathParams,
    counter: u64,
}

impl<'a> Arbitrary<'a> for KeyUri {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let issuer = String::arbitrary(u)?;
        let account = String::arbitrary(u)?;
        let alg = *u.choose(&[HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512])?;
        let kind = if bool::arbitrary(u)? {
            Kind::Totp {
                period: u64::arbitrary(u)?,
            }
        } else {
            Kind::Hotp
        };
        let params = OathParams {
            kind,
            digits: u32::arbitrary(u)?,
            alg,
        };
        Ok(Self {
            issuer,
            account,
            params,
            counter: u64::arbitrary(u)?,
            secret: Vec::arbitrary(u)?,
        })
    }
}

fn key_uri(input: KeyUri) {
    let KeyUri {
        issuer,
        account,
        secret,
        params,
        counter,
    } = input;
    let uri = oath::key_uri(&issuer, &account, &secret, &params, counter);

    let parsed = url::Url::parse(&uri).unwrap_or_else(|e| panic!("{uri:?} is not a URL: {e}"));
    // Nothing for the parser to repair or normalise.
    assert_eq!(parsed.as_str(), uri);
    assert_eq!(parsed.scheme(), "otpauth");
    assert_eq!(parsed.host_str(), Some(params.kind.name()));
    assert_eq!(parsed.fragment(), None);
    assert_eq!(parsed.username(), "");
    assert_eq!(parsed.password(), None);
    assert_eq!(parsed.port(), None);

    // The label: one path segment, `issuer:account`, each percent-encoded,
    // so the first `:` is the separator.
    let label = parsed.path().strip_prefix('/').expect("a path");
    assert!(!label.contains('/'), "{uri:?}");
    let (issuer_enc, account_enc) = label.split_once(':').expect("issuer:account");
    assert_eq!(decode(issuer_enc), issuer);
    assert_eq!(decode(account_enc), account);
    // Apps that decode the label before splitting it read the same as long
    // as the issuer has no `:` (the format forbids one: "Neither issuer nor
    // account name may themselves contain a colon"; the portal's name is
    // the issuer).
    if !issuer.contains(':') {
        let decoded = decode(label);
        assert_eq!(decoded.split_once(':'), Some((&*issuer, &*account)));
    }

    // The parameters: exactly these, once each, in this order.
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    let last = match params.kind {
        Kind::Totp { .. } => "period",
        Kind::Hotp => "counter",
    };
    assert_eq!(
        names,
        ["secret", "issuer", "algorithm", "digits", last],
        "{uri:?}"
    );
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(value("secret"), oath::secret_to_base32(&secret));
    if !secret.is_empty() {
        assert_eq!(
            oath::secret_from_base32(value("secret")).as_deref(),
            Ok(&*secret)
        );
    }
    assert_eq!(value("issuer"), issuer);
    assert_eq!(HashAlg::parse(value("algorithm")), Ok(params.alg));
    assert_eq!(value("digits").parse::<u32>(), Ok(params.digits));
    match params.kind {
        Kind::Totp { period } => assert_eq!(value("period").parse::<u64>(), Ok(period)),
        Kind::Hotp => assert_eq!(value("counter").parse::<u64>(), Ok(counter)),
    }
}

/// Percent-decoding as UTF-8; the original was a `String`, so a lossy
/// decode that differs from it is a failure of the round trip.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}
