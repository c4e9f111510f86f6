//! Pages that show what was taken: none may carry markup raw.

use super::*;

/// Every page route of the router (GETs outside the API), for each caller
/// who may see stored values, with its parameters filled with every user,
/// order and MSA version the pages link to: none may show markup raw.
pub(super) async fn pages_escape(sweep: &mut Sweep<'_>) {
    let routes: Vec<String> = gatehouse_web::route_table()
        .into_iter()
        .filter(|r| {
            r.method == Method::GET && !r.path.starts_with("/api") && !r.path.starts_with("/static")
        })
        .map(|r| r.path)
        .collect();
    for who in [Who::Operator, Who::Admin, Who::User] {
        let mut c = sweep.f.client(who, false).await;
        let mut ids: BTreeSet<String> = BTreeSet::from([sweep.f.target.0.to_string()]);
        let mut numbers: BTreeSet<String> = BTreeSet::from([sweep.f.order_number.clone()]);
        let mut versions: BTreeSet<String> = BTreeSet::from(["2026.1".to_owned()]);
        let mut seen = BTreeSet::new();
        let mut queue: Vec<String> = vec![
            "/users".into(),
            "/catalog".into(),
            format!("/virtual-phone?number={}", enc(PHONE)),
        ];
        // Two rounds: the lists first, then every page of what they link.
        for _ in 0..2 {
            for p in &routes {
                if p.contains("{id}") {
                    queue.extend(ids.iter().map(|id| p.replace("{id}", id)));
                } else if p.contains("{number}") {
                    queue.extend(numbers.iter().map(|n| p.replace("{number}", &enc(n))));
                } else if p.contains("{version}") {
                    queue.extend(versions.iter().map(|v| p.replace("{version}", &enc(v))));
                } else {
                    queue.push(p.clone());
                }
            }
            while let Some(p) = queue.pop() {
                if !seen.insert(p.clone()) {
                    continue;
                }
                let r = c.get(&p).await;
                sweep.requests += 1;
                if r.status.is_server_error() {
                    sweep.fail(
                        "pages afterwards",
                        format!("GET {p} as {who:?}: {}", r.status),
                    );
                }
                let html = r
                    .headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
                for raw in RAW_MARKUP.iter().filter(|_| html) {
                    if r.text.contains(raw) {
                        sweep.fail(
                            "pages afterwards",
                            format!("GET {p} as {who:?} shows markup unescaped: {raw}"),
                        );
                    }
                }
                collect(&r.text, "/users/", &mut ids, |s| {
                    s.chars().all(|c| c.is_ascii_digit())
                });
                collect(&r.text, "/orders/", &mut numbers, |_| true);
                collect(&r.text, "/msa/", &mut versions, |_| true);
            }
        }
    }
}

/// Path segments after `prefix` in the page's links and forms.
pub(super) fn collect(
    html: &str,
    prefix: &str,
    into: &mut BTreeSet<String>,
    keep: impl Fn(&str) -> bool,
) {
    for (i, _) in html.match_indices(prefix) {
        let rest = &html[i + prefix.len()..];
        let end = rest
            .find(['/', '"', '?', '&', '<', ' '])
            .unwrap_or(rest.len());
        let seg = rest[..end].replace("&amp;", "&");
        let seg = percent_decode_str(&seg);
        if !seg.is_empty() && keep(&seg) && into.len() < 40 {
            into.insert(seg);
        }
    }
}

pub(super) fn percent_decode_str(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.map(|h| u8::from_str_radix(h, 16)) {
            Some(Ok(v)) if b[i] == b'%' => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
