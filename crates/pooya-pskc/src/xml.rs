//! A small element tree over quick-xml: names without their namespace prefix, attributes without
//! the `xmlns` declarations, text with entities resolved. No DOCTYPE (so no entity expansion).

use crate::PskcError;

#[derive(Debug, Default)]
pub(crate) struct El {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<El>,
    pub(crate) text: String,
}

impl El {
    pub(crate) fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }
    pub(crate) fn path(&self, names: &[&str]) -> Option<&El> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }
    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.to_owned(),
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<El, PskcError> {
    let mut el = El {
        name: local(e.name().as_ref()),
        ..El::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| PskcError::Xml(e.to_string()))?;
        let k = a.key.as_ref();
        if k == "xmlns" || k.starts_with("xmlns:") {
            continue;
        }
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| PskcError::Xml(e.to_string()))?;
        el.attrs.push((local(k), v.into_owned()));
    }
    Ok(el)
}

pub(crate) fn parse_tree(xml: &str) -> Result<El, PskcError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    let xml_err = |e: quick_xml::Error| PskcError::Xml(e.to_string());
    loop {
        let ev = reader.read_event().map_err(xml_err)?;
        match ev {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(PskcError::Xml("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| PskcError::Xml("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(PskcError::Xml("more than one root element".into())),
                }
            }
            Event::Text(t) => {
                let s: &str = &t;
                match stack.last_mut() {
                    Some(p) => p.text.push_str(s),
                    None if s.trim().is_empty() => {}
                    None => return Err(PskcError::Xml("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_err)? {
                    Some(c) => c,
                    None => match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(PskcError::Xml(format!("unknown entity &{other};"))),
                    },
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push(c);
                }
            }
            Event::DocType(_) => {
                return Err(PskcError::Xml("a DOCTYPE is not allowed".into()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(PskcError::Xml(format!(
            "the document ends inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    root.ok_or_else(|| PskcError::Xml("no root element".into()))
}
