//! Times for people: stored as UTC seconds, read in a zone named the IANA way
//! (`Europe/London`, `Australia/Melbourne`), never by abbreviation (BST, AEST and
//! EST each mean more than one thing).

use jiff::{
    civil::DateTime,
    tz::{AmbiguousOffset, TimeZone},
    Timestamp, Zoned,
};
use model::checklist::{Shown, Window};

use crate::{Error, Result};

/// The zone called `name`, or a sentence saying it is not one.
///
/// # Errors
/// [`Error::Invalid`] for a name the time zone database does not know.
pub fn zone(name: &str) -> Result<TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid(
            "give the time zone by its IANA name, e.g. Europe/London".into(),
        ));
    }
    TimeZone::get(name).map_err(|_| {
        Error::Invalid(format!(
            "{name:?} is not a time zone: use an IANA name such as Europe/London or Australia/Melbourne"
        ))
    })
}

/// `name` when it is a zone, otherwise `UTC`: for the viewer's zone, which only
/// changes how times read.
#[must_use]
pub fn zone_or_utc(name: &str) -> (String, TimeZone) {
    match zone(name) {
        Ok(tz) => (name.trim().to_owned(), tz),
        Err(_) => ("UTC".to_owned(), TimeZone::UTC),
    }
}

fn zoned(secs: i64, tz: &TimeZone) -> Zoned {
    Timestamp::from_second(secs)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
}

fn day_and_time(z: &Zoned) -> String {
    z.strftime("%a %-d %b %Y %H:%M").to_string()
}

fn offset(z: &Zoned) -> String {
    z.strftime("UTC%:z").to_string()
}

/// The viewer's zone: the one asked for (`?tz=`) when it is one, else the `tz`
/// cookie the page's script sets from the browser (`cookie_headers` are the
/// request's `Cookie` header values), else UTC.
pub fn viewer_zone<'a>(asked: &str, cookie_headers: impl IntoIterator<Item = &'a str>) -> String {
    let asked = asked.trim();
    if !asked.is_empty() && zone(asked).is_ok() {
        return asked.to_owned();
    }
    let cookie = cookie_headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("tz="))
        .map(|c| c.replace("%2F", "/").replace("%2f", "/"))
        .unwrap_or_default();
    zone_or_utc(&cookie).0
}

/// `secs` as read in the zone `name`.
#[must_use]
pub fn shown(secs: i64, name: &str, tz: &TimeZone) -> Shown {
    let z = zoned(secs, tz);
    Shown {
        utc: secs,
        text: format!("{} {name} ({})", day_and_time(&z), offset(&z)),
        iso: z
            .timestamp()
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    }
}

/// A window from `start` to `end` in one zone: the end leaves out the date when
/// it is the same day.
#[must_use]
pub fn window_text(start: i64, end: i64, name: &str, tz: &TimeZone) -> String {
    let (a, b) = (zoned(start, tz), zoned(end, tz));
    let end_text = if a.date() == b.date() {
        b.strftime("%H:%M").to_string()
    } else {
        day_and_time(&b)
    };
    if offset(&a) == offset(&b) {
        format!("{} – {end_text} {name} ({})", day_and_time(&a), offset(&a))
    } else {
        // The clocks change inside the window: say so with both offsets.
        format!(
            "{} ({}) – {end_text} ({}) {name}",
            day_and_time(&a),
            offset(&a),
            offset(&b)
        )
    }
}

/// The window as the viewer reads it, and as it was planned.
#[must_use]
pub fn window(start: i64, end: i64, planned: &str, viewer: &str) -> Window {
    let (planned_name, planned_tz) = zone_or_utc(planned);
    let (viewer_name, viewer_tz) = zone_or_utc(viewer);
    Window {
        start: shown(start, &viewer_name, &viewer_tz),
        end: shown(end, &viewer_name, &viewer_tz),
        planned_text: window_text(start, end, &planned_name, &planned_tz),
        viewer_text: window_text(start, end, &viewer_name, &viewer_tz),
        planned_zone: planned_name,
    }
}

