//! XML reading and writing shared by inbound pushes, the pushes written back, and replies.
//!
//! Reading builds a small element tree from quick-xml events and refuses anything WeChat never
//! sends: a DTD, entity references beyond XML's five, content after the root. Writing puts every
//! string in CDATA, split so that `]]>` in the content cannot end the section early.

use std::fmt::Display;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};
use thiserror::Error;

/// Deepest nesting accepted; WeChat's deepest is 4.
const MAX_DEPTH: usize = 16;
/// How much of a bad value an error message repeats.
const VALUE_CHARS: usize = 64;

/// Why a body is not the well-formed `<xml>` document WeChat sends.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    /// A `<!DOCTYPE …>` (and so possibly entity declarations) is present.
    #[error("the xml declares a doctype or entities; refused, wechat never sends one")]
    Dtd,
    /// An entity reference other than `&lt;` `&gt;` `&amp;` `&apos;` `&quot;` or `&#…;`.
    #[error("the xml refers to the entity &{name}; only xml's five and &#…; are allowed")]
    UnknownEntity {
        /// The entity's name (cut to 64 characters).
        name: String,
    },
    /// The parser refused the document.
    #[error("the xml is malformed: {reason}")]
    Malformed {
        /// The parser's complaint.
        reason: String,
    },
    /// The document ends with elements still open.
    #[error("the xml ends before <{open}> is closed; the body looks truncated")]
    Truncated {
        /// The innermost open element.
        open: String,
    },
    /// The root element is not `<xml>`.
    #[error("the root element is <{found}>, not <xml>")]
    WrongRoot {
        /// The root element's name (cut to 64 characters).
        found: String,
    },
    /// Elements nest deeper than WeChat ever does.
    #[error("the xml nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    /// No element at all.
    #[error("the body holds no xml element")]
    Empty,
}

/// A field that is missing or does not hold what it should.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// A required field is absent.
    #[error("the xml lacks <{field}>")]
    Missing {
        /// The field's path, e.g. `FromUserName` or `SendPicsInfo/Count`.
        field: &'static str,
    },
    /// A field holds the wrong kind of value.
    #[error("<{field}> holds {value:?}, which is not {expected}")]
    Invalid {
        /// The field's path.
        field: &'static str,
        /// The value found (cut to 64 characters).
        value: String,
        /// What the field should hold.
        expected: String,
    },
}

impl FieldError {
    pub(crate) fn invalid(field: &'static str, value: &str, expected: impl Display) -> Self {
        Self::Invalid {
            field,
            value: cut(value),
            expected: expected.to_string(),
        }
    }
}

fn cut(s: &str) -> String {
    s.chars().take(VALUE_CHARS).collect()
}

/// One element: its name, its text (CDATA and references resolved) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Every descendant at `path` (`A/B/C`), in document order.
    pub(crate) fn all(&self, path: &str) -> Vec<&Element> {
        path.split('/').fold(vec![self], |found, part| {
            found
                .into_iter()
                .flat_map(|e| e.children.iter().filter(move |c| c.name == part))
                .collect()
        })
    }

    /// The first descendant at `path`.
    pub(crate) fn find(&self, path: &str) -> Option<&Element> {
        self.all(path).into_iter().next()
    }

    /// Every leaf below this element as `(path, text)`, skipping the children named in `skip`.
    pub(crate) fn leaves_except(&self, skip: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for child in &self.children {
            if !skip.contains(&child.name.as_str()) {
                child.collect_leaves(String::new(), &mut out);
            }
        }
        out
    }

    fn collect_leaves(&self, prefix: String, out: &mut Vec<(String, String)>) {
        let path = if prefix.is_empty() {
            self.name.clone()
        } else {
            format!("{prefix}/{}", self.name)
        };
        if self.children.is_empty() {
            out.push((path, self.text.clone()));
        } else {
            for child in &self.children {
                child.collect_leaves(path.clone(), out);
            }
        }
    }
}

/// Typed access to the fields of a document's root.
pub(crate) struct Fields<'a>(pub(crate) &'a Element);

