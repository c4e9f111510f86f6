//! What each route takes: who calls it, its input, and each field's rule.

/// Who sends a route's requests (a fresh session for each request).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Who {
    Anonymous,
    /// Password accepted, Security Code still due.
    Pending,
    /// PhoneFactor ordered, activation due.
    Activation,
    User,
    Admin,
    Operator,
    /// A validation API client's secret as bearer.
    ApiClient,
}

/// How a field judges what it is given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Rule {
    /// A value of a fixed shape (a code, a name of a thing, a number, a
    /// choice): anything else is refused.
    Strict,
    /// A whole number (in a form, its digits).
    Number,
    /// A yes/no (JSON `true`/`false`).
    Flag,
    /// Text for people to read, up to this many characters: markup and SQL
    /// are data (stored, shown escaped); control, bidirectional-override and
    /// zero-width characters and anything longer are refused.
    Text(usize),
    /// A password: any printable characters are data, never stored or shown
    /// as typed.
    Secret,
    /// A search term: markup and SQL find nothing; too long is refused.
    Search,
    /// A value that is used only when valid and otherwise ignored (a
    /// sign-in's `next`, a checkbox, an idempotency key): any answer but a
    /// 5xx, and never shown raw.
    Lenient,
    /// A code the page maps to a fixed text (`notice=created`): whatever
    /// else is given never appears on the page.
    Code,
}

/// A field's name, its valid value (`{n}` is a serial number per request,
/// `{account}` account A's number, `{password}` the callers' password) and
/// its rule.
pub(super) type Field = (&'static str, &'static str, Rule);

