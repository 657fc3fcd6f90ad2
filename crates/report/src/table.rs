//! Plain-text tables for the terminal: columns padded to their widest
//! cell (counted in characters, not bytes), numbers right-aligned. Pure.

/// The rows as lines, each indented by two spaces; the columns in
/// `left` are left-aligned, the others right-aligned; trailing spaces cut.
pub fn aligned(rows: &[Vec<String>], left: &[usize]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let fill = " ".repeat(widths[c] - cell.chars().count());
                if left.contains(&c) {
                    format!("{cell}{fill}")
                } else {
                    format!("{fill}{cell}")
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters() {
        let rows = vec![
            vec!["N".to_string(), "X".into(), "note".into()],
            vec!["16".into(), "1,412 req/s".into(), "p99 ≥ 11 ms".into()],
        ];
        assert_eq!(
            aligned(&rows, &[2]),
            "   N            X  note\n  16  1,412 req/s  p99 ≥ 11 ms\n"
        );
    }
}
