//! PSKC import (RFC 6030) against files written by python-pskc
//! (`fixtures/make_pskc.py`) and examples typed from the RFC.

use gatehouse_domain::oath::{self, HashAlg};
use gatehouse_domain::pskc::{DecryptionKey, KeyKind, Problem, PskcError, PskcKey, parse};

// Keep in sync with fixtures/make_pskc.py.
const SHA1_SEED: &[u8] = b"12345678901234567890";
const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";
const PRESHARED_HEX: &str = "000102030405060708090a0b0c0d0e0f";
const PASSWORD: &str = "correct horse battery staple";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn preshared() -> DecryptionKey {
    DecryptionKey::PreShared(hex::decode(PRESHARED_HEX).unwrap())
}

fn passphrase() -> DecryptionKey {
    DecryptionKey::Passphrase(PASSWORD.into())
}

/// The three keys every python-pskc fixture holds.
fn assert_generated_keys(keys: &[PskcKey]) {
    assert_eq!(keys.len(), 3);

    let k = &keys[0];
    assert_eq!(k.serial, "VSST12345678");
    assert_eq!(k.key_id, "key-totp-1");
    assert_eq!(k.kind, KeyKind::Totp);
    assert_eq!(k.alg, HashAlg::Sha1);
    assert_eq!(k.digits, 6);
    assert_eq!(k.time_interval, 30);
    assert_eq!(k.secret, SHA1_SEED);

    let k = &keys[1];
    assert_eq!(k.serial, "SYMC87654321");
    assert_eq!(k.key_id, "key-totp-2");
    assert_eq!(k.kind, KeyKind::Totp);
    assert_eq!(k.alg, HashAlg::Sha256);
    assert_eq!(k.digits, 8);
    assert_eq!(k.time_interval, 60);
    assert_eq!(k.secret, SHA256_SEED);
    // The imported seed reproduces RFC 6238 Appendix B (SHA256, T = 59 s
    // is step 1 at X = 30).
    assert_eq!(oath::hotp(&k.secret, 1, 8, k.alg), "46119246");

    let k = &keys[2];
    assert_eq!(k.serial, "UBHE00000042");
    assert_eq!(k.kind, KeyKind::Hotp);
    assert_eq!(k.alg, HashAlg::Sha512);
    assert_eq!(k.digits, 8);
    assert_eq!(k.counter, 42);
    assert_eq!(k.secret, SHA512_SEED);
    let params = k.oath_params();
    assert!(params.check().is_ok());
    assert_eq!(params.kind, oath::Kind::Hotp);
}

#[test]
fn plaintext_file() {
    let keys = parse(&fixture("pskc-plain.xml"), None).unwrap();
    assert_generated_keys(&keys);
    // A key given for a plaintext file is simply not needed.
    assert_generated_keys(&parse(&fixture("pskc-plain.xml"), Some(&preshared())).unwrap());
}

#[test]
fn preshared_key_file_with_mac() {
    let keys = parse(&fixture("pskc-preshared.xml"), Some(&preshared())).unwrap();
    assert_generated_keys(&keys);
}

#[test]
fn pbkdf2_file_with_mac() {
    let keys = parse(&fixture("pskc-pbkdf2.xml"), Some(&passphrase())).unwrap();
    assert_generated_keys(&keys);
}

#[test]
fn pbkdf2_sha256_with_encrypted_counter_and_interval() {
    let xml = fixture("pskc-pbkdf2-sha256-fields.xml");
    // The fixture really does encrypt the integers.
    assert!(
        String::from_utf8_lossy(&xml).contains("<pskc:TimeInterval>\n     <pskc:EncryptedValue>")
    );
    let keys = parse(&xml, Some(&passphrase())).unwrap();
    assert_generated_keys(&keys);
}

