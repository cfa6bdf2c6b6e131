//! CSV files the app writes (RFC 4180 through the `csv` crate: every field
//! quoted, CRLF line ends), with spreadsheet formulas defused: the one place
//! that decides both. Reading CSV is the importer's (`atlas::import`), also
//! through the `csv` crate.

use std::borrow::Cow;

/// A cell a spreadsheet would run as a formula gets a leading `'`: one that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's list).
#[must_use]
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV file: the header, then each row, every cell defused and quoted.
#[must_use]
pub fn write<'a, R>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = &'a str>,
{
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail; a cell is text, so the bytes are UTF-8.
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(
            row.into_iter()
                .map(defuse)
                .collect::<Vec<_>>()
                .iter()
                .map(|c| c.as_bytes()),
        );
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_the_rest_left_alone() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(defuse(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["", "plain", "a=b", " =1", "1-2"] {
            assert_eq!(defuse(cell), cell);
        }
    }

    #[test]
    fn quotes_commas_and_line_breaks_survive_a_round_trip() {
        let rows = [
            ["a, b", "say \"hi\"", "two\nlines"],
            ["\t=cmd", "\r@x", "ok"],
        ];
        let text = write(&["x", "y", "z"], rows.iter().map(|r| r.iter().copied()));
        assert!(text.starts_with("\"x\",\"y\",\"z\"\r\n"), "{text}");
        let read: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.expect("record").iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            read,
            [
                vec!["a, b", "say \"hi\"", "two\nlines"],
                vec!["'\t=cmd", "'\r@x", "ok"],
            ]
        );
    }
}
