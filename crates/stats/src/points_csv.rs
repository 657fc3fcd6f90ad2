//! Reads (concurrency, throughput) pairs from CSV text for `scalewall fit`.
//!
//! First column concurrency, second throughput; further columns are
//! ignored. Fields are separated by commas, semicolons, tabs or spaces. A
//! first row whose first field is not a number is a header. Blank lines and
//! lines starting with `#` are skipped. Every error names its line.

use crate::usl::Point;

/// A CSV problem at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses the text into points.
pub fn parse(text: &str) -> Result<Vec<Point>, CsvError> {
    let mut points = Vec::new();
    let mut seen_row = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed
            .split([',', ';', '\t', ' '])
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        let first_row = !seen_row;
        seen_row = true;
        if first_row
            && fields
                .first()
                .is_some_and(|f| f.trim_matches('"').parse::<f64>().is_err())
        {
            continue; // header
        }
        if fields.len() < 2 {
            return Err(CsvError {
                line,
                message: format!(
                    "expected 2 columns (concurrency, throughput), found {}",
                    fields.len()
                ),
            });
        }
        let number = |column: usize, name: &str| -> Result<f64, CsvError> {
            let field = fields[column].trim_matches('"');
            let value: f64 = field.parse().map_err(|_| CsvError {
                line,
                message: format!("{name} '{field}' (column {}) is not a number", column + 1),
            })?;
            if !value.is_finite() || value <= 0.0 {
                return Err(CsvError {
                    line,
                    message: format!("{name} must be a finite number > 0, got {field}"),
                });
            }
            Ok(value)
        };
        points.push(Point {
            concurrency: number(0, "concurrency")?,
            throughput: number(1, "throughput")?,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_and_separators() {
        let text = "# from a load test\nload,tput\n1,1\n2;1.8868\n4\t3.0769\n\n6 3.5294, extra\n";
        let points = parse(text).unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(
            points[3],
            Point {
                concurrency: 6.0,
                throughput: 3.5294
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("n,x\n1,2\n2,abc\n").unwrap_err().line, 3);
        assert!(parse("1,2\n2,abc\n")
            .unwrap_err()
            .message
            .contains("throughput 'abc'"));
        let zero = parse("1,2\n0,3\n").unwrap_err();
        assert_eq!(
            (zero.line, zero.message.contains("concurrency must be")),
            (2, true)
        );
        assert!(parse("1,2\n2,-3\n")
            .unwrap_err()
            .message
            .contains("throughput must be"));
        assert_eq!(parse("1,2\n2\n").unwrap_err().line, 2);
        // a non-numeric row after the first is an error, not a header
        assert_eq!(parse("1,2\nx,y\n").unwrap_err().line, 2);
    }
}