#[test]
fn rfc6030_plaintext_figures() {
    let keys = parse(&fixture("rfc6030-figure2.xml"), None).unwrap();
    assert_eq!(keys.len(), 1);
    // No DeviceInfo: the key id stands in for the serial.
    assert_eq!(keys[0].serial, "12345678");
    assert_eq!(keys[0].kind, KeyKind::Hotp);
    assert_eq!(keys[0].digits, 6);
    assert_eq!(keys[0].secret, SHA1_SEED);

    let keys = parse(&fixture("rfc6030-figure3.xml"), None).unwrap();
    assert_eq!(keys[0].serial, "987654321");
    assert_eq!(keys[0].key_id, "12345678");
    assert_eq!(keys[0].digits, 8);
    assert_eq!(keys[0].counter, 0);
    assert_eq!(keys[0].secret, SHA1_SEED);
}

#[test]
fn rfc6030_figure6_preshared_key() {
    let key = DecryptionKey::PreShared(hex::decode("12345678901234567890123456789012").unwrap());
    let keys = parse(&fixture("rfc6030-figure6.xml"), Some(&key)).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].serial, "987654321");
    assert_eq!(keys[0].digits, 8);
    assert_eq!(keys[0].secret, SHA1_SEED);
    // RFC 4226 Appendix D, counter 0, as 8 digits: 84755224.
    assert_eq!(oath::hotp(&keys[0].secret, 0, 8, HashAlg::Sha1), "84755224");
}

#[test]
fn rfc6030_figure7_pbkdf2() {
    let key = DecryptionKey::Passphrase("qwerty".into());
    let keys = parse(&fixture("rfc6030-figure7.xml"), Some(&key)).unwrap();
    assert_eq!(keys[0].serial, "987654321");
    assert_eq!(keys[0].key_id, "123456");
    assert_eq!(keys[0].secret, SHA1_SEED);
}

// ------------------------------------------------------------------ errors

fn package_error(err: PskcError) -> (usize, Option<String>, Problem) {
    match err {
        PskcError::Package {
            index,
            serial,
            problem,
        } => (index, serial, problem),
        other => panic!("expected a package error, got {other:?}"),
    }
}

/// Replaces the `n`th (0-based) `CipherValue` text with `f(bytes)`.
fn edit_cipher_value(xml: &[u8], n: usize, f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let s = String::from_utf8(xml.to_vec()).unwrap();
    let open = "<xenc:CipherValue>";
    let start = s.match_indices(open).nth(n).unwrap().0 + open.len();
    let end = start + s[start..].find('<').unwrap();
    let mut bytes = data_encoding::BASE64
        .decode(s[start..end].trim().as_bytes())
        .unwrap();
    f(&mut bytes);
    format!(
        "{}{}{}",
        &s[..start],
        data_encoding::BASE64.encode(&bytes),
        &s[end..]
    )
    .into_bytes()
}

#[test]
fn tampered_ciphertext_fails_the_mac_check_naming_the_package() {
    let xml = fixture("pskc-preshared.xml");
    // CipherValue 0 is the MAC key, 1 the first secret, 2 the second.
    let tampered = edit_cipher_value(&xml, 2, |b| b[20] ^= 0x01);
    let err = parse(&tampered, Some(&preshared())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Key package 2 (serial SYMC87654321): MAC check failed: the file was altered or the key is wrong."
    );
    let (index, serial, problem) = package_error(err);
    assert_eq!((index, serial.as_deref()), (2, Some("SYMC87654321")));
    assert_eq!(problem, Problem::MacMismatch);

    // A tampered IV is caught the same way (the MAC covers IV ‖ ciphertext).
    let tampered = edit_cipher_value(&xml, 1, |b| b[0] ^= 0x80);
    let (index, _, problem) = package_error(parse(&tampered, Some(&preshared())).unwrap_err());
    assert_eq!((index, problem), (1, Problem::MacMismatch));
}

