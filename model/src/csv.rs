//! CSV lines, for the importers and the dataset build.

/// The fields of one CSV line, with RFC 4180 quoting (`"a, b"`, `""` for a quote).
#[must_use]
pub fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = fields.last_mut() {
                    f.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_commas_and_quotes() {
        assert_eq!(
            super::fields(r#"a,"b, c","say ""hi""",,"#),
            ["a", "b, c", r#"say "hi""#, "", ""]
        );
    }
}
