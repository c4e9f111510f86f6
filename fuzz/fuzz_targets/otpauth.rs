//! The `otpauth://` URI of a soft token (`oath::key_uri`, shown as a QR
//! code), read back the way an authenticator app reads it (Key-Uri-Format):
//! parsed with the `url` crate, the label path `issuer:account`, the query
//! `secret`, `issuer`, `algorithm`, `digits` and `period` or `counter`.
//!
//! Gatehouse builds these URIs and never parses one, so the property is a
//! round trip: whatever the issuer and account name (`&secret=…`, `?`, `#`,
//! `:`, `%`, `/`, spaces, any Unicode), the URI gives back exactly the
//! fields it was built from, and nothing in a name can add, drop or change
//! a parameter.
#![no_main]

use gatehouse_domain::oath::{self, HashAlg, Kind, OathParams};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

#[derive(Debug)]
struct Input {
    issuer: String,
    account: String,
    secret: Vec<u8>,
    params: OathParams,
    counter: u64,
}

impl<'a> Arbitrary<'a> for Input {
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

fuzz_target!(|input: Input| {
    let Input {
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
});

/// Percent-decoding as UTF-8; the original was a `String`, so a lossy
/// decode that differs from it is a failure of the round trip.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}
