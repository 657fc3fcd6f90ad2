//! Data feeds (`--data rows.csv|rows.jsonl`): each request takes a row and
//! fills the `{{column}}` placeholders of its URL path, headers and body,
//! as k6's and Gatling's CSV feeders do, so a load of varied requests is
//! not one cached request repeated.
//!
//! Rows are read once, before any load, into memory shared by every
//! generator thread; the order is `sequential` (in file order across all
//! connections, wrapping), `random` (uniform, with replacement) or
//! `unique` (each row at most once; the step sends no more requests than
//! there are rows). Templates are parsed against the columns up front, so
//! a placeholder naming no column is an error before any load. Parsing is
//! pure; only [`Feed::read`] touches the file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// In which order requests take rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrder {
    /// File order, shared by every connection, starting again after the last.
    Sequential,
    /// A uniformly random row for each request.
    Random,
    /// Each row once, in file order; then the feed is exhausted.
    Unique,
}

impl FeedOrder {
    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedOrder::Sequential => "sequential",
            FeedOrder::Random => "random",
            FeedOrder::Unique => "unique",
        }
    }
}

/// Why a feed or a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The file could not be read.
    #[error("cannot read --data {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The reader's message.
        reason: String,
    },
    /// A row or the header does not parse.
    #[error("--data {source_name}:{line}: {reason}")]
    Row {
        /// The file.
        source_name: String,
        /// Its line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A placeholder names no column.
    #[error("{place}: {{{{{name}}}}} is not a column of {source_name} (columns: {columns})")]
    UnknownColumn {
        /// Where the placeholder is (`--body`, `the URL`, `header X`).
        place: String,
        /// The placeholder's name.
        name: String,
        /// The feed's file.
        source_name: String,
        /// Its columns.
        columns: String,
    },
    /// The feed cannot serve this request.
    #[error("--data {source_name}: {reason}")]
    Unusable {
        /// The feed's file.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// A placeholder is not closed.
    #[error("{place}: a '{{{{' is never closed by '}}}}'")]
    Unclosed {
        /// Where.
        place: String,
    },
}

/// The rows of a feed and the cursor every request takes from.
#[derive(Debug)]
pub struct Feed {
    /// The file, as named.
    pub source_name: String,
    /// Column names, in file order.
    pub columns: Vec<String>,
    rows: Vec<Vec<String>>,
    order: FeedOrder,
    cursor: AtomicU64,
}

impl Feed {
    /// Reads a `.csv` (a header row, then RFC 4180 rows) or `.jsonl`
    /// (`.ndjson`; one flat JSON object per line) file.
    pub fn read(path: &Path, order: FeedOrder) -> Result<Feed, FeedError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FeedError::Read {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Feed::from_jsonl(&name, &text, order),
            "csv" => Feed::from_csv(&name, &text, order),
            _ => Err(FeedError::Read {
                path: name,
                reason: "name a .csv or .jsonl file".into(),
            }),
        }
    }

    /// Parses CSV text: the first row names the columns.
    pub fn from_csv(name: &str, text: &str, order: FeedOrder) -> Result<Feed, FeedError> {
        let records = parse_csv(text).map_err(|(line, reason)| FeedError::Row {
            source_name: name.into(),
            line,
            reason,
        })?;
        let mut records = records.into_iter();
        let (_, columns) = records.next().ok_or_else(|| FeedError::Row {
            source_name: name.into(),
            line: 1,
            reason: "empty: the first row names the columns".into(),
        })?;
        check_columns(name, &columns)?;
        let mut rows = Vec::new();
        for (line, row) in records {
            if row.len() != columns.len() {
                return Err(ragged(name, line, row.len(), columns.len()));
            }
            rows.push(row);
        }
        Feed::new(name, columns, rows, order)
    }

    /// Parses JSON lines: each non-empty line an object whose values are
    /// strings (taken as they are) or numbers, booleans and null (their
    /// JSON text). The first object's keys are the columns; every line
    /// has them all.
    pub fn from_jsonl(name: &str, text: &str, order: FeedOrder) -> Result<Feed, FeedError> {
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let bad = |reason: String| FeedError::Row {
                source_name: name.into(),
                line: line_no,
                reason,
            };
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let serde_json::Value::Object(map) = value else {
                return Err(bad("each line is one JSON object".into()));
            };
            let columns = columns.get_or_insert_with(|| map.keys().cloned().collect());
            let mut row = Vec::with_capacity(columns.len());
            for column in columns.iter() {
                let text = match map.get(column) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {
                        return Err(bad(format!("'{column}' is not a flat value")))
                    }
                    Some(other) => other.to_string(),
                    None => return Err(bad(format!("no '{column}' (the first line has it)"))),
                };
                row.push(text);
            }
            rows.push(row);
        }
        let columns = columns.ok_or_else(|| FeedError::Row {
            source_name: name.into(),
            line: 1,
            reason: "no rows".into(),
        })?;
        Feed::new(name, columns, rows, order)
    }

    /// A feed of rows already parsed (a worker's share, sent to it).
    pub fn from_rows(
        name: &str,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        order: FeedOrder,
    ) -> Result<Feed, FeedError> {
        check_columns(name, &columns)?;
        if let Some(at) = rows.iter().position(|r| r.len() != columns.len()) {
            // Row `at` is line `at + 2`, after the header.
            return Err(ragged(name, at + 2, rows[at].len(), columns.len()));
        }
        Feed::new(name, columns, rows, order)
    }

    /// Every row, in file order.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    fn new(
        name: &str,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        order: FeedOrder,
    ) -> Result<Feed, FeedError> {
        if rows.is_empty() {
            return Err(FeedError::Row {
                source_name: name.into(),
                line: 2,
                reason: "no rows after the header".into(),
            });
        }
        Ok(Feed {
            source_name: name.into(),
            columns,
            rows,
            order,
            cursor: AtomicU64::new(0),
        })
    }

    /// Rows in the feed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has no rows (never: a feed is refused without rows).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The order requests take rows in.
    pub fn order(&self) -> FeedOrder {
        self.order
    }

    /// The next request's row; `None` once a `unique` feed has given
    /// every row.
    pub fn next_row(&self) -> Option<&[String]> {
        let n = self.rows.len() as u64;
        let index = match self.order {
            FeedOrder::Random => fastrand::u64(..n),
            FeedOrder::Sequential => self.cursor.fetch_add(1, Ordering::Relaxed) % n,
            FeedOrder::Unique => {
                let k = self.cursor.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return None;
                }
                k
            }
        };
        Some(&self.rows[index as usize])
    }

    /// What a request that finds no row left says.
    pub fn exhausted(&self) -> String {
        format!("the --data feed {} has no rows left", self.source_name)
    }

    /// Parses `text`'s placeholders against the columns; `place` names it
    /// in errors.
    pub fn template(&self, place: &str, text: &str) -> Result<Template, FeedError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| FeedError::Unclosed {
                place: place.into(),
            })?;
            let name = after[..close].trim();
            let column = self.columns.iter().position(|c| c == name).ok_or_else(|| {
                FeedError::UnknownColumn {
                    place: place.into(),
                    name: name.into(),
                    source_name: self.source_name.clone(),
                    columns: self.columns.join(", "),
                }
            })?;
            parts.push(Part::Column(column));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }
}

