//! Times for people: stored as UTC seconds, read in a zone named the IANA way
//! (`Europe/London`, `Australia/Melbourne`), never by abbreviation (BST, AEST and
//! EST each mean more than one thing).
//!
//! The seed's trap: `EST` *is* a name in the time zone database (a fixed UTC-5
//! with no daylight saving), so an Australian who types the abbreviation their
//! clock shows would silently get New York's winter. A name a person types is
//! therefore checked against [`ABBREVIATIONS`] first and refused with the zones it
//! may have meant, whether or not the database knows it. A zone already stored
//! (planned under older rules) still reads as the database says: refusing it
//! later would hide a migration's window.

use jiff::{
    civil::DateTime,
    tz::{AmbiguousOffset, TimeZone},
    Timestamp, Zoned,
};
use model::checklist::{Shown, Window};

use crate::{Error, Result};

/// An abbreviation people write for a zone, what it stands for, and the IANA
/// zones it may mean (most likely first).
#[derive(Clone, Copy, Debug)]
pub struct Abbreviation {
    pub abbr: &'static str,
    pub means: &'static str,
    pub zones: &'static [&'static str],
}

const fn abbr(
    abbr: &'static str,
    means: &'static str,
    zones: &'static [&'static str],
) -> Abbreviation {
    Abbreviation { abbr, means, zones }
}

