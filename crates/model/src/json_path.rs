//! RFC 9535 singular JSON path queries (`$.a.b[0]`): the form that names
//! exactly one value. Custom metrics read a number with one; response
//! checks compare a value. Pure: a query parsed once, evaluated on a
//! parsed document.

/// An RFC 9535 singular query: `$` followed by `.name`, `['name']` and
/// `[index]` segments (a negative index counts from the end) — the form
/// that names exactly one value.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    /// The query as written.
    pub text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Name(String),
    Index(i64),
}

impl std::str::FromStr for JsonPath {
    type Err = String;

    fn from_str(text: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| format!("json = '{text}': {why}");
        let mut rest = text
            .trim()
            .strip_prefix('$')
            .ok_or_else(|| bad("a query starts with $"))?;
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty()
                    || name == "*"
                    || !name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || !c.is_ascii())
                {
                    return Err(bad(&format!(
                        "'.{name}' is not a member name (wildcards and filters name several values; use one that names one)"
                    )));
                }
                segments.push(Segment::Name(name.to_string()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| bad("an unclosed ["))?;
                let inside = after[..end].trim();
                let quoted = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match (quoted, inside.parse::<i64>()) {
                    (Some(name), _) => segments.push(Segment::Name(name.to_string())),
                    (None, Ok(index)) => segments.push(Segment::Index(index)),
                    (None, Err(_)) => {
                        return Err(bad(&format!(
                            "'[{inside}]' is not a name or an index (wildcards, slices and filters name several values)"
                        )))
                    }
                }
                rest = &after[end + 1..];
            } else {
                return Err(bad(&format!("unexpected '{rest}'")));
            }
        }
        Ok(JsonPath {
            text: text.trim().to_string(),
            segments,
        })
    }
}

impl JsonPath {
    /// The value the query names in `document`, if any.
    pub fn value<'a>(&self, document: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut at = document;
        for segment in &self.segments {
            at = match (segment, at) {
                (Segment::Name(name), serde_json::Value::Object(map)) => map.get(name),
                (Segment::Index(i), serde_json::Value::Array(items)) => {
                    let len = items.len() as i64;
                    let k = if *i < 0 { len + i } else { *i };
                    usize::try_from(k).ok().and_then(|k| items.get(k))
                }
                _ => None,
            }?;
        }
        Some(at)
    }

    /// The value the query names, as a number (a numeric string counts).
    pub fn number(&self, document: &serde_json::Value) -> Result<f64, String> {
        let at = self
            .value(document)
            .ok_or_else(|| format!("{} names nothing in the answer", self.text))?;
        match at {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("{} is {at}, not a number", self.text))
    }
}