/// A local date and time typed in a form (`2026-12-05T22:00`, or with a space)
/// in the zone `name`, as UTC seconds. A time the clocks skip or repeat there is
/// refused with a sentence saying so, rather than guessed.
///
/// # Errors
/// [`Error::Invalid`] for text that is not a date and time, or a skipped or
/// repeated local time.
pub fn parse_local(what: &str, text: &str, name: &str, tz: &TimeZone) -> Result<i64> {
    let text = text.trim();
    let dt: DateTime = text.replacen(' ', "T", 1).parse().map_err(|_| {
        Error::Invalid(format!(
            "the {what} {text:?} is not a date and time like 2026-12-05T22:00"
        ))
    })?;
    let ambiguous = tz.to_ambiguous_zoned(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => {}
        AmbiguousOffset::Gap { .. } => {
            return Err(Error::Invalid(format!(
                "the {what} {} does not exist in {name}: the clocks go forward then",
                dt.strftime("%Y-%m-%d %H:%M")
            )))
        }
        AmbiguousOffset::Fold { .. } => {
            return Err(Error::Invalid(format!(
                "the {what} {} happens twice in {name}: the clocks go back then; pick a time outside the change",
                dt.strftime("%Y-%m-%d %H:%M")
            )))
        }
    }
    let zoned = ambiguous
        .unambiguous()
        .map_err(|e| Error::Invalid(format!("the {what} {text:?}: {e}")))?;
    Ok(zoned.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_reads_right_in_london_and_melbourne() {
        let tz = zone("Europe/London").expect("zone");
        let start = parse_local("start", "2026-12-05T22:00", "Europe/London", &tz).expect("start");
        let end = parse_local("end", "2026-12-06 02:00", "Europe/London", &tz).expect("end");
        assert_eq!(end - start, 4 * 3600);
        let w = window(start, end, "Europe/London", "Australia/Melbourne");
        assert_eq!(
            w.planned_text,
            "Sat 5 Dec 2026 22:00 – Sun 6 Dec 2026 02:00 Europe/London (UTC+00:00)"
        );
        // Melbourne is on daylight saving time in December: UTC+11.
        assert_eq!(
            w.viewer_text,
            "Sun 6 Dec 2026 09:00 – 13:00 Australia/Melbourne (UTC+11:00)"
        );
        assert_eq!(w.start.iso, "2026-12-06T09:00:00+11:00");
        // In June the same wall time in Melbourne is UTC+10: no abbreviation guesswork.
        let mel = zone("Australia/Melbourne").expect("zone");
        let june =
            parse_local("start", "2026-06-06T09:00", "Australia/Melbourne", &mel).expect("june");
        assert!(shown(june, "Australia/Melbourne", &mel)
            .text
            .ends_with("Australia/Melbourne (UTC+10:00)"));
    }

    #[test]
    fn skipped_and_repeated_local_times_are_refused_with_a_reason() {
        let mel = zone("Australia/Melbourne").expect("zone");
        // 2026-10-04 02:00 -> 03:00 in Melbourne: 02:30 never happens.
        let gap =
            parse_local("start", "2026-10-04T02:30", "Australia/Melbourne", &mel).expect_err("gap");
        assert!(
            gap.to_string()
                .contains("does not exist in Australia/Melbourne"),
            "{gap}"
        );
        // 2026-04-05 03:00 -> 02:00: 02:30 happens twice.
        let fold = parse_local("start", "2026-04-05T02:30", "Australia/Melbourne", &mel)
            .expect_err("fold");
        assert!(fold.to_string().contains("happens twice"), "{fold}");
        let bad = zone("Mars/Olympus_Mons").expect_err("zone");
        assert!(bad.to_string().contains("IANA"), "{bad}");
        let text = parse_local("start", "next tuesday", "UTC", &TimeZone::UTC).expect_err("text");
        assert!(text.to_string().contains("not a date and time"), "{text}");
        assert_eq!(zone_or_utc("Nowhere/Else").0, "UTC");
        // The viewer's zone: asked, else the cookie (URL-encoded by the script), else UTC.
        let cookies = ["sb_session=x; tz=Australia%2FMelbourne"];
        assert_eq!(viewer_zone("", cookies), "Australia/Melbourne");
        assert_eq!(viewer_zone("Europe/London", cookies), "Europe/London");
        assert_eq!(viewer_zone("Mars/Base", ["tz=Nowhere%2FElse"]), "UTC");
    }
}
