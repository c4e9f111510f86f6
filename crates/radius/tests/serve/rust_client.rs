//! `serve` driven by the crate's own client.

use std::net::IpAddr;
use std::time::Duration;

use gatehouse_radius::client::{
    AccessRequest, ClientError, Code, Connection, MessageAuthenticator,
};
use tokio::time::Instant;

use crate::support::{Counters, LOCALHOST, NO_ANSWER, SECRET, TestServer, nas};

#[tokio::test]
async fn accept_carries_class_filter_id_and_a_message_authenticator() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;

    let response = connection
        .exchange(
            &AccessRequest::new("alice")
                .password("right")
                .nas_ip_address([10, 0, 0, 1].into()),
        )
        .await
        .unwrap();
    assert_eq!(response.code, Code::Accept);
    assert_eq!(response.reply_messages, ["welcome alice"]);
    assert_eq!(response.class.as_deref(), Some(&b"gold"[..]));
    assert_eq!(response.filter_id.as_deref(), Some("vpn-users"));
    assert!(response.message_authenticator);
    // The Message-Authenticator comes first (type 80 right after the header).
    assert_eq!(response.bytes[20], 80);
    assert_eq!(
        counters.get("gatehouse_radius_replies_total{code=accept}"),
        1
    );
}

#[tokio::test]
async fn challenge_then_accept_with_the_state() {
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;

    let challenge = connection
        .exchange(&AccessRequest::new("bob").password("right"))
        .await
        .unwrap();
    assert_eq!(challenge.code, Code::Challenge);
    assert_eq!(challenge.message(), "enter the code");
    let state = challenge.state.clone().expect("a Challenge carries State");
    assert_eq!(state, b"bob-1");
    assert_eq!(challenge.class, None, "Class only on Accept");

    let accept = connection
        .exchange(&AccessRequest::new("bob").password("123456").state(state))
        .await
        .unwrap();
    assert_eq!(accept.code, Code::Accept);
    assert_eq!(accept.message(), "welcome bob");
    assert_eq!(accept.state, None);
}

#[tokio::test]
async fn reject_and_long_messages() {
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;

    let reject = connection
        .exchange(&AccessRequest::new("alice").password("wrong"))
        .await
        .unwrap();
    assert_eq!(reject.code, Code::Reject);
    assert_eq!(reject.message(), "denied");
    assert_eq!(reject.class, None);
    assert_eq!(reject.filter_id, None);

    let long = connection
        .exchange(&AccessRequest::new("long"))
        .await
        .unwrap();
    assert_eq!(long.code, Code::Reject);
    assert_eq!(
        long.reply_messages.len(),
        3,
        "600 octets in 253-octet pieces"
    );
    assert_eq!(long.message(), "0123456789".repeat(60));
}

#[tokio::test]
async fn wrong_secret_gets_no_answer() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let server = TestServer::with_nas().await;
    let connection = server.connect_with(b"not-the-secret", NO_ANSWER).await;

    let result = connection
        .exchange(&AccessRequest::new("alice").password("right"))
        .await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(counters.dropped("bad_authenticator"), 1);
    assert_eq!(server.handler.calls("alice"), 0);
}

#[tokio::test]
async fn missing_message_authenticator_only_where_allowed() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let mut old_gear = nas();
    old_gear.require_message_authenticator = false;
    let server = TestServer::start(vec![
        (IpAddr::from(LOCALHOST), nas()),
        (IpAddr::from([127, 0, 0, 2]), old_gear),
    ])
    .await;
    let unsigned = AccessRequest::new("alice")
        .password("right")
        .message_authenticator(MessageAuthenticator::Absent);

    let required = server.connect_with(SECRET, NO_ANSWER).await;
    let result = required.exchange(&unsigned).await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(counters.dropped("missing_message_authenticator"), 1);

    let from_old_gear = Connection::open_from(
        ([127, 0, 0, 2], 0).into(),
        server.addr,
        SECRET,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let response = from_old_gear.exchange(&unsigned).await.unwrap();
    assert_eq!(response.code, Code::Accept);
    assert!(response.message_authenticator, "replies always carry one");

    // Present but wrong is dropped even where it is not required.
    let wrong = from_old_gear
        .encode(
            &unsigned
                .clone()
                .message_authenticator(MessageAuthenticator::Wrong),
        )
        .unwrap();
    from_old_gear.send(&wrong).await.unwrap();
    let result = tokio::time::timeout(NO_ANSWER, from_old_gear.receive_raw()).await;
    assert!(!matches!(result, Ok(Ok(_))), "{result:?}");
    assert_eq!(counters.dropped("bad_authenticator"), 1);
}

#[tokio::test]
async fn unknown_source_gets_no_answer() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    // Registered for 127.0.0.2 only; the test speaks from 127.0.0.1.
    let server = TestServer::start(vec![(IpAddr::from([127, 0, 0, 2]), nas())]).await;
    let connection = server.connect_with(SECRET, NO_ANSWER).await;

    let result = connection
        .exchange(&AccessRequest::new("alice").password("right"))
        .await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(counters.dropped("unknown_client"), 1);
    assert_eq!(server.handler.calls("alice"), 0);
}