impl Fields<'_> {
    /// The text at `path`, if the element is there.
    pub(crate) fn optional(&self, path: &str) -> Option<String> {
        self.0.find(path).map(|e| e.text.clone())
    }

    /// The text at `path`, empty when absent (WeChat leaves empty fields out).
    pub(crate) fn text(&self, path: &str) -> String {
        self.optional(path).unwrap_or_default()
    }

    /// The text at `path`, which must be there.
    pub(crate) fn required(&self, path: &'static str) -> Result<String, FieldError> {
        self.optional(path)
            .ok_or(FieldError::Missing { field: path })
    }

    /// The value at `path`, which must be there and parse.
    pub(crate) fn parsed<T: std::str::FromStr>(
        &self,
        path: &'static str,
        expected: &'static str,
    ) -> Result<T, FieldError> {
        let raw = self.required(path)?;
        raw.trim()
            .parse()
            .map_err(|_| FieldError::invalid(path, &raw, expected))
    }

    /// The value of the first of `paths` present, parsed; `None` when none is.
    pub(crate) fn parsed_opt<T: std::str::FromStr>(
        &self,
        paths: &[&'static str],
        expected: &'static str,
    ) -> Result<Option<T>, FieldError> {
        paths
            .iter()
            .find(|p| self.0.find(p).is_some())
            .map(|p| self.parsed(p, expected))
            .transpose()
    }

    /// Like [`Fields::parsed_opt`], but one of `paths` must be present.
    pub(crate) fn parsed_required<T: std::str::FromStr>(
        &self,
        paths: &[&'static str],
        expected: &'static str,
    ) -> Result<T, FieldError> {
        self.parsed_opt(paths, expected)?
            .ok_or(FieldError::Missing {
                field: paths.first().copied().unwrap_or_default(),
            })
    }

    /// A finite decimal number at `path`.
    pub(crate) fn float(&self, path: &'static str) -> Result<f64, FieldError> {
        let value: f64 = self.parsed(path, "a decimal number")?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(FieldError::invalid(
                path,
                &value.to_string(),
                "a finite number",
            ))
        }
    }
}

/// Parses `xml` into its `<xml>` root element.
///
/// Refuses a DOCTYPE, unknown entities, a root other than `<xml>`, content after the root,
/// and documents that end early. Text is kept byte for byte (no line-end normalisation),
/// so what CDATA holds comes back exactly.
pub(crate) fn parse_document(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            reason: e.to_string(),
        })?;
        match event {
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Start(start) => {
                let name = start.name().0.to_owned();
                open(&stack, &root, &name)?;
                stack.push(Element::named(&name));
            }
            Event::Empty(start) => {
                let name = start.name().0.to_owned();
                open(&stack, &root, &name)?;
                close(&mut stack, &mut root, Element::named(&name));
            }
            Event::End(_) => {
                // quick-xml has checked the end tag matches the open one.
                if let Some(done) = stack.pop() {
                    close(&mut stack, &mut root, done);
                }
            }
            Event::Text(text) => add_text(&mut stack, &text, true)?,
            Event::CData(cdata) => add_text(&mut stack, &cdata, false)?,
            Event::GeneralRef(reference) => {
                let c = resolve(&reference)?;
                add_text(&mut stack, c.encode_utf8(&mut [0; 4]), false)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Truncated {
            open: cut(&open.name),
        });
    }
    root.ok_or(XmlError::Empty)
}

/// Checks an element may open here: the first one must be `<xml>`, none may follow it.
fn open(stack: &[Element], root: &Option<Element>, name: &str) -> Result<(), XmlError> {
    if root.is_some() {
        return Err(XmlError::Malformed {
            reason: format!("<{}> follows the root element", cut(name)),
        });
    }
    if stack.is_empty() && name != "xml" {
        return Err(XmlError::WrongRoot { found: cut(name) });
    }
    if stack.len() >= MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    Ok(())
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(stack: &mut [Element], root: &mut Option<Element>, done: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None => *root = Some(done),
    }
}

/// Appends text to the open element; outside the root only white space may appear.
fn add_text(stack: &mut [Element], text: &str, blank_ok_outside: bool) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if blank_ok_outside && text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed {
            reason: "text outside the root element".to_owned(),
        }),
    }
}

/// Resolves one of XML's five entities or a character reference; nothing else.
fn resolve(reference: &BytesRef<'_>) -> Result<char, XmlError> {
    let malformed = |reason: String| XmlError::Malformed { reason };
    if let Some(c) = reference
        .resolve_char_ref()
        .map_err(|e| malformed(e.to_string()))?
    {
        return Ok(c);
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        name => Err(XmlError::UnknownEntity { name: cut(name) }),
    }
}

/// Writes WeChat-style XML: an `<xml>` root, strings in CDATA, numbers bare.
#[derive(Debug)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts a document with its `<xml>` root open.
    pub(crate) fn new() -> Self {
        Self {
            out: String::from("<xml>"),
        }
    }

    /// `<name><![CDATA[value]]></name>`, with any `]]>` in `value` split across sections.
    pub(crate) fn cdata(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        self.out.push_str("<![CDATA[");
        self.out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        self.out.push_str("]]>");
        self.close(name)
    }

    /// `<name>value</name>` with the value escaped; for numbers and ids.
    pub(crate) fn bare(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.open(name);
        self.out
            .push_str(&quick_xml::escape::escape(value.to_string().as_str()));
        self.close(name)
    }

    /// Writes `(path, value)` pairs, `A/B` paths as nested elements, values in CDATA.
    pub(crate) fn fields(&mut self, fields: &[(String, String)]) -> &mut Self {
        for (path, value) in fields {
            let parts: Vec<&str> = path.split('/').collect();
            let (leaf, parents) = parts.split_last().unwrap_or((&"", &[]));
            for parent in parents {
                self.open(parent);
            }
            self.cdata(leaf, value);
            for parent in parents.iter().rev() {
                self.close(parent);
            }
        }
        self
    }

    /// Opens `<name>`.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes the root and returns the document.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</xml>");
        self.out
    }
}