/// Abbreviations refused as zone names, whether or not the time zone database
/// knows them (`EST`, `MST`, `HST`, `CET`, `EET`, `MET`, `WET` and the POSIX
/// `EST5EDT` family are names there; the rest are not, but a person typing one
/// deserves the zones they may have meant rather than "not a time zone").
pub const ABBREVIATIONS: &[Abbreviation] = &[
    abbr(
        "EST",
        "US Eastern or Australian Eastern",
        &[
            "America/New_York",
            "Australia/Sydney",
            "Australia/Melbourne",
            "Australia/Brisbane",
        ],
    ),
    abbr(
        "EDT",
        "US Eastern or Australian Eastern summer",
        &[
            "America/New_York",
            "Australia/Sydney",
            "Australia/Melbourne",
        ],
    ),
    abbr(
        "AEST",
        "Australian Eastern",
        &[
            "Australia/Sydney",
            "Australia/Melbourne",
            "Australia/Brisbane",
        ],
    ),
    abbr(
        "AEDT",
        "Australian Eastern summer",
        &["Australia/Sydney", "Australia/Melbourne"],
    ),
    abbr(
        "ACST",
        "Australian Central",
        &["Australia/Adelaide", "Australia/Darwin"],
    ),
    abbr("ACDT", "Australian Central summer", &["Australia/Adelaide"]),
    abbr("AWST", "Australian Western", &["Australia/Perth"]),
    abbr(
        "CST",
        "US Central, China or Cuba",
        &[
            "America/Chicago",
            "Asia/Shanghai",
            "America/Havana",
            "Australia/Adelaide",
        ],
    ),
    abbr(
        "CDT",
        "US Central or Cuba summer",
        &["America/Chicago", "America/Havana"],
    ),
    abbr(
        "MST",
        "US Mountain (with or without summer time)",
        &["America/Denver", "America/Phoenix"],
    ),
    abbr("MDT", "US Mountain summer", &["America/Denver"]),
    abbr(
        "PST",
        "US Pacific or the Philippines",
        &["America/Los_Angeles", "Asia/Manila"],
    ),
    abbr("PDT", "US Pacific summer", &["America/Los_Angeles"]),
    abbr("HST", "Hawaii", &["Pacific/Honolulu"]),
    abbr("AKST", "Alaska", &["America/Anchorage"]),
    abbr(
        "AST",
        "Atlantic or Arabia",
        &["America/Halifax", "Asia/Riyadh", "America/Puerto_Rico"],
    ),
    abbr("ADT", "Atlantic summer", &["America/Halifax"]),
    abbr("NST", "Newfoundland", &["America/St_Johns"]),
    abbr(
        "IST",
        "India, Ireland or Israel",
        &["Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem"],
    ),
    abbr(
        "BST",
        "British summer or Bangladesh",
        &["Europe/London", "Asia/Dhaka"],
    ),
    abbr(
        "WET",
        "Western European",
        &["Europe/Lisbon", "Atlantic/Canary"],
    ),
    abbr(
        "WEST",
        "Western European summer",
        &["Europe/Lisbon", "Atlantic/Canary"],
    ),
    abbr(
        "CET",
        "Central European",
        &["Europe/Paris", "Europe/Berlin", "Europe/Madrid"],
    ),
    abbr(
        "CEST",
        "Central European summer",
        &["Europe/Paris", "Europe/Berlin", "Europe/Madrid"],
    ),
    abbr("MET", "Middle European", &["Europe/Paris", "Europe/Berlin"]),
    abbr(
        "MEST",
        "Middle European summer",
        &["Europe/Paris", "Europe/Berlin"],
    ),
    abbr(
        "EET",
        "Eastern European",
        &["Europe/Athens", "Europe/Helsinki", "Europe/Bucharest"],
    ),
    abbr(
        "EEST",
        "Eastern European summer",
        &["Europe/Athens", "Europe/Helsinki", "Europe/Bucharest"],
    ),
    abbr("MSK", "Moscow", &["Europe/Moscow"]),
    abbr("SAST", "South Africa", &["Africa/Johannesburg"]),
    abbr("JST", "Japan", &["Asia/Tokyo"]),
    abbr("KST", "Korea", &["Asia/Seoul"]),
    abbr("HKT", "Hong Kong", &["Asia/Hong_Kong"]),
    abbr("SGT", "Singapore", &["Asia/Singapore"]),
    abbr(
        "SST",
        "Samoa or Singapore",
        &["Pacific/Pago_Pago", "Asia/Singapore"],
    ),
    abbr("NZST", "New Zealand", &["Pacific/Auckland"]),
    abbr("NZDT", "New Zealand summer", &["Pacific/Auckland"]),
    abbr(
        "EST5EDT",
        "US Eastern rules without local history",
        &["America/New_York"],
    ),
    abbr(
        "CST6CDT",
        "US Central rules without local history",
        &["America/Chicago"],
    ),
    abbr(
        "MST7MDT",
        "US Mountain rules without local history",
        &["America/Denver"],
    ),
    abbr(
        "PST8PDT",
        "US Pacific rules without local history",
        &["America/Los_Angeles"],
    ),
];

/// The abbreviation `name` is (any case), if it is one.
#[must_use]
pub fn abbreviation(name: &str) -> Option<&'static Abbreviation> {
    let name = name.trim();
    ABBREVIATIONS
        .iter()
        .find(|a| a.abbr.eq_ignore_ascii_case(name))
}

/// "A, B or C".
fn one_of(zones: &[&str]) -> String {
    match zones {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The zone called `name` as a person typed it, or a sentence saying it is not
/// one: an abbreviation is refused with the zones it may mean.
///
/// # Errors
/// [`Error::Invalid`] for an abbreviation or a name the time zone database does
/// not know.
pub fn zone(name: &str) -> Result<TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid(
            "give the time zone by its IANA name, e.g. Europe/London",
        ));
    }
    if name.len() > 64 {
        return Err(Error::invalid(
            "a time zone name is at most 64 characters: use an IANA name such as Europe/London",
        ));
    }
    if let Some(a) = abbreviation(name) {
        return Err(Error::invalid(format!(
            "{name:?} is an abbreviation ({}), not an IANA time zone name, and abbreviations mean different things in different places: did you mean {}?",
            a.means,
            one_of(a.zones)
        )));
    }
    TimeZone::get(name).map_err(|_| {
        Error::invalid(format!(
            "{name:?} is not a time zone: use an IANA name such as Europe/London or Australia/Melbourne"
        ))
    })
}

