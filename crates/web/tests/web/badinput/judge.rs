//! One request and its judgement.

use super::*;

/// What one request carries besides its path.
pub(super) enum Body {
    None,
    /// Already encoded, with its content type (`None`: no header).
    Raw(Option<&'static str>, Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expect {
    /// Refused: a 4xx (this one exactly, if given), nothing stored.
    Refused(Option<StatusCode>),
    /// Either refused (as above) or taken.
    Either,
    /// A search: taken or refused; if taken, it finds nothing.
    FindsNothing,
    /// A notice code: the value never appears on the page.
    NotShown,
}

pub(super) struct Case {
    pub(super) label: String,
    pub(super) path_and_query: String,
    pub(super) body: Body,
    /// Extra headers (Content-Length given on purpose, signatures).
    pub(super) headers: Vec<(String, String)>,
    pub(super) expect: Expect,
    /// What to look for in the database after a refusal.
    pub(super) trace: Option<String>,
    /// Markup went in: if taken, the pages are searched for it.
    pub(super) markup: bool,
    /// A piece of the value that must not be shown (a notice code given
    /// as text).
    pub(super) echo: Option<String>,
}

pub(super) struct Sweep<'a> {
    pub(super) f: Fixture,
    pub(super) entry: &'a Entry,
    pub(super) method: Method,
    pub(super) pattern: &'a str,
    pub(super) is_api: bool,
    pub(super) failures: Vec<String>,
    pub(super) markup_taken: bool,
    pub(super) requests: usize,
}

/// Tables that change on their own with any request.
pub(super) const VOLATILE: [&str; 2] = ["sessions", "throttles"];
/// Tables that count failed attempts, for `counted` routes.
pub(super) const FAILURE_COUNTS: [&str; 5] = [
    "audit_log",
    "audit_head",
    "users",
    "credentials",
    "api_clients",
];

