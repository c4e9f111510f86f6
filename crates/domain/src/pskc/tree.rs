//! A minimal element tree. PSKC files are small (one element per key field),
//! and a tree keeps the RFC's structure readable in the code that reads it.

use quick_xml::events::Event;

use super::PskcError;

/// Deeper nesting than this is refused: PSKC needs about 8 levels, and an
/// unbounded depth would let a hostile file exhaust the stack when the
/// tree is dropped.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub(super) struct Node {
    /// Local name (namespace prefix removed).
    pub(super) name: String,
    /// Attributes by local name.
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn text(&self) -> &str {
        self.text.trim()
    }
}

pub(super) fn xml_tree(xml: &[u8]) -> Result<Node, PskcError> {
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let text =
        std::str::from_utf8(xml).map_err(|_| PskcError::Xml("it is not UTF-8 text".into()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let err = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| {
        PskcError::Xml(format!("{e} (at byte {})", reader.error_position()))
    };
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader.read_event().map_err(|e| err(&reader, &e))?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(PskcError::Xml(
                        "there is content after the root element".into(),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(PskcError::Xml("elements are nested too deeply".into()));
                }
                let mut node = Node {
                    name: s.local_name().into_inner().to_string(),
                    ..Node::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| err(&reader, &e))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(&reader, &e))?;
                    node.attrs
                        .push((a.key.local_name().into_inner().to_string(), value.into()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(node, &mut stack, &mut root);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let node = stack
                    .pop()
                    .ok_or_else(|| PskcError::Xml("unexpected end tag".into()))?;
                close(node, &mut stack, &mut root);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| err(&reader, &e))? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| PskcError::Xml(format!("unknown entity &{};", &*r)))?
                        .to_string(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => {
                // PSKC has no DTD; refusing one rules out entity tricks.
                return Err(PskcError::Xml("a DOCTYPE is not allowed".into()));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(PskcError::Xml("the document ends inside an element".into()));
    }
    root.ok_or_else(|| PskcError::Xml("there is no root element".into()))
}

fn close(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_matches_local_names_and_resolves_entities() {
        let t = xml_tree(
            br#"<?xml version="1.0"?><a:Root xmlns:a="x" a:Attr="1 &amp; 2"><!-- c --><b>x &lt; &#65;<![CDATA[<z>]]></b><b/></a:Root>"#,
        )
        .unwrap();
        assert_eq!(t.name, "Root");
        assert_eq!(t.attr("Attr"), Some("1 & 2"));
        assert_eq!(t.children_named("b").count(), 2);
        assert_eq!(t.child("b").unwrap().text(), "x < A<z>");
    }

    #[test]
    fn tree_refuses_malformed_input() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"just text",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a>&nope;</a>",
            b"\xff\xfe<\x00a\x00/\x00>\x00",
        ] {
            assert!(
                matches!(xml_tree(bad), Err(PskcError::Xml(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(xml_tree(deep.as_bytes()), Err(PskcError::Xml(_))));
    }
}
