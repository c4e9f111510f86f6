//! The adapter against the fake, over plain HTTP and over mutual TLS.
//! One test binary (link time); modules by theme.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_vip::fake::{FakeBehaviour, FakeCredentialState, FakeVip, TestPki};
use gatehouse_vip::soap::{self, VIP_NS};
use gatehouse_vip::{
    CredentialValidator, RemoteError, RemoteVerdict, TlsPem, VipSoapConfig, VipSoapValidator,
};

const CRED: &str = "SYMC26070843";
const TIMEOUT: Duration = Duration::from_secs(5);

mod verdicts {
    use super::*;

    #[tokio::test]
    async fn valid_code_is_valid_and_the_request_has_the_wire_format() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let validator: Arc<dyn CredentialValidator> = Arc::new(vip.validator(TIMEOUT));

        assert_eq!(
            validator.validate(CRED, "123456").await,
            Ok(RemoteVerdict::Valid)
        );

        let sent = vip.requests();
        assert_eq!(sent.len(), 1);
        let r = &sent[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/val/soap");
        assert_eq!(r.soap_action.as_deref(), Some(soap::SOAP_ACTION_VALIDATE));
        assert_eq!(r.content_type.as_deref(), Some("text/xml; charset=utf-8"));
        assert_eq!(r.token_id.as_deref(), Some(CRED));
        assert_eq!(r.otp.as_deref(), Some("123456"));
        let id = r.request_id.as_deref().expect("a request id");
        assert_eq!(id.len(), 16);
        assert!(
            r.body
                .contains(&format!("<vip:TokenId>{CRED}</vip:TokenId>"))
        );
        assert!(r.body.contains("<vip:OTP>123456</vip:OTP>"));
        assert!(r.body.contains(&format!(r#"xmlns:vip="{VIP_NS}""#)));
        assert!(r.body.contains(r#"Version="2.0""#));
        assert!(
            r.body
                .contains(r#"xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#)
        );
    }

    #[tokio::test]
    async fn wrong_code_is_invalid() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "654321").await, Ok(RemoteVerdict::Invalid));
    }

    #[tokio::test]
    async fn a_code_is_accepted_once() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Invalid));
    }

    #[tokio::test]
    async fn unknown_credential_is_reported_as_such() {
        let vip = FakeVip::start().await;
        let v = vip.validator(TIMEOUT);
        assert_eq!(
            v.validate("VSST12345678", "123456").await,
            Ok(RemoteVerdict::UnknownCredential)
        );
    }

    #[tokio::test]
    async fn locked_and_disabled_credentials() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);

        vip.set_state(CRED, FakeCredentialState::Locked);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Locked));

        vip.set_state(CRED, FakeCredentialState::Disabled);
        assert_eq!(
            v.validate(CRED, "123456").await,
            Ok(RemoteVerdict::Disabled)
        );

        // The code was not consumed while the credential could not validate.
        vip.set_state(CRED, FakeCredentialState::Enabled);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
    }

    #[tokio::test]
    async fn consecutive_failures_lock_the_credential() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_max_failures(3);
        let v = vip.validator(TIMEOUT);
        for _ in 0..3 {
            assert_eq!(v.validate(CRED, "000000").await, Ok(RemoteVerdict::Invalid));
        }
        assert_eq!(vip.state_of(CRED), Some(FakeCredentialState::Locked));
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Locked));
    }

    #[tokio::test]
    async fn markup_in_inputs_is_escaped_on_the_wire() {
        let vip = FakeVip::start().await;
        let v = vip.validator(TIMEOUT);
        let odd = "SYMC</vip:TokenId><x>";
        assert_eq!(
            v.validate(odd, "1&2").await,
            Ok(RemoteVerdict::UnknownCredential)
        );
        let r = &vip.requests()[0];
        assert_eq!(r.token_id.as_deref(), Some(odd));
        assert_eq!(r.otp.as_deref(), Some("1&2"));
    }
}

mod failures {
    use super::*;

