//! The Prometheus text exposition format (0.0.4, and the OpenMetrics
//! text it shares), read without I/O: samples with their labels, each
//! family's `# TYPE`, and a selector (`name{label="value",…}`) that picks
//! one series, or several summed or maxed. A malformed line is an error
//! naming its line number.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`http_requests_total`, `latency_bucket`, …).
    pub name: String,
    /// Its labels, in the order written.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Each family's type (`counter`, `gauge`, `histogram`, `summary`, …).
    pub types: BTreeMap<String, String>,
}

/// What kind of number a selected series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows (a counter, or a histogram's `_count` and `_sum`):
    /// read as a rate per second between two samples.
    Counter,
    /// Read as it is.
    Gauge,
}

impl Exposition {
    /// The kind of a sample name: a counter family, a `_total` of one, or
    /// the `_count`/`_sum`/`_bucket` of a histogram or summary count up.
    pub fn kind_of(&self, sample: &str) -> Kind {
        let family_type = |name: &str| self.types.get(name).map(String::as_str);
        if family_type(sample) == Some("counter") {
            return Kind::Counter;
        }
        for suffix in ["_total", "_count", "_sum", "_bucket", "_created"] {
            if let Some(family) = sample.strip_suffix(suffix) {
                if let Some(t) = family_type(family) {
                    if t == "counter"
                        || ((t == "histogram" || t == "summary") && suffix != "_created")
                    {
                        return Kind::Counter;
                    }
                }
            }
        }
        Kind::Gauge
    }
}

