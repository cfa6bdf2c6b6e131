//! The EC2 inventory: every region's instances through `aws-sdk-ec2`.
//!
//! [`collect`] reads one [`Inventory`]:
//!
//! - **Which regions.** The configured `aws.regions` when given; otherwise
//!   `DescribeRegions` (the account's enabled regions, `AllRegions=false`) asked in
//!   `aws.discovery_region`. Then `aws.ignore_regions` are taken out, and the list
//!   is sorted and deduplicated. When the region list itself cannot be read, the
//!   inventory says why in [`Inventory::error`] and every region of the previous
//!   inventory is reported as failed, carrying its instances over (see below).
//! - **Each region in parallel**, with a client of its own: the region's endpoint
//!   is `aws.region_endpoints[region]`, else `aws.endpoint`, else AWS's own. Its
//!   instances come from `DescribeInstances` through the paginator (`pages`
//!   counts the pages; `aws.page_size` is sent as `MaxResults`), filtered by
//!   `aws.tag_filters` as `tag:<key>` filters (an instance must carry one of the
//!   values of every key). Every state is kept (`running`, `stopped`,
//!   `terminated`...): deciding which become rules is the planner's business.
//!   Instances are sorted by id, their tags by key; an empty public DNS name
//!   (what EC2 sends for an instance without one) becomes `None`.
//! - **A region never blocks the others.** The whole region (every page) is
//!   bounded by `aws.region_timeout`; the SDK is given the same bound as its
//!   operation timeout (and a connect timeout no longer than it) and at most two
//!   attempts per page, so it gives up by itself too.
//! - **Unknown is not gone.** A region that fails (timed out, could not connect,
//!   an error answer such as denied credentials) gets a short one-line
//!   [`RegionReport::error`], and its `instances` are the ones the previous
//!   inventory had for the same region, with [`RegionReport::carried_from_ms`] =
//!   when they were last really seen: the previous report's own `carried_from_ms`
//!   if it was itself carried over, else the previous inventory's `taken_ms`. So
//!   one unreachable region never removes its instances' rules.
//!
//! Credentials come from the standard AWS chain (environment, profile, web
//! identity, container and instance metadata), loaded by `aws-config`;
//! [`collect`] takes explicit ones instead (the tests' `testing`/`testing`
//! against moto). HTTPS is one hyper 1 client over rustls with ring, as in the
//! rest of the app.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::{
    config::{retry::RetryConfig, timeout::TimeoutConfig, Credentials, Region, SharedHttpClient},
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{Filter, Instance as Ec2Instance},
    Client,
};
use model::firewall::{Instance, Inventory, RegionReport};

use super::config::AwsSettings;

/// The longest error text a region report carries.
const MAX_ERROR_LEN: usize = 300;

/// Reads every region's instances, with `credentials` or (`None`) the standard
/// AWS credential chain (see the module docs). Never fails: what could not be
/// read is said in the inventory, with the previous inventory's instances
/// carried over.
pub async fn collect(
    settings: &AwsSettings,
    previous: Option<&Inventory>,
    credentials: Option<Credentials>,
) -> Inventory {
    let taken_ms = now_ms();
    let sdk = sdk_config(settings, credentials).await;
    let regions = match regions(settings, &sdk).await {
        Ok(regions) => regions,
        Err(why) => {
            let why = format!("could not list the regions: {why}");
            return Inventory {
                taken_ms,
                regions: carried_everywhere(settings, previous, &why),
                error: Some(why),
            };
        }
    };
    let reports = futures_util::future::join_all(
        regions
            .iter()
            .map(|region| read_region(settings, &sdk, region, previous)),
    )
    .await;
    Inventory {
        taken_ms,
        regions: reports,
        error: None,
    }
}

