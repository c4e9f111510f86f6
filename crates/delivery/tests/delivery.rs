//! The adapters against the local fakes. One test binary (link time);
//! modules by adapter. `signatures` (in `delivery/`) checks webhook
//! signatures against Twilio's official Python library.

use std::sync::Arc;

use gatehouse_delivery::fake::{FakeSmsGateway, FakeSmtp, FakeTwilio};
use gatehouse_delivery::{
    CallRequest, DeliveryError, Gateway, Lookup, LookupKind, Mail, Mailer, SmsRequest,
};

const FROM: &str = "+14155550100";
const TO: &str = "+14155550123";

fn sms(key: &str) -> SmsRequest {
    SmsRequest {
        to: TO.to_owned(),
        body: "Your Gatehouse code is 123456".to_owned(),
        idempotency_key: key.to_owned(),
        status_callback: None,
    }
}

mod twilio {
    use super::*;
    use gatehouse_delivery::{TwilioConfig, TwilioGateway};
    use gatehouse_domain::{Clock, FixedClock, Timestamp};
    use std::time::Duration;

    const T0: Timestamp = Timestamp(1_764_460_800_000); // 2025-11-30

    #[tokio::test]
    async fn sms_is_sent_with_the_form_fields_and_auth() {
        let twilio = FakeTwilio::start().await;
        let gateway: Arc<dyn Gateway> = Arc::new(twilio.gateway(FROM));
        let mut req = sms("msg-1");
        req.status_callback = Some("https://portal.example/twilio/status".to_owned());

        let sent = gateway.send_sms(&req).await.expect("accepted");

        assert!(sent.provider_ref.starts_with("SM"), "{sent:?}");
        let messages = twilio.messages();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.sid, sent.provider_ref);
        assert_eq!(m.to, TO);
        assert_eq!(m.from.as_deref(), Some(FROM));
        assert_eq!(m.body, "Your Gatehouse code is 123456");
        assert_eq!(
            m.status_callback.as_deref(),
            Some("https://portal.example/twilio/status")
        );
        let names: Vec<&str> = m.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["To", "From", "Body", "StatusCallback"]);
    }

    #[tokio::test]
    async fn a_messaging_service_sends_as_messaging_service_sid_and_cannot_call_alone() {
        let twilio = FakeTwilio::start().await;
        let service = "MG0123456789abcdef0123456789abcdef";
        let gateway = twilio.gateway(service);
        gateway.send_sms(&sms("k")).await.expect("accepted");
        let m = &twilio.messages()[0];
        assert_eq!(m.from, None);
        assert_eq!(m.messaging_service_sid.as_deref(), Some(service));

        let call = call_request("https://portal.example/twiml/1");
        assert!(matches!(
            gateway.place_call(&call).await,
            Err(DeliveryError::Rejected(why)) if why.contains("call_from")
        ));

        let mut config = twilio.config(service);
        config.call_from = Some(FROM.to_owned());
        let gateway = TwilioGateway::new(&config).expect("valid");
        gateway.place_call(&call).await.expect("accepted");
        assert_eq!(twilio.calls()[0].from, FROM);
    }

    fn call_request(url: &str) -> CallRequest {
        CallRequest {
            to: TO.to_owned(),
            prompt: "Press pound to sign in".to_owned(),
            instructions_url: url.to_owned(),
            idempotency_key: "call-1".to_owned(),
            status_callback: Some("https://portal.example/twilio/call-status".to_owned()),
        }
    }

    #[tokio::test]
    async fn call_is_placed_with_url_and_method() {
        let twilio = FakeTwilio::start().await;
        let gateway = twilio.gateway(FROM);
        let sent = gateway
            .place_call(&call_request("https://portal.example/twiml/c1"))
            .await
            .expect("accepted");
        assert!(sent.provider_ref.starts_with("CA"));
        let c = &twilio.calls()[0];
        assert_eq!(c.sid, sent.provider_ref);
        assert_eq!((c.to.as_str(), c.from.as_str()), (TO, FROM));
        assert_eq!(c.url, "https://portal.example/twiml/c1");
        assert_eq!(c.method.as_deref(), Some("POST"));
        assert_eq!(
            c.status_callback.as_deref(),
            Some("https://portal.example/twilio/call-status")
        );
    }

    /// Twilio has no idempotency token for creates: the same request twice
    /// sends two texts, and the fake does what Twilio does.
    #[tokio::test]
    async fn a_repeated_create_sends_a_second_message() {
        let twilio = FakeTwilio::start().await;
        let gateway = twilio.gateway(FROM);
        let first = gateway.send_sms(&sms("same")).await.expect("accepted");
        let again = gateway.send_sms(&sms("same")).await.expect("accepted");
        assert_ne!(first, again);
        let messages = twilio.messages();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].body, messages[1].body);
        assert_eq!(twilio.request_count(), 2);
    }

    fn lookup(kind: LookupKind, since: Timestamp) -> Lookup {
        Lookup {
            kind,
            to: TO.to_owned(),
            body: "Your Gatehouse code is 123456".to_owned(),
            since,
            until: since.plus_seconds(30),
            exclude: Vec::new(),
        }
    }

    /// A gateway with a 1-second limit and a fake on the test's clock.
    async fn stalling(clock: &Arc<FixedClock>) -> (FakeTwilio, TwilioGateway) {
        let twilio = FakeTwilio::start().await;
        twilio.set_clock(clock.clone());
        let mut config = twilio.config(FROM);
        config.timeout_secs = 1;
        let gateway = TwilioGateway::new(&config).expect("valid");
        (twilio, gateway)
    }

    #[tokio::test]
    async fn a_text_accepted_then_stalled_is_unknown_and_the_lookup_finds_it() {
        let clock = Arc::new(FixedClock::at(T0));
        let (twilio, gateway) = stalling(&clock).await;
        let started = clock.now();
        twilio.set_stall_after_accept(Some(Duration::from_secs(3)));
        match gateway.send_sms(&sms("k")).await {
            Err(DeliveryError::Unknown(why)) => assert!(why.contains("in time"), "{why}"),
            other => panic!("expected Unknown, got {other:?}"),
        }
        // Twilio sent it even so.
        let sent = twilio.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status, "queued");
        twilio.set_stall_after_accept(None);

        clock.advance_seconds(30);
        let found = gateway
            .find_sent(&lookup(LookupKind::Sms, started))
            .await
            .expect("looked up");
        assert_eq!(
            found.map(|s| s.provider_ref).as_deref(),
            Some(sent[0].sid.as_str())
        );
        assert_eq!(twilio.list_count(), 1);
        // Another text, or the right text outside the window, is not it.
        let mut other = lookup(LookupKind::Sms, started);
        other.body = "Your Gatehouse code is 654321".to_owned();
        assert_eq!(gateway.find_sent(&other).await.expect("looked up"), None);
        let later = lookup(LookupKind::Sms, started.plus_seconds(300));
        assert_eq!(gateway.find_sent(&later).await.expect("looked up"), None);
        let mut excluded = lookup(LookupKind::Sms, started);
        excluded.exclude = vec![sent[0].sid.clone()];
        assert_eq!(gateway.find_sent(&excluded).await.expect("looked up"), None);
        // Nothing was sent by looking.
        assert_eq!(twilio.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_call_accepted_then_cut_off_is_unknown_and_the_lookup_finds_it() {
        let clock = Arc::new(FixedClock::at(T0));
        let (twilio, gateway) = stalling(&clock).await;
        // An earlier call to the same number, recorded for another message.
        let earlier = gateway
            .place_call(&call_request("https://portal.example/twiml/0"))
            .await
            .expect("accepted");
        clock.advance_seconds(5);
        let started = clock.now();
        twilio.set_drop_after_accept(true);
        assert!(matches!(
            gateway
                .place_call(&call_request("https://portal.example/twiml/1"))
                .await,
            Err(DeliveryError::Unknown(_))
        ));
        twilio.set_drop_after_accept(false);
        let calls = twilio.calls();
        assert_eq!(calls.len(), 2);

        clock.advance_seconds(30);
        let mut q = lookup(LookupKind::Call, started);
        q.exclude = vec![earlier.provider_ref.clone()];
        let found = gateway.find_sent(&q).await.expect("looked up");
        assert_eq!(
            found.map(|s| s.provider_ref).as_deref(),
            Some(calls[1].sid.as_str())
        );
        // Without the earlier call's sid excluded, the earliest call in the
        // window (skew included) is the answer: callers exclude what they
        // recorded.
        let q = lookup(LookupKind::Call, started);
        let found = gateway.find_sent(&q).await.expect("looked up");
        assert_eq!(found.map(|s| s.provider_ref), Some(earlier.provider_ref));
        // Another number has no call.
        let mut q = lookup(LookupKind::Call, started);
        q.to = "+14155550199".to_owned();
        assert_eq!(gateway.find_sent(&q).await.expect("looked up"), None);
    }

    #[tokio::test]
    async fn the_lookup_reads_further_pages() {
        let clock = Arc::new(FixedClock::at(T0));
        let (twilio, gateway) = stalling(&clock).await;
        let started = clock.now();
        let target = gateway.send_sms(&sms("k")).await.expect("accepted");
        let mut other = sms("o");
        other.body = "Something else".to_owned();
        for _ in 0..60 {
            gateway.send_sms(&other).await.expect("accepted");
        }
        let found = gateway
            .find_sent(&lookup(LookupKind::Sms, started))
            .await
            .expect("looked up");
        assert_eq!(found, Some(target));
        assert_eq!(twilio.list_count(), 2, "the first page held 50 newer texts");
    }

    #[tokio::test]
    async fn a_lookup_that_fails_is_unavailable_and_a_refused_one_rejected() {
        let clock = Arc::new(FixedClock::at(T0));
        let (twilio, gateway) = stalling(&clock).await;
        twilio.set_failure(Some(500));
        assert!(matches!(
            gateway.find_sent(&lookup(LookupKind::Sms, T0)).await,
            Err(DeliveryError::Unavailable(_))
        ));
        twilio.set_failure(None);
        let mut config = twilio.config(FROM);
        config.auth_token = "not-the-token".to_owned().into();
        let wrong = TwilioGateway::new(&config).expect("valid");
        assert!(matches!(
            wrong.find_sent(&lookup(LookupKind::Sms, T0)).await,
            Err(DeliveryError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn a_bad_number_is_rejected_with_twilios_message() {
        let twilio = FakeTwilio::start().await;
        twilio.set_bad_number(TO);
        let gateway = twilio.gateway(FROM);
        match gateway.send_sms(&sms("k")).await {
            Err(DeliveryError::Rejected(why)) => {
                assert!(why.contains("21211"), "{why}");
                assert!(why.contains("is not a valid phone number"), "{why}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        // Not E.164 at all: refused before any request.
        let mut req = sms("k2");
        req.to = "4155550123".to_owned();
        assert!(matches!(
            gateway.send_sms(&req).await,
            Err(DeliveryError::Rejected(_))
        ));
        assert_eq!(twilio.request_count(), 1);
    }

    #[tokio::test]
    async fn wrong_credentials_are_refused() {
        let twilio = FakeTwilio::start().await;
        let mut config = twilio.config(FROM);
        config.auth_token = "not-the-token".to_owned().into();
        let gateway = TwilioGateway::new(&config).expect("valid");
        match gateway.send_sms(&sms("k")).await {
            Err(DeliveryError::Rejected(why)) => assert!(why.contains("20003"), "{why}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert!(twilio.messages().is_empty());
    }

    #[tokio::test]
    async fn not_now_is_unavailable_and_other_server_errors_are_unknown() {
        let twilio = FakeTwilio::start().await;
        let gateway = twilio.gateway(FROM);
        twilio.set_failure(Some(503));
        assert!(matches!(
            gateway.send_sms(&sms("k")).await,
            Err(DeliveryError::Unavailable(_))
        ));
        twilio.set_failure(Some(429));
        assert!(matches!(
            gateway.send_sms(&sms("k")).await,
            Err(DeliveryError::Unavailable(_))
        ));
        // A 500 or a proxy's 502/504 may come after Twilio acted.
        for status in [500, 502, 504] {
            twilio.set_failure(Some(status));
            match gateway.send_sms(&sms("k")).await {
                Err(DeliveryError::Unknown(why)) => {
                    assert!(why.contains(&status.to_string()), "{why}");
                }
                other => panic!("expected Unknown for {status}, got {other:?}"),
            }
        }
        twilio.set_failure(None);
        gateway
            .send_sms(&sms("k"))
            .await
            .expect("accepted once the server is back");
    }

    /// Nothing listens: the connection is never made, so nothing was sent
    /// and a retry is safe.
    #[tokio::test]
    async fn a_connect_failure_is_unavailable() {
        let twilio = FakeTwilio::start().await;
        let config = twilio.config(FROM);
        drop(twilio);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let gateway = TwilioGateway::new(&config).expect("valid");
        match gateway.send_sms(&sms("k")).await {
            Err(DeliveryError::Unavailable(why)) => {
                assert!(why.contains("cannot reach Twilio"), "{why}");
                assert!(!why.contains("token"), "{why}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(matches!(
            gateway
                .place_call(&call_request("https://portal.example/twiml/1"))
                .await,
            Err(DeliveryError::Unavailable(_))
        ));
    }

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn configuration_is_checked() {
        let ok = TwilioConfig::new(SID, "t", FROM);
        TwilioGateway::new(&ok).expect("valid");
        let bad = |f: &dyn Fn(&mut TwilioConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            TwilioGateway::new(&c).expect_err("invalid").setting
        };
        assert_eq!(
            bad(&|c| c.base_url = "http://api.example.com".into()),
            "twilio.base_url"
        );
        // `^AC[0-9a-fA-F]{32}$`, `^MG[0-9a-fA-F]{32}$`.
        let mut upper = ok.clone();
        upper.account_sid = "AC0123456789ABCDEF0123456789ABCDEF".into();
        upper.from = "MG0123456789ABCDEF0123456789abcdef".into();
        upper.call_from = Some(FROM.into());
        TwilioGateway::new(&upper).expect("upper-case hex is valid");
        for sid in [
            "XX123",
            "AC0123",
            "AC0123456789abcdef0123456789abcde",
            "AC0123456789abcdef0123456789abcdef0",
            "AC0123456789abcdef0123456789abcdeg",
            "ac0123456789abcdef0123456789abcdef",
            "MG0123456789abcdef0123456789abcdef",
        ] {
            let mut c = ok.clone();
            c.account_sid = sid.into();
            let err = TwilioGateway::new(&c).expect_err(sid);
            assert_eq!(err.setting, "twilio.account_sid", "{sid}");
            assert!(err.to_string().contains("32 hexadecimal digits"), "{err}");
        }
        for from in [
            "MG123",
            "MG0123456789abcdef0123456789abcdeX",
            "AC0123456789abcdef0123456789abcdef",
        ] {
            let mut c = ok.clone();
            c.from = from.into();
            let err = TwilioGateway::new(&c).expect_err(from);
            assert_eq!(err.setting, "twilio.from", "{from}");
            assert!(err.to_string().contains("`MG` followed by 32"), "{err}");
        }
        assert_eq!(
            bad(&|c| c.auth_token = String::new().into()),
            "twilio.auth_token"
        );
        assert_eq!(bad(&|c| c.from = "4155550100".into()), "twilio.from");
        assert_eq!(bad(&|c| c.call_from = Some("x".into())), "twilio.call_from");
        assert_eq!(bad(&|c| c.timeout_secs = 0), "twilio.timeout_secs");
        let key = |id: &str, secret: &str| gatehouse_delivery::TwilioWebhookKey {
            id: id.to_owned(),
            secret: secret.to_owned().into(),
        };
        let mut keyed = ok.clone();
        keyed.webhook_keys = vec![
            key("webhooks_sharedkey_1", "s1"),
            key("webhooks_sharedkey_2", "s2"),
        ];
        let gateway = TwilioGateway::new(&keyed).expect("valid");
        assert_eq!(
            gateway
                .webhook_verifier()
                .shared_key_ids()
                .collect::<Vec<_>>(),
            ["webhooks_sharedkey_1", "webhooks_sharedkey_2"]
        );
        assert!(!format!("{gateway:?}").contains("s1"));
        for keys in [
            vec![key("", "s")],
            vec![key(" k", "s")],
            vec![key("a,b", "s")],
            vec![key("k", "")],
            vec![key("k", "s1"), key("k", "s2")],
        ] {
            let mut c = ok.clone();
            c.webhook_keys = keys;
            assert_eq!(
                TwilioGateway::new(&c).expect_err("invalid").setting,
                "twilio.webhook_keys"
            );
        }
    }

    /// The fake's account SID is `AC` + 16 random bytes in hex: 32 digits,
    /// the published format, so gateways built on it pass the check.
    #[tokio::test]
    async fn the_fakes_account_sid_has_the_published_format() {
        let twilio = FakeTwilio::start().await;
        let sid = twilio.account_sid();
        assert_eq!(sid.len(), 34, "{sid}");
        assert!(sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        TwilioGateway::new(&twilio.config(FROM)).expect("valid");
    }

    #[test]
    fn configuration_deserializes_with_defaults_and_refuses_unknown_keys() {
        let c: TwilioConfig = serde_json::from_value(serde_json::json!({
            "account_sid": SID, "auth_token": "secret-token", "from": FROM
        }))
        .expect("valid");
        assert_eq!(c.base_url, "https://api.twilio.com");
        assert_eq!(c.timeout_secs, 15);
        assert!(c.webhook_keys.is_empty());
        assert!(!format!("{c:?}").contains("secret-token"));
        assert!(
            serde_json::from_value::<TwilioConfig>(serde_json::json!({
                "account_sid": SID, "auth_token": "t", "from": FROM, "form": FROM
            }))
            .is_err()
        );
        let c: TwilioConfig = serde_json::from_value(serde_json::json!({
            "account_sid": SID, "auth_token": "t", "from": FROM,
            "webhook_keys": [{ "id": "webhooks_sharedkey_1", "secret": "shared-secret" }]
        }))
        .expect("valid");
        assert_eq!(c.webhook_keys[0].id, "webhooks_sharedkey_1");
        assert!(!format!("{c:?}").contains("shared-secret"));
        TwilioGateway::new(&c).expect("valid");
        assert!(
            serde_json::from_value::<TwilioConfig>(serde_json::json!({
                "account_sid": SID, "auth_token": "t", "from": FROM,
                "webhook_keys": [{ "id": "k", "secret": "s", "algorithm": "HMAC_SHA256" }]
            }))
            .is_err()
        );
    }
}

// A file of its own, in a directory Cargo does not take for another test
// binary.
#[path = "delivery/signatures.rs"]
mod signatures;

mod calls {
    //! The fake answers a call against a tiny portal stand-in that serves
    //! the TwiML and checks signatures, as the real portal will.

    use std::sync::Mutex;

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use gatehouse_delivery::twilio::signature::form_pairs;
    use gatehouse_delivery::{
        GatherOptions, SIGNATURE_HEADER, TWIML_CONTENT_TYPE, gather_twiml, say_twiml,
        verify_twilio_signature,
    };
    use gatehouse_domain::phonefactor::{KeyPress, classify_keys};

    use super::*;

    struct Portal {
        base: String,
        token: String,
        answers: Mutex<Vec<KeyPress>>,
        bad_signatures: Mutex<usize>,
        /// The Gather the portal serves (the portal's own by default).
        options: GatherOptions,
    }

    fn checked(
        portal: &Portal,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Vec<(String, String)>> {
        let params = form_pairs(body);
        let sig = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let url = format!("{}{path}", portal.base);
        if verify_twilio_signature(&portal.token, &url, &params, sig) {
            Some(params)
        } else {
            *portal.bad_signatures.lock().unwrap() += 1;
            None
        }
    }

    async fn instructions(
        State(portal): State<Arc<Portal>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        if checked(&portal, "/twiml/call?c=7", &headers, &body).is_none() {
            return StatusCode::FORBIDDEN.into_response();
        }
        let twiml = gather_twiml(
            "Press pound to approve. Press zero pound to report fraud.",
            "/twiml/gather?c=7",
            &portal.options,
        );
        (
            [(axum::http::header::CONTENT_TYPE, TWIML_CONTENT_TYPE)],
            twiml,
        )
            .into_response()
    }

    async fn gather(
        State(portal): State<Arc<Portal>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let Some(params) = checked(&portal, "/twiml/gather?c=7", &headers, &body) else {
            return StatusCode::FORBIDDEN.into_response();
        };
        let digits = params
            .iter()
            .find(|(k, _)| k == "Digits")
            .map(|(_, v)| v.as_str())
            .unwrap_or("?");
        let press = classify_keys(digits);
        portal.answers.lock().unwrap().push(press);
        (
            [(axum::http::header::CONTENT_TYPE, TWIML_CONTENT_TYPE)],
            say_twiml("Thank you."),
        )
            .into_response()
    }

    async fn start_portal(token: &str) -> Arc<Portal> {
        start_portal_with(token, GatherOptions::default()).await
    }

    async fn start_portal_with(token: &str, options: GatherOptions) -> Arc<Portal> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let portal = Arc::new(Portal {
            base: format!("http://{}", listener.local_addr().unwrap()),
            token: token.to_owned(),
            answers: Mutex::default(),
            bad_signatures: Mutex::default(),
            options,
        });
        let app = Router::new()
            .route("/twiml/call", post(instructions))
            .route("/twiml/gather", post(gather))
            .with_state(portal.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        portal
    }

    async fn place(twilio: &FakeTwilio, portal: &Portal) -> String {
        let req = CallRequest {
            to: TO.to_owned(),
            prompt: "Press pound".to_owned(),
            instructions_url: format!("{}/twiml/call?c=7", portal.base),
            idempotency_key: format!("call-{}", twilio.calls().len()),
            status_callback: None,
        };
        twilio
            .gateway(FROM)
            .place_call(&req)
            .await
            .expect("accepted")
            .provider_ref
    }

    #[tokio::test]
    async fn pound_approves_and_zero_pound_reports_fraud_with_signed_requests() {
        let twilio = FakeTwilio::start().await;
        let portal = start_portal(twilio.auth_token()).await;

        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "#").await.expect("played");
        assert_eq!(answered.instructions_status, 200);
        assert!(answered.instructions.contains("<Gather"));
        let action = answered.action.clone().expect("a Gather action");
        // No finish key: `#` is collected as a digit and posted after the
        // timeout.
        assert_eq!(
            (action.digits.as_str(), action.finished_on_key.as_str()),
            ("#", "")
        );
        assert_eq!(action.url, format!("{}/twiml/gather?c=7", portal.base));
        assert_eq!(answered.status(), 200);
        assert!(action.body.contains("Thank you."));

        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "0#").await.expect("played");
        assert_eq!(answered.action.expect("action").digits, "0#");

        // numDigits="2": the input ends at the second key; later keys are
        // not part of it.
        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "12#").await.expect("played");
        assert_eq!(answered.action.expect("action").digits, "12");

        // No key before the timeout: no action request; the call goes on to
        // the goodbye.
        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "").await.expect("played");
        assert_eq!(answered.action, None);
        assert_eq!(
            answered.fell_through_to,
            ["We did not receive an answer. Goodbye."]
        );

        assert_eq!(
            *portal.answers.lock().unwrap(),
            [KeyPress::Approve, KeyPress::Fraud, KeyPress::Other]
        );
        assert_eq!(*portal.bad_signatures.lock().unwrap(), 0);
    }

    /// The defect this Gather replaces: with `finishOnKey="#"`, Twilio's
    /// reference says "finishOnKey only works when a digit sequence precedes
    /// it. It cannot be used as a mechanism to stop a `<Gather>` without
    /// previous digit input", so `#` alone never reaches the portal and the
    /// approval could not happen on a real call.
    #[tokio::test]
    async fn with_pound_as_the_finish_key_pound_alone_posts_nothing() {
        let twilio = FakeTwilio::start().await;
        let options = GatherOptions {
            finish_on_key: "#".to_owned(),
            num_digits: None,
            ..GatherOptions::default()
        };
        let portal = start_portal_with(twilio.auth_token(), options).await;

        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "#").await.expect("played");
        assert_eq!(answered.action, None, "no action for # alone");
        assert_eq!(
            answered.fell_through_to,
            ["We did not receive an answer. Goodbye."]
        );

        // With digits before it, # ends the input and is left out.
        let sid = place(&twilio, &portal).await;
        let action = twilio
            .answer_call(&sid, "0#")
            .await
            .expect("played")
            .action
            .expect("action");
        assert_eq!(
            (action.digits.as_str(), action.finished_on_key.as_str()),
            ("0", "#")
        );
        // "0" alone still reads as fraud; nothing ever approved.
        assert_eq!(*portal.answers.lock().unwrap(), [KeyPress::Fraud]);
    }

    #[tokio::test]
    async fn a_portal_with_another_token_refuses_the_fakes_requests() {
        let twilio = FakeTwilio::start().await;
        let portal = start_portal("some-other-token").await;
        let sid = place(&twilio, &portal).await;
        let answered = twilio.answer_call(&sid, "#").await.expect("played");
        assert_eq!(answered.instructions_status, 403);
        assert_eq!(answered.action, None);
        assert_eq!(*portal.bad_signatures.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn unknown_call_is_an_error() {
        let twilio = FakeTwilio::start().await;
        assert!(twilio.answer_call("CA0", "#").await.is_err());
    }
}

mod http_sms {
    use super::*;
    use gatehouse_delivery::{
        HttpSmsAuth, HttpSmsConfig, HttpSmsEncoding, HttpSmsGateway, HttpSmsMethod, HttpSmsParam,
    };

    fn config(
        url: String,
        method: HttpSmsMethod,
        encoding: Option<HttpSmsEncoding>,
    ) -> HttpSmsConfig {
        HttpSmsConfig {
            url,
            method,
            encoding,
            params: vec![
                HttpSmsParam::new("to", "{to_digits}"),
                HttpSmsParam::new("number", "{to}"),
                HttpSmsParam::new("text", "{body}"),
                HttpSmsParam::new("ref", "gh-{id}"),
            ],
            secret: None,
            auth: None,
            success_status: None,
            response_id_pointer: None,
            timeout_secs: 5,
        }
    }

    #[tokio::test]
    async fn get_with_query_parameters_and_a_secret() {
        let fake = FakeSmsGateway::start().await;
        let mut c = config(fake.url("/send?account=7"), HttpSmsMethod::GET, None);
        c.params.push(HttpSmsParam::new("key", "{secret}"));
        c.secret = Some("s3cret".to_owned().into());
        let gateway = HttpSmsGateway::new(&c).expect("valid");
        let sent = gateway.send_sms(&sms("m-1")).await.expect("accepted");
        assert_eq!(sent.provider_ref, "m-1");

        let r = &fake.requests()[0];
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/send");
        assert_eq!(r.param("account"), Some("7"));
        assert_eq!(r.param("to"), Some("14155550123"));
        assert_eq!(r.param("number"), Some(TO));
        assert_eq!(r.param("text"), Some("Your Gatehouse code is 123456"));
        assert_eq!(r.param("ref"), Some("gh-m-1"));
        assert_eq!(r.param("key"), Some("s3cret"));
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn post_form_with_basic_auth() {
        let fake = FakeSmsGateway::start().await;
        let mut c = config(fake.url("/api/sms"), HttpSmsMethod::POST, None);
        c.auth = Some(HttpSmsAuth::Basic {
            username: "gh".to_owned(),
            password: "pw".to_owned().into(),
        });
        HttpSmsGateway::new(&c)
            .expect("valid")
            .send_sms(&sms("m-2"))
            .await
            .expect("accepted");
        let r = &fake.requests()[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.query, None);
        assert_eq!(
            r.form,
            vec![
                ("to".to_owned(), "14155550123".to_owned()),
                ("number".to_owned(), TO.to_owned()),
                (
                    "text".to_owned(),
                    "Your Gatehouse code is 123456".to_owned()
                ),
                ("ref".to_owned(), "gh-m-2".to_owned()),
            ]
        );
        assert_eq!(r.authorization.as_deref(), Some("Basic Z2g6cHc="));
    }

    #[tokio::test]
    async fn post_json_with_a_header_token_and_the_providers_id() {
        let fake = FakeSmsGateway::start().await;
        fake.set_response(202, r#"{"messages":[{"id":"prov-42"}]}"#);
        let mut c = config(
            fake.url("/v1/messages"),
            HttpSmsMethod::POST,
            Some(HttpSmsEncoding::Json),
        );
        c.auth = Some(HttpSmsAuth::Header {
            name: "X-Api-Key".to_owned(),
            value: "k3y".to_owned().into(),
        });
        c.success_status = Some(202);
        c.response_id_pointer = Some("/messages/0/id".to_owned());
        let sent = HttpSmsGateway::new(&c)
            .expect("valid")
            .send_sms(&sms("m-3"))
            .await
            .expect("accepted");
        assert_eq!(sent.provider_ref, "prov-42");
        let r = &fake.requests()[0];
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.header("x-api-key"), Some("k3y"));
        assert_eq!(
            r.json,
            Some(serde_json::json!({
                "to": "14155550123", "number": TO,
                "text": "Your Gatehouse code is 123456", "ref": "gh-m-3"
            }))
        );
    }

    #[tokio::test]
    async fn bearer_auth_and_status_mapping() {
        let fake = FakeSmsGateway::start().await;
        let mut c = config(fake.url("/s"), HttpSmsMethod::POST, None);
        c.auth = Some(HttpSmsAuth::Bearer {
            token: "tok".to_owned().into(),
        });
        c.success_status = Some(201);
        let gateway = HttpSmsGateway::new(&c).expect("valid");

        fake.set_response(200, "ok");
        assert!(matches!(
            gateway.send_sms(&sms("a")).await,
            Err(DeliveryError::Rejected(_))
        ));
        // An error answer that echoes the text does not carry it further.
        fake.set_response(400, "bad number for Your Gatehouse code is 123456");
        match gateway.send_sms(&sms("b")).await {
            Err(DeliveryError::Rejected(why)) => {
                assert!(why.contains("HTTP 400"), "{why}");
                assert!(!why.contains("123456"), "{why}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        fake.set_response(503, "busy");
        assert!(matches!(
            gateway.send_sms(&sms("c")).await,
            Err(DeliveryError::Unavailable(_))
        ));
        // Any other 5xx may come after the gateway sent the text.
        fake.set_response(500, "oops");
        assert!(matches!(
            gateway.send_sms(&sms("c")).await,
            Err(DeliveryError::Unknown(_))
        ));
        fake.set_response(201, "");
        gateway.send_sms(&sms("d")).await.expect("accepted");
        assert_eq!(
            fake.requests()[0].authorization.as_deref(),
            Some("Bearer tok")
        );

        let call = CallRequest {
            to: TO.to_owned(),
            prompt: String::new(),
            instructions_url: String::new(),
            idempotency_key: "c".to_owned(),
            status_callback: None,
        };
        assert_eq!(
            gateway.place_call(&call).await,
            Err(DeliveryError::Rejected(
                "this gateway sends text messages only".to_owned()
            ))
        );
    }

    #[tokio::test]
    async fn a_dead_gateway_is_unavailable() {
        let fake = FakeSmsGateway::start().await;
        let c = config(fake.url("/s"), HttpSmsMethod::POST, None);
        drop(fake);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let gateway = HttpSmsGateway::new(&c).expect("valid");
        assert!(matches!(
            gateway.send_sms(&sms("a")).await,
            Err(DeliveryError::Unavailable(_))
        ));
    }

    /// A generic gateway cannot say what it sent: the default lookup
    /// answers `Rejected`, and the portal gives up rather than resend.
    #[tokio::test]
    async fn the_http_sms_gateway_cannot_look_up() {
        let c = config(
            "https://sms.example.net/send".to_owned(),
            HttpSmsMethod::POST,
            None,
        );
        let gateway = HttpSmsGateway::new(&c).expect("valid");
        let q = Lookup {
            kind: LookupKind::Sms,
            to: TO.to_owned(),
            body: "Your Gatehouse code is 123456".to_owned(),
            since: gatehouse_domain::Timestamp(0),
            until: gatehouse_domain::Timestamp(0),
            exclude: Vec::new(),
        };
        match gateway.find_sent(&q).await {
            Err(DeliveryError::Rejected(why)) => assert!(why.contains("cannot look up"), "{why}"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn configuration_is_checked_with_clear_errors() {
        let ok = config(
            "https://sms.example.net/send".to_owned(),
            HttpSmsMethod::POST,
            None,
        );
        HttpSmsGateway::new(&ok).expect("valid");
        let bad = |f: &dyn Fn(&mut HttpSmsConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            HttpSmsGateway::new(&c).expect_err("invalid").to_string()
        };
        assert!(bad(&|c| c.url = "ftp://x/".into()).contains("http or https"));
        assert!(bad(&|c| c.url = "https://u:p@x/".into()).contains("credentials"));
        assert!(
            bad(&|c| c.params[0].value = "{phone}".into())
                .contains("unknown placeholder `{phone}`")
        );
        assert!(bad(&|c| c.params.retain(|p| p.name == "text")).contains("{to}"));
        assert!(bad(&|c| c.params.retain(|p| p.name != "text")).contains("{body}"));
        assert!(bad(&|c| c.params.push(HttpSmsParam::new("k", "{secret}"))).contains("secret"));
        assert!(
            bad(&|c| {
                c.method = HttpSmsMethod::GET;
                c.encoding = Some(HttpSmsEncoding::Json);
            })
            .contains("GET")
        );
        assert!(bad(&|c| c.response_id_pointer = Some("id".into())).contains("JSON pointer"));
    }

    #[test]
    fn configuration_deserializes() {
        let c: HttpSmsConfig = serde_json::from_value(serde_json::json!({
            "url": "https://sms.example.net/send",
            "method": "GET",
            "params": [{"name": "to", "value": "{to}"}, {"name": "text", "value": "{body}"}],
            "auth": {"type": "bearer", "token": "hidden-token"}
        }))
        .expect("valid");
        assert_eq!(c.method, HttpSmsMethod::GET);
        assert!(!format!("{c:?}").contains("hidden-token"));
        HttpSmsGateway::new(&c).expect("valid");
        assert!(
            serde_json::from_value::<HttpSmsConfig>(serde_json::json!({
                "url": "https://x/", "params": [], "methd": "GET"
            }))
            .is_err()
        );
    }
}

mod mail {
    use super::*;
    use gatehouse_delivery::{DEFAULT_OUTBOX_FROM, OutboxMailer, SmtpConfig, SmtpMailer, SmtpTls};
    use gatehouse_domain::{Clock, FixedClock, Timestamp};

    fn clock() -> Arc<dyn Clock> {
        // 2023-11-14T22:13:20Z
        Arc::new(FixedClock::at(Timestamp(1_700_000_000_000)))
    }

    fn notice() -> Mail {
        Mail {
            to: "admin@example.com".to_owned(),
            subject: "Fraud reported — alice".to_owned(),
            body: "alice pressed 0# on a sign-in call.\n".to_owned(),
        }
    }

    #[tokio::test]
    async fn the_outbox_writes_readable_eml_files_in_time_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = dir.path().join("outbox");
        let mailer = OutboxMailer::new(&outbox, DEFAULT_OUTBOX_FROM, clock()).expect("valid");
        mailer.send(&notice()).await.expect("written");
        mailer.send(&notice()).await.expect("written");

        let mut names: Vec<String> = std::fs::read_dir(&outbox)
            .expect("outbox exists")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("1700000000000-") && n.ends_with(".eml"))
        );
        assert!(
            names[0].contains("-000000-") && names[1].contains("-000001-"),
            "{names:?}"
        );

        let eml = std::fs::read_to_string(outbox.join(&names[0])).expect("readable");
        assert!(
            eml.contains("From: Gatehouse <gatehouse@localhost>\r\n"),
            "{eml}"
        );
        assert!(eml.contains("To: admin@example.com\r\n"), "{eml}");
        assert!(
            eml.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"),
            "{eml}"
        );
        assert!(
            eml.contains("Subject: Fraud reported =?utf-8?b?4oCU?= alice\r\n"),
            "non-ASCII words are encoded (RFC 2047): {eml}"
        );
        assert!(
            eml.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{eml}"
        );
        assert!(
            eml.contains("\r\n\r\nalice pressed 0# on a sign-in call."),
            "{eml}"
        );
    }

    #[tokio::test]
    async fn the_outbox_refuses_a_bad_address() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mailer = OutboxMailer::new(dir.path(), DEFAULT_OUTBOX_FROM, clock()).expect("valid");
        let mut mail = notice();
        mail.to = "not an address".to_owned();
        assert!(matches!(
            mailer.send(&mail).await,
            Err(DeliveryError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn smtp_delivers_to_the_fake() {
        let smtp = FakeSmtp::start().await;
        let mailer = SmtpMailer::new(&smtp.config("Gatehouse <no-reply@example.com>"), clock())
            .expect("valid");
        mailer.send(&notice()).await.expect("sent");
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].mail_from, "no-reply@example.com");
        assert_eq!(mails[0].rcpt_to, ["admin@example.com"]);
        assert!(mails[0].data.contains("To: admin@example.com\r\n"));
        assert!(
            mails[0]
                .data
                .contains("alice pressed 0# on a sign-in call.")
        );
    }

    #[tokio::test]
    async fn smtp_authenticates_and_maps_refusals() {
        let smtp = FakeSmtp::start().await;
        smtp.require_auth("gh", "pw");
        smtp.reject_recipient("nobody@example.com");
        let mut config = smtp.config("no-reply@example.com");
        config.username = Some("gh".to_owned());
        config.password = Some("pw".to_owned().into());
        let mailer = SmtpMailer::new(&config, clock()).expect("valid");
        mailer.send(&notice()).await.expect("sent");
        assert_eq!(smtp.mails()[0].auth_user.as_deref(), Some("gh"));

        let mut mail = notice();
        mail.to = "nobody@example.com".to_owned();
        assert!(matches!(
            mailer.send(&mail).await,
            Err(DeliveryError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn smtp_down_is_unavailable() {
        let smtp = FakeSmtp::start().await;
        let config = smtp.config("no-reply@example.com");
        drop(smtp);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mailer = SmtpMailer::new(&config, clock()).expect("valid");
        assert!(matches!(
            mailer.send(&notice()).await,
            Err(DeliveryError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn smtp_configuration_is_checked() {
        let base = SmtpConfig {
            host: "smtp.example.com".to_owned(),
            port: None,
            username: Some("u".to_owned()),
            password: Some("p".to_owned().into()),
            from: "no-reply@example.com".to_owned(),
            tls: SmtpTls::Starttls,
            timeout_secs: 30,
        };
        assert_eq!(base.effective_port(), 587);
        SmtpMailer::new(&base, clock()).expect("valid");
        let mut plain = base.clone();
        plain.tls = SmtpTls::None;
        assert_eq!(
            SmtpMailer::new(&plain, clock())
                .expect_err("refused")
                .setting,
            "smtp.tls"
        );
        let mut half = base.clone();
        half.password = None;
        assert_eq!(
            SmtpMailer::new(&half, clock())
                .expect_err("refused")
                .setting,
            "smtp.username"
        );
        let mut from = base;
        from.from = "nope".to_owned();
        assert_eq!(
            SmtpMailer::new(&from, clock())
                .expect_err("refused")
                .setting,
            "smtp.from"
        );
    }
}

/// What the Twilio gateway and the webhook checks write to the logs: never
/// the auth token, a SharedKey's secret, a message's text (its code) or a
/// whole phone number, whatever happens (sent, refused, unknown, looked up,
/// a webhook refused).
mod logging {
    use super::*;
    use gatehouse_delivery::{TwilioGateway, TwilioWebhookKey, WebhookBody};
    use gatehouse_domain::{FixedClock, Timestamp};
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

    const CODE: &str = "804613";
    const KEY_SECRET: &str = "shared-key-secret-0f8e4a1c";
    const BAD: &str = "+14155550177";

    #[tokio::test]
    async fn no_secret_code_or_whole_number_is_logged() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let clock = Arc::new(FixedClock::at(Timestamp(1_764_460_800_000)));
        let twilio = FakeTwilio::start().await;
        twilio.set_clock(clock.clone());
        let mut config = twilio.config(FROM);
        config.timeout_secs = 1;
        config.call_from = Some(FROM.to_owned());
        config.webhook_keys = vec![TwilioWebhookKey {
            id: "webhooks_sharedkey_1".to_owned(),
            secret: KEY_SECRET.to_owned().into(),
        }];
        let gateway = TwilioGateway::new(&config).expect("valid");
        let text = |to: &str| SmsRequest {
            to: to.to_owned(),
            body: format!("Your Gatehouse code is {CODE}"),
            idempotency_key: "gatehouse-outbox-1-0".to_owned(),
            status_callback: Some("https://portal.example/status?outbox=1".to_owned()),
        };

        // Sent; refused by Twilio (its message names the number); unknown.
        gateway.send_sms(&text(TO)).await.expect("accepted");
        twilio.set_bad_number(BAD);
        assert!(matches!(
            gateway.send_sms(&text(BAD)).await,
            Err(DeliveryError::Rejected(_))
        ));
        twilio.set_stall_after_accept(Some(std::time::Duration::from_secs(3)));
        assert!(matches!(
            gateway.send_sms(&text(TO)).await,
            Err(DeliveryError::Unknown(_))
        ));
        twilio.set_stall_after_accept(None);
        // Looked up, found and not found; a failing lookup.
        let lookup = |body: String| Lookup {
            kind: LookupKind::Sms,
            to: TO.to_owned(),
            body,
            since: Timestamp(1_764_460_800_000),
            until: Timestamp(1_764_460_830_000),
            exclude: Vec::new(),
        };
        let body = format!("Your Gatehouse code is {CODE}");
        assert!(
            gateway
                .find_sent(&lookup(body.clone()))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            gateway
                .find_sent(&lookup(format!("{body}!")))
                .await
                .unwrap()
                .is_none()
        );
        twilio.set_failure(Some(500));
        assert!(gateway.find_sent(&lookup(body.clone())).await.is_err());
        twilio.set_failure(None);
        // Webhooks refused: a wrong signature, an unknown key, an unknown
        // algorithm.
        let url = "https://portal.example/gather/x";
        let form: Vec<(String, String)> = vec![("Digits".into(), "#".into())];
        for header in [
            None,
            Some("key=webhooks_sharedkey_2"),
            Some("key=webhooks_sharedkey_1,algorithm=HMAC_MD5"),
        ] {
            assert!(!gateway.verify_webhook(url, WebhookBody::Form(&form), "x", header));
        }

        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("accepted"), "{logs}");
        for (what, secret) in [
            ("the auth token", twilio.auth_token()),
            ("the SharedKey secret", KEY_SECRET),
            ("the code", CODE),
            ("a whole number", TO),
            ("a whole number", BAD),
        ] {
            assert!(
                !logs.contains(secret),
                "{what} ({secret}) is in the logs:\n{logs}"
            );
        }
    }
}