#[derive(Clone, Copy)]
pub(super) enum Input {
    /// Nothing but the path (and a page form's CSRF token).
    Nothing,
    /// A page's web form (its `csrf` field is added and swept too).
    Form(&'static [Field]),
    /// An API call's JSON object (numbers and flags are JSON values).
    Json(&'static [Field]),
    /// The query string of a GET.
    Query(&'static [Field]),
    /// The token inventory's PSKC upload.
    Upload,
    /// A Twilio callback: form fields signed by the gateway.
    Twilio(&'static [Field]),
}

pub(super) struct Entry {
    pub(super) route: &'static str,
    pub(super) who: Who,
    pub(super) input: Input,
    /// Tables a refused request may change by design (failure counters and
    /// the audit of failed attempts); the payload must not appear in them.
    pub(super) counts_failures: bool,
    /// The route checks something before it reads the body (a device's or
    /// the gateway's signature), so its refusals need not be 413/415.
    pub(super) checked_before_body: bool,
    /// The route answers `{"result": false}` to what it does not accept
    /// (the validation API, whose callers expect a yes or a no).
    pub(super) answers_false: bool,
}

pub(super) const fn e(route: &'static str, who: Who, input: Input) -> Entry {
    Entry {
        route,
        who,
        input,
        counts_failures: false,
        checked_before_body: false,
        answers_false: false,
    }
}

/// The validation API: a code it cannot accept is `{"result": false}`, a
/// failed attempt like any other.
pub(super) const fn validation(route: &'static str, who: Who, input: Input) -> Entry {
    Entry {
        answers_false: true,
        ..counted(route, who, input)
    }
}

/// A route whose refusals count as failed attempts (sign-in, codes,
/// password re-entry).
pub(super) const fn counted(route: &'static str, who: Who, input: Input) -> Entry {
    Entry {
        counts_failures: true,
        ..e(route, who, input)
    }
}

/// A route that checks a signature before it reads the body.
pub(super) const fn signed(route: &'static str, who: Who, input: Input) -> Entry {
    Entry {
        checked_before_body: true,
        ..e(route, who, input)
    }
}

use Input::{Form, Json, Nothing, Query};
use Rule::{Code, Flag, Lenient, Number, Search, Secret, Strict, Text};
use Who::{Activation, Admin, Anonymous, ApiClient, Operator, Pending};

/// What every route takes. Values are valid, so that each request differs
/// from a good one in one field only.
#[rustfmt::skip]
pub(super) const TABLE: &[Entry] = &[
    // ---- pages: forms
    e("POST /accounts", Operator, Form(&[("name", "Sweep Account {n}", Text(100))])),
    e("POST /billing/run", Operator, Form(&[("period", "2025-10", Strict)])),
    e("POST /catalog/msa", Operator, Form(&[("version", "2030.{n}", Strict), ("text", "Terms, version {n}.", Text(60_000))])),
    e("POST /catalog/price", Operator, Form(&[("method", "symantec_vip", Strict), ("amount", "600", Number), ("currency", "USD", Strict)])),
    e("POST /catalog/promo", Operator, Form(&[
        ("code", "SWEEP{n}", Strict), ("percent_off", "10", Number), ("amount_off", "", Number),
        ("months", "", Number), ("max_redemptions", "", Number), ("valid_until", "", Strict), ("method", "", Strict),
    ])),
    e("POST /radius-clients/create", Operator, Form(&[
        ("name", "sweep-{n}", Strict), ("account", "{account}", Strict), ("address", "10.0.0.1", Strict),
        ("mode", "code-only", Strict), ("separator", ",", Strict), ("timeout_secs", "60", Number),
        ("class", "", Text(200)), ("filter_id", "", Text(200)), ("allow_password_only", "1", Lenient),
    ])),
    e("POST /radius-clients/remove", Operator, Form(&[("name", "sweep-gone", Strict)])),
    counted("POST /login", Anonymous, Form(&[("username", "s-user", Strict), ("password", "{password}", Secret), ("next", "/security", Lenient)])),
    e("POST /logout", Who::User, Nothing),
    counted("POST /password", Who::User, Form(&[
        ("current_password", "{password}", Secret), ("new_password", "Sweep-New-Password-{n}", Secret),
        ("confirm_password", "Sweep-New-Password-{n}", Secret),
    ])),
    counted("POST /login/security-code", Pending, Form(&[("code", "000000", Strict)])),
    e("POST /login/phonefactor/start", Pending, Nothing),
    counted("POST /login/phonefactor/verify", Pending, Form(&[("code", "000000", Strict)])),
    e("POST /login/phonefactor/check", Pending, Nothing),
    e("POST /phonefactor/activate", Activation, Form(&[("country", "US", Strict), ("phone", "+14155550142", Strict), ("mode", "sms", Strict)])),
    e("POST /phonefactor/activate/check", Activation, Nothing),
    counted("POST /phonefactor/activate/verify", Activation, Form(&[("code", "000000", Strict)])),
    counted("POST /security/phonefactor/deactivate", Who::User, Form(&[("password", "{password}", Secret)])),
    e("POST /tokens/import", Operator, Input::Upload),
    e("POST /tokens/remote", Operator, Form(&[("credential_ids", "VSMT{n:8}", Strict)])),
    e("POST /tokens/soft", Operator, Form(&[("count", "1", Number)])),
    e("POST /users/new", Admin, Form(&[
        ("username", "sweep-{n}", Strict), ("name", "Sweep {n}", Text(100)), ("email", "sweep-{n}@example.test", Strict),
        ("role", "user", Strict), ("password", "", Secret), ("must_change_password", "on", Lenient),
    ])),
    e("POST /users/{id}/delete", Admin, Nothing),
    e("POST /users/{id}/disable", Admin, Nothing),
    e("POST /users/{id}/enable", Admin, Nothing),
    e("POST /users/{id}/edit", Admin, Form(&[
        ("name", "Target {n}", Text(100)), ("email", "target-{n}@example.test", Strict),
        ("role", "user", Strict), ("status", "active", Strict),
    ])),
    // The order wizard's first step (a credential and its codes checked),
    // then its last (the order placed). An unknown `action` is the first
    // step (what pressing Enter in the form sends); fields of the other
    // step are not read.
    counted("POST /users/{id}/external-authentication", Admin, Form(&[
        ("action", "review", Lenient), ("method", "symantec_vip", Strict), ("credential_id", "UBHM00000099", Strict),
        ("security_code", "{totp0}", Strict), ("next_security_code", "{totp1}", Strict), ("promo_code", "WELCOME50", Strict),
    ])),
    e("POST /users/{id}/external-authentication", Admin, Form(&[
        ("action", "order", Lenient), ("method", "phonefactor", Strict), ("promo_code", "", Strict),
        ("msa_version", "2026.1", Strict), ("msa_acknowledged", "on", Lenient), ("idempotency_key", "sweep-{n}", Text(200)),
    ])),
    e("POST /users/{id}/external-authentication/remove", Admin, Form(&[("method", "symantec_vip", Strict)])),
    e("POST /users/{id}/phonefactor/bypass", Admin, Form(&[("minutes", "5", Number)])),
    e("POST /users/{id}/phonefactor/clear-block", Admin, Nothing),
    e("POST /users/{id}/phonefactor/deactivate", Admin, Nothing),
    e("POST /users/{id}/reset-password", Admin, Nothing),
    e("POST /users/{id}/security-code/disable", Admin, Nothing),
    e("POST /users/{id}/security-code/enable", Admin, Nothing),
    counted("POST /users/{id}/security-code/sync", Admin, Form(&[("code1", "123456", Strict), ("code2", "654321", Strict)])),
    e("POST /users/{id}/security-code/temporary", Admin, Form(&[("hours", "1", Number), ("single_use", "on", Lenient)])),
    e("POST /users/{id}/security-code/unlock", Admin, Nothing),
    e("POST /virtual-phone/keys", Operator, Form(&[("number", "+14155550100", Strict), ("call", "no-such-call", Strict), ("digits", "#", Strict)])),
    e("POST /virtual-phone/reply", Operator, Form(&[("number", "+14155550100", Strict), ("body", "Reply {n}", Text(1600))])),
    // ---- pages: GETs and their query strings
    e("GET /", Who::User, Nothing),
    e("GET /accounts", Operator, Query(&[("created", "", Lenient)])),
    e("GET /audit", Admin, Query(&[("page", "1", Number)])),
    e("GET /audit/export.jsonl", Admin, Nothing),
    e("GET /billing", Admin, Query(&[("period", "2025-10", Strict), ("notice", "", Code)])),
    e("GET /billing/statements.csv", Admin, Query(&[("period", "2025-10", Strict), ("account", "", Strict)])),
    e("GET /catalog", Operator, Query(&[("notice", "", Code)])),
    e("GET /login", Anonymous, Query(&[("next", "/security", Lenient), ("signed_out", "", Lenient)])),
    e("GET /login/phonefactor", Pending, Nothing),
    e("GET /login/second-factor", Pending, Nothing),
    e("GET /login/security-code", Pending, Nothing),
    e("GET /msa/{version}", Who::User, Nothing),
    e("GET /orders/{number}", Admin, Nothing),
    e("GET /password", Who::User, Nothing),
    e("GET /phonefactor/activate", Activation, Query(&[("change", "", Lenient)])),
    e("GET /radius-clients", Operator, Query(&[("notice", "", Code)])),
    e("GET /security", Who::User, Query(&[("notice", "", Code)])),
    e("GET /static/app.css", Anonymous, Nothing),
    e("GET /static/app.js", Anonymous, Nothing),
    e("GET /tokens", Operator, Query(&[("q", "", Search), ("page", "1", Number)])),
    e("GET /users", Admin, Query(&[("q", "", Search), ("page", "1", Number), ("account", "", Number), ("notice", "", Code)])),
    e("GET /users/new", Admin, Query(&[("account", "", Number)])),
    e("GET /users/{id}/action", Admin, Query(&[("action", "edit", Lenient)])),
    e("GET /users/{id}/delete", Admin, Nothing),
    e("GET /users/{id}/disable", Admin, Nothing),
    e("GET /users/{id}/edit", Admin, Nothing),
    e("GET /users/{id}/enable", Admin, Nothing),
    e("GET /users/{id}/external-authentication", Admin, Nothing),
    e("GET /users/{id}/external-authentication/remove", Admin, Nothing),
    e("GET /users/{id}/phonefactor/bypass", Admin, Nothing),
    e("GET /users/{id}/phonefactor/clear-block", Admin, Nothing),
    e("GET /users/{id}/phonefactor/deactivate", Admin, Nothing),
    e("GET /users/{id}/reset-password", Admin, Nothing),
    e("GET /users/{id}/security-code/disable", Admin, Nothing),
    e("GET /users/{id}/security-code/enable", Admin, Nothing),
    e("GET /users/{id}/security-code/sync", Admin, Nothing),
    e("GET /users/{id}/security-code/temporary", Admin, Nothing),
    e("GET /users/{id}/security-code/unlock", Admin, Nothing),
    e("GET /virtual-phone", Operator, Query(&[("number", "+14155550100", Strict), ("notice", "", Code)])),
    // ---- operations
    e("GET /healthz", Anonymous, Nothing),
    e("GET /readyz", Anonymous, Nothing),
    e("GET /metrics", Operator, Nothing),
    e("GET /api/openapi.json", Anonymous, Nothing),
    // ---- the API
    counted("POST /api/v1/login", Anonymous, Json(&[("username", "s-user", Strict), ("password", "{password}", Secret)])),
    e("POST /api/v1/logout", Who::User, Nothing),
    e("GET /api/v1/session", Who::User, Nothing),
    counted("POST /api/v1/me/password", Who::User, Json(&[("current_password", "{password}", Secret), ("new_password", "Sweep-New-Password-{n}", Secret)])),
    e("GET /api/v1/users", Admin, Query(&[("query", "", Search), ("page", "1", Number), ("account", "", Number)])),
    e("POST /api/v1/users", Admin, Json(&[
        ("username", "sweep-{n}", Strict), ("email", "sweep-{n}@example.test", Strict), ("name", "Sweep {n}", Text(100)),
        ("role", "user", Strict), ("password", "Sweep-Password-{n}", Secret), ("must_change_password", "true", Flag),
    ])),
    e("GET /api/v1/users/{id}", Admin, Nothing),
    e("PATCH /api/v1/users/{id}", Admin, Json(&[
        ("email", "target-{n}@example.test", Strict), ("name", "Target {n}", Text(100)),
        ("role", "user", Strict), ("status", "active", Strict),
    ])),
    e("DELETE /api/v1/users/{id}", Admin, Nothing),
    e("POST /api/v1/users/{id}/reset-password", Admin, Nothing),
    e("GET /api/v1/accounts", Operator, Nothing),
    e("POST /api/v1/accounts", Operator, Json(&[("name", "Sweep Account {n}", Text(100))])),
    e("GET /api/v1/audit", Admin, Query(&[("page", "1", Number)])),
    counted("POST /api/v1/login/security-code", Pending, Json(&[("code", "000000", Strict)])),
    e("POST /api/v1/users/{id}/external-authentication/quote", Admin, Json(&[("method", "phonefactor", Strict), ("promo_code", "WELCOME50", Strict)])),
    e("POST /api/v1/users/{id}/external-authentication/orders", Admin, Json(&[
        ("method", "phonefactor", Strict), ("promo_code", "WELCOME50", Strict), ("msa_version", "2026.1", Strict),
        ("msa_acknowledged", "true", Flag),
    ])),
    e("DELETE /api/v1/users/{id}/external-authentication/{method}", Admin, Nothing),
    e("POST /api/v1/users/{id}/security-code/temporary", Admin, Json(&[("hours", "1", Number), ("single_use", "true", Flag)])),
    e("POST /api/v1/users/{id}/security-code/unlock", Admin, Nothing),
    counted("POST /api/v1/users/{id}/security-code/sync", Admin, Json(&[("code1", "123456", Strict), ("code2", "654321", Strict)])),
    e("POST /api/v1/users/{id}/security-code/disable", Admin, Nothing),
    e("POST /api/v1/users/{id}/security-code/enable", Admin, Nothing),
    validation("POST /api/v1/validate", ApiClient, Json(&[("username", "s-target", Strict), ("code", "000000", Strict)])),
    e("GET /api/v1/prices", Admin, Nothing),
    e("PUT /api/v1/prices/{method}", Operator, Json(&[("amount", "600", Number), ("currency", "USD", Strict)])),
    e("GET /api/v1/promo-codes", Operator, Nothing),
    e("POST /api/v1/promo-codes", Operator, Json(&[("code", "SWEEP{n}", Strict), ("percent_off", "10", Number), ("months", "3", Number)])),
    e("GET /api/v1/msa", Admin, Nothing),
    e("POST /api/v1/msa", Operator, Json(&[("version", "2030.{n}", Strict), ("text", "Terms, version {n}.", Text(60_000))])),
    e("GET /api/v1/tokens", Operator, Query(&[("query", "", Search), ("page", "1", Number)])),
    e("POST /api/v1/tokens/import", Operator, Json(&[("pskc", "<KeyContainer/>", Strict), ("file_name", "sweep.xml", Text(200))])),
    e("POST /api/v1/tokens/soft", Operator, Json(&[("count", "1", Number)])),
    e("GET /api/v1/api-clients", Operator, Nothing),
    e("POST /api/v1/api-clients", Operator, Json(&[("name", "sweep {n}", Text(100))])),
    e("DELETE /api/v1/api-clients/{id}", Operator, Nothing),
    e("GET /api/v1/radius-clients", Operator, Nothing),
    e("POST /api/v1/radius-clients", Operator, Json(&[
        ("name", "sweep-{n}", Strict), ("account", "{account}", Strict), ("address", "10.0.0.1", Strict),
        ("mode", "code-only", Strict), ("secret", "sweep-shared-secret-{n}", Secret), ("separator", ",", Strict),
        ("timeout_secs", "60", Number), ("class", "gold", Text(200)), ("filter_id", "vpn", Text(200)),
        ("allow_password_only", "false", Flag),
    ])),
    e("DELETE /api/v1/radius-clients/{name}", Operator, Nothing),
    e("GET /api/v1/api-tokens", Admin, Query(&[("username", "s-admin", Strict)])),
    e("POST /api/v1/api-tokens", Admin, Json(&[("name", "sweep {n}", Text(100)), ("expires_in_days", "30", Number)])),
    e("DELETE /api/v1/api-tokens/{id}", Admin, Nothing),
    e("GET /api/v1/orders/{number}", Admin, Nothing),
    e("POST /api/v1/login/phonefactor/start", Pending, Nothing),
    counted("POST /api/v1/login/phonefactor/verify", Pending, Json(&[("code", "000000", Strict)])),
    e("GET /api/v1/login/phonefactor/status", Pending, Nothing),
    e("GET /api/v1/me/phonefactor", Who::User, Nothing),
    e("GET /api/v1/me/sessions", Who::User, Nothing),
    counted("POST /api/v1/me/sessions/end", Who::User, Json(&[("reference", "3f9a1c2b7d4e8f60a1b2c3d4", Strict), ("password", "{password}", Secret)])),
    counted("POST /api/v1/me/sessions/end-others", Who::User, Json(&[("password", "{password}", Secret)])),
    counted("POST /security/sessions/end", Who::User, Form(&[("session", "others", Strict), ("password", "{password}", Secret)])),
    e("POST /api/v1/me/phonefactor/activation", Activation, Json(&[("phone", "+14155550142", Strict), ("mode", "sms", Strict), ("country", "US", Strict)])),
    counted("POST /api/v1/me/phonefactor/activation/verify", Activation, Json(&[("code", "000000", Strict)])),
    e("GET /api/v1/me/phonefactor/activation/status", Activation, Nothing),
    counted("POST /api/v1/me/phonefactor/deactivate", Who::User, Json(&[("password", "{password}", Secret)])),
    e("POST /api/v1/users/{id}/phonefactor/deactivate", Admin, Nothing),
    e("POST /api/v1/users/{id}/phonefactor/clear-block", Admin, Nothing),
    e("POST /api/v1/users/{id}/phonefactor/bypass", Admin, Json(&[("minutes", "5", Number)])),
    e("GET /api/v1/virtual-phone/{e164}/messages", Operator, Nothing),
    e("POST /api/v1/virtual-phone/{e164}/messages", Operator, Json(&[("body", "Reply {n}", Text(1600))])),
    e("GET /api/v1/virtual-phone/{e164}/calls", Operator, Nothing),
    e("POST /api/v1/virtual-phone/{e164}/calls/{id}/keys", Operator, Json(&[("digits", "#", Strict)])),
    e("GET /api/v1/virtual-phone/{e164}/notifications", Operator, Nothing),
    e("POST /api/v1/authenticator/pair", Anonymous, Json(&[("token", "no-such-pairing", Strict), ("public_key", "AAAA", Strict)])),
    signed("GET /api/v1/authenticator/requests", Anonymous, Nothing),
    signed("POST /api/v1/authenticator/requests/{id}/answer", Anonymous, Json(&[("decision", "approve", Strict), ("number", "12", Number)])),
    signed("POST /api/v1/telephony/twilio/voice/{challenge}", Anonymous, Input::Twilio(&[("CallSid", "CA{n}", Lenient)])),
    signed("POST /api/v1/telephony/twilio/gather/{challenge}", Anonymous, Input::Twilio(&[("CallSid", "CA{n}", Lenient), ("Digits", "#", Lenient)])),
    signed("POST /api/v1/telephony/twilio/sms", Anonymous, Input::Twilio(&[("From", "+14155550100", Lenient), ("Body", "FRAUD", Lenient)])),
    signed("POST /api/v1/telephony/twilio/status", Anonymous, Input::Twilio(&[("MessageSid", "SM{n}", Lenient), ("MessageStatus", "delivered", Lenient)])),
    e("GET /api/v1/billing/statements", Admin, Query(&[("period", "2025-10", Strict), ("account", "", Strict)])),
    e("GET /api/v1/billing/statements/csv", Admin, Query(&[("period", "2025-10", Strict), ("account", "", Strict)])),
    e("GET /api/v1/billing/current", Admin, Nothing),
    e("POST /api/v1/billing/run", Operator, Json(&[("period", "2025-10", Strict)])),
];