    #[tokio::test]
    async fn server_down_is_a_connect_error() {
        // A port that was just free and is now closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/val/soap");
        let v = VipSoapValidator::from_pem(&url, &TlsPem::default(), TIMEOUT).unwrap();
        let err = v.validate(CRED, "123456").await.unwrap_err();
        assert!(matches!(err, RemoteError::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("cannot connect to the validation service at"),
            "{text}"
        );
        assert!(text.contains(&url), "{text}");
        assert!(!text.contains("123456"), "{text}");
    }

    #[tokio::test]
    async fn malformed_response_is_an_error() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_behaviour(FakeBehaviour::Malformed);
        let err = vip
            .validator(TIMEOUT)
            .validate(CRED, "123456")
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoteError::UnexpectedResponse { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("unexpected response from the validation service"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn http_error_status_is_an_error() {
        let vip = FakeVip::start().await;
        vip.set_behaviour(FakeBehaviour::HttpStatus(503));
        let err = vip
            .validator(TIMEOUT)
            .validate(CRED, "123456")
            .await
            .unwrap_err();
        assert_eq!(err, RemoteError::HttpStatus { status: 503 });
        assert!(err.to_string().contains("HTTP 503"), "{err}");
    }

    #[tokio::test]
    async fn soap_fault_is_an_error() {
        let vip = FakeVip::start().await;
        vip.set_behaviour(FakeBehaviour::Fault);
        let err = vip
            .validator(TIMEOUT)
            .validate(CRED, "123456")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            RemoteError::SoapFault {
                code: "S:Server".into(),
                message: "fake VIP: forced fault".into()
            }
        );
    }

    #[tokio::test]
    async fn timeout_is_honoured() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_behaviour(FakeBehaviour::Delay(Duration::from_secs(5)));
        let v = vip.validator(Duration::from_millis(300));
        let started = Instant::now();
        let err = v.validate(CRED, "123456").await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(err.to_string().contains("within 300 ms"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_answer_inside_the_timeout_is_fine() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_behaviour(FakeBehaviour::Delay(Duration::from_millis(100)));
        let v = vip.validator(Duration::from_secs(5));
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
    }
}

mod mutual_tls {
    use super::*;

    #[tokio::test]
    async fn valid_code_over_mutual_tls() {
        let vip = FakeVip::start_mutual_tls().await;
        assert!(vip.url().starts_with("https://127.0.0.1:"));
        vip.add_credential(CRED, ["123456", "234567"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
        assert_eq!(v.validate(CRED, "000000").await, Ok(RemoteVerdict::Invalid));
        assert_eq!(vip.requests().len(), 2);
        assert_eq!(vip.failed_handshakes(), 0);
    }

    #[tokio::test]
    async fn configuration_from_pem_files() {
        let vip = FakeVip::start_mutual_tls().await;
        vip.add_credential(CRED, ["123456"]);
        let pki = vip.pki().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let config = VipSoapConfig {
            endpoint: vip.url().to_owned(),
            client_cert: Some(write("cert.pem", &pki.client_cert_pem)),
            client_key: Some(write("key.pem", &pki.client_key_pem)),
            ca_bundle: Some(write("ca.pem", &pki.ca_cert_pem)),
            timeout: TIMEOUT,
        };
        let v = VipSoapValidator::from_config(&config).unwrap();
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
    }

    #[tokio::test]
    async fn no_client_certificate_is_a_tls_error() {
        let vip = FakeVip::start_mutual_tls().await;
        vip.add_credential(CRED, ["123456"]);
        let tls = TlsPem {
            client_cert: None,
            client_key: None,
            ..vip.client_tls()
        };
        let v = VipSoapValidator::from_pem(vip.url(), &tls, TIMEOUT).unwrap();
        let err = v.validate(CRED, "123456").await.unwrap_err();
        assert!(matches!(err, RemoteError::Tls { .. }), "{err:?}");
        assert!(err.to_string().contains("client certificate"), "{err}");
        assert!(vip.requests().is_empty());
        assert!(vip.failed_handshakes() >= 1);
    }

    #[tokio::test]
    async fn a_client_certificate_from_another_ca_is_refused() {
        let vip = FakeVip::start_mutual_tls().await;
        vip.add_credential(CRED, ["123456"]);
        let stranger = TestPki::generate();
        let tls = TlsPem {
            ca_bundle: vip.client_tls().ca_bundle,
            ..stranger.client_tls()
        };
        let v = VipSoapValidator::from_pem(vip.url(), &tls, TIMEOUT).unwrap();
        let err = v.validate(CRED, "123456").await.unwrap_err();
        assert!(matches!(err, RemoteError::Tls { .. }), "{err:?}");
        assert!(vip.requests().is_empty());
    }

    #[tokio::test]
    async fn an_untrusted_server_is_a_tls_error() {
        let vip = FakeVip::start_mutual_tls().await;
        vip.add_credential(CRED, ["123456"]);
        let other_ca = TestPki::generate().ca_cert_pem.into_bytes();
        let tls = TlsPem {
            ca_bundle: Some(other_ca),
            ..vip.client_tls()
        };
        let v = VipSoapValidator::from_pem(vip.url(), &tls, TIMEOUT).unwrap();
        let err = v.validate(CRED, "123456").await.unwrap_err();
        assert!(matches!(err, RemoteError::Tls { .. }), "{err:?}");
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );
        assert!(vip.requests().is_empty());
    }
}

mod logging {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_security_code_is_never_logged() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["987123"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "987123").await, Ok(RemoteVerdict::Valid));
        assert_eq!(v.validate(CRED, "555777").await, Ok(RemoteVerdict::Invalid));
        vip.set_behaviour(FakeBehaviour::Malformed);
        assert!(v.validate(CRED, "444888").await.is_err());

        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("VIP Validate answered"), "{logs}");
        assert!(logs.contains(CRED), "{logs}");
        assert!(
            logs.contains("reason_code=\"0000\"") || logs.contains("reason_code=0000"),
            "{logs}"
        );
        for code in ["987123", "555777", "444888"] {
            assert!(
                !logs.contains(code),
                "the code {code} leaked into the logs:\n{logs}"
            );
        }
    }
}
