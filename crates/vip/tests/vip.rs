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
    async fn success_is_0000() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
        assert_eq!(last_answer(&vip), "0000");
    }

    /// Only `0000` itself validates a code: not codes that read as zero
    /// (more or fewer zeros), nor success with a message, nor the codes
    /// the table maps to other verdicts.
    #[tokio::test]
    async fn nothing_but_0000_is_success() {
        let vip = FakeVip::start().await;
        let v = vip.validator(TIMEOUT);
        for code in [
            "0",
            "00",
            "000",
            "00000",
            "00000000",
            "0000000000000000",
            "0001",
            "1000",
            "4923",
            "4994",
            "4990",
            "4995",
            "4996",
            "4997",
            "49F2",
            "4E03",
            "49B5",
        ] {
            vip.set_behaviour(FakeBehaviour::Status {
                reason_code: code.into(),
                status_message: "Success".into(),
                error_detail: None,
            });
            assert_ne!(
                v.validate(CRED, "123456").await,
                Ok(RemoteVerdict::Valid),
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_code_is_49b5_invalid() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "654321").await, Ok(RemoteVerdict::Invalid));
        assert_eq!(last_answer(&vip), "49B5");
    }

    #[tokio::test]
    async fn a_code_is_accepted_once() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Invalid));
        assert_eq!(last_answer(&vip), "49B5");
    }

    #[tokio::test]
    async fn unknown_credential_is_49f2_unknown() {
        let vip = FakeVip::start().await;
        let v = vip.validator(TIMEOUT);
        assert_eq!(
            v.validate("VSST12345678", "123456").await,
            Ok(RemoteVerdict::UnknownCredential)
        );
        assert_eq!(last_answer(&vip), "49F2");
    }

    #[tokio::test]
    async fn each_unusable_state_answers_its_code() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        for (state, code, verdict) in [
            (FakeCredentialState::Locked, "4994", RemoteVerdict::Locked),
            (
                FakeCredentialState::Disabled,
                "4997",
                RemoteVerdict::Disabled,
            ),
            (FakeCredentialState::New, "4995", RemoteVerdict::Disabled),
            (
                FakeCredentialState::Inactive,
                "4996",
                RemoteVerdict::Disabled,
            ),
        ] {
            vip.set_state(CRED, state);
            assert_eq!(v.validate(CRED, "123456").await, Ok(verdict), "{state:?}");
            assert_eq!(last_answer(&vip), code, "{state:?}");
        }
        // The code was not consumed, nor a failure counted, while the
        // credential could not validate.
        assert_eq!(vip.failures_of(CRED), Some(0));
        vip.set_state(CRED, FakeCredentialState::Enabled);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
    }

    #[tokio::test]
    async fn consecutive_failures_lock_the_credential_with_4994() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_max_failures(3);
        let v = vip.validator(TIMEOUT);
        for _ in 0..3 {
            assert_eq!(v.validate(CRED, "000000").await, Ok(RemoteVerdict::Invalid));
            assert_eq!(last_answer(&vip), "49B5");
        }
        assert_eq!(vip.state_of(CRED), Some(FakeCredentialState::Locked));
        // Even the right code is refused now.
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Locked));
        assert_eq!(last_answer(&vip), "4994");
    }

    #[tokio::test]
    async fn the_default_limit_is_ten_and_a_valid_code_resets_the_count() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let v = vip.validator(TIMEOUT);
        for _ in 0..9 {
            assert_eq!(v.validate(CRED, "000000").await, Ok(RemoteVerdict::Invalid));
        }
        assert_eq!(vip.failures_of(CRED), Some(9));
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
        assert_eq!(vip.failures_of(CRED), Some(0));
        for _ in 0..gatehouse_vip::fake::DEFAULT_MAX_FAILURES {
            assert_eq!(v.validate(CRED, "000000").await, Ok(RemoteVerdict::Invalid));
        }
        assert_eq!(vip.state_of(CRED), Some(FakeCredentialState::Locked));
    }

    #[tokio::test]
    async fn reason_codes_outside_the_table_map_as_published() {
        let vip = FakeVip::start().await;
        let v = vip.validator(TIMEOUT);
        for (code, message, detail, want) in [
            (
                "4923",
                "The OTP you provided is within the Sync window, but outside the Look Ahead Window. This operation requires a second consecutive OTP",
                None,
                Ok(RemoteVerdict::Invalid),
            ),
            ("4990", "Bad Token State", None, Ok(RemoteVerdict::Disabled)),
            (
                "4993",
                "Operation not allowed on a disabled token",
                None,
                Ok(RemoteVerdict::Disabled),
            ),
            (
                "4E03",
                "Authorization failed",
                Some("Credential ID not found"),
                Ok(RemoteVerdict::UnknownCredential),
            ),
            (
                "4e03",
                "Authorization failed",
                Some("Account not found"),
                Err(RemoteError::Refused {
                    code: "4E03".into(),
                    message: "Authorization failed: Account not found".into(),
                }),
            ),
            (
                "4879",
                "The service is temporarily unavailable",
                None,
                Err(RemoteError::Refused {
                    code: "4879".into(),
                    message: "The service is temporarily unavailable".into(),
                }),
            ),
            (
                "4E04",
                "Unsupported service protocol version",
                None,
                Err(RemoteError::Refused {
                    code: "4E04".into(),
                    message: "Unsupported service protocol version".into(),
                }),
            ),
            // A User Services code is no answer of Validate.
            (
                "6009",
                "Authentication failed.",
                None,
                Err(RemoteError::Refused {
                    code: "6009".into(),
                    message: "Authentication failed.".into(),
                }),
            ),
        ] {
            vip.set_behaviour(FakeBehaviour::Status {
                reason_code: code.into(),
                status_message: message.into(),
                error_detail: detail.map(Into::into),
            });
            assert_eq!(v.validate(CRED, "123456").await, want, "{code}");
        }
    }

    #[tokio::test]
    async fn an_unknown_reason_code_is_a_refusal_with_the_code_and_message() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        vip.set_behaviour(FakeBehaviour::Status {
            reason_code: "4abc".into(),
            status_message: "Something new".into(),
            error_detail: Some("with detail".into()),
        });
        let v = vip.validator(TIMEOUT);
        let err = v.validate(CRED, "123456").await.unwrap_err();
        assert_eq!(
            err,
            RemoteError::Refused {
                code: "4ABC".into(),
                message: "Something new: with detail".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "the validation service refused the request with reason code 4ABC: \
             Something new: with detail"
        );
        // A forced answer consumes nothing.
        vip.set_behaviour(FakeBehaviour::Normal);
        assert_eq!(v.validate(CRED, "123456").await, Ok(RemoteVerdict::Valid));
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

/// The reason code the fake answered to the last request.
fn last_answer(vip: &FakeVip) -> String {
    vip.requests()
        .last()
        .and_then(|r| r.answered.clone())
        .expect("the fake answered a reason code")
}

/// The wire as the fake sees it, without the adapter.
mod wire {
    use super::*;

    /// A `Validate` shaped like the public clients' (other prefixes, extra
    /// namespace declarations, no `soapenv:Header`).
    const VALIDATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<E:Envelope xmlns:E="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:v="http://www.verisign.com/2006/08/vipservice">
  <E:Body>
    <v:Validate Version="2.0" Id="0A1B2C3D">
      <v:TokenId>SYMC26070843</v:TokenId>
      <v:OTP>123456</v:OTP>
    </v:Validate>
  </E:Body>
</E:Envelope>"#;

    async fn post(vip: &FakeVip, soap_action: Option<&str>, body: &str) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(vip.url())
            .header("content-type", "text/xml; charset=utf-8")
            .body(body.to_owned());
        if let Some(action) = soap_action {
            request = request.header("SOAPAction", action);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn validate_is_answered_without_soapaction_or_with_the_wsdls() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456", "234567"]);
        for (action, otp, code) in [
            (None, "123456", "0000"),
            (Some("\"\""), "234567", "0000"),
            (Some(""), "345678", "49B5"),
        ] {
            let (status, body) = post(&vip, action, &VALIDATE.replace("123456", otp)).await;
            assert_eq!(status, 200, "{action:?}: {body}");
            assert!(
                body.contains(&format!("<ReasonCode>{code}</ReasonCode>")),
                "{action:?}: {body}"
            );
            assert!(body.contains(r#"RequestId="0A1B2C3D""#), "{body}");
        }
        let sent = vip.requests();
        assert_eq!(sent[0].soap_action, None);
        assert_eq!(sent[1].soap_action.as_deref(), Some("\"\""));
    }

    #[tokio::test]
    async fn another_soapaction_is_a_client_fault() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        let (status, body) = post(&vip, Some("\"urn:vip#Validate\""), VALIDATE).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("<faultcode>S:Client</faultcode>"), "{body}");
        assert!(body.contains("SOAPAction"), "{body}");
        assert_eq!(vip.requests()[0].answered, None);
        // Nothing was consumed.
        let (_, body) = post(&vip, None, VALIDATE).await;
        assert!(body.contains("<ReasonCode>0000</ReasonCode>"), "{body}");
    }

    #[tokio::test]
    async fn malformed_requests_are_client_faults() {
        let vip = FakeVip::start().await;
        vip.add_credential(CRED, ["123456"]);
        for body in [
            "not xml at all".to_owned(),
            "<Envelope/>".to_owned(),
            VALIDATE.replace("Validate", "GetServerTime"),
            VALIDATE.replace("<v:TokenId>SYMC26070843</v:TokenId>", ""),
            VALIDATE.replace("<v:OTP>123456</v:OTP>", ""),
        ] {
            let (status, answer) = post(&vip, Some("\"\""), &body).await;
            assert_eq!(status, 500, "{body}: {answer}");
            assert!(
                answer.contains("<faultcode>S:Client</faultcode>"),
                "{body}: {answer}"
            );
        }
        assert!(vip.requests().iter().all(|r| r.answered.is_none()));
    }

    #[tokio::test]
    async fn the_adapter_reports_a_client_fault_as_such() {
        // The adapter's own requests are well-formed; a fault reaches it
        // when the service objects to the SOAPAction or the body.
        let vip = FakeVip::start().await;
        vip.set_behaviour(FakeBehaviour::Fault);
        let err = vip
            .validator(TIMEOUT)
            .validate(CRED, "123456")
            .await
            .unwrap_err();
        assert!(matches!(err, RemoteError::SoapFault { .. }), "{err:?}");
        assert!(err.to_string().contains("SOAP fault"), "{err}");
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

    #[tokio::test]
    async fn an_unknown_reason_code_is_logged_with_its_message() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let vip = FakeVip::start().await;
        vip.set_behaviour(FakeBehaviour::Status {
            reason_code: "4E7A".into(),
            status_message: "A message nobody published".into(),
            error_detail: None,
        });
        let err = vip
            .validator(TIMEOUT)
            .validate(CRED, "246802")
            .await
            .unwrap_err();
        assert!(matches!(err, RemoteError::Refused { .. }), "{err:?}");

        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|l| l.contains("VIP Validate failed"))
            .unwrap_or_else(|| panic!("no failure line:\n{logs}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("4E7A"), "{line}");
        assert!(line.contains("A message nobody published"), "{line}");
        assert!(line.contains(CRED), "{line}");
        assert!(!logs.contains("246802"), "{logs}");
    }
}