/// A row on `line` with `fields` values where the header has `columns`.
fn ragged(name: &str, line: usize, fields: usize, columns: usize) -> FeedError {
    FeedError::Row {
        source_name: name.into(),
        line,
        reason: format!("{fields} fields where the header has {columns} columns"),
    }
}

fn check_columns(name: &str, columns: &[String]) -> Result<(), FeedError> {
    for (i, column) in columns.iter().enumerate() {
        if column.trim().is_empty() || columns[..i].contains(column) {
            return Err(FeedError::Row {
                source_name: name.into(),
                line: 1,
                reason: format!("column {} is empty or named twice", i + 1),
            });
        }
    }
    Ok(())
}

/// A CSV record: the line it starts on and its fields.
type CsvRecord = (usize, Vec<String>);

/// RFC 4180 records with the line each starts on: quoted fields may hold
/// commas, quotes (doubled) and newlines; CRLF or LF ends a record; blank
/// lines are skipped.
fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, (usize, String)> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    loop {
        // One record.
        let start_line = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut any = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err((start_line, "a quoted field is never closed".into()));
                }
                if any {
                    fields.push(std::mem::take(&mut field));
                    records.push((start_line, fields));
                }
                return Ok(records);
            };
            any = true;
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    c => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() => quoted = true,
                ',' => fields.push(std::mem::take(&mut field)),
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                c => field.push(c),
            }
        }
        let blank = fields.is_empty() && field.is_empty();
        if !blank {
            fields.push(field);
            records.push((start_line, fields));
        }
    }
}

