//! The inventory against a real `moto` server on loopback (started by the tests
//! on a free port, seeded through `aws-sdk-ec2` itself, killed when the last test
//! using it ends), plus silent and closed ports for regions that do not answer.
//! A missing `moto_server` fails the test with what installs it.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

const MOTO_DEFAULT: &str = "/var/cache/switchboard/moto-venv/bin/moto_server";
const AMI: &str = "ami-12345678";

pub(crate) fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "moto")
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A running, seeded `moto_server`; killed on drop.
pub(crate) struct Moto {
    child: Child,
    port: u16,
    _log: tempfile::NamedTempFile,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The moto shared by the tests running now: started and seeded by the first,
/// killed when the last one drops it.
static SHARED: tokio::sync::Mutex<Weak<Moto>> = tokio::sync::Mutex::const_new(Weak::new());

impl Moto {
    async fn shared() -> Arc<Self> {
        let mut slot = SHARED.lock().await;
        if let Some(moto) = slot.upgrade() {
            return moto;
        }
        let moto = Arc::new(Self::start().await);
        seed(&moto.endpoint()).await;
        *slot = Arc::downgrade(&moto);
        moto
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn start() -> Self {
        let binary = std::env::var_os("MOTO_SERVER")
            .map_or_else(|| PathBuf::from(MOTO_DEFAULT), PathBuf::from);
        assert!(
            binary.exists(),
            "moto_server missing: `cargo xtask test` installs it (a venv at \
             /var/cache/switchboard/moto-venv with `pip install 'moto[server,ec2]'`), or set \
             MOTO_SERVER; looked for {}",
            binary.display()
        );
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let started = Instant::now();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("moto log"))
            .stderr(log.reopen().expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let mut moto = Self {
            child,
            port,
            _log: log,
        };
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = std::fs::read_to_string(moto._log.path()).unwrap_or_default();
                panic!("moto_server exited early ({status}): {}", log.trim());
            }
            if http_get(port, "/moto-api/").await.is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not answer on port {port} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("moto: up on port {port} after {:?}", started.elapsed());
        moto
    }
}

/// The status line of a GET, if something answered.
async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next()?.to_owned();
    status.starts_with("HTTP/").then_some(status)
}

/// A client of the test's own for seeding, patient with moto's slow first call.
pub(crate) fn seed_client(endpoint: &str, region: &str) -> Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .http_client(http_client())
        .timeout_config(timeouts(Duration::from_secs(60)))
        .build();
    Client::from_conf(config)
}

/// Runs one instance in its own reservation (moto pages by reservation).
pub(crate) async fn run_one(client: &Client, tags: &[(&str, &str)]) -> String {
    let mut run = client
        .run_instances()
        .image_id(AMI)
        .min_count(1)
        .max_count(1);
    if !tags.is_empty() {
        let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
        }
        run = run.tag_specifications(spec.build());
    }
    let out = run.send().await.expect("RunInstances on moto");
    out.instances()[0]
        .instance_id()
        .expect("an instance id")
        .to_owned()
}

/// us-east-1: 12 single-instance reservations (the first three `Role=web`);
/// eu-west-1: two, the first terminated, the second `Role=db`;
/// ap-southeast-2: one, `Role=web`, `Env=prod`.
async fn seed(endpoint: &str) {
    let started = Instant::now();
    let use1 = seed_client(endpoint, "us-east-1");
    // The first EC2 call to moto is slow (it loads its data): time it alone.
    use1.describe_instances()
        .send()
        .await
        .expect("first DescribeInstances on moto");
    eprintln!("moto: first EC2 call took {:?}", started.elapsed());
    let started = Instant::now();
    for i in 0..12 {
        let name = format!("use1-{i:02}");
        let mut tags = vec![("Name", name.as_str())];
        if i < 3 {
            tags.push(("Role", "web"));
        }
        run_one(&use1, &tags).await;
    }
    let euw1 = seed_client(endpoint, "eu-west-1");
    let gone = run_one(&euw1, &[("Name", "gone")]).await;
    run_one(&euw1, &[("Role", "db"), ("Name", "db-1")]).await;
    euw1.terminate_instances()
        .instance_ids(gone)
        .send()
        .await
        .expect("TerminateInstances on moto");
    let apse2 = seed_client(endpoint, "ap-southeast-2");
    run_one(&apse2, &[("Role", "web"), ("Env", "prod")]).await;
    eprintln!("moto: seeding took {:?}", started.elapsed());
}

