//! The demo outlets: a deterministic set at real towns, weighted by population,
//! with a plausible reach per kind. No registry package holds real UK outlet
//! data, so this is what a fresh install shows, labelled "demo" everywhere.

use model::geo::OutletKind;

use super::{NewOutlet, Reach};

/// The same sequence on every machine (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.next() % items.len() as u64).unwrap_or(0);
        items[i]
    }
}

/// A town the generator may place an outlet in, with its regions.
pub(crate) struct Place<'a> {
    pub name: &'a str,
    pub lon: f64,
    pub lat: f64,
    pub population: i64,
    pub unit: &'a str,
    pub county: &'a str,
    pub county_name: &'a str,
    pub area: &'a str,
    pub area_name: &'a str,
}

/// `count` outlets; the same places and count give the same outlets.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(crate) fn generate(places: &[Place<'_>], count: usize) -> Vec<NewOutlet> {
    let mut rng = Rng(0x5EED_CAFE);
    let mut cumulative = Vec::with_capacity(places.len());
    let mut total = 0.0;
    for p in places {
        total += (p.population.max(1) as f64).sqrt();
        cumulative.push(total);
    }
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    let mut attempts = 0;
    while out.len() < count && attempts < count * 20 {
        attempts += 1;
        let r = rng.unit() * total;
        let i = cumulative.partition_point(|c| *c < r).min(places.len() - 1);
        let place = &places[i];
        let k = rng.unit();
        let kind = if k < 0.40 {
            OutletKind::Newspaper
        } else if k < 0.70 {
            OutletKind::Radio
        } else if k < 0.80 {
            OutletKind::Tv
        } else {
            OutletKind::Online
        };
        let pop = place.population as f64;
        let (name, audience, reach) = match kind {
            OutletKind::Newspaper => {
                let suffix = rng.pick(&[
                    "Gazette",
                    "Herald",
                    "Echo",
                    "Advertiser",
                    "Chronicle",
                    "Times",
                    "News",
                    "Post",
                    "Mercury",
                    "Observer",
                    "Journal",
                    "Standard",
                ]);
                let wide = rng.unit() < 0.3;
                let reach = if wide {
                    Reach::Regions(vec![place.county.to_owned()])
                } else {
                    Reach::Regions(vec![place.unit.to_owned()])
                };
                (
                    format!("{} {suffix}", place.name),
                    pop * (0.05 + rng.unit() * 0.25),
                    reach,
                )
            }
            OutletKind::Radio => {
                let suffix = rng.pick(&["FM", "Radio", "Sound", "Gold", "Community Radio", "Hits"]);
                let radius = 10.0 + rng.unit() * 50.0;
                (
                    format!("{} {suffix}", place.name),
                    pop * (0.2 + rng.unit() * 0.8) + radius * 500.0,
                    Reach::Circle {
                        radius_km: (radius * 10.0).round() / 10.0,
                    },
                )
            }
            OutletKind::Tv => {
                let area_wide = rng.unit() < 0.3;
                let suffix = rng.pick(&["TV", "Television", "Live", "Tonight"]);
                if area_wide {
                    (
                        format!("{} {suffix}", place.area_name),
                        50_000.0 + rng.unit() * 500_000.0,
                        Reach::Regions(vec![place.area.to_owned()]),
                    )
                } else {
                    (
                        format!("{} {suffix}", place.county_name),
                        20_000.0 + rng.unit() * 200_000.0,
                        Reach::Regions(vec![place.county.to_owned()]),
                    )
                }
            }
            OutletKind::Online => {
                let suffix = rng.pick(&["Live", "Today", "Online", "Daily", "Voice", "Digest"]);
                (
                    format!("{} {suffix}", place.name),
                    1_000.0 + pop * (0.05 + rng.unit() * 0.2),
                    Reach::Regions(vec![place.area.to_owned()]),
                )
            }
        };
        if !names.insert(name.clone()) {
            continue;
        }
        out.push(NewOutlet {
            name,
            kind,
            town: place.name.to_owned(),
            lon: place.lon,
            lat: place.lat,
            audience: audience.round() as i64,
            reach,
            source: "demo".into(),
        });
    }
    out
}