impl Sweep<'_> {
    pub(super) fn fail(&mut self, case: &str, what: String) {
        self.failures
            .push(format!("{} {} [{case}]: {what}", self.method, self.pattern));
    }

    pub(super) async fn run(&mut self, mut case: Case) {
        self.requests += 1;
        let before = self.f.snapshot().await;
        let mut c = self.f.client(self.entry.who, self.is_api).await;
        let mut req = axum::http::Request::builder()
            .method(self.method.clone())
            .uri(&case.path_and_query);
        for (k, v) in &case.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if self.is_api
            && let Some(t) = &c.csrf
        {
            req = req.header("x-csrf-token", t.as_str());
        }
        if self.is_api {
            req = req.header("idempotency-key", format!("sweep-{}", self.requests));
        }
        let body = match std::mem::replace(&mut case.body, Body::None) {
            Body::None => Vec::new(),
            Body::Raw(ct, bytes) => {
                if let Some(ct) = ct {
                    req = req.header(header::CONTENT_TYPE, ct);
                }
                // A form's `{csrf}` is the token of this request's client.
                let token = c.csrf.clone().unwrap_or_default();
                replace_once(bytes, b"{csrf}", token.as_bytes())
            }
        };
        let r = c.send_built(req, body).await;
        if std::env::var("SWEEP_DEBUG").is_ok() {
            println!(
                "{} {} [{}] -> {} {}",
                self.method,
                case.path_and_query.chars().take(120).collect::<String>(),
                case.label,
                r.status,
                r.text.chars().take(200).collect::<String>()
            );
        }
        self.judge(&case, &r, &before).await;
    }

    pub(super) async fn judge(
        &mut self,
        case: &Case,
        r: &Resp,
        before: &BTreeMap<String, Vec<String>>,
    ) {
        let label = &case.label;
        if r.status.is_server_error() {
            self.fail(
                label,
                format!("server error {}: {}", r.status, short(&r.text)),
            );
            return;
        }
        let content_type = r
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let html = content_type.starts_with("text/html");
        if html {
            for raw in RAW_MARKUP {
                if r.text.contains(raw) {
                    self.fail(
                        label,
                        format!("the answer ({}) carries markup unescaped: {raw}", r.status),
                    );
                }
            }
        }
        if r.status.is_client_error() {
            self.judge_refusal(label, r, &content_type);
        }
        let refused = r.status.is_client_error()
            || (self.entry.answers_false
                && r.status == StatusCode::OK
                && r.text == r#"{"result":false}"#);
        match case.expect {
            Expect::Refused(status) => {
                if !refused {
                    self.fail(
                        label,
                        format!(
                            "taken ({}) but must be refused: {}",
                            r.status,
                            short(&r.text)
                        ),
                    );
                } else if let Some(s) = status
                    && r.status != s
                {
                    self.fail(
                        label,
                        format!(
                            "refused with {} instead of {s}: {}",
                            r.status,
                            short(&r.text)
                        ),
                    );
                }
            }
            Expect::Either => {}
            Expect::FindsNothing => {
                if r.status.is_success() && !finds_nothing(&r.text) {
                    self.fail(
                        label,
                        format!("the search found something: {}", short(&r.text)),
                    );
                }
            }
            Expect::NotShown => {
                if let Some(t) = &case.echo
                    && r.text.contains(t.as_str())
                {
                    self.fail(label, "the page shows the text given in its address".into());
                }
            }
        }
        let after = self.f.snapshot().await;
        if refused {
            self.judge_nothing_stored(label, before, &after, case.trace.as_deref());
        } else if case.markup {
            self.markup_taken = true;
        }
    }

    pub(super) fn judge_refusal(&mut self, label: &str, r: &Resp, content_type: &str) {
        if r.text.trim().is_empty() {
            self.fail(label, format!("refused ({}) with an empty body", r.status));
            return;
        }
        if self.is_api {
            if !content_type.starts_with("application/json") {
                self.fail(
                    label,
                    format!(
                        "refused ({}) with {content_type:?}, not JSON: {}",
                        r.status,
                        short(&r.text)
                    ),
                );
                return;
            }
            let v: Value = match serde_json::from_str(&r.text) {
                Ok(v) => v,
                Err(_) => {
                    self.fail(
                        label,
                        format!(
                            "refused ({}) with a body that is not JSON: {}",
                            r.status,
                            short(&r.text)
                        ),
                    );
                    return;
                }
            };
            let msg = v["error"].as_str().unwrap_or("");
            let generic = [
                "Bad Request",
                "Unprocessable Entity",
                "Payload Too Large",
                "Unsupported Media Type",
            ];
            if msg.trim().is_empty() || generic.contains(&msg) {
                self.fail(
                    label,
                    format!(
                        "refused ({}) without a specific message: {}",
                        r.status,
                        short(&r.text)
                    ),
                );
            }
            if v.get("field")
                .is_some_and(|f| !f.is_null() && !f.is_string())
            {
                self.fail(
                    label,
                    format!("`field` is neither a name nor null: {}", short(&r.text)),
                );
            }
        } else {
            let page =
                content_type.starts_with("text/html") && r.text.contains("<main id=\"main\">");
            let framework = [
                "Failed to deserialize",
                "Failed to buffer",
                "length limit exceeded",
                "Expected request with",
                "Invalid URL",
                "Cannot parse",
            ];
            if !page {
                self.fail(
                    label,
                    format!(
                        "refused ({}) without the portal's page: {}",
                        r.status,
                        short(&r.text)
                    ),
                );
            } else if let Some(t) = framework.iter().find(|t| r.text.contains(**t)) {
                self.fail(
                    label,
                    format!("refused ({}) with the framework's text {t:?}", r.status),
                );
            }
        }
    }

    pub(super) fn judge_nothing_stored(
        &mut self,
        label: &str,
        before: &BTreeMap<String, Vec<String>>,
        after: &BTreeMap<String, Vec<String>>,
        trace: Option<&str>,
    ) {
        let tables: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let empty = Vec::new();
        for t in tables {
            let (b, a) = (
                before.get(t).unwrap_or(&empty),
                after.get(t).unwrap_or(&empty),
            );
            let may_change = VOLATILE.contains(&t.as_str())
                || (self.entry.counts_failures && FAILURE_COUNTS.contains(&t.as_str()));
            if b != a && !may_change {
                let added: Vec<&String> = a.iter().filter(|row| !b.contains(row)).collect();
                self.fail(
                    label,
                    format!(
                        "refused, but table {t} changed: {}",
                        short(&format!("{added:?}"))
                    ),
                );
            }
            if let Some(trace) = trace
                && a.iter().any(|row| row.contains(trace))
                && !b.iter().any(|row| row.contains(trace))
            {
                self.fail(label, format!("refused, but table {t} now holds the value"));
            }
        }
    }
}

pub(super) fn short(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    s.replace('\n', " ")
}

/// Whether a search's answer lists nothing (the API's lists, or the
/// pages' empty tables).
pub(super) fn finds_nothing(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => ["users", "tokens", "entries"]
            .iter()
            .all(|k| v.get(k).and_then(Value::as_array).is_none_or(Vec::is_empty)),
        Err(_) => text.contains("class=\"empty\""),
    }
}

pub(super) fn replace_once(bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    match bytes.windows(from.len()).position(|w| w == from) {
        Some(i) => [&bytes[..i], to, &bytes[i + from.len()..]].concat(),
        None => bytes,
    }
}
