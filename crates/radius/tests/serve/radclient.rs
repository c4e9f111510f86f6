//! `serve` driven by FreeRADIUS's radclient (Debian's freeradius-utils,
//! 3.2), an independent implementation that checks the Response
//! Authenticator and the Message-Authenticator of every reply (shown by
//! `radclient_checks_reply_authenticators` below).
//!
//! Skipped, with a message, when radclient is not installed
//! (`apt-get install freeradius-utils`).

use std::net::SocketAddr;
use std::process::Stdio;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::process::Command;

use crate::support::{SECRET, TestServer};

fn radclient_installed() -> bool {
    let installed = std::process::Command::new("radclient")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        eprintln!(
            "radclient not found (apt-get install freeradius-utils): radclient tests skipped"
        );
    }
    installed
}

/// What radclient printed (stdout and stderr) when it sent `attributes`
/// once, waiting at most 2 s.
async fn radclient(server: SocketAddr, secret: &str, attributes: &str) -> String {
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "2"])
        .arg(server.to_string())
        .args(["auth", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(attributes.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("radclient {attributes:?}:\n{text}");
    text
}

/// radclient accepted a reply of this code: it says "Received <code> Id …"
/// only for a reply whose authenticators verified.
fn assert_received(out: &str, code: &str) {
    assert!(out.contains(&format!("Received {code} Id ")), "{out}");
    assert!(!out.contains("verification failed"), "{out}");
}

fn secret() -> &'static str {
    std::str::from_utf8(SECRET).unwrap()
}

#[tokio::test]
async fn radclient_accept() {
    if !radclient_installed() {
        return;
    }
    let server = TestServer::with_nas().await;
    let out = radclient(
        server.addr,
        secret(),
        "User-Name = alice, User-Password = right, Message-Authenticator = 0x00, NAS-IP-Address = 10.0.0.1",
    )
    .await;
    assert_received(&out, "Access-Accept");
    assert!(out.contains("Reply-Message = \"welcome alice\""), "{out}");
    assert!(out.contains("Class = 0x676f6c64"), "{out}");
    assert!(out.contains("Filter-Id = \"vpn-users\""), "{out}");
    assert!(out.contains("Message-Authenticator = 0x"), "{out}");
}

#[tokio::test]
async fn radclient_challenge_then_accept() {
    if !radclient_installed() {
        return;
    }
    let server = TestServer::with_nas().await;
    let out = radclient(
        server.addr,
        secret(),
        "User-Name = bob, User-Password = right, Message-Authenticator = 0x00",
    )
    .await;
    assert_received(&out, "Access-Challenge");
    assert!(out.contains("State = 0x626f622d31"), "{out}");
    assert!(out.contains("Reply-Message = \"enter the code\""), "{out}");

    let out = radclient(
        server.addr,
        secret(),
        "User-Name = bob, User-Password = 123456, State = 0x626f622d31, Message-Authenticator = 0x00",
    )
    .await;
    assert_received(&out, "Access-Accept");
    assert!(out.contains("Reply-Message = \"welcome bob\""), "{out}");
}

#[tokio::test]
async fn radclient_reject_and_proxy_state() {
    if !radclient_installed() {
        return;
    }
    let server = TestServer::with_nas().await;
    let out = radclient(
        server.addr,
        secret(),
        "User-Name = alice, User-Password = wrong, Message-Authenticator = 0x00, \
         Proxy-State = 0x6f6e65, Proxy-State = 0x74776f",
    )
    .await;
    assert_received(&out, "Access-Reject");
    assert!(out.contains("Reply-Message = \"denied\""), "{out}");
    let received = &out[out.find("Received Access-Reject Id").unwrap()..];
    let one = received.find("Proxy-State = 0x6f6e65").expect(&out);
    let two = received.find("Proxy-State = 0x74776f").expect(&out);
    assert!(one < two, "{out}");
}

#[tokio::test]
async fn radclient_wrong_secret_or_no_message_authenticator_gets_no_answer() {
    if !radclient_installed() {
        return;
    }
    let server = TestServer::with_nas().await;
    let out = radclient(
        server.addr,
        "not-the-secret",
        "User-Name = alice, User-Password = right, Message-Authenticator = 0x00",
    )
    .await;
    assert!(out.contains("No reply from server"), "{out}");
    assert!(!out.contains("Received Access-"), "{out}");

    let out = radclient(
        server.addr,
        secret(),
        "User-Name = alice, User-Password = right",
    )
    .await;
    assert!(out.contains("No reply from server"), "{out}");
    assert_eq!(server.handler.calls("alice"), 0);
}

/// A fake server answering radclient with a wrong Message-Authenticator,
/// then with a wrong Response Authenticator: radclient refuses both, so
/// the "Received Access-Accept" of the tests above means both were right.
#[tokio::test]
async fn radclient_checks_reply_authenticators() {
    if !radclient_installed() {
        return;
    }
    for (spoil, complaint) in [
        (Spoil::MessageAuthenticator, "invalid Message-Authenticator"),
        (
            Spoil::ResponseAuthenticator,
            "invalid Response Authenticator",
        ),
    ] {
        let fake = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = fake.local_addr().unwrap();
        let answer = tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            let (len, from) = fake.recv_from(&mut buffer).await.unwrap();
            let reply = accept(&buffer[..len], SECRET, spoil);
            fake.send_to(&reply, from).await.unwrap();
        });
        let out = radclient(
            addr,
            secret(),
            "User-Name = alice, User-Password = right, Message-Authenticator = 0x00",
        )
        .await;
        answer.await.unwrap();
        assert!(out.contains(complaint), "{out}");
        assert!(!out.contains("Received Access-Accept Id"), "{out}");
    }
}

#[derive(Clone, Copy)]
enum Spoil {
    MessageAuthenticator,
    ResponseAuthenticator,
}

/// An Access-Accept to `request`, signed independently of the crate (RFC
/// 3579 §3.2, RFC 2865 §3) and then spoiled.
fn accept(request: &[u8], secret: &[u8], spoil: Spoil) -> Vec<u8> {
    let mut reply = vec![2, request[1], 0, 38];
    reply.extend_from_slice(&request[4..20]);
    reply.extend_from_slice(&[80, 18]);
    reply.extend_from_slice(&[0; 16]);
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&reply);
    reply[22..38].copy_from_slice(&mac.finalize().into_bytes());
    if let Spoil::MessageAuthenticator = spoil {
        reply[22] ^= 1;
    }
    let mut md5 = Md5::new();
    md5.update(&reply);
    md5.update(secret);
    reply[4..20].copy_from_slice(&md5.finalize());
    if let Spoil::ResponseAuthenticator = spoil {
        reply[4] ^= 1;
    }
    reply
}