/// `name` when it is a zone a person may choose, otherwise `UTC`: for the
/// viewer's zone, which only changes how times read.
#[must_use]
pub fn zone_or_utc(name: &str) -> (String, TimeZone) {
    match zone(name) {
        Ok(tz) => (name.trim().to_owned(), tz),
        Err(_) => ("UTC".to_owned(), TimeZone::UTC),
    }
}

/// A zone read back from the database: whatever the time zone database knows
/// by that name (a window planned before abbreviations were refused still reads
/// as it was planned), else UTC.
#[must_use]
pub fn stored_zone_or_utc(name: &str) -> (String, TimeZone) {
    let name = name.trim();
    match TimeZone::get(name) {
        Ok(tz) if !name.is_empty() => (name.to_owned(), tz),
        _ => ("UTC".to_owned(), TimeZone::UTC),
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
    let (planned_name, planned_tz) = stored_zone_or_utc(planned);
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
        Error::invalid(format!(
            "the {what} {text:?} is not a date and time like 2026-12-05T22:00"
        ))
    })?;
    let ambiguous = tz.to_ambiguous_zoned(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => {}
        AmbiguousOffset::Gap { .. } => {
            return Err(Error::invalid(format!(
                "the {what} {} does not exist in {name}: the clocks go forward then",
                dt.strftime("%Y-%m-%d %H:%M")
            )))
        }
        AmbiguousOffset::Fold { .. } => {
            return Err(Error::invalid(format!(
                "the {what} {} happens twice in {name}: the clocks go back then; pick a time outside the change",
                dt.strftime("%Y-%m-%d %H:%M")
            )))
        }
    }
    let zoned = ambiguous
        .unambiguous()
        .map_err(|e| Error::invalid(format!("the {what} {text:?}: {e}")))?;
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

    #[test]
    fn abbreviations_are_refused_with_the_zones_they_may_mean() {
        // The seed's trap: EST is a database name (fixed UTC-5), so it would
        // have been taken as US Eastern for an Australian.
        assert!(
            TimeZone::get("EST").is_ok(),
            "the trap exists in the database"
        );
        let est = zone("EST").expect_err("EST").to_string();
        assert!(
            est.contains("did you mean America/New_York, Australia/Sydney"),
            "{est}"
        );
        assert!(est.contains("abbreviation"), "{est}");
        for name in [
            "est", " Cst ", "IST", "BST", "MST", "HST", "CET", "EST5EDT", "AEDT",
        ] {
            let e = zone(name).expect_err(name).to_string();
            assert!(e.contains("did you mean"), "{name}: {e}");
        }
        assert!(zone("IST")
            .expect_err("IST")
            .to_string()
            .contains("Asia/Kolkata, Europe/Dublin or Asia/Jerusalem"));
        // Every zone suggested is one the database knows and we accept.
        for a in ABBREVIATIONS {
            assert!(!a.zones.is_empty(), "{}", a.abbr);
            for z in a.zones {
                assert!(zone(z).is_ok(), "{} suggests {z}", a.abbr);
            }
        }
        // Real names that look short still pass; UTC and GMT mean one thing.
        for ok in [
            "UTC",
            "GMT",
            "Etc/GMT-11",
            "Australia/Sydney",
            "America/New_York",
        ] {
            assert!(zone(ok).is_ok(), "{ok}");
        }
        // A viewer asking for EST reads UTC (no guess); a window stored with
        // EST before this rule still reads as planned.
        assert_eq!(viewer_zone("EST", ["tz=EST"]), "UTC");
        let w = window(0, 3600, "EST", "UTC");
        assert!(
            w.planned_text.contains("EST (UTC-05:00)"),
            "{}",
            w.planned_text
        );
        assert!(zone(&"A".repeat(65)).is_err());
    }
}
