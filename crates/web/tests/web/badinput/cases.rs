//! The requests of each kind of input: form fields, JSON fields, query
//! parameters, path parameters, uploads and Twilio callbacks.

use super::*;

/// A field's value, percent-encoded for a form or query string.
pub(super) fn form_value(bad: Bad) -> Vec<u8> {
    match bad.text() {
        Some(t) => enc(&t).into_bytes(),
        None => b"%FF%FEab".to_vec(),
    }
}

/// A parameter's value in an address, which holds at most 64 KiB: the long
/// values are shorter there (still longer than any parameter takes).
pub(super) fn query_value(bad: Bad) -> String {
    match bad {
        Bad::Huge => "a".repeat(60_000),
        Bad::LongUnicode => enc(&"𝔘".repeat(2_000)),
        Bad::Combining => enc(&format!("e{}", "\u{301}".repeat(2_000))),
        _ => String::from_utf8(form_value(bad)).unwrap(),
    }
}

pub(super) fn encode_form(fields: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(enc(k).as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out
}

pub(super) fn status_for(entry: &Entry, s: StatusCode) -> Option<StatusCode> {
    (!entry.checked_before_body).then_some(s)
}

impl Sweep<'_> {
    pub(super) fn next_n(&mut self) -> u32 {
        self.f.serial += 1;
        self.f.serial
    }

    /// The valid fields of a page form, `csrf` first.
    pub(super) fn valid_form(&mut self, fields: &[Field], csrf: bool) -> Vec<(String, Vec<u8>)> {
        let n = self.next_n();
        let mut out = Vec::new();
        if csrf {
            // The client's own token is put in when the request is sent.
            out.push(("csrf".to_owned(), b"{csrf}".to_vec()));
        }
        for (k, v, _) in fields {
            out.push(((*k).to_owned(), enc(&self.f.fill(v, n)).into_bytes()));
        }
        out
    }

    pub(super) async fn sweep_form(&mut self, fields: &'static [Field]) {
        let path = self.f.path(self.pattern);
        let mut all: Vec<Field> = vec![("csrf", "{csrf}", Rule::Strict)];
        all.extend_from_slice(fields);
        // Each field, each bad value.
        for (i, (name, _, rule)) in all.iter().enumerate() {
            let bads: Vec<Bad> = if *rule == Rule::Number {
                TEXT_BAD.iter().chain(NUMBER_BAD.iter()).copied().collect()
            } else {
                TEXT_BAD.iter().copied().chain([Bad::ZeroWidth]).collect()
            };
            for bad in bads {
                let mut form = self.valid_form(fields, true);
                form[i].1 = form_value(bad);
                self.form_case(&path, &format!("{name}={bad:?}"), form, bad, *rule)
                    .await;
            }
            // Raw bytes that are not UTF-8, not percent-encoded.
            let mut form = self.valid_form(fields, true);
            form[i].1 = b"ab\xff\xfecd".to_vec();
            self.form_case(
                &path,
                &format!("{name}=raw bytes"),
                form,
                Bad::NotUtf8,
                *rule,
            )
            .await;
        }
        self.body_cases_form(&path, fields).await;
    }

    pub(super) async fn form_case(
        &mut self,
        path: &str,
        label: &str,
        form: Vec<(String, Vec<u8>)>,
        bad: Bad,
        rule: Rule,
    ) {
        let expect = if bad.refused_by(rule) {
            Expect::Refused(
                matches!(bad, Bad::NotUtf8 | Bad::Nul).then_some(StatusCode::BAD_REQUEST),
            )
        } else {
            Expect::Either
        };
        let body = encode_form(&form);
        self.run(Case {
            label: label.into(),
            path_and_query: path.into(),
            body: Body::Raw(Some("application/x-www-form-urlencoded"), body),
            headers: vec![],
            expect,
            trace: bad.trace(),
            markup: matches!(bad, Bad::Markup(_)),
            echo: None,
        })
        .await;
    }

    pub(super) async fn body_cases_form(&mut self, path: &str, fields: &'static [Field]) {
        let valid = self.valid_form(fields, true);
        let valid_body = encode_form(&valid);
        let as_json: Map<String, Value> = valid
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        let ufs = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        for (label, ct, body) in [
            (
                "JSON to a form",
                Some("application/json"),
                Value::Object(as_json).to_string().into_bytes(),
            ),
            ("text/plain", Some("text/plain"), valid_body.clone()),
            ("no content type", None, valid_body.clone()),
            (
                "multipart to a form",
                Some("multipart/form-data; boundary=X"),
                b"--X--\r\n".to_vec(),
            ),
        ] {
            self.run(Case {
                label: label.into(),
                path_and_query: path.into(),
                body: Body::Raw(ct, body),
                headers: vec![],
                expect: Expect::Refused(Some(ufs)),
                trace: None,
                markup: false,
                echo: None,
            })
            .await;
        }
        self.oversized(path, "application/x-www-form-urlencoded", {
            let mut b = valid_body.clone();
            b.extend_from_slice(b"&pad=");
            b
        })
        .await;
    }

    /// A body over 1 MiB, with and without its Content-Length.
    pub(super) async fn oversized(&mut self, path: &str, ct: &'static str, mut body: Vec<u8>) {
        body.extend(std::iter::repeat_n(b'a', (1 << 20) + 1024));
        if ct == "application/json" {
            body.extend_from_slice(b"\"}");
        }
        let expect = Expect::Refused(status_for(self.entry, StatusCode::PAYLOAD_TOO_LARGE));
        let len = body.len().to_string();
        self.run(Case {
            label: "body over 1 MiB, with Content-Length".into(),
            path_and_query: path.into(),
            body: Body::Raw(Some(ct), body.clone()),
            headers: vec![("content-length".into(), len)],
            expect,
            trace: None,
            markup: false,
            echo: None,
        })
        .await;
        self.run(Case {
            label: "body over 1 MiB, streamed".into(),
            path_and_query: path.into(),
            body: Body::Raw(Some(ct), body),
            headers: vec![],
            expect,
            trace: None,
            markup: false,
            echo: None,
        })
        .await;
    }

    pub(super) fn valid_json(&mut self, fields: &[Field]) -> Map<String, Value> {
        let n = self.next_n();
        fields
            .iter()
            .map(|(k, v, rule)| {
                let v = self.f.fill(v, n);
                let value = match rule {
                    Rule::Number => json!(v.parse::<i64>().unwrap()),
                    Rule::Flag => json!(v == "true"),
                    _ => json!(v),
                };
                ((*k).to_owned(), value)
            })
            .collect()
    }

    pub(super) async fn sweep_json(&mut self, fields: &'static [Field]) {
        let path = self.f.path(self.pattern);
        let json_ct = Some("application/json");
        for (name, _, rule) in fields {
            let bads: Vec<Bad> = match rule {
                Rule::Number => NUMBER_BAD.to_vec(),
                Rule::Flag => vec![Bad::WrongType],
                _ => TEXT_BAD
                    .iter()
                    .copied()
                    .chain([Bad::ZeroWidth, Bad::WrongType])
                    .collect(),
            };
            for bad in bads {
                let mut obj = self.valid_json(fields);
                let (body, status) = match (rule, bad) {
                    (_, Bad::NotUtf8) => {
                        obj.insert((*name).into(), json!("@@"));
                        let text = Value::Object(obj).to_string().into_bytes();
                        (
                            replace_once(text, b"@@", b"ab\xff\xfecd"),
                            Some(StatusCode::BAD_REQUEST),
                        )
                    }
                    (Rule::Number, Bad::Negative) => (with(obj, name, json!(-1)), None),
                    (Rule::Number, Bad::MaxInt) => (with(obj, name, json!(i64::MAX)), None),
                    (Rule::Number, Bad::Overflow) => (
                        raw_number(obj, name, "99999999999999999999"),
                        Some(StatusCode::UNPROCESSABLE_ENTITY),
                    ),
                    (Rule::Number, Bad::Fraction) => (
                        with(obj, name, json!(1.5)),
                        Some(StatusCode::UNPROCESSABLE_ENTITY),
                    ),
                    (Rule::Number, _) => (
                        with(obj, name, json!("12")),
                        Some(StatusCode::UNPROCESSABLE_ENTITY),
                    ),
                    (Rule::Flag, _) => (
                        with(obj, name, json!("yes")),
                        Some(StatusCode::UNPROCESSABLE_ENTITY),
                    ),
                    (_, Bad::WrongType) => (
                        with(obj, name, json!(12345)),
                        Some(StatusCode::UNPROCESSABLE_ENTITY),
                    ),
                    (_, bad) => (with(obj, name, json!(bad.text().unwrap())), None),
                };
                let expect = if bad.refused_by(*rule) || matches!(bad, Bad::WrongType) {
                    Expect::Refused(status.and_then(|s| status_for(self.entry, s)))
                } else {
                    Expect::Either
                };
                self.run(Case {
                    label: format!("{name}={bad:?}"),
                    path_and_query: path.clone(),
                    body: Body::Raw(json_ct, body),
                    headers: vec![],
                    expect,
                    trace: bad.trace(),
                    markup: matches!(bad, Bad::Markup(_)),
                    echo: None,
                })
                .await;
            }
        }
        self.body_cases_json(&path, fields).await;
    }

    pub(super) async fn body_cases_json(&mut self, path: &str, fields: &'static [Field]) {
        let valid = self.valid_json(fields);
        let text = Value::Object(valid.clone()).to_string().into_bytes();
        let form: Vec<(String, Vec<u8>)> = valid
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    enc(&v.as_str().map_or(v.to_string(), str::to_owned)).into_bytes(),
                )
            })
            .collect();
        let ufs = status_for(self.entry, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let bad_request = status_for(self.entry, StatusCode::BAD_REQUEST);
        let unprocessable = status_for(self.entry, StatusCode::UNPROCESSABLE_ENTITY);
        let mut unknown = valid.clone();
        unknown.insert("sweep_unknown_field".into(), json!(1));
        for (label, ct, body, status) in [
            (
                "a form to the API",
                Some("application/x-www-form-urlencoded"),
                encode_form(&form),
                ufs,
            ),
            ("text/plain", Some("text/plain"), text.clone(), ufs),
            ("no content type", None, text.clone(), ufs),
            (
                "malformed JSON",
                Some("application/json"),
                b"{,}".to_vec(),
                bad_request,
            ),
            (
                "an array, not an object",
                Some("application/json"),
                b"[]".to_vec(),
                unprocessable,
            ),
            (
                "an unknown field",
                Some("application/json"),
                Value::Object(unknown).to_string().into_bytes(),
                unprocessable,
            ),
        ] {
            self.run(Case {
                label: label.into(),
                path_and_query: path.into(),
                body: Body::Raw(ct, body),
                headers: vec![],
                expect: Expect::Refused(status),
                trace: None,
                markup: false,
                echo: None,
            })
            .await;
        }
        let mut prefix = Value::Object(valid).to_string().into_bytes();
        prefix.pop();
        prefix.extend_from_slice(b",\"pad\":\"");
        self.oversized(path, "application/json", prefix).await;
    }

    /// Bodyless writes still meet the wrong content type and an oversized
    /// body (a page's, with its CSRF token).
    pub(super) async fn sweep_nothing(&mut self) {
        let path = self.f.path(self.pattern);
        if self.method == Method::GET || self.method == Method::DELETE {
            return;
        }
        if self.is_api {
            // A bodyless API call does not read a body: one over the limit
            // is refused when its Content-Length says so, and a streamed one
            // is left unread.
            let mut body = b"{\"pad\":\"".to_vec();
            body.extend(std::iter::repeat_n(b'a', (1 << 20) + 1024));
            let len = body.len().to_string();
            self.run(Case {
                label: "body over 1 MiB, with Content-Length".into(),
                path_and_query: path,
                body: Body::Raw(Some("application/json"), body),
                headers: vec![("content-length".into(), len)],
                expect: Expect::Refused(status_for(self.entry, StatusCode::PAYLOAD_TOO_LARGE)),
                trace: None,
                markup: false,
                echo: None,
            })
            .await;
        } else {
            self.sweep_form(&[]).await;
        }
    }

    pub(super) async fn sweep_query(&mut self, fields: &'static [Field]) {
        let path = self.f.path(self.pattern);
        for (name, _, rule) in fields {
            let bads: Vec<Bad> = match rule {
                Rule::Number => NUMBER_BAD
                    .iter()
                    .chain(&[Bad::Nul, Bad::NotUtf8, Bad::Huge])
                    .copied()
                    .collect(),
                _ => TEXT_BAD.iter().copied().chain([Bad::ZeroWidth]).collect(),
            };
            for bad in bads {
                let n = self.next_n();
                let query: Vec<String> = fields
                    .iter()
                    .map(|(k, v, _)| {
                        let value = if k == name {
                            query_value(bad)
                        } else {
                            enc(&self.f.fill(v, n))
                        };
                        format!("{k}={value}")
                    })
                    .collect();
                // A GET's bad parameter may be refused or ignored, but NUL,
                // bytes that are not text, a number that is not one and an
                // endless search or value are refused: 400 when the address
                // cannot be read at all. (The API's query reader, like the
                // framework's, reads bytes that are not UTF-8 as U+FFFD, which
                // a search looks for and finds nothing.)
                let not_a_number =
                    *rule == Rule::Number && !matches!(bad, Bad::Negative | Bad::MaxInt);
                let unreadable = matches!(bad, Bad::Nul) || (bad == Bad::NotUtf8 && !self.is_api);
                let must_refuse = unreadable
                    || not_a_number
                    || (bad == Bad::NotUtf8 && *rule != Rule::Search)
                    || (matches!(rule, Rule::Search | Rule::Strict) && bad == Bad::Huge);
                let exact = not_a_number || (unreadable && !self.is_api);
                let expect = if must_refuse {
                    Expect::Refused(Some(StatusCode::BAD_REQUEST).filter(|_| exact))
                } else {
                    match rule {
                        Rule::Search => Expect::FindsNothing,
                        Rule::Code => Expect::NotShown,
                        _ => Expect::Either,
                    }
                };
                self.run(Case {
                    label: format!("?{name}={bad:?}"),
                    path_and_query: format!("{path}?{}", query.join("&")),
                    body: Body::None,
                    headers: vec![],
                    expect,
                    trace: bad.trace(),
                    markup: matches!(bad, Bad::Markup(_)),
                    echo: bad.trace(),
                })
                .await;
            }
        }
    }

    /// Each path parameter, given something that names nothing.
    pub(super) async fn sweep_path(&mut self) {
        let params: Vec<&str> = self
            .pattern
            .split('/')
            .filter(|s| s.starts_with('{'))
            .collect();
        for param in params {
            for (label, value) in [
                ("letters", "abc".to_owned()),
                ("negative", "-1".to_owned()),
                ("overflow", "99999999999999999999".to_owned()),
                ("not UTF-8", "%FF%FE".to_owned()),
                ("NUL", "a%00b".to_owned()),
                ("markup", enc(MARKUP[0])),
                ("SQL", enc(SQL[0])),
                ("wildcard", "%25".to_owned()),
                // An address holds at most 64 KiB.
                ("huge", "a".repeat(60_000)),
            ] {
                let pattern = self.pattern.replacen(param, &value, 1);
                let path = self.f.path(&pattern);
                let body = match self.entry.input {
                    Input::Json(fields) => {
                        let v = Value::Object(self.valid_json(fields))
                            .to_string()
                            .into_bytes();
                        Body::Raw(Some("application/json"), v)
                    }
                    Input::Form(fields) => {
                        let form = self.valid_form(fields, true);
                        Body::Raw(
                            Some("application/x-www-form-urlencoded"),
                            encode_form(&form),
                        )
                    }
                    Input::Nothing if !self.is_api && self.method == Method::POST => {
                        let form = self.valid_form(&[], true);
                        Body::Raw(
                            Some("application/x-www-form-urlencoded"),
                            encode_form(&form),
                        )
                    }
                    _ => Body::None,
                };
                self.run(Case {
                    label: format!("{param}={label}"),
                    path_and_query: path,
                    body,
                    headers: vec![],
                    expect: Expect::Refused(None),
                    trace: None,
                    markup: label == "markup",
                    echo: None,
                })
                .await;
            }
        }
    }

    pub(super) async fn sweep_upload(&mut self) {
        let path = self.f.path(self.pattern);
        let part = |name: &str, file: Option<&str>, value: &[u8]| -> Vec<u8> {
            let mut p = format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = file {
                p.push_str(&format!(
                    "; filename=\"{f}\"\r\nContent-Type: application/xml"
                ));
            }
            p.push_str("\r\n\r\n");
            let mut b = p.into_bytes();
            b.extend_from_slice(value);
            b.extend_from_slice(b"\r\n");
            b
        };
        let upload = |fields: &[(&str, Option<&str>, Vec<u8>)]| -> Vec<u8> {
            let mut b = Vec::new();
            for (n, f, v) in fields {
                b.extend(part(n, *f, v));
            }
            b.extend_from_slice(b"--XyZ--\r\n");
            b
        };
        let ct = Some("multipart/form-data; boundary=XyZ");
        let valid = |pre: Vec<u8>, pass: Vec<u8>, file_name: &str, file: Vec<u8>| {
            vec![
                ("csrf", None, b"{csrf}".to_vec()),
                ("file", Some(file_name.to_owned()), file),
                ("preshared_key", None, pre),
                ("passphrase", None, pass),
            ]
        };
        let mut cases: Vec<Case> = Vec::new();
        for (field, rule) in [
            ("preshared_key", Rule::Strict),
            ("passphrase", Rule::Secret),
            ("file name", Rule::Text(200)),
        ] {
            for bad in TEXT_BAD.iter().copied().chain([Bad::ZeroWidth]) {
                let value = match bad.text() {
                    Some(t) => t.into_bytes(),
                    None => b"ab\xff\xfecd".to_vec(),
                };
                let (mut pre, mut pass, mut name) =
                    (Vec::new(), Vec::new(), "sweep.xml".to_owned());
                match field {
                    "preshared_key" => pre = value,
                    "passphrase" => pass = value,
                    _ => match bad.text() {
                        // A file name is in a header: one line of text.
                        Some(t) if !t.contains(['"', '\r', '\n']) => name = t,
                        _ => continue,
                    },
                }
                let fields = valid(pre, pass, &name, b"<KeyContainer/>".to_vec());
                let body = upload(
                    &fields
                        .iter()
                        .map(|(n, f, v)| (*n, f.as_deref(), v.clone()))
                        .collect::<Vec<_>>(),
                );
                let expect = if bad.refused_by(rule) {
                    Expect::Refused(None)
                } else {
                    Expect::Either
                };
                cases.push(Case {
                    label: format!("{field}={bad:?}"),
                    path_and_query: path.clone(),
                    body: Body::Raw(ct, body),
                    headers: vec![],
                    expect,
                    trace: bad.trace(),
                    markup: matches!(bad, Bad::Markup(_)),
                    echo: None,
                });
            }
        }
        for case in cases {
            self.run(case).await;
        }
        let good = upload(&[
            ("csrf", None, b"{csrf}".to_vec()),
            ("file", Some("t.xml"), b"<KeyContainer/>".to_vec()),
        ]);
        let ufs = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for (label, ct, body, status) in [
            (
                "a web form to the upload",
                Some("application/x-www-form-urlencoded"),
                b"csrf={csrf}".to_vec(),
                ufs,
            ),
            (
                "JSON to the upload",
                Some("application/json"),
                b"{}".to_vec(),
                ufs,
            ),
            ("no content type", None, good.clone(), ufs),
            (
                "no boundary",
                Some("multipart/form-data"),
                good.clone(),
                None,
            ),
            (
                "cut short",
                Some("multipart/form-data; boundary=XyZ"),
                good[..good.len() / 2].to_vec(),
                None,
            ),
        ] {
            self.run(Case {
                label: label.into(),
                path_and_query: path.clone(),
                body: Body::Raw(ct, body),
                headers: vec![],
                expect: Expect::Refused(status),
                trace: None,
                markup: false,
                echo: None,
            })
            .await;
        }
        let mut big = good[..good.len() - b"--XyZ--\r\n".len()].to_vec();
        big.extend(part("file", Some("big.xml"), &vec![b'a'; (1 << 20) + 1024]));
        big.extend_from_slice(b"--XyZ--\r\n");
        let len = big.len().to_string();
        self.run(Case {
            label: "upload over 1 MiB".into(),
            path_and_query: path.clone(),
            body: Body::Raw(ct, big),
            headers: vec![("content-length".into(), len)],
            expect: Expect::Refused(Some(StatusCode::PAYLOAD_TOO_LARGE)),
            trace: None,
            markup: false,
            echo: None,
        })
        .await;
    }

    /// Twilio's callbacks, signed as the gateway signs them: their fields
    /// are the gateway's, so odd values are data (the callbacks answer 2xx
    /// so that the gateway does not retry), but nothing breaks, nothing is
    /// stored and nothing is echoed; unsigned, everything is refused.
    pub(super) async fn sweep_twilio(&mut self, fields: &'static [Field]) {
        let path = self.f.path(self.pattern);
        let token = self.f.twilio.as_ref().unwrap().auth_token().to_owned();
        for (name, _, _) in fields {
            for bad in TEXT_BAD.iter().copied().chain([Bad::ZeroWidth]) {
                let n = self.next_n();
                let Some(text) = bad.text() else { continue };
                let params: Vec<(String, String)> = fields
                    .iter()
                    .map(|(k, v, _)| {
                        let v = if k == name {
                            text.clone()
                        } else {
                            self.f.fill(v, n)
                        };
                        ((*k).to_owned(), v)
                    })
                    .collect();
                let sig = gatehouse_delivery::twilio_signature(
                    &token,
                    &format!("{PUBLIC_URL}{path}"),
                    &params,
                );
                let body: Vec<(String, Vec<u8>)> = params
                    .iter()
                    .map(|(k, v)| (k.clone(), enc(v).into_bytes()))
                    .collect();
                // NUL is refused by the form reader's rule, like everywhere.
                self.run(Case {
                    label: format!("signed {name}={bad:?}"),
                    path_and_query: path.clone(),
                    body: Body::Raw(
                        Some("application/x-www-form-urlencoded"),
                        encode_form(&body),
                    ),
                    headers: vec![("x-twilio-signature".into(), sig)],
                    expect: Expect::Either,
                    trace: bad.trace(),
                    markup: false,
                    echo: None,
                })
                .await;
                self.run(Case {
                    label: format!("unsigned {name}={bad:?}"),
                    path_and_query: path.clone(),
                    body: Body::Raw(
                        Some("application/x-www-form-urlencoded"),
                        encode_form(&body),
                    ),
                    headers: vec![],
                    expect: Expect::Refused(Some(StatusCode::FORBIDDEN)),
                    trace: bad.trace(),
                    markup: false,
                    echo: None,
                })
                .await;
            }
        }
        self.oversized(&path, "application/x-www-form-urlencoded", b"a=".to_vec())
            .await;
    }
}

pub(super) fn with(mut obj: Map<String, Value>, name: &str, v: Value) -> Vec<u8> {
    obj.insert(name.into(), v);
    Value::Object(obj).to_string().into_bytes()
}

/// A JSON number too big for any integer type, written out as is.
pub(super) fn raw_number(mut obj: Map<String, Value>, name: &str, digits: &str) -> Vec<u8> {
    obj.insert(name.into(), json!("@@"));
    Value::Object(obj)
        .to_string()
        .replacen("\"@@\"", digits, 1)
        .into_bytes()
}