/// The shared SDK config: region (the discovery region, so the loader does not
/// go looking for one), credentials, HTTP client, timeouts and retries.
async fn sdk_config(settings: &AwsSettings, credentials: Option<Credentials>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.discovery_region.clone()))
        .http_client(http_client())
        .timeout_config(timeouts(settings.region_timeout))
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// hyper 1 over rustls with ring (no aws-lc, no second TLS stack).
fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK gives up by itself within the region's bound.
fn timeouts(bound: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(bound.min(Duration::from_secs(2)))
        .operation_attempt_timeout(bound)
        .operation_timeout(bound)
        .build()
}

/// A client for one region, at its endpoint override if any.
fn client(settings: &AwsSettings, sdk: &SdkConfig, region: &str) -> Client {
    let mut config = aws_sdk_ec2::config::Builder::from(sdk).region(Region::new(region.to_owned()));
    if let Some(url) = settings
        .region_endpoints
        .get(region)
        .or(settings.endpoint.as_ref())
    {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// The regions to read: configured, or asked; minus the ignored ones; sorted.
async fn regions(settings: &AwsSettings, sdk: &SdkConfig) -> Result<Vec<String>, String> {
    let mut regions = if let Some(regions) = &settings.regions {
        regions.clone()
    } else {
        let client = client(settings, sdk, &settings.discovery_region);
        let asked = client.describe_regions().all_regions(false).send();
        match tokio::time::timeout(settings.region_timeout, asked).await {
            Err(_) => return Err(timed_out(settings.region_timeout)),
            Ok(Err(e)) => return Err(sdk_error(&e, settings.region_timeout)),
            Ok(Ok(answer)) => answer
                .regions()
                .iter()
                .filter_map(|r| r.region_name().map(str::to_owned))
                .collect(),
        }
    };
    regions.retain(|r| !settings.ignore_regions.contains(r));
    regions.sort();
    regions.dedup();
    Ok(regions)
}

/// One region's report: its instances, or why not with the previous ones.
async fn read_region(
    settings: &AwsSettings,
    sdk: &SdkConfig,
    region: &str,
    previous: Option<&Inventory>,
) -> RegionReport {
    let started = Instant::now();
    let client = client(settings, sdk, region);
    let mut pages = 0_u32;
    let read = describe_instances(settings, &client, region, &mut pages);
    let result = match tokio::time::timeout(settings.region_timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(settings.region_timeout)),
    };
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(mut instances) => {
            instances.sort_by(|a, b| a.id.cmp(&b.id));
            RegionReport {
                region: region.to_owned(),
                error: None,
                pages,
                took_ms,
                instances,
                carried_from_ms: None,
            }
        }
        Err(why) => {
            let (instances, carried_from_ms) = carried(previous, region);
            RegionReport {
                region: region.to_owned(),
                error: Some(why),
                pages,
                took_ms,
                instances,
                carried_from_ms,
            }
        }
    }
}

/// Every page of `DescribeInstances`; `pages` counts the pages read so far.
async fn describe_instances(
    settings: &AwsSettings,
    client: &Client,
    region: &str,
    pages: &mut u32,
) -> Result<Vec<Instance>, String> {
    let filters: Vec<Filter> = settings
        .tag_filters
        .iter()
        .map(|(key, values)| {
            Filter::builder()
                .name(format!("tag:{key}"))
                .set_values(Some(values.clone()))
                .build()
        })
        .collect();
    let mut stream = client
        .describe_instances()
        .set_max_results(settings.page_size)
        .set_filters((!filters.is_empty()).then_some(filters))
        .into_paginator()
        .send();
    let mut instances = Vec::new();
    while let Some(page) = stream.next().await {
        let page = page.map_err(|e| sdk_error(&e, settings.region_timeout))?;
        *pages += 1;
        for reservation in page.reservations() {
            instances.extend(
                reservation
                    .instances()
                    .iter()
                    .filter_map(|i| instance(region, i)),
            );
        }
    }
    Ok(instances)
}

