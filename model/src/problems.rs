//! "Every mistake at once": what a form, a file or a request got wrong, each
//! mistake with the field (or line, feature, setting) it is about, so a page
//! can show it beside the field and an API client can key on it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One mistake: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The field, line, feature or setting it is about (`window_end`,
    /// `line 12`, `targets[3].port`); empty when it is about the whole.
    pub field: String,
    /// What is wrong, as a person would say it.
    pub problem: String,
}

/// Every mistake found, in the order found. Validation collects them all
/// before refusing, so one round trip shows everything to fix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// No problems yet.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// One problem about the whole, not a field.
    #[must_use]
    pub fn one(problem: impl Into<String>) -> Self {
        Self::field("", problem)
    }

    /// One problem about `field`.
    #[must_use]
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut p = Self::new();
        p.add(field, problem);
        p
    }

    /// Adds a problem about `field` (empty: the whole).
    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            problem: problem.into(),
        });
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<Problem> for Problems {
    fn from_iter<I: IntoIterator<Item = Problem>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// One line for a log or a one-line message: each problem's sentence, `; `
/// between them (the field is for placing the message, not repeated in it).
impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&p.problem)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_problem_in_order() {
        let mut p = Problems::new();
        assert!(p.is_empty());
        p.add("name", "a name is needed");
        p.add("window_end", "the window ends before it starts");
        assert_eq!(p.len(), 2);
        assert_eq!(
            p.to_string(),
            "a name is needed; the window ends before it starts"
        );
        assert_eq!(
            p.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
            ["name", "window_end"]
        );
    }

    #[test]
    fn serialises_as_a_list_of_field_and_problem() {
        let p = Problems::field("port", "must be 1 to 65535");
        assert_eq!(
            serde_json::to_string(&p).expect("json"),
            r#"[{"field":"port","problem":"must be 1 to 65535"}]"#
        );
    }
}
