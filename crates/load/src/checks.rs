//! Response checks (`--check`): what makes a response a success beyond
//! its arrival. A 200 whose body says `{"ok":false}` is a failure to the
//! user, so a scenario may judge the status, a header, the body (text,
//! regular expression, a JSON value) and the time to first byte, as k6's
//! `check()`, locust's `catch_response` and Gatling's checks do.
//!
//! Pure: checks are parsed once and judge what the transport hands them;
//! the body is kept only when a check reads it ([`CheckSet::needs_body`]),
//! and then only its first [`BODY_LIMIT`] bytes.

use scalewall_model::json_path::JsonPath;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The most checks one scenario may have (each is a bit of a mask).
pub const MAX_CHECKS: usize = 64;
/// The most body bytes a check reads; a longer body is judged on this
/// much (a JSON check on a cut body fails and says so).
pub const BODY_LIMIT: usize = 1 << 20;

/// One check, as written and as understood.
#[derive(Debug, Clone)]
pub struct Check {
    /// The check as written, trimmed: its name in every output.
    pub text: String,
    rule: Rule,
}

#[derive(Debug, Clone)]
enum Rule {
    Status(RangeInclusive<u16>),
    Header { name: String, value: String },
    BodyContains(String),
    BodyMatches(regex::Regex),
    JsonEquals(JsonPath, serde_json::Value),
    JsonExists(JsonPath),
    Ttfb(Duration),
}

/// A parsed list of checks.
#[derive(Debug, Clone, Default)]
pub struct CheckSet {
    checks: Vec<Check>,
}

/// What one response failed: a bit per check, and the first failure's
/// description (what the response showed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Bit `i` set: check `i` failed.
    pub failed: u64,
    /// `check: what was seen` for each failed check, in the order they failed.
    pub notes: Vec<(usize, String)>,
}

impl Verdict {
    fn fail(&mut self, index: usize, check: &Check, seen: impl FnOnce() -> String) {
        if self.failed & (1 << index) == 0 {
            self.notes
                .push((index, format!("{}: {}", check.text, seen())));
        }
        self.failed |= 1 << index;
    }

    /// What the first failed check saw.
    pub fn first(&self) -> Option<&str> {
        self.notes.first().map(|(_, note)| note.as_str())
    }

    /// What check `index` saw, if it failed.
    pub fn note(&self, index: usize) -> Option<&str> {
        self.notes
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, note)| note.as_str())
    }

    /// Forgets the last response's failures.
    pub fn clear(&mut self) {
        self.failed = 0;
        self.notes.clear();
    }
}

/// Strips one pair of matching quotes ("…" or '…'), if present.
fn unquote(text: &str) -> &str {
    let t = text.trim();
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            if t.len() >= 2 {
                return inner;
            }
        }
    }
    t
}

fn parse_status(text: &str) -> Option<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|s| (100..1000).contains(s))
}

const FORMS: &str = "status=200, status in 200..299, body contains \"…\", body matches /re/, \
json $.path == value, json $.path exists, header Name: value, ttfb<200ms";

impl std::str::FromStr for Check {
    type Err = String;