#[test]
fn tampered_or_missing_value_mac_is_refused() {
    let s = String::from_utf8(fixture("pskc-preshared.xml")).unwrap();
    let start = s.find("<pskc:ValueMAC>").unwrap();
    let end = s[start..].find("</pskc:ValueMAC>").unwrap() + start + "</pskc:ValueMAC>".len();
    let without = format!("{}{}", &s[..start], &s[end..]);
    let (index, _, problem) =
        package_error(parse(without.as_bytes(), Some(&preshared())).unwrap_err());
    assert_eq!((index, problem), (1, Problem::MacMissing));

    let zero_mac = format!(
        "{}<pskc:ValueMAC>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</pskc:ValueMAC>{}",
        &s[..start],
        &s[end..]
    );
    let (_, _, problem) =
        package_error(parse(zero_mac.as_bytes(), Some(&preshared())).unwrap_err());
    assert_eq!(problem, Problem::MacMismatch);
}

#[test]
fn wrong_key_or_passphrase_names_the_package() {
    let wrong = DecryptionKey::PreShared(vec![0x55; 16]);
    let err = parse(&fixture("pskc-preshared.xml"), Some(&wrong)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Key package 1 (serial VSST12345678): "),
        "{err}"
    );
    let (index, serial, problem) = package_error(err);
    assert_eq!((index, serial.as_deref()), (1, Some("VSST12345678")));
    assert!(
        matches!(problem, Problem::WrongKey | Problem::MacMismatch),
        "{problem:?}"
    );

    let wrong = DecryptionKey::Passphrase("Tr0ub4dor&3".into());
    let (index, _, problem) =
        package_error(parse(&fixture("pskc-pbkdf2.xml"), Some(&wrong)).unwrap_err());
    assert_eq!(index, 1);
    assert!(matches!(problem, Problem::WrongKey | Problem::MacMismatch));

    // A key of the wrong length for AES-128.
    let short = DecryptionKey::PreShared(vec![1; 8]);
    let (_, _, problem) =
        package_error(parse(&fixture("pskc-preshared.xml"), Some(&short)).unwrap_err());
    assert!(matches!(
        problem,
        Problem::KeyLength {
            got: 8,
            need: 16,
            ..
        }
    ));
}

#[test]
fn encrypted_file_without_a_key() {
    for f in [
        "pskc-preshared.xml",
        "pskc-pbkdf2.xml",
        "rfc6030-figure6.xml",
    ] {
        let err = parse(&fixture(f), None).unwrap_err();
        assert!(
            err.to_string().contains("encrypted but no key"),
            "{f}: {err}"
        );
        let (index, _, problem) = package_error(err);
        assert_eq!((index, problem), (1, Problem::KeyNeeded));
    }
}

#[test]
fn key_of_the_wrong_kind() {
    let (_, _, p) =
        package_error(parse(&fixture("pskc-preshared.xml"), Some(&passphrase())).unwrap_err());
    assert!(matches!(p, Problem::KeyMismatch(_)));
    let (_, _, p) =
        package_error(parse(&fixture("pskc-pbkdf2.xml"), Some(&preshared())).unwrap_err());
    assert!(matches!(p, Problem::KeyMismatch(_)));
}

// Small hand-written documents for the other failures.

fn container(body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">{body}</KeyContainer>"#
    )
    .into_bytes()
}

fn package(serial: &str, algorithm: &str, params: &str, data: &str) -> String {
    format!(
        r#"<KeyPackage><DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>
<Key Id="k-{serial}" Algorithm="{algorithm}">
<AlgorithmParameters>{params}</AlgorithmParameters><Data>{data}</Data></Key></KeyPackage>"#
    )
}

const TOTP: &str = "urn:ietf:params:xml:ns:keyprov:pskc:totp";
const PLAIN_SECRET: &str = "<Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>";

fn problem_of(xml: &[u8]) -> (usize, Option<String>, Problem) {
    package_error(parse(xml, None).unwrap_err())
}

#[test]
fn second_package_failure_rejects_the_whole_file() {
    let good = package("AAAA00000001", TOTP, "", PLAIN_SECRET);
    let bad = package(
        "AAAA00000002",
        "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1",
        "",
        PLAIN_SECRET,
    );
    let err = parse(&container(&format!("{good}{bad}")), None).unwrap_err();
    assert!(err.to_string().contains("unknown algorithm"), "{err}");
    let (index, serial, _) = package_error(err);
    assert_eq!((index, serial.as_deref()), (2, Some("AAAA00000002")));
}