/// Text with placeholders, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Column(usize),
}

/// How a value is written into its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As it is (a body).
    None,
    /// Percent-encoded but for RFC 3986's unreserved characters (a URL).
    Url,
}

impl Template {
    /// The template written out again, each placeholder as `{{column}}`
    /// (`columns`: the feed's, which it was parsed against).
    pub fn text(&self, columns: &[String]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Column(i) => {
                    out.push_str("{{");
                    out.push_str(columns.get(*i).map_or("", String::as_str));
                    out.push_str("}}");
                }
            }
        }
        out
    }

    /// Whether it has a placeholder.
    pub fn has_placeholders(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Column(_)))
    }

    /// Appends the text with `row`'s values to `out`.
    pub fn render_into(&self, row: &[String], escape: Escape, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.extend_from_slice(text.as_bytes()),
                Part::Column(i) => {
                    let value = row.get(*i).map_or("", String::as_str);
                    match escape {
                        Escape::None => out.extend_from_slice(value.as_bytes()),
                        Escape::Url => percent_encode_into(value, out),
                    }
                }
            }
        }
    }

    /// The text with `row`'s values.
    pub fn render(&self, row: &[String], escape: Escape) -> Vec<u8> {
        let mut out = Vec::new();
        self.render_into(row, escape, &mut out);
        out
    }
}