    fn from_str(text: &str) -> Result<Check, String> {
        let text = text.trim();
        let bad = |why: &str| format!("check '{text}': {why} (forms: {FORMS})");
        let (word, rest) = text
            .split_once(|c: char| c.is_whitespace() || c == '=' || c == '<')
            .map(|(w, _)| (w, text[w.len()..].trim_start()))
            .unwrap_or((text, ""));
        let rule = match word.to_ascii_lowercase().as_str() {
            "status" => {
                if let Some(code) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
                    let code = parse_status(code).ok_or_else(|| bad("a status is 100-999"))?;
                    Rule::Status(code..=code)
                } else if let Some(range) = rest.strip_prefix("in") {
                    let (low, high) = range
                        .split_once("..")
                        .ok_or_else(|| bad("a range is LOW..HIGH, both included"))?;
                    let (low, high) = parse_status(low)
                        .zip(parse_status(high.trim_start_matches('=')))
                        .filter(|(l, h)| l <= h)
                        .ok_or_else(|| bad("a range is LOW..HIGH of statuses, LOW first"))?;
                    Rule::Status(low..=high)
                } else {
                    return Err(bad("say status=CODE or status in LOW..HIGH"));
                }
            }
            "body" => {
                if let Some(needle) = rest.strip_prefix("contains") {
                    let needle = unquote(needle);
                    if needle.is_empty() {
                        return Err(bad("contains what?"));
                    }
                    Rule::BodyContains(needle.to_string())
                } else if let Some(pattern) = rest.strip_prefix("matches") {
                    let pattern = pattern.trim();
                    let inner = pattern
                        .strip_prefix('/')
                        .and_then(|p| p.strip_suffix('/'))
                        .filter(|_| pattern.len() >= 2)
                        .ok_or_else(|| bad("write the expression between slashes: /re/"))?;
                    let re = regex::Regex::new(inner)
                        .map_err(|e| bad(&format!("not a regular expression: {e}")))?;
                    Rule::BodyMatches(re)
                } else {
                    return Err(bad("say body contains \"…\" or body matches /re/"));
                }
            }
            "json" => {
                let (path, test) = rest
                    .split_once(char::is_whitespace)
                    .map(|(p, t)| (p, t.trim()))
                    .unwrap_or((rest, ""));
                let path: JsonPath = path.parse().map_err(|e: String| bad(&e))?;
                if test == "exists" {
                    Rule::JsonExists(path)
                } else if let Some(value) = test.strip_prefix("==") {
                    let value = value.trim();
                    if value.is_empty() {
                        return Err(bad("== what?"));
                    }
                    // A JSON literal (true, 1, "x", null); a bare word is a string.
                    let value = serde_json::from_str(value)
                        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
                    Rule::JsonEquals(path, value)
                } else {
                    return Err(bad("say json $.path == VALUE or json $.path exists"));
                }
            }
            "header" => {
                let (name, value) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("say header Name: value"))?;
                let name = name.trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(bad("a header name has no spaces"));
                }
                Rule::Header {
                    name: name.to_string(),
                    value: unquote(value).to_string(),
                }
            }
            "ttfb" => {
                let limit = rest
                    .strip_prefix('<')
                    .ok_or_else(|| bad("say ttfb<200ms"))?;
                let limit = humantime::parse_duration(limit.trim())
                    .map_err(|e| bad(&format!("'{}': {e}", limit.trim())))?;
                Rule::Ttfb(limit)
            }
            _ => return Err(bad("unknown check")),
        };
        Ok(Check {
            text: text.to_string(),
            rule,
        })
    }
}