fn settings(moto: &Moto, regions: &[&str]) -> AwsSettings {
    AwsSettings {
        regions: Some(regions.iter().map(|&r| r.to_owned()).collect()),
        discovery_region: "us-east-1".into(),
        ignore_regions: Vec::new(),
        tag_filters: BTreeMap::new(),
        region_timeout: Duration::from_secs(3),
        endpoint: Some(moto.endpoint()),
        region_endpoints: BTreeMap::new(),
        page_size: None,
    }
}

async fn timed_collect(
    settings: &AwsSettings,
    previous: Option<&Inventory>,
) -> (Inventory, Duration) {
    let started = Instant::now();
    let inventory = collect(settings, previous, Some(credentials())).await;
    let took = started.elapsed();
    eprintln!("collect took {took:?}: {}", summary(&inventory));
    (inventory, took)
}

fn summary(inventory: &Inventory) -> String {
    let regions: Vec<String> = inventory
        .regions
        .iter()
        .map(|r| {
            format!(
                "{} {} instances, {} pages, {} ms{}",
                r.region,
                r.instances.len(),
                r.pages,
                r.took_ms,
                r.error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("{:?} [{}]", inventory.error, regions.join("; "))
}

fn region<'a>(inventory: &'a Inventory, name: &str) -> &'a RegionReport {
    inventory
        .regions
        .iter()
        .find(|r| r.region == name)
        .unwrap_or_else(|| panic!("no report for {name}: {}", summary(inventory)))
}

fn names(inventory: &Inventory) -> Vec<&str> {
    inventory
        .regions
        .iter()
        .map(|r| r.region.as_str())
        .collect()
}

fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A port that accepts connections and never answers; the task holds them open.
pub(crate) async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a silent port");
    let port = listener.local_addr().expect("local addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (format!("http://127.0.0.1:{port}"), task)
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs moto_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn reads_configured_regions_with_pages_states_and_tags() {
    let moto = Moto::shared().await;
    let mut s = settings(
        &moto,
        &["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"],
    );
    s.ignore_regions = vec!["us-west-2".into()];
    s.page_size = Some(5);
    let before = now_ms();
    let (inv, _) = timed_collect(&s, None).await;
    assert_eq!(inv.error, None);
    assert!(inv.taken_ms >= before && inv.taken_ms <= now_ms());
    assert_eq!(names(&inv), ["ap-southeast-2", "eu-west-1", "us-east-1"]);
    assert!(inv.failed().next().is_none(), "{}", summary(&inv));

    let use1 = region(&inv, "us-east-1");
    assert_eq!(use1.instances.len(), 12);
    assert!(
        use1.pages >= 3,
        "12 reservations in pages of 5: {}",
        use1.pages
    );
    assert_eq!(use1.carried_from_ms, None);
    let ids: Vec<&str> = use1.instances.iter().map(|i| i.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "instances sorted by id");
    for i in &use1.instances {
        assert_eq!(i.region, "us-east-1");
        assert_eq!(i.state, "running");
        let ip = i
            .public_ip
            .as_deref()
            .expect("a running instance has a public ip");
        assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
        assert!(
            i.public_dns.as_deref().is_some_and(|d| !d.is_empty()),
            "{i:?}"
        );
        assert!(
            tag(i, "Name").is_some_and(|n| n.starts_with("use1-")),
            "{i:?}"
        );
    }
    assert_eq!(
        use1.instances
            .iter()
            .filter(|i| tag(i, "Role") == Some("web"))
            .count(),
        3
    );

    let euw1 = region(&inv, "eu-west-1");
    assert_eq!(euw1.instances.len(), 2);
    let gone = euw1
        .instances
        .iter()
        .find(|i| tag(i, "Name") == Some("gone"))
        .expect("the terminated instance is listed");
    assert_eq!(gone.state, "terminated");
    assert_eq!(gone.public_ip, None);
    let db = euw1
        .instances
        .iter()
        .find(|i| tag(i, "Name") == Some("db-1"))
        .expect("the running instance");
    assert_eq!(db.state, "running");
    assert!(db.public_ip.is_some() && db.public_dns.is_some(), "{db:?}");
    assert_eq!(
        db.tags,
        [
            ("Name".to_owned(), "db-1".to_owned()),
            ("Role".to_owned(), "db".to_owned())
        ],
        "tags sorted by key"
    );

    let apse2 = region(&inv, "ap-southeast-2");
    assert_eq!(apse2.instances.len(), 1);
    assert_eq!(
        apse2.instances[0].tags,
        [
            ("Env".to_owned(), "prod".to_owned()),
            ("Role".to_owned(), "web".to_owned())
        ]
    );
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs moto_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn tag_filters_select_only_matching_instances() {
    let moto = Moto::shared().await;
    let mut s = settings(&moto, &["us-east-1", "eu-west-1", "ap-southeast-2"]);
    s.tag_filters = BTreeMap::from([("Role".to_owned(), vec!["web".to_owned(), "db".to_owned()])]);
    let (inv, _) = timed_collect(&s, None).await;
    assert!(inv.failed().next().is_none(), "{}", summary(&inv));
    assert_eq!(region(&inv, "us-east-1").instances.len(), 3);
    assert_eq!(region(&inv, "eu-west-1").instances.len(), 1);
    assert_eq!(region(&inv, "ap-southeast-2").instances.len(), 1);

    // Every key must match: Role=web and Env=prod is only the Sydney one.
    s.tag_filters
        .insert("Env".to_owned(), vec!["prod".to_owned()]);
    s.tag_filters
        .insert("Role".to_owned(), vec!["web".to_owned()]);
    let (inv, _) = timed_collect(&s, None).await;
    let all: Vec<&Instance> = inv.instances().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].region, "ap-southeast-2");
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs moto_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn a_silent_or_closed_region_fails_alone_and_carries_what_was_seen() {
    let moto = Moto::shared().await;
    let (silent, silent_task) = silent_endpoint().await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut s = settings(&moto, &["us-east-1", "eu-west-1", "ap-southeast-2"]);
    // Twice the default: moto answers one request at a time, and on a loaded
    // machine (a CI build beside the tests) the good region needs the headroom.
    s.region_timeout = Duration::from_secs(6);

    // A good inventory first, to carry from.
    let (good, _) = timed_collect(&s, None).await;
    assert!(good.failed().next().is_none(), "{}", summary(&good));

    let mut broken = s.clone();
    broken
        .region_endpoints
        .insert("eu-west-1".into(), silent.clone());
    broken
        .region_endpoints
        .insert("ap-southeast-2".into(), closed.clone());

    // Without a previous inventory: errors, nothing to carry, the others read.
    let (inv, took) = timed_collect(&broken, None).await;
    assert!(
        took < s.region_timeout + Duration::from_millis(1500),
        "a silent region must not hold the inventory much past its timeout: {took:?}"
    );
    let euw1 = region(&inv, "eu-west-1");
    assert_eq!(
        euw1.error.as_deref(),
        Some("timed out after 6 s"),
        "{}",
        summary(&inv)
    );
    assert!(
        euw1.took_ms >= 5900 && euw1.took_ms < 7500,
        "{}",
        euw1.took_ms
    );
    assert!(euw1.instances.is_empty());
    assert_eq!(euw1.carried_from_ms, None);
    let apse2 = region(&inv, "ap-southeast-2");
    let why = apse2.error.as_deref().expect("a closed port is an error");
    assert!(why.starts_with("could not connect"), "{why}");
    assert!(
        !why.contains('\n') && why.chars().count() <= MAX_ERROR_LEN + 1,
        "{why}"
    );
    assert!(why.contains("Connection refused"), "{why}");
    assert!(apse2.instances.is_empty());
    let use1 = region(&inv, "us-east-1");
    assert_eq!(use1.error, None);
    assert_eq!(use1.instances.len(), 12);
    assert_eq!(inv.error, None);

    // With the good one before: the failed regions keep its instances.
    let (carried, _) = timed_collect(&broken, Some(&good)).await;
    for name in ["eu-west-1", "ap-southeast-2"] {
        let r = region(&carried, name);
        assert!(r.error.is_some());
        assert_eq!(r.instances, region(&good, name).instances, "{name}");
        assert_eq!(r.carried_from_ms, Some(good.taken_ms), "{name}");
    }
    assert_eq!(region(&carried, "eu-west-1").instances.len(), 2);
    assert_eq!(region(&carried, "us-east-1").carried_from_ms, None);

    // Carried again: still when they were last really seen, not the carrying inventory.
    let (again, _) = timed_collect(&broken, Some(&carried)).await;
    let r = region(&again, "eu-west-1");
    assert_eq!(r.instances.len(), 2);
    assert_eq!(r.carried_from_ms, Some(good.taken_ms));

    // Answering again: read afresh, nothing carried.
    let (back, _) = timed_collect(&s, Some(&again)).await;
    assert!(back.failed().next().is_none(), "{}", summary(&back));
    assert!(back.regions.iter().all(|r| r.carried_from_ms.is_none()));
    silent_task.abort();
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs moto_server: cargo xtask test runs it"
)]
#[tokio::test]
async fn discovers_regions_minus_the_ignored_ones() {
    // A moto of its own: preparing 36 regions keeps moto busy for seconds, which
    // would starve the other tests' requests to a shared one.
    let moto = Moto::start().await;
    seed(&moto.endpoint()).await;
    let mut s = settings(&moto, &[]);
    s.regions = None;
    s.ignore_regions = vec!["eu-west-1".into(), "us-west-2".into()];
    // moto prepares a region's data on its first call there: give those a little longer.
    s.region_timeout = Duration::from_secs(20);
    let (inv, _) = timed_collect(&s, None).await;
    assert_eq!(inv.error, None);
    let listed = names(&inv);
    assert!(listed.len() > 10, "{listed:?}");
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted);
    assert!(listed.contains(&"us-east-1") && listed.contains(&"ap-southeast-2"));
    assert!(!listed.contains(&"eu-west-1") && !listed.contains(&"us-west-2"));
    assert!(inv.failed().next().is_none(), "{}", summary(&inv));
    assert_eq!(region(&inv, "us-east-1").instances.len(), 12);
    assert_eq!(region(&inv, "ap-southeast-2").instances.len(), 1);
}