/// Why an exposition could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an exposition.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |message: String| ParseError {
            line: index + 1,
            message,
        };
        if line.is_empty() || line == "# EOF" {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            if words.first() == Some(&"TYPE") {
                match words.as_slice() {
                    [_, name, kind] => {
                        out.types.insert((*name).to_string(), (*kind).to_string());
                    }
                    _ => return Err(at(format!("'{line}': a TYPE line is '# TYPE name type'"))),
                }
            }
            continue;
        }
        out.samples.push(sample_line(line).map_err(at)?);
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{labels} value [timestamp]`.
fn sample_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or_else(|| format!("'{line}': a sample needs a value"))?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("'{name}' is not a metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        let (parsed, after) = label_list(inside)?;
        labels = parsed;
        rest = after;
    }
    let mut words = rest.split_whitespace();
    let value_text = words
        .next()
        .ok_or_else(|| format!("'{line}': a sample needs a value"))?;
    let value =
        parse_value(value_text).ok_or_else(|| format!("'{value_text}' is not a sample value"))?;
    if let Some(timestamp) = words.next() {
        if timestamp.parse::<f64>().is_err() {
            return Err(format!("'{timestamp}' is not a timestamp"));
        }
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// A series' labels, in the order written.
type Labels = Vec<(String, String)>;

/// `a="x",b="y"}` → the labels and what follows the brace.
fn label_list(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = text
            .find('=')
            .ok_or_else(|| "a label needs name=\"value\"".to_string())?;
        let name = text[..eq].trim();
        if !valid_name(name) {
            return Err(format!("'{name}' is not a label name"));
        }
        let after_eq = text[eq + 1..].trim_start();
        let quoted = after_eq
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: its value must be quoted"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label {name}: an unfinished escape")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("label {name}: an unterminated value")),
            }
        };
        labels.push((name.to_string(), value));
        text = quoted[end + 1..].trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// How several matching series become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Their sum.
    Sum,
    /// The largest.
    Max,
}

/// `name{label="value",…}`: the series of that name whose labels include
/// every one given (other labels may be present).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The sample name.
    pub name: String,
    /// Labels that must match exactly.
    pub labels: Vec<(String, String)>,
}

impl std::str::FromStr for Selector {
    type Err = String;

    fn from_str(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        if !valid_name(name) {
            return Err(format!("select '{text}': '{name}' is not a metric name"));
        }
        let labels = match rest {
            None => Vec::new(),
            Some(inside) => {
                let (labels, after) =
                    label_list(inside).map_err(|e| format!("select '{text}': {e}"))?;
                if !after.trim().is_empty() {
                    return Err(format!("select '{text}': text after the closing brace"));
                }
                labels
            }
        };
        Ok(Selector {
            name: name.to_string(),
            labels,
        })
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

/// The selected value and its kind: one matching series, or several
/// combined by `aggregate`; an error when none matches, or several do
/// and no aggregate was asked for.
pub fn select(
    exposition: &Exposition,
    selector: &Selector,
    aggregate: Option<Aggregate>,
) -> Result<(f64, Kind), String> {
    let values: Vec<f64> = exposition
        .samples
        .iter()
        .filter(|s| {
            s.name == selector.name
                && selector
                    .labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
        .collect();
    let kind = exposition.kind_of(&selector.name);
    let value = match (values.as_slice(), aggregate) {
        ([], _) => {
            return Err(format!("no series matches {selector}"));
        }
        ([one], _) => *one,
        (many, None) => {
            return Err(format!(
            "{} series match {selector}; name more labels, or add aggregate = \"sum\" or \"max\"",
            many.len()
        ))
        }
        (many, Some(Aggregate::Sum)) => many.iter().sum(),
        (many, Some(Aggregate::Max)) => many.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    Ok((value, kind))
}

/// A counter's rate per second between two readings `seconds` apart (a
/// reset — the second reading below the first — counts from zero, as
/// Prometheus's `rate` does).
pub fn counter_rate(first: f64, second: f64, seconds: f64) -> Option<f64> {
    if seconds <= 0.0 {
        return None;
    }
    let grown = if second >= first {
        second - first
    } else {
        second
    };
    Some(grown / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027 1395066363000
http_requests_total{method="post",code="200"} 3
http_requests_total{method="get",code="500"} 12
# HELP queue_depth Jobs waiting.
# TYPE queue_depth gauge
queue_depth{queue="default"} 42
queue_depth{queue="slow"} 7
# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="0.05"} 24054
rpc_duration_seconds_bucket{le="+Inf"} 144320
rpc_duration_seconds_sum 53423
rpc_duration_seconds_count 144320
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
memories 116
"#;

    #[test]
    fn samples_labels_escapes_and_types_are_read() {
        let e = parse(TEXT).unwrap();
        assert_eq!(e.samples.len(), 11);
        assert_eq!(e.types["queue_depth"], "gauge");
        let msdos = &e.samples[9];
        assert_eq!(msdos.labels[0].1, "C:\\DIR\\FILE.TXT");
        assert_eq!(msdos.labels[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(msdos.value, 1.458255915e9);
        assert_eq!(e.samples[6].labels[0].1, "+Inf");
        assert_eq!(
            parse("a +Inf\nb NaN\n").unwrap().samples[0].value,
            f64::INFINITY
        );
    }

    #[test]
    fn a_selector_picks_one_series_or_combines_several() {
        let e = parse(TEXT).unwrap();
        let sel = |s: &str| s.parse::<Selector>().unwrap();
        assert_eq!(
            select(&e, &sel(r#"queue_depth{queue="slow"}"#), None).unwrap(),
            (7.0, Kind::Gauge)
        );
        assert_eq!(
            select(&e, &sel("memories"), None).unwrap(),
            (116.0, Kind::Gauge)
        );
        assert_eq!(
            select(
                &e,
                &sel(r#"http_requests_total{code="200"}"#),
                Some(Aggregate::Sum)
            )
            .unwrap(),
            (1030.0, Kind::Counter)
        );
        assert_eq!(
            select(&e, &sel("queue_depth"), Some(Aggregate::Max))
                .unwrap()
                .0,
            42.0
        );
        let several = select(&e, &sel("queue_depth"), None).unwrap_err();
        assert!(several.contains("2 series match queue_depth"), "{several}");
        let none = select(&e, &sel(r#"queue_depth{queue="x"}"#), None).unwrap_err();
        assert_eq!(none, r#"no series matches queue_depth{queue="x"}"#);
        assert_eq!(e.kind_of("rpc_duration_seconds_count"), Kind::Counter);
        assert!("bad name{".parse::<Selector>().is_err());
    }

    #[test]
    fn a_malformed_line_is_named() {
        let e = parse("# TYPE a gauge\na 1\nb{x=\"1\" 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("a one\n").unwrap_err();
        assert_eq!(e.to_string(), "line 1: 'one' is not a sample value");
    }

    #[test]
    fn counters_become_rates_and_resets_count_from_zero() {
        assert_eq!(counter_rate(100.0, 150.0, 2.0), Some(25.0));
        assert_eq!(counter_rate(100.0, 20.0, 2.0), Some(10.0));
        assert_eq!(counter_rate(1.0, 2.0, 0.0), None);
    }
}