#[test]
fn specific_problems() {
    let cases: Vec<(String, Problem)> = vec![
        (package("S1", TOTP, "", ""), Problem::MissingSecret),
        (
            package("S1", TOTP, "", "<Secret><PlainValue></PlainValue></Secret>"),
            Problem::MissingSecret,
        ),
        (
            package(
                "S1",
                TOTP,
                r#"<ResponseFormat Length="10" Encoding="DECIMAL"/>"#,
                PLAIN_SECRET,
            ),
            Problem::UnsupportedDigits(10),
        ),
        (
            package(
                "S1",
                TOTP,
                r#"<ResponseFormat Length="6" Encoding="ALPHANUMERIC"/>"#,
                PLAIN_SECRET,
            ),
            Problem::UnsupportedEncoding("ALPHANUMERIC".into()),
        ),
        (
            package("S1", TOTP, "<Suite>HMAC-MD5</Suite>", PLAIN_SECRET),
            Problem::UnknownSuite("HMAC-MD5".into()),
        ),
        (
            package(
                "S1",
                TOTP,
                "",
                &format!("{PLAIN_SECRET}<Time><PlainValue>1000</PlainValue></Time>"),
            ),
            Problem::UnsupportedStartTime,
        ),
        (
            package(
                "S1",
                TOTP,
                "",
                r#"<Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#kw-aes128"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></EncryptedValue></Secret>"#,
            ),
            Problem::KeyNeeded,
        ),
        (
            package(
                "S1",
                TOTP,
                "",
                "<Secret><PlainValue>not base64!</PlainValue></Secret>",
            ),
            Problem::Invalid {
                element: "Secret",
                message: "is not valid Base64".into(),
            },
        ),
        (
            package(
                "S1",
                TOTP,
                "",
                &format!("{PLAIN_SECRET}<Counter><PlainValue>-1</PlainValue></Counter>"),
            ),
            Problem::Invalid {
                element: "Counter",
                message: "is not a whole number".into(),
            },
        ),
    ];
    for (pkg, expected) in cases {
        let (index, serial, problem) = problem_of(&container(&pkg));
        assert_eq!((index, serial.as_deref()), (1, Some("S1")));
        assert_eq!(problem, expected, "{pkg}");
    }
}

#[test]
fn unsupported_encryption_algorithm() {
    let pkg = package(
        "S1",
        TOTP,
        "",
        r#"<Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#kw-aes128"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></EncryptedValue><ValueMAC>AAAA</ValueMAC></Secret>"#,
    );
    let xml = String::from_utf8(container(&pkg)).unwrap().replace(
        "<KeyPackage>",
        r#"<MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/><KeyPackage>"#,
    );
    let err = parse(xml.as_bytes(), Some(&preshared())).unwrap_err();
    let (_, _, problem) = package_error(err.clone());
    assert!(
        matches!(problem, Problem::UnsupportedEncryption(_)),
        "{problem:?}"
    );
    assert!(err.to_string().contains("kw-aes128"), "{err}");
}

#[test]
fn duplicate_serials_are_refused() {
    let a = package("AAAA00000001", TOTP, "", PLAIN_SECRET);
    let (index, _, problem) = problem_of(&container(&format!("{a}{a}")));
    assert_eq!((index, problem), (2, Problem::DuplicateSerial(1)));
}

#[test]
fn file_level_errors() {
    assert!(matches!(
        parse(b"<KeyContainer><KeyPackage>", None),
        Err(PskcError::Xml(_))
    ));
    assert!(matches!(
        parse(b"not xml at all", None),
        Err(PskcError::Xml(_))
    ));
    assert!(
        matches!(parse(b"<html><body/></html>", None), Err(PskcError::NotPskc(n)) if n == "html")
    );
    assert_eq!(parse(&container(""), None), Err(PskcError::NoKeyPackages));
    let v2 = String::from_utf8(container(""))
        .unwrap()
        .replace("Version=\"1.0\"", "Version=\"2.0\"");
    assert!(matches!(
        parse(v2.as_bytes(), None),
        Err(PskcError::Version(_))
    ));
}
