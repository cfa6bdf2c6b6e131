//! Pools and sites from their backends' states: UP/DEGRADED/DOWN per pool, and
//! whether each site's traffic could fail over to the others.

use std::collections::{BTreeMap, HashMap};

use model::health::{HealthState, PoolRow, PoolState, SiteRow};

/// A pool as stored.
#[derive(Clone, Debug)]
pub struct Pool {
    pub id: i64,
    pub name: String,
    pub site: String,
    pub site_kind: String,
    pub service: String,
    pub needed: u32,
}

/// Counts per pool from `(pool id, state)` of every target (`None`: not checked yet).
#[must_use]
pub fn pools(pools: &[Pool], targets: &[(i64, Option<HealthState>)]) -> Vec<PoolRow> {
    let mut counts: HashMap<i64, (u32, u32, u32)> = HashMap::new();
    for &(pool, state) in targets {
        let c = counts.entry(pool).or_default();
        c.2 += 1;
        match state {
            Some(HealthState::Up) => c.0 += 1,
            Some(HealthState::Down) => c.1 += 1,
            None => {}
        }
    }
    pools
        .iter()
        .map(|p| {
            let (up, down, total) = counts.get(&p.id).copied().unwrap_or_default();
            let state = if total == 0 || up + down == 0 {
                PoolState::Unknown
            } else if up == 0 {
                PoolState::Down
            } else if down > 0 || up < total {
                PoolState::Degraded
            } else {
                PoolState::Up
            };
            PoolRow {
                id: p.id,
                name: p.name.clone(),
                site: p.site.clone(),
                service: p.service.clone(),
                needed: p.needed,
                up,
                down,
                total,
                state,
            }
        })
        .collect()
}

/// Per site: can its traffic move to the other sites? For each service the site
/// runs, the other sites' pools of that service must have at least as many UP
/// backends spare (UP beyond what they need themselves) as the site's pools need.
#[must_use]
pub fn sites(pools: &[Pool], rows: &[PoolRow]) -> Vec<SiteRow> {
    let kinds: BTreeMap<&str, &str> = pools
        .iter()
        .map(|p| (p.site.as_str(), p.site_kind.as_str()))
        .collect();
    kinds
        .iter()
        .map(|(&site, &kind)| {
            let mine: Vec<&PoolRow> = rows.iter().filter(|r| r.site == site).collect();
            let mut services: Vec<&str> = mine.iter().map(|r| r.service.as_str()).collect();
            services.sort_unstable();
            services.dedup();
            let mut can = true;
            let failover = services
                .iter()
                .map(|&service| {
                    let needed: u32 = mine
                        .iter()
                        .filter(|r| r.service == service)
                        .map(|r| r.needed)
                        .sum();
                    let others: Vec<&PoolRow> = rows
                        .iter()
                        .filter(|r| r.site != site && r.service == service)
                        .collect();
                    if others.is_empty() {
                        can = false;
                        return format!("{service}: no other site runs it");
                    }
                    let spare: u32 = others.iter().map(|r| r.up.saturating_sub(r.needed)).sum();
                    if spare < needed {
                        can = false;
                    }
                    format!(
                        "{service}: {spare} spare UP elsewhere, {needed} needed{}",
                        if spare < needed { " (not enough)" } else { "" }
                    )
                })
                .collect();
            SiteRow {
                name: site.to_owned(),
                kind: kind.to_owned(),
                up: mine.iter().map(|r| r.up).sum(),
                total: mine.iter().map(|r| r.total).sum(),
                can_fail_over: can && !services.is_empty(),
                failover,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::{Down, Up};

    fn pool(id: i64, site: &str, service: &str, needed: u32) -> Pool {
        Pool {
            id,
            name: format!("{service}-{site}"),
            site: site.into(),
            site_kind: "datacentre".into(),
            service: service.into(),
            needed,
        }
    }

    #[test]
    fn pools_roll_up_and_sites_fail_over_only_with_spare_capacity_elsewhere() {
        let ps = [
            pool(1, "lon", "web", 2),
            pool(2, "man", "web", 1),
            pool(3, "lon", "mail", 1),
        ];
        let targets = [
            (1, Some(Up)),
            (1, Some(Up)),
            (1, Some(Down)),
            (2, Some(Up)),
            (2, Some(Up)),
            (2, Some(Up)),
            (3, Some(Down)),
        ];
        let rows = pools(&ps, &targets);
        let states: Vec<_> = rows
            .iter()
            .map(|r| (r.up, r.down, r.total, r.state))
            .collect();
        assert_eq!(
            states,
            [
                (2, 1, 3, PoolState::Degraded),
                (3, 0, 3, PoolState::Up),
                (0, 1, 1, PoolState::Down)
            ]
        );
        let s = sites(&ps, &rows);
        assert_eq!(s.len(), 2);
        // London needs 2 web elsewhere; Manchester has 3 UP, needs 1: 2 spare. But
        // nobody else runs mail.
        let lon = &s[0];
        assert_eq!(lon.name, "lon");
        assert!(!lon.can_fail_over);
        assert_eq!(
            lon.failover,
            [
                "mail: no other site runs it",
                "web: 2 spare UP elsewhere, 2 needed"
            ]
        );
        // Manchester needs 1; London has 2 UP and needs 2: nothing spare.
        let man = &s[1];
        assert!(!man.can_fail_over);
        assert_eq!(
            man.failover,
            ["web: 0 spare UP elsewhere, 1 needed (not enough)"]
        );
        // One more UP in London and Manchester can fail over.
        let rows = pools(&ps, &[&targets[..], &[(1, Some(Up))]].concat());
        assert!(sites(&ps, &rows)[1].can_fail_over);
        // Nothing checked yet: unknown, not down.
        assert_eq!(pools(&ps, &[(1, None)])[0].state, PoolState::Unknown);
        assert_eq!(pools(&ps, &[])[1].state, PoolState::Unknown);
    }
}