/// The model's instance (`None` for one without an id, which EC2 never sends).
fn instance(region: &str, i: &Ec2Instance) -> Option<Instance> {
    let mut tags: Vec<(String, String)> = i
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    tags.sort();
    Some(Instance {
        region: region.to_owned(),
        id: i.instance_id()?.to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map_or_else(|| "unknown".to_owned(), |n| n.as_str().to_owned()),
        public_ip: i
            .public_ip_address()
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        public_dns: i
            .public_dns_name()
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        tags,
    })
}

/// The previous inventory's instances of `region`, and when they were last really seen.
fn carried(previous: Option<&Inventory>, region: &str) -> (Vec<Instance>, Option<i64>) {
    let Some(prev) = previous else {
        return (Vec::new(), None);
    };
    let Some(report) = prev.regions.iter().find(|r| r.region == region) else {
        return (Vec::new(), None);
    };
    let seen = if report.error.is_some() {
        report.carried_from_ms
    } else {
        Some(prev.taken_ms)
    };
    (report.instances.clone(), seen)
}

/// When the region list could not be read: every previous region (not ignored
/// now), failed, with its instances carried over.
fn carried_everywhere(
    settings: &AwsSettings,
    previous: Option<&Inventory>,
    why: &str,
) -> Vec<RegionReport> {
    let Some(prev) = previous else {
        return Vec::new();
    };
    let regions: BTreeMap<&str, ()> = prev
        .regions
        .iter()
        .filter(|r| !settings.ignore_regions.contains(&r.region))
        .map(|r| (r.region.as_str(), ()))
        .collect();
    regions
        .into_keys()
        .map(|region| {
            let (instances, carried_from_ms) = carried(previous, region);
            RegionReport {
                region: region.to_owned(),
                error: Some(why.to_owned()),
                pages: 0,
                took_ms: 0,
                instances,
                carried_from_ms,
            }
        })
        .collect()
}

fn timed_out(bound: Duration) -> String {
    let ms = bound.as_millis();
    if ms.is_multiple_of(1000) {
        format!("timed out after {} s", ms / 1000)
    } else {
        format!("timed out after {ms} ms")
    }
}

/// One short line for an SDK error: what kind of failure, and the cause
/// (`bound`: the timeout the SDK was given).
fn sdk_error<E, R>(err: &SdkError<E, R>, bound: Duration) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let text = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => format!("error answer: {}", causes(e, usize::MAX)),
            }
        }
        SdkError::DispatchFailure(failure) => {
            // The innermost causes say it best ("tcp connect error: Connection
            // refused", "invalid peer certificate: UnknownIssuer"); the outer
            // ones are the HTTP stack's wrappers.
            let cause = failure
                .as_connector_error()
                .map_or_else(|| causes(err, 2), |c| causes(c, 2));
            if failure.is_timeout() {
                format!("timed out: {cause}")
            } else {
                format!("could not connect: {cause}")
            }
        }
        SdkError::TimeoutError(_) => timed_out(bound),
        SdkError::ResponseError(_) => format!("unreadable answer: {}", causes(err, 3)),
        _ => format!("{}", DisplayErrorContext(err)),
    };
    one_line(&text)
}

/// The last `last` distinct messages of an error's chain of causes, `: `-joined.
fn causes(err: &(dyn std::error::Error + 'static), last: usize) -> String {
    let mut chain: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !chain.iter().any(|seen| seen.contains(text.as_str())) {
            chain.push(text);
        }
        next = e.source();
    }
    let skip = chain.len().saturating_sub(last);
    chain[skip..].join(": ")
}

/// On one line, without a cause repeated right after itself, and not too long.
fn one_line(text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(['\n', '\r']).flat_map(|l| l.split(": ")) {
        let part = part.trim();
        if part.is_empty() || parts.last() == Some(&part) {
            continue;
        }
        parts.push(part);
    }
    let mut line = parts.join(": ");
    if line.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
pub(crate) mod inventory_tests;