#[tokio::test]
async fn malformed_packets_and_other_codes_get_no_answer() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let server = TestServer::with_nas().await;
    let connection = server.connect_with(SECRET, NO_ANSWER).await;
    let good = connection
        .encode(&AccessRequest::new("alice").password("right"))
        .unwrap();

    // Too short; Length beyond the datagram; an attribute overrunning it.
    connection.send_raw(&good.bytes()[..10]).await.unwrap();
    connection
        .send_raw(&good.bytes()[..good.bytes().len() - 1])
        .await
        .unwrap();
    let mut overrun = good.bytes().to_vec();
    let user_password = overrun.len() - 18; // the last attribute
    overrun[user_password + 1] = 200;
    connection.send_raw(&overrun).await.unwrap();
    // An Accounting-Request.
    let mut accounting = good.bytes().to_vec();
    accounting[0] = 4;
    connection.send_raw(&accounting).await.unwrap();

    let result = connection.receive_raw().await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(counters.dropped("malformed"), 3);
    assert_eq!(counters.dropped("unsupported_code"), 1);

    // The server is still there.
    let response = connection
        .exchange(&AccessRequest::new("alice").password("right"))
        .await
        .unwrap();
    assert_eq!(response.code, Code::Accept);
}

#[tokio::test]
async fn proxy_states_are_echoed_in_order() {
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;
    for user in ["alice", "nobody"] {
        let response = connection
            .exchange(
                &AccessRequest::new(user)
                    .password("right")
                    .proxy_state(b"first".to_vec())
                    .proxy_state(vec![0, 1, 2, 255])
                    .proxy_state(b"third".to_vec()),
            )
            .await
            .unwrap();
        assert_eq!(
            response.proxy_states,
            [b"first".to_vec(), vec![0, 1, 2, 255], b"third".to_vec()]
        );
    }
}

#[tokio::test]
async fn retransmission_during_a_held_request_is_dropped() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;
    let request = connection
        .encode(&AccessRequest::new("slow").password("x"))
        .unwrap();

    connection.send(&request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    connection.send(&request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    connection.send(&request).await.unwrap();

    let response = connection.receive(&request).await.unwrap();
    assert_eq!(response.code, Code::Accept);
    assert_eq!(response.message(), "slow but sure");
    // One answer only.
    let again = tokio::time::timeout(NO_ANSWER, connection.receive_raw()).await;
    assert!(!matches!(again, Ok(Ok(_))), "{again:?}");
    assert_eq!(server.handler.calls("slow"), 1);
    assert_eq!(counters.dropped("retransmission_in_progress"), 2);
}

#[tokio::test]
async fn retransmission_after_the_answer_gets_the_same_bytes() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let server = TestServer::with_nas().await;
    let connection = server.connect().await;
    let request = connection
        .encode(&AccessRequest::new("alice").password("right"))
        .unwrap();

    connection.send(&request).await.unwrap();
    let first = connection.receive_raw().await.unwrap();
    connection.send(&request).await.unwrap();
    let second = connection.receive_raw().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(server.handler.calls("alice"), 1);
    assert_eq!(counters.get("gatehouse_radius_replayed_replies_total"), 1);
    assert_eq!(
        counters.get("gatehouse_radius_replies_total{code=accept}"),
        1
    );

    // A new request (new Request Authenticator, same Identifier) is decided again.
    let fresh = AccessRequest::new("alice")
        .password("right")
        .identifier(request.identifier());
    let fresh = connection.encode(&fresh).unwrap();
    connection.send(&fresh).await.unwrap();
    assert_eq!(connection.receive(&fresh).await.unwrap().code, Code::Accept);
    assert_eq!(server.handler.calls("alice"), 2);
}

#[tokio::test]
async fn a_held_request_does_not_block_others() {
    let server = TestServer::with_nas().await;
    let slow = server.connect().await;
    let quick = server.connect().await;
    let held = slow.encode(&AccessRequest::new("slow")).unwrap();
    slow.send(&held).await.unwrap();

    let started = Instant::now();
    let response = quick
        .exchange(&AccessRequest::new("alice").password("right"))
        .await
        .unwrap();
    assert_eq!(response.code, Code::Accept);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow.receive(&held).await.unwrap().code, Code::Accept);
}

#[tokio::test]
async fn past_the_timeout_nothing_is_sent_and_the_request_is_forgotten() {
    let counters = Counters::default();
    let _recorder = metrics::set_default_local_recorder(&counters);
    let mut impatient = nas();
    impatient.timeout = Duration::from_millis(300);
    let server = TestServer::start(vec![(IpAddr::from(LOCALHOST), impatient)]).await;
    let connection = server
        .connect_with(SECRET, Duration::from_millis(800))
        .await;
    let request = connection.encode(&AccessRequest::new("forever")).unwrap();

    connection.send(&request).await.unwrap();
    let result = connection.receive_raw().await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(counters.dropped("timeout"), 1);

    // Forgotten: the same bytes again are a new request, not a replay.
    connection.send(&request).await.unwrap();
    let result = connection.receive_raw().await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(server.handler.calls("forever"), 2);
    assert_eq!(counters.dropped("timeout"), 2);
    assert_eq!(counters.dropped("retransmission_in_progress"), 0);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = TestServer::with_nas().await;
    let connection = server.connect_with(SECRET, NO_ANSWER).await;
    assert_eq!(
        connection
            .exchange(&AccessRequest::new("alice").password("right"))
            .await
            .unwrap()
            .code,
        Code::Accept
    );
    let addr = server.addr;
    server.stop().await.unwrap();
    // The socket is closed: the port can be bound again.
    tokio::net::UdpSocket::bind(addr).await.unwrap();
}