#[tokio::test]
async fn an_unreadable_region_list_carries_every_previous_region() {
    // No moto needed: the discovery region's endpoint is closed.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let s = AwsSettings {
        regions: None,
        discovery_region: "us-east-1".into(),
        ignore_regions: vec!["sa-east-1".into()],
        tag_filters: BTreeMap::new(),
        region_timeout: Duration::from_secs(3),
        endpoint: Some(closed),
        region_endpoints: BTreeMap::new(),
        page_size: None,
    };
    let seen = Instance {
        region: "eu-west-1".into(),
        id: "i-1".into(),
        state: "running".into(),
        public_ip: Some("203.0.113.7".into()),
        public_dns: None,
        tags: Vec::new(),
    };
    let report =
        |region: &str, instances: Vec<Instance>, error: Option<&str>, carried| RegionReport {
            region: region.into(),
            error: error.map(str::to_owned),
            pages: 1,
            took_ms: 5,
            instances,
            carried_from_ms: carried,
        };
    let previous = Inventory {
        taken_ms: 1_000,
        regions: vec![
            report("eu-west-1", vec![seen.clone()], None, None),
            report("sa-east-1", Vec::new(), None, None),
            report(
                "us-east-1",
                Vec::new(),
                Some("timed out after 3 s"),
                Some(500),
            ),
        ],
        error: None,
    };
    let (inv, took) = timed_collect(&s, Some(&previous)).await;
    assert!(took < Duration::from_secs(4), "{took:?}");
    let why = inv.error.as_deref().expect("the region list failed");
    assert!(
        why.starts_with("could not list the regions: could not connect"),
        "{why}"
    );
    assert_eq!(names(&inv), ["eu-west-1", "us-east-1"]);
    let euw1 = region(&inv, "eu-west-1");
    assert_eq!(euw1.instances, [seen]);
    assert_eq!(euw1.carried_from_ms, Some(1_000));
    assert_eq!(euw1.error.as_deref(), Some(why));
    assert_eq!(region(&inv, "us-east-1").carried_from_ms, Some(500));

    // Without a previous inventory there is nothing to report but why.
    let (inv, _) = timed_collect(&s, None).await;
    assert!(inv.error.is_some() && inv.regions.is_empty());
}

#[test]
fn errors_are_one_short_line() {
    assert_eq!(
        one_line("dispatch failure: io error: Connection refused (os error 111): Connection refused (os error 111)"),
        "dispatch failure: io error: Connection refused (os error 111)"
    );
    let long = one_line(&format!("a\nb: {}", "x".repeat(1000)));
    assert!(long.starts_with("a: b: x") && long.chars().count() <= MAX_ERROR_LEN + 1);
    assert_eq!(timed_out(Duration::from_secs(3)), "timed out after 3 s");
    assert_eq!(
        timed_out(Duration::from_millis(1500)),
        "timed out after 1500 ms"
    );
}
