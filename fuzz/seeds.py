#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/ (committed; run again only to
change them). Needs python-pskc (`pip install python-pskc`) for the
PBKDF2 seed.

    python3 fuzz/seeds.py

Most targets read their input with `arbitrary::Unstructured`: values from
the front, and the lengths of strings and byte strings from the end (one
octet each while fewer than 257 octets remain). `Arb` lays seeds out that
way, so that they decode as intended.
"""

import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
FIXTURES = os.path.join(HERE, "..", "crates", "domain", "tests", "fixtures")


class Arb:
    def __init__(self):
        self.front = b""
        self.lengths = []  # in the order they are read, from the end

    def byte(self, b):
        self.front += bytes([b])
        return self

    def string(self, s):
        data = s.encode() if isinstance(s, str) else s
        self.front += data
        self.lengths.append(len(data))
        return self

    def rest(self, data):
        self.tail = data
        return self

    def bytes(self):
        data = self.front + getattr(self, "tail", b"") + bytes(reversed(self.lengths))
        assert len(data) <= 256, "seeds stay below 257 octets (one-octet lengths)"
        return data


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def pskc():
    # The first octet picks what unlocks the file (fuzz_targets/pskc.rs).
    write("pskc", "rfc6030-figure2", b"\x00" + fixture("rfc6030-figure2.xml"))
    write("pskc", "rfc6030-figure3", b"\x00" + fixture("rfc6030-figure3.xml"))
    write("pskc", "rfc6030-figure6", b"\x01" + fixture("rfc6030-figure6.xml"))
    write("pskc", "rfc6030-figure7", b"\x03" + fixture("rfc6030-figure7.xml"))
    write("pskc", "plain", b"\x00" + fixture("pskc-plain.xml"))
    write("pskc", "preshared", b"\x02" + fixture("pskc-preshared.xml"))
    write("pskc", "pbkdf2-sha256", b"\x04" + fixture("pskc-pbkdf2-sha256-fields.xml"))
    # PBKDF2 with 10 iterations: mutations of it stay fast.
    from pskc import PSKC

    p = PSKC()
    p.add_key(
        id="k1",
        serial="VSST00000001",
        secret=b"12345678901234567890",
        algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
        response_length=6,
        time_interval=30,
    )
    p.encryption.setup_pbkdf2("correct horse battery staple", iterations=10)
    p.mac.setup()
    path = os.path.join(CORPUS, "pskc", "pbkdf2-fast.tmp")
    p.write(path)
    with open(path, "rb") as f:
        xml = f.read()
    os.remove(path)
    write("pskc", "pbkdf2-fast", b"\x04" + xml)


def otpauth():
    # In newtypes, after its selector (24): issuer, account, algorithm, TOTP?,
    # period or nothing, digits, counter, secret.
    def seed(issuer, account, alg, totp, digits):
        a = Arb().byte(24).string(issuer).string(account).byte(alg).byte(1 if totp else 0)
        if totp:
            a.front += struct.pack("<Q", 30)
        a.front += struct.pack("<I", digits) + struct.pack("<Q", 7)
        # The secret (a Vec<u8>: a continuation octet before each element).
        for b in b"12345678901234567890":
            a.byte(1).byte(b)
        return a.bytes()

    write("newtypes", "otpauth-plain", seed("Gatehouse", "GHST12345678", 0, True, 6))
    write("newtypes", "otpauth-injection", seed("Example Co", "alice&secret=AAAA?x#y:%41", 1, False, 8))
    write("newtypes", "otpauth-unicode", seed("Ex:ample/Co", "bjørn@example.com", 2, True, 7))


def phone():
    # region choice (0 none, 1 arbitrary, 2-3 listed), [region], blocked count, number
    write("phone", "e164", Arb().byte(0).byte(0).rest(b"+1 415 555 0123").bytes())
    write("phone", "national-us", Arb().byte(2).byte(0).byte(0).rest(b"(415) 555-0123").bytes())
    write("phone", "gb-blocked", Arb().byte(2).byte(2).byte(1).byte(4).rest(b"07911 123456").bytes())
    write("phone", "fictional", Arb().byte(0).byte(0).rest(b"+1-202-555-0142").bytes())
    write("phone", "de", Arb().byte(3).byte(6).byte(0).rest(b"030 901820").bytes())


def newtypes():
    # The first octet picks the parser (fuzz_targets/newtypes.rs).
    seeds = {
        "credential-id": Arb().byte(0).string("vsst 1234 5678"),
        "username": Arb().byte(1).string(" Alice.Smith@corp "),
        "email": Arb().byte(2).string("Alice@Example.COM"),
        "account-number": Arb().byte(4).string("40817263"),
        "promo": Arb().byte(5).string(" spring-25 "),
        "enum": Arb().byte(6).string("Symantec"),
        "source-range": Arb().byte(8).string("10.1.2.3/8"),
        "source-range-v6": Arb().byte(8).string("2001:db8::/32"),
        "split": Arb().byte(10).string("hunter2,push").byte(1).string(",").byte(6),
        "scrv1": Arb().byte(10).string("SCRV1:aHVudGVyMg==:MTIzNDU2").byte(0).byte(6),
        "period": Arb().byte(11).string("2026-05"),
        "base32": Arb().byte(12).string("gezd gnbv gy3t qojq"),
        "csv": Arb().byte(20).byte(1).string("=1+2").byte(1).string('a,"b"'),
    }
    for name, a in seeds.items():
        write("newtypes", name, a.bytes())


def order_form():
    write(
        "order_form",
        "first-step",
        b"csrf=t0k&action=continue&method=symantec_vip&credential_id=VSST+1234+5678"
        b"&security_code=755224&next_security_code=287082",
    )
    write(
        "order_form",
        "review",
        b"csrf=t0k&action=order&method=phonefactor&msa_version=2026-01&msa_acknowledged=yes"
        b"&idempotency_key=wiz_0123456789abcdef&promo_code=+spring25+&proof=sealed.token",
    )
    write("order_form", "apply", b"action=apply&method=symantec&credential_id=vsst12345678&promo_code=%20X%20")


def twilio():
    # signer (0 fuzzer, 1 auth token, 2-3 SharedKey), json, url, signature, settings?, body
    def seed(signer, json, url, signature, settings, body):
        a = Arb().byte(signer).byte(json).string(url).string(signature)
        if settings is None:
            a.byte(0)
        else:
            a.byte(1).string(settings)
        return a.rest(body).bytes()

    form = b"CallSid=CA01&Digits=%23&To=%2B14155550100"
    write("twilio", "form", seed(1, 0, "https://portal.example.com/api/v1/telephony/twilio/gather/c1", "", None, form))
    write("twilio", "sharedkey", seed(3, 0, "https://portal.example.com:443/s?outbox=1&tag=x", "", "key=KEY1,algorithm=HMAC_SHA256", b"From=%2B1415&Body=FRAUD"))
    body = b'{"a":1}'
    digest = hashlib.sha256(body).hexdigest()
    write("twilio", "json", seed(1, 1, "https://p.example.com/status?bodySHA256=" + digest, "", None, body))
    write("twilio", "forged", seed(0, 0, "http://p.example.com/x", "uiz2BrMZOa/K+lhn3wQjVLtg8uc=", None, form))


def radius():
    # flags (1 require, 2 fix Length, 4 sign, then the reply), secret size, secret, message, datagram
    secret = b"testing123"
    # radclient 3.2.1's Access-Request (crates/radius/src/authenticators.rs).
    radclient = bytes.fromhex(
        "01f70045285d264aeca2dbb1d3d009b678abd2f7"
        "0107616c696365"
        "0212dc9f3df70b596a1f566ed755a9ad1b3f"
        "5012f1aafd92ee91ba3e34fe1bba900d5410"
        "04060a000001"
    )

    def radius_seed(flags, message, datagram):
        a = Arb().byte(flags).byte(len(secret) - 1)
        a.front += secret
        return a.string(message).rest(datagram).bytes()

    write("radius", "radclient", radius_seed(1 | 2 | 4, "welcome", radclient))
    # With State and two Proxy-States, unsigned, for a client that does not require signing.
    extra = bytes([24, 4]) + b"st" + bytes([33, 4]) + b"p1" + bytes([33, 4]) + b"p2"
    write("radius", "proxy-states", radius_seed(2 | 16, "code?", radclient + extra))
    write("radius", "challenge-signed", radius_seed(1 | 2 | 4 | 32, "Enter the code", radclient + extra))


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    pskc()
    otpauth()
    phone()
    newtypes()
    order_form()
    twilio()
    radius()