/// How a JSON value reads in a failure message (cut short).
fn shown(value: &serde_json::Value) -> String {
    let mut text = value.to_string();
    if text.len() > 80 {
        let mut cut = 77;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

impl CheckSet {
    /// Parses every check; the first bad one is the error.
    pub fn parse(texts: &[String]) -> Result<CheckSet, String> {
        if texts.len() > MAX_CHECKS {
            return Err(format!(
                "{} checks given; at most {MAX_CHECKS}",
                texts.len()
            ));
        }
        let checks = texts
            .iter()
            .map(|t| t.parse())
            .collect::<Result<Vec<Check>, String>>()?;
        Ok(CheckSet { checks })
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// The checks as written, in order.
    pub fn names(&self) -> Vec<String> {
        self.checks.iter().map(|c| c.text.clone()).collect()
    }

    /// Whether a check reads the body (so the transport keeps it).
    pub fn needs_body(&self) -> bool {
        self.checks.iter().any(|c| {
            matches!(
                c.rule,
                Rule::BodyContains(_)
                    | Rule::BodyMatches(_)
                    | Rule::JsonEquals(..)
                    | Rule::JsonExists(_)
            )
        })
    }

    /// Whether a check reads a header.
    pub fn needs_headers(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.rule, Rule::Header { .. }))
    }

    /// Judges the status.
    pub fn judge_status(&self, status: u16, verdict: &mut Verdict) {
        for (i, check) in self.checks.iter().enumerate() {
            if let Rule::Status(range) = &check.rule {
                if !range.contains(&status) {
                    verdict.fail(i, check, || format!("got {status}"));
                }
            }
        }
    }

    /// Judges the header checks against every header of a response (a
    /// check passes when any header of its name has its value; names
    /// compare without case, values exactly after trimming).
    pub fn judge_headers<'h>(
        &self,
        headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
        verdict: &mut Verdict,
    ) {
        for (i, check) in self.checks.iter().enumerate() {
            let Rule::Header { name, value } = &check.rule else {
                continue;
            };
            let mut seen: Option<String> = None;
            let mut matched = false;
            for (n, v) in headers.clone() {
                if n.eq_ignore_ascii_case(name) {
                    let v = String::from_utf8_lossy(v);
                    if v.trim() == value {
                        matched = true;
                        break;
                    }
                    seen.get_or_insert_with(|| v.trim().to_string());
                }
            }
            if !matched {
                verdict.fail(i, check, || match seen {
                    Some(v) => format!("got {name}: {v}"),
                    None => format!("no {name} header"),
                });
            }
        }
    }

    /// Judges the body checks; `complete` is false when the body was
    /// longer than [`BODY_LIMIT`] and `body` is its start.
    pub fn judge_body(&self, body: &[u8], complete: bool, verdict: &mut Verdict) {
        let mut parsed: Option<Result<serde_json::Value, String>> = None;
        let mut json = |body: &[u8]| -> Result<serde_json::Value, String> {
            parsed
                .get_or_insert_with(|| {
                    if !complete {
                        return Err(format!(
                            "the body is longer than the {} KiB a check reads",
                            BODY_LIMIT / 1024
                        ));
                    }
                    serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))
                })
                .clone()
        };
        for (i, check) in self.checks.iter().enumerate() {
            match &check.rule {
                Rule::BodyContains(needle)
                    if !body.windows(needle.len()).any(|w| w == needle.as_bytes()) =>
                {
                    verdict.fail(i, check, || "not in the body".into());
                }
                Rule::BodyMatches(re) if !re.is_match(&String::from_utf8_lossy(body)) => {
                    verdict.fail(i, check, || "no match in the body".into());
                }
                Rule::JsonEquals(path, want) => match json(body) {
                    Ok(doc) => match path.value(&doc) {
                        Some(got) if got == want => {}
                        Some(got) => verdict.fail(i, check, || format!("got {}", shown(got))),
                        None => verdict.fail(i, check, || format!("{} names nothing", path.text)),
                    },
                    Err(why) => verdict.fail(i, check, || why),
                },
                Rule::JsonExists(path) => match json(body) {
                    Ok(doc) if path.value(&doc).is_some() => {}
                    Ok(_) => verdict.fail(i, check, || format!("{} names nothing", path.text)),
                    Err(why) => verdict.fail(i, check, || why),
                },
                _ => {}
            }
        }
    }

    /// Judges the time-to-first-byte checks.
    pub fn judge_ttfb(&self, ttfb: Duration, verdict: &mut Verdict) {
        for (i, check) in self.checks.iter().enumerate() {
            if let Rule::Ttfb(limit) = &check.rule {
                if ttfb >= *limit {
                    verdict.fail(i, check, || {
                        let ms = format!("{:.3}", ttfb.as_secs_f64() * 1000.0);
                        let ms = ms.trim_end_matches('0').trim_end_matches('.');
                        format!("first byte after {ms} ms")
                    });
                }
            }
        }
    }

    /// Whether a time-to-first-byte check is among them.
    pub fn has_ttfb(&self) -> bool {
        self.checks.iter().any(|c| matches!(c.rule, Rule::Ttfb(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(texts: &[&str]) -> CheckSet {
        CheckSet::parse(&texts.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn every_form_parses_and_bad_ones_say_the_forms() {
        let s = set(&[
            "status=200",
            "status in 200..299",
            "body contains \"ok\"",
            "body matches /^\\{.*\\}$/",
            "json $.ok == true",
            "json $.items[0].id exists",
            "header Content-Type: application/json",
            "ttfb<200ms",
        ]);
        assert_eq!(s.len(), 8);
        assert!(s.needs_body() && s.needs_headers() && s.has_ttfb());
        for bad in [
            "status=99",
            "status in 300..200",
            "body has x",
            "body matches /(/",
            "json ok == true",
            "json $..x exists",
            "header : x",
            "ttfb>1s",
            "latency<1s",
        ] {
            let err = bad.parse::<Check>().unwrap_err();
            assert!(err.contains(bad.trim()), "{err}");
        }
        assert!("nonsense".parse::<Check>().unwrap_err().contains("forms:"));
    }

    #[test]
    fn status_checks_judge_codes_and_ranges() {
        let s = set(&["status=200", "status in 200..299"]);
        let mut v = Verdict::default();
        s.judge_status(204, &mut v);
        assert_eq!(v.failed, 0b01);
        assert_eq!(v.first(), Some("status=200: got 204"));
        v.clear();
        s.judge_status(200, &mut v);
        assert_eq!(v, Verdict::default());
    }

    #[test]
    fn json_checks_compare_values_and_say_what_was_there() {
        let s = set(&[
            "json $.ok == true",
            "json $.n == 3",
            "json $.name == bob",
            "json $.x exists",
        ]);
        let mut v = Verdict::default();
        s.judge_body(br#"{"ok":true,"n":3,"name":"bob","x":null}"#, true, &mut v);
        assert_eq!(v.failed, 0, "{v:?}");
        s.judge_body(br#"{"ok":false,"n":3.0,"name":"bob"}"#, true, &mut v);
        // 3.0 is not the JSON number 3 (serde keeps them apart)
        assert_eq!(v.failed, 0b1011);
        assert_eq!(v.first(), Some("json $.ok == true: got false"));
        v.clear();
        s.judge_body(b"<html>", true, &mut v);
        assert_eq!(v.failed, 0b1111);
        assert!(v.first().unwrap().contains("not JSON"));
        v.clear();
        s.judge_body(br#"{"ok":true"#, false, &mut v);
        assert!(v.first().unwrap().contains("longer than"));
    }

    #[test]
    fn body_and_header_checks() {
        let s = set(&[
            "body contains ok",
            "body matches /id=[0-9]+/",
            "header X-Mode: fast",
        ]);
        let mut v = Verdict::default();
        s.judge_body(b"it is ok, id=42", true, &mut v);
        s.judge_headers(
            [
                ("x-mode", b"slow".as_slice()),
                ("X-MODE", b" fast ".as_slice()),
            ]
            .into_iter(),
            &mut v,
        );
        assert_eq!(v.failed, 0, "{v:?}");
        s.judge_body(b"nope", true, &mut v);
        s.judge_headers([("x-mode", b"slow".as_slice())].into_iter(), &mut v);
        assert_eq!(v.failed, 0b111);
        s.judge_headers(std::iter::empty(), &mut v);
        let mut w = Verdict::default();
        s.judge_headers(std::iter::empty(), &mut w);
        assert_eq!(w.first(), Some("header X-Mode: fast: no X-Mode header"));
    }

    #[test]
    fn ttfb_checks_fail_at_the_limit() {
        let s = set(&["ttfb<200ms"]);
        let mut v = Verdict::default();
        s.judge_ttfb(Duration::from_millis(199), &mut v);
        assert_eq!(v.failed, 0);
        s.judge_ttfb(Duration::from_millis(200), &mut v);
        assert_eq!(v.failed, 1);
        assert_eq!(v.first(), Some("ttfb<200ms: first byte after 200 ms"));
    }
}
