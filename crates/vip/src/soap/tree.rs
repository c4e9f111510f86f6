//! Reading an envelope: a whole document read into a tree of
//! namespace-resolved elements, and the payload of its SOAP 1.1 `Body`.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::SOAP_ENV_NS;

/// Deepest element nesting accepted in a response (a SOAP answer has ~5).
const MAX_DEPTH: usize = 32;

/// A namespace-resolved XML element.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub(super) ns: Option<String>,
    pub(super) name: String,
    /// Unqualified attributes by local name (namespace declarations dropped).
    attrs: Vec<(String, String)>,
    pub(super) text: String,
    pub(super) children: Vec<Element>,
}

impl Element {
    pub(super) fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    pub(super) fn in_any(&self, namespaces: &[&str]) -> bool {
        self.ns
            .as_deref()
            .is_some_and(|ns| namespaces.contains(&ns))
    }

    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A child by local name, in this element's namespace or none.
    pub(super) fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && (c.ns == self.ns || c.ns.is_none()))
    }

    pub(super) fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }
}

/// `Envelope/Body/*[1]`, checking the SOAP 1.1 namespace.
pub(super) fn body_payload(envelope: &Element) -> Result<&Element, String> {
    if !envelope.is(SOAP_ENV_NS, "Envelope") {
        return Err(format!(
            "the root element is {{{}}}{}, not a SOAP 1.1 Envelope",
            envelope.ns.as_deref().unwrap_or(""),
            envelope.name
        ));
    }
    let body = envelope
        .children
        .iter()
        .find(|c| c.is(SOAP_ENV_NS, "Body"))
        .ok_or("the SOAP Envelope has no Body")?;
    body.children
        .first()
        .ok_or_else(|| "the SOAP Body is empty".to_owned())
}

/// Parses a whole document into a tree. Refuses a DOCTYPE (no entity games).
pub(super) fn parse_tree(xml: &str) -> Result<Element, String> {
    let xml = xml.strip_prefix('\u{FEFF}').unwrap_or(xml);
    let mut reader = NsReader::from_str(xml);
    let at = |reader: &NsReader<&[u8]>, e: &dyn std::fmt::Display| {
        format!("{e} (at byte {})", reader.error_position())
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let resolved = match reader.read_resolved_event() {
            Ok((ns, event)) => Ok((resolve(ns, &event)?, event)),
            Err(e) => Err(e),
        };
        let (ns, event) = resolved.map_err(|e| at(&reader, &e))?;

        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err("there is content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("elements are nested too deeply".into());
                }
                let mut element = Element {
                    ns,
                    name: s.local_name().into_inner().to_owned(),
                    ..Element::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| at(&reader, &e))?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| at(&reader, &e))?;
                    element
                        .attrs
                        .push((a.key.local_name().into_inner().to_owned(), value.into()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("unexpected end tag")?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => push_text(&mut stack, t.xml10_content()),
            Event::CData(c) => push_text(&mut stack, c.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| at(&reader, &e))? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("unknown entity &{};", &*r))?
                        .to_owned(),
                };
                push_text(&mut stack, Cow::Owned(resolved));
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed".into()),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "there is no root element".into())
}

/// The element's namespace, owned; an undeclared prefix on an element is an error.
fn resolve(ns: ResolveResult<'_>, event: &Event<'_>) -> Result<Option<String>, String> {
    match ns {
        ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) if matches!(event, Event::Start(_) | Event::Empty(_)) => {
            Err(format!("undeclared namespace prefix {prefix:?}"))
        }
        ResolveResult::Unknown(_) => Ok(None),
    }
}

fn push_text(stack: &mut [Element], text: Cow<'_, str>) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(&text);
    }
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}
