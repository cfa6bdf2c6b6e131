//! The new-migration form, checked whole: every problem at once, each keyed
//! by its field, and the values normalised (domains, servers, services, the
//! window in its time zone).

use std::net::IpAddr;

use model::checklist::NewMigration;
use platform::{error::Problems, Error, Result};
use probe::ServicePort;

use crate::{migrations::DEFAULT_TTL_LIMIT, time};

/// A new migration, checked and normalised.
#[derive(Debug)]
pub(crate) struct Valid {
    pub(crate) name: String,
    pub(crate) domains: Vec<String>,
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) services: Vec<ServicePort>,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) zone: String,
    pub(crate) owner: String,
    pub(crate) ttl_limit: u32,
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

fn server_name(field: &str, what: &str, text: &str, problems: &mut Problems) -> String {
    let text = text.trim();
    if text.is_empty() {
        problems.add(
            field,
            format!("give the {what} server (a host name or IP address)"),
        );
        return String::new();
    }
    if text.parse::<IpAddr>().is_ok() {
        return text.to_owned();
    }
    match probe::parse_domain(text) {
        Ok(name) => name,
        Err(_) => {
            problems.add(
                field,
                format!("the {what} server {text:?} is neither an IP address nor a host name"),
            );
            String::new()
        }
    }
}

/// Every problem of the form at once, so a person fixes them in one go.
pub(crate) fn validate(new: &NewMigration) -> Result<Valid> {
    let mut problems = Problems::new();
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 {
        problems.add("name", "give the migration a name of up to 120 characters");
    }
    let mut domains: Vec<String> = Vec::new();
    for word in words(&new.domains) {
        match probe::parse_domain(word) {
            Ok(d) if !domains.contains(&d) => domains.push(d),
            Ok(_) => {}
            Err(e) => problems.add("domains", e.0),
        }
    }
    if domains.is_empty() && !problems.iter().any(|p| p.field == "domains") {
        problems.add("domains", "list at least one domain the migration moves");
    }
    if domains.len() > 100 {
        problems.add("domains", "a migration moves at most 100 names");
    }
    let source = server_name("source_server", "source", &new.source_server, &mut problems);
    let target = server_name("target_server", "target", &new.target_server, &mut problems);
    if !source.is_empty() && source == target {
        problems.add("target_server", "the target server is the source server");
    }
    let mut services: Vec<ServicePort> = Vec::new();
    for word in words(&new.services) {
        match word.parse::<ServicePort>() {
            Ok(s) if !services.iter().any(|t| t.to_string() == s.to_string()) => services.push(s),
            Ok(_) => {}
            Err(e) => problems.add("services", e.0),
        }
    }
    let owner = new.owner.trim().to_owned();
    if owner.is_empty() || owner.chars().count() > 100 {
        problems.add("owner", "say who owns the migration (up to 100 characters)");
    }
    let ttl_limit = match new.ttl_limit.trim() {
        "" => DEFAULT_TTL_LIMIT,
        t => match t.parse::<u32>() {
            Ok(v) if (1..=86_400).contains(&v) => v,
            _ => {
                problems.add(
                    "ttl_limit",
                    format!("the TTL limit {t:?} is not a number of seconds from 1 to 86400"),
                );
                DEFAULT_TTL_LIMIT
            }
        },
    };
    let zone_name = new.time_zone.trim().to_owned();
    let (mut start, mut end) = (0, 0);
    match time::zone(&zone_name) {
        Err(e) => problems.add("time_zone", e.to_string()),
        Ok(tz) => {
            let s = time::parse_local("start", &new.window_start, &zone_name, &tz);
            let e = time::parse_local("end", &new.window_end, &zone_name, &tz);
            match (s, e) {
                (Ok(s), Ok(e)) if e <= s => problems.add(
                    "window_end",
                    format!(
                        "the window ends ({}) before it starts ({}): the end must come after the start",
                        new.window_end.trim(),
                        new.window_start.trim()
                    ),
                ),
                (Ok(s), Ok(e)) => (start, end) = (s, e),
                (s, e) => {
                    if let Err(err) = s {
                        problems.add("window_start", err.to_string());
                    }
                    if let Err(err) = e {
                        problems.add("window_end", err.to_string());
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(Valid {
        name,
        domains,
        source,
        target,
        services,
        start,
        end,
        zone: zone_name,
        owner,
        ttl_limit,
    })
}
