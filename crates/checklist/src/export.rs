//! A migration's checklist as Markdown (to paste into a ticket) and CSV (to
//! open in a spreadsheet).

use std::fmt::Write as _;

use model::checklist::{ItemState, Migration};

fn mark(state: ItemState) -> &'static str {
    match state {
        ItemState::Open => "[ ]",
        ItemState::Done => "[x]",
        ItemState::NotApplicable => "[-]",
        ItemState::Blocked => "[!]",
    }
}

/// The checklist as Markdown: a task list per section, with notes, who and when.
#[must_use]
pub fn markdown(m: &Migration) -> String {
    let s = &m.summary;
    let p = &s.progress;
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", s.name);
    let _ = writeln!(out, "- Domains: {}", s.domains.join(", "));
    let _ = writeln!(out, "- From {} to {}", s.source_server, s.target_server);
    let _ = writeln!(out, "- Window: {}", s.window.planned_text);
    if s.window.viewer_text != s.window.planned_text {
        let _ = writeln!(out, "- Window for you: {}", s.window.viewer_text);
    }
    let _ = writeln!(out, "- Owner: {}", s.owner);
    let _ = writeln!(
        out,
        "- Progress: {} of {} settled ({}%), {} blocked\n",
        p.settled(),
        p.total,
        p.percent(),
        p.blocked
    );
    let _ = writeln!(
        out,
        "Legend: [x] done, [-] not applicable, [!] blocked, [ ] open\n"
    );
    for section in &m.sections {
        let _ = writeln!(
            out,
            "## {} ({}/{})\n",
            section.title,
            section.progress.settled(),
            section.progress.total
        );
        for item in &section.items {
            let _ = write!(
                out,
                "- {} {}",
                mark(item.state),
                item.text.replace('\n', " ")
            );
            if let (Some(by), Some(at)) = (&item.changed_by, &item.changed_at) {
                let _ = write!(out, " _({}, {by}, {})_", item.state.label(), at.text);
            }
            out.push('\n');
            if !item.note.is_empty() {
                let _ = writeln!(out, "  > {}", item.note.replace('\n', "\n  > "));
            }
        }
        out.push('\n');
    }
    if !m.checks.is_empty() {
        let _ = writeln!(out, "## Automated checks\n");
        for c in &m.checks {
            let _ = writeln!(
                out,
                "- **{}**: {} — {} ({}, {})",
                c.report.check.label(),
                c.report.verdict.label(),
                c.report.summary,
                c.ran_by,
                c.ran_at.text
            );
            for e in &c.report.evidence {
                let _ = writeln!(
                    out,
                    "  - {}: {} ({})",
                    e.subject,
                    e.detail,
                    e.verdict.label()
                );
            }
        }
    }
    out
}

/// The checklist as CSV, one line per point (UTC times in RFC 3339 with offset).
#[must_use]
pub fn csv(m: &Migration) -> String {
    let rows = m.sections.iter().flat_map(|section| {
        section.items.iter().map(move |item| {
            [
                section.title.as_str(),
                item.text.as_str(),
                item.state.as_str(),
                item.note.as_str(),
                item.changed_by.as_deref().unwrap_or(""),
                item.changed_at.as_ref().map_or("", |t| t.iso.as_str()),
                item.automated_check.map_or("", |c| c.as_str()),
            ]
        })
    });
    platform::csv_out::write(
        &[
            "section",
            "point",
            "state",
            "note",
            "changed_by",
            "changed_at",
            "automated_check",
        ],
        rows,
    )
}