fn percent_encode_into(value: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// A request whose path, header values and body take a row each time.
#[derive(Debug)]
pub struct FedRequest {
    /// The rows.
    pub feed: Feed,
    /// The path and query, from the URL as written.
    pub path: Template,
    /// Header names and their value templates.
    pub headers: Vec<(String, Template)>,
    /// The body.
    pub body: Template,
}

impl FedRequest {
    /// Parses the templates against `feed`'s columns: `path` is the URL's
    /// path and query as written, `headers` and `body` the request's.
    pub fn new(
        feed: Feed,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<FedRequest, FeedError> {
        let path = feed.template("the URL", path)?;
        let mut templates = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let place = format!("header {name}");
            let template = feed.template(&place, value)?;
            if let Some(why) = header_unsafe_value(&feed, &template) {
                return Err(FeedError::Unusable {
                    source_name: feed.source_name.clone(),
                    reason: format!("{place}: {why}"),
                });
            }
            templates.push((name.clone(), template));
        }
        let body = feed.template("the body", &String::from_utf8_lossy(body))?;
        if !path.has_placeholders()
            && !body.has_placeholders()
            && !templates.iter().any(|(_, t)| t.has_placeholders())
        {
            return Err(FeedError::Unusable {
                source_name: feed.source_name.clone(),
                reason: format!(
                    "no {{{{column}}}} in the URL, the headers or the body: give one of {}",
                    feed.columns.join(", ")
                ),
            });
        }
        Ok(FedRequest {
            feed,
            path,
            headers: templates,
            body,
        })
    }
}

/// Texts that take one row per operation outside HTTP: a Redis
/// command's words, a PostgreSQL query's parameters, a WebSocket message.
#[derive(Debug)]
pub struct FedTexts {
    /// The rows.
    pub feed: Feed,
    texts: Vec<Template>,
}

impl FedTexts {
    /// Parses `texts` against `feed`'s columns; `place` names them in
    /// errors (`--command`), and one of them must hold a placeholder.
    pub fn new(feed: Feed, place: &str, texts: &[String]) -> Result<FedTexts, FeedError> {
        let texts = texts
            .iter()
            .map(|text| feed.template(place, text))
            .collect::<Result<Vec<_>, _>>()?;
        if !texts.iter().any(Template::has_placeholders) {
            return Err(FeedError::Unusable {
                source_name: feed.source_name.clone(),
                reason: format!(
                    "no {{{{column}}}} in {place}: give one of {}",
                    feed.columns.join(", ")
                ),
            });
        }
        Ok(FedTexts { feed, texts })
    }

    /// How many texts each row fills.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are none (never: one holds a placeholder).
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Fills every text from the next row into `out` (one buffer each,
    /// cleared first); `false` once a `unique` feed has given every row.
    pub fn next_into(&self, out: &mut [Vec<u8>]) -> bool {
        let Some(row) = self.feed.next_row() else {
            return false;
        };
        for (template, buffer) in self.texts.iter().zip(out.iter_mut()) {
            buffer.clear();
            template.render_into(row, Escape::None, buffer);
        }
        true
    }
}

/// The first row value of `feed` that cannot go into a header (a CR or
/// LF would end the header early): its line-independent description.
pub fn header_unsafe_value(feed: &Feed, columns: &Template) -> Option<String> {
    let used: Vec<usize> = columns
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Column(i) => Some(*i),
            Part::Text(_) => None,
        })
        .collect();
    feed.rows.iter().enumerate().find_map(|(r, row)| {
        used.iter()
            .find(|&&i| row[i].contains(['\r', '\n']))
            .map(|&i| {
                format!(
                    "row {} of column '{}' holds a line break",
                    r + 1,
                    feed.columns[i]
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_quotes_commas_and_newlines() {
        let text =
            "id,name,note\r\n1,ann,plain\n2,\"b, c\",\"say \"\"hi\"\"\"\n\n3,dee,\"two\nlines\"\n";
        let feed = Feed::from_csv("rows.csv", text, FeedOrder::Sequential).unwrap();
        assert_eq!(feed.columns, ["id", "name", "note"]);
        assert_eq!(feed.len(), 3);
        assert_eq!(feed.rows[1], ["2", "b, c", "say \"hi\""]);
        assert_eq!(feed.rows[2][2], "two\nlines");
        let err = Feed::from_csv("r.csv", "a,b\n1,2\n3\n", FeedOrder::Random).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--data r.csv:3: 1 fields where the header has 2 columns"
        );
        assert!(Feed::from_csv("r.csv", "a,a\n1,2\n", FeedOrder::Random).is_err());
        assert!(Feed::from_csv("r.csv", "a\n", FeedOrder::Random).is_err());
        assert!(Feed::from_csv("r.csv", "a\n\"open\n", FeedOrder::Random).is_err());
    }

    #[test]
    fn jsonl_rows_take_strings_as_they_are_and_other_values_as_json() {
        let text =
            "{\"user\":\"ann\",\"n\":1,\"vip\":true}\n\n{\"vip\":null,\"n\":2.5,\"user\":\"bo\"}\n";
        let feed = Feed::from_jsonl("rows.jsonl", text, FeedOrder::Sequential).unwrap();
        assert_eq!(feed.columns, ["n", "user", "vip"]);
        assert_eq!(feed.rows[1], ["2.5", "bo", "null"]);
        let err =
            Feed::from_jsonl("r.jsonl", "{\"a\":1}\n{\"b\":2}\n", FeedOrder::Random).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--data r.jsonl:2: no 'a' (the first line has it)"
        );
    }

    #[test]
    fn orders_sequential_wraps_unique_ends_random_stays_in_range() {
        let feed = Feed::from_csv("r.csv", "k\na\nb\nc\n", FeedOrder::Sequential).unwrap();
        let taken: Vec<&str> = (0..5)
            .map(|_| feed.next_row().unwrap()[0].as_str())
            .collect();
        assert_eq!(taken, ["a", "b", "c", "a", "b"]);
        let unique = Feed::from_csv("r.csv", "k\na\nb\n", FeedOrder::Unique).unwrap();
        assert_eq!(unique.next_row().unwrap()[0], "a");
        assert_eq!(unique.next_row().unwrap()[0], "b");
        assert!(unique.next_row().is_none());
        assert!(unique.next_row().is_none());
        let random = Feed::from_csv("r.csv", "k\na\nb\nc\n", FeedOrder::Random).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(random.next_row().unwrap()[0].clone());
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn templates_fill_columns_and_name_a_missing_one() {
        let feed = Feed::from_csv("rows.csv", "id,q\n7,a b/c\n", FeedOrder::Sequential).unwrap();
        let t = feed.template("the URL", "/items/{{id}}?q={{ q }}").unwrap();
        assert!(t.has_placeholders());
        let row = feed.next_row().unwrap();
        assert_eq!(t.render(row, Escape::Url), b"/items/7?q=a%20b%2Fc");
        let body = feed
            .template("--body", r#"{"id":{{id}},"q":"{{q}}"}"#)
            .unwrap();
        assert_eq!(body.render(row, Escape::None), br#"{"id":7,"q":"a b/c"}"#);
        let err = feed.template("--body", "{{user}}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--body: {{user}} is not a column of rows.csv (columns: id, q)"
        );
        assert!(feed.template("--body", "{{id").is_err());
        assert!(!feed.template("x", "plain").unwrap().has_placeholders());
        let multi = Feed::from_csv("r.csv", "h\n\"a\nb\"\n", FeedOrder::Sequential).unwrap();
        let header = multi.template("header X", "{{h}}").unwrap();
        assert!(header_unsafe_value(&multi, &header)
            .unwrap()
            .contains("line break"));
    }

    /// A worker rebuilds the feed and the templates it was sent: the same
    /// rows, the same requests.
    #[test]
    fn a_template_written_out_again_parses_to_itself_and_rows_rebuild_a_feed() {
        let feed = Feed::from_csv("rows.csv", "id,q\n7,x\n8,y\n", FeedOrder::Unique).unwrap();
        let t = feed
            .template("the URL", "/items/{{id}}?q={{ q }}&z=1")
            .unwrap();
        assert_eq!(t.text(&feed.columns), "/items/{{id}}?q={{q}}&z=1");
        assert_eq!(feed.template("the URL", &t.text(&feed.columns)).unwrap(), t);
        let again = Feed::from_rows(
            "rows.csv",
            feed.columns.clone(),
            feed.rows().to_vec(),
            feed.order(),
        )
        .unwrap();
        assert_eq!(again.rows(), feed.rows());
        assert_eq!(again.next_row().unwrap(), ["7", "x"]);
        let ragged = vec![vec!["1".to_string()]];
        let err = Feed::from_rows("rows.csv", feed.columns.clone(), ragged, FeedOrder::Random)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--data rows.csv:2: 1 fields where the header has 2 columns"
        );
        assert!(Feed::from_rows("r", feed.columns.clone(), Vec::new(), FeedOrder::Random).is_err());
    }

    #[test]
    fn fed_texts_take_one_row_for_all_their_texts() {
        let feed = Feed::from_csv("r.csv", "id,name\n1,ann\n2,bo\n", FeedOrder::Unique).unwrap();
        let words: Vec<String> = ["SET", "user:{{id}}", "{{name}}"].map(String::from).into();
        let fed = FedTexts::new(feed, "--command", &words).unwrap();
        let mut out = vec![Vec::new(); fed.len()];
        assert!(fed.next_into(&mut out));
        assert_eq!(out, [&b"SET"[..], b"user:1", b"ann"]);
        assert!(fed.next_into(&mut out));
        assert_eq!(out[2], b"bo");
        assert!(!fed.next_into(&mut out));
        let plain = Feed::from_csv("r.csv", "id\n1\n", FeedOrder::Random).unwrap();
        let err = FedTexts::new(plain, "--command", &["PING".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--data r.csv: no {{column}} in --command: give one of id"
        );
    }
}
