//! The pure parts (config, desired rules, plan, rendering and reading back),
//! then the real tools: `iptables` and `nft` inside network namespaces this
//! test creates, with a veth pair and a listener, so an allow rule is proven to
//! admit one address and refuse another.

use model::firewall::{BackendKind, Instance, Inventory, RegionReport, Rule, RuleOrigin};

use super::{config::FirewallConfig, host::Host, iptables, nft, rules};

pub(crate) fn instance(region: &str, id: &str, state: &str, ip: Option<&str>) -> Instance {
    Instance {
        region: region.into(),
        id: id.into(),
        state: state.into(),
        public_ip: ip.map(Into::into),
        public_dns: ip.map(|ip| format!("ec2-{}.compute.example", ip.replace('.', "-"))),
        tags: Vec::new(),
    }
}

pub(crate) fn inventory(instances: Vec<Instance>) -> Inventory {
    Inventory {
        taken_ms: 1,
        regions: vec![RegionReport {
            region: "eu-west-2".into(),
            error: None,
            pages: 1,
            took_ms: 1,
            instances,
            carried_from_ms: None,
        }],
        error: None,
    }
}

fn config(extra: &str) -> FirewallConfig {
    FirewallConfig::parse(&format!(
        r#"{{"backend": "iptables", "ports": [22, 8140],
            "management": {{"source": "192.0.2.3/32", "ports": [22], "comment": "staff"}}
            {extra}}}"#
    ))
    .expect("config")
}

#[test]
fn a_config_with_several_mistakes_names_each_of_them() {
    let err = FirewallConfig::parse(
        r#"{"backend": "iptables", "ports": [22, 70000, 22, 0],
            "static": [{"source": "10.0.0.1/8", "ports": [22], "comment": "office"},
                       {"source": "nonsense", "ports": [], "comment": ""}],
            "aws": {"regions": ["eu-west-2", "Narnia"], "page_size": 2, "region_timeout_ms": 5}}"#,
    )
    .expect_err("invalid");
    let msg = err.to_string();
    for needle in [
        "ports[1]: 70000 is not a port",
        "ports[2]: 22 is listed twice",
        "ports[3]: 0 is not a port",
        "static[0].source: \"10.0.0.1/8\" has host bits set: did you mean 10.0.0.0/8?",
        "static[1].source: \"nonsense\" is not an IPv4 address",
        "static[1].ports: give at least one port",
        "static[1].comment: give the entry a name",
        "management: an entry that always stays",
        "aws.regions: \"Narnia\" is not a region name",
        "aws.page_size: 2 is outside 5..=1000",
        "aws.region_timeout_ms: 5 is outside",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    let err = FirewallConfig::parse(r#"{"backend": "pf"}"#).expect_err("unknown backend");
    assert!(err.to_string().contains("unknown variant `pf`"), "{err}");
    let err = FirewallConfig::parse(r#"{"backend": "export", "ports": ["ssh"]}"#)
        .expect_err("port as a word");
    assert!(
        err.to_string()
            .contains("ports[0]: \"ssh\" is not a port (1-65535)"),
        "{err}"
    );
    // The export backend needs no management entry; defaults are the seed's.
    let ok = FirewallConfig::parse(r#"{"backend": "export"}"#).expect("export");
    assert_eq!(ok.ports, vec![22, 80, 3690, 4949, 8140]);
    assert_eq!(ok.aws.region_timeout, std::time::Duration::from_secs(3));
}

#[test]
fn desired_rules_are_management_static_then_running_instances_once_each() {
    let cfg = config(
        r#", "static": [{"source": "203.0.113.0/24", "ports": [22, 80], "comment": "office"}]"#,
    );
    let inv = inventory(vec![
        instance("eu-west-2", "i-b", "running", Some("198.51.100.7")),
        instance("eu-west-2", "i-a", "running", Some("198.51.100.5")),
        instance("eu-west-2", "i-stopped", "stopped", None),
        instance("eu-west-2", "i-gone", "terminated", Some("198.51.100.9")),
        // Same address as the management entry: its port 22 is already allowed.
        instance("eu-west-2", "i-staff", "running", Some("192.0.2.3")),
    ]);
    let want = rules::desired(&cfg, &inv);
    let shown: Vec<(RuleOrigin, &str, u16)> = want
        .iter()
        .map(|(o, r)| (*o, r.source.as_str(), r.port))
        .collect();
    assert_eq!(
        shown,
        vec![
            (RuleOrigin::Management, "192.0.2.3/32", 22),
            (RuleOrigin::Static, "203.0.113.0/24", 22),
            (RuleOrigin::Static, "203.0.113.0/24", 80),
            (RuleOrigin::Ec2, "192.0.2.3/32", 8140),
            (RuleOrigin::Ec2, "198.51.100.5/32", 22),
            (RuleOrigin::Ec2, "198.51.100.5/32", 8140),
            (RuleOrigin::Ec2, "198.51.100.7/32", 22),
            (RuleOrigin::Ec2, "198.51.100.7/32", 8140),
        ]
    );
    assert_eq!(want[4].1.comment, "EC2 - ec2-198-51-100-5.compute.example");
}

#[test]
fn the_plan_adds_removes_and_counts_what_stays() {
    let r = |s: &str, p: u16, c: &str| Rule {
        source: s.into(),
        port: p,
        comment: c.into(),
    };
    let current = vec![
        r("10.0.0.1/32", 22, "EC2 - a"),
        r("10.0.0.2/32", 22, "EC2 - b"),
    ];
    let desired = vec![
        r("10.0.0.1/32", 22, "EC2 - a"),
        r("10.0.0.3/32", 22, "EC2 - c"),
    ];
    let p = rules::plan(&current, &desired);
    assert_eq!(p.add, vec![r("10.0.0.3/32", 22, "EC2 - c")]);
    assert_eq!(p.remove, vec![r("10.0.0.2/32", 22, "EC2 - b")]);
    assert_eq!(p.unchanged, 1);
    assert_eq!(p.digest.len(), 16);
    let same = rules::plan(&desired, &desired);
    assert!(same.is_empty());
    assert_ne!(same.digest, p.digest);
    // A renamed host is a removal and an addition.
    let renamed = rules::plan(&current[..1], &[r("10.0.0.1/32", 22, "EC2 - a2")]);
    assert_eq!((renamed.add.len(), renamed.remove.len()), (1, 1));
}

#[test]
fn iptables_rules_read_back_as_rendered() {
    let rules = vec![
        Rule {
            source: "192.0.2.3/32".into(),
            port: 22,
            comment: "staff".into(),
        },
        Rule {
            source: "198.51.100.5/32".into(),
            port: 8140,
            comment: "EC2 - ec2-198-51-100-5.compute.example".into(),
        },
    ];
    let script = iptables::render("SB", &rules, false);
    assert!(script.contains("-I INPUT 1 -j SB\n"), "{script}");
    assert!(script.contains(
        "-A SB -s 198.51.100.5/32 -p tcp -m tcp --dport 8140 -m comment --comment \"EC2 - ec2-198-51-100-5.compute.example\" -j ACCEPT"
    ));
    let save = format!(
        "# Generated by iptables-save\n*filter\n:INPUT DROP [0:0]\n:SB - [0:0]\n-A INPUT -j SB\n{}-A SB -s 10.9.9.9/32 -j DROP\nCOMMIT\n",
        script.lines().filter(|l| l.starts_with("-A SB")).map(|l| format!("{l}\n")).collect::<String>()
    );
    let st = iptables::parse("SB", &save);
    assert!(st.exists && st.jumped);
    assert_eq!(st.rules, rules);
    assert_eq!(st.foreign, vec!["-A SB -s 10.9.9.9/32 -j DROP".to_owned()]);
    assert!(!iptables::render("SB", &rules, true).contains("-I INPUT"));
}

#[test]
fn nft_sets_group_sources_by_their_ports() {
    let cfg = config(
        r#", "static": [{"source": "203.0.113.0/24", "ports": [22, 80], "comment": "office"}]"#,
    );
    let inv = inventory(vec![
        instance("eu-west-2", "i-a", "running", Some("198.51.100.5")),
        instance("eu-west-2", "i-b", "running", Some("198.51.100.7")),
    ]);
    let want = rules::desired(&cfg, &inv);
    let script = nft::render("sb", &want, &cfg.managed_ports());
    assert!(
        script.starts_with("table ip sb\ndelete table ip sb\ntable ip sb {\n"),
        "{script}"
    );
    assert!(script.contains("set ec2_p22_8140 {"), "{script}");
    assert!(
        script.contains("set static_p22_80 {\n\t\ttype ipv4_addr\n\t\tflags interval"),
        "{script}"
    );
    assert!(
        script.contains("ip saddr @ec2_p22_8140 tcp dport { 22, 8140 } accept"),
        "{script}"
    );
    assert!(
        script.contains("tcp dport { 22, 80, 8140 } drop"),
        "{script}"
    );
    // nft -j prints single addresses as strings and networks as prefixes.
    let json = r#"{"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "sb"}},
        {"set": {"name": "ec2_p22_8140", "elem": [{"elem": {"val": "198.51.100.5", "comment": "EC2 - x"}}]}},
        {"set": {"name": "static_p22_80", "elem": [{"elem": {"val": {"prefix": {"addr": "203.0.113.0", "len": 24}}, "comment": "office"}}]}},
        {"set": {"name": "mgmt_p22", "elem": ["192.0.2.3"]}}]}"#;
    let st = nft::parse(json).expect("parse");
    assert!(st.exists);
    let got: Vec<(&str, u16, &str)> = st
        .rules
        .iter()
        .map(|r| (r.source.as_str(), r.port, r.comment.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("192.0.2.3/32", 22, ""),
            ("198.51.100.5/32", 22, "EC2 - x"),
            ("198.51.100.5/32", 8140, "EC2 - x"),
            ("203.0.113.0/24", 22, "office"),
            ("203.0.113.0/24", 80, "office"),
        ]
    );
    assert!(nft::parse("not json").is_err());
}

#[test]
fn the_seed_check_adds_what_is_missing_and_never_removes() {
    let saved = "-A INPUT -s 198.51.100.5/32 -p tcp -m tcp --dport 2222 -m comment --comment \"EC2 - a.example\" -j ACCEPT\n";
    let mut a = instance("r", "i-a", "running", Some("198.51.100.5"));
    a.public_dns = Some("a.example".into());
    let cmds = super::seed::plan(saved, &[a], &[22, 80]);
    // `--dport 22` matches the 2222 rule, as the seed's egrep did: only 80 is added.
    assert_eq!(cmds.len(), 1);
    assert!(cmds[0].contains("--dport 80"), "{cmds:?}");
}

// ---------------------------------------------------------------------------
// Real iptables and nft in network namespaces.

/// Two network namespaces joined by a veth pair: `host` (192.0.2.1, where the
/// rules go and a listener waits on port 8140) and `peer`, which holds the
/// addresses connections come from. Removed on drop.
pub(crate) struct Netns {
    pub host: String,
    pub peer: String,
    listener: Option<std::process::Child>,
}

pub(crate) const HOST_ADDR: &str = "192.0.2.1";
pub(crate) const LISTEN_PORT: u16 = 8140;

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    pub(crate) fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}{}{n}", tag, std::process::id() % 100_000);
        let me = Self {
            host: format!("sbh{id}"),
            peer: format!("sbp{id}"),
            listener: None,
        };
        let (vh, vp) = (format!("vh{id}"), format!("vp{id}"));
        ip(&["netns", "add", &me.host]);
        ip(&["netns", "add", &me.peer]);
        ip(&[
            "link", "add", &vh, "netns", &me.host, "type", "veth", "peer", "name", &vp, "netns",
            &me.peer,
        ]);
        ip(&["-n", &me.host, "addr", "add", "192.0.2.1/24", "dev", &vh]);
        ip(&["-n", &me.host, "link", "set", &vh, "up"]);
        ip(&["-n", &me.host, "link", "set", "lo", "up"]);
        ip(&["-n", &me.peer, "link", "set", &vp, "up"]);
        ip(&["-n", &me.peer, "link", "set", "lo", "up"]);
        // Replies to any peer address go back over the veth.
        ip(&["-n", &me.host, "route", "add", "default", "dev", &vh]);
        me
    }

    /// Gives the peer an address to connect from.
    pub(crate) fn peer_address(&self, addr: &str) {
        let dev = self.peer_dev();
        ip(&[
            "-n",
            &self.peer,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            &dev,
        ]);
        ip(&[
            "-n",
            &self.peer,
            "route",
            "replace",
            "192.0.2.0/24",
            "dev",
            &dev,
        ]);
    }

    fn peer_dev(&self) -> String {
        format!("vp{}", &self.peer[3..])
    }

    /// A listener on 192.0.2.1:8140 in the host namespace that accepts and closes.
    pub(crate) fn listen(&mut self) {
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &self.host, "/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                 s.bind(('{HOST_ADDR}',{LISTEN_PORT}))\ns.listen(64)\nprint('ready',flush=True)\n\
                 while True:\n c,_=s.accept()\n c.close()\n"
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("listener");
        let mut child = child;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            use std::io::BufRead as _;
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .expect("ready line");
        }
        assert_eq!(line.trim(), "ready");
        self.listener = Some(child);
    }

    /// Whether a TCP connection from `from` (a peer address) to the listener
    /// gets through within a second.
    pub(crate) fn connects(&self, from: &str) -> bool {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.peer, "/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket,sys\ns=socket.socket()\ns.settimeout(1)\ns.bind(('{from}',0))\n\
                 try:\n s.connect(('{HOST_ADDR}',{LISTEN_PORT}))\nexcept OSError:\n sys.exit(1)\n"
            ))
            .status()
            .expect("client")
            .success()
    }

    /// Whether a TCP connection from the host namespace itself (over `lo`) to
    /// the listener gets through within a second.
    pub(crate) fn connects_locally(&self) -> bool {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.host, "/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket,sys\ns=socket.socket()\ns.settimeout(1)\n\
                 try:\n s.connect(('{HOST_ADDR}',{LISTEN_PORT}))\nexcept OSError:\n sys.exit(1)\n"
            ))
            .status()
            .expect("local client")
            .success()
    }

    /// Runs a command in the host namespace; answers stdout.
    pub(crate) fn host_cmd(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.host])
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.listener.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.host, &self.peer] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

fn backend_config(backend: BackendKind, ns: &Netns) -> FirewallConfig {
    FirewallConfig::parse(&format!(
        r#"{{"backend": "{}", "netns": "{}", "chain": "SB-EC2", "table": "sb", "ports": [8140, 3690],
            "management": {{"source": "192.0.2.9/32", "ports": [22], "comment": "staff"}}}}"#,
        backend.as_str(),
        ns.host
    ))
    .expect("config")
}

/// The ruleset outside the app's chain: what an apply must never touch.
fn outside_chain(save: &str) -> String {
    save.lines()
        .filter(|l| !l.contains("SB-EC2") && !l.starts_with('#'))
        .map(|l| l.rsplit_once(" [").map_or(l, |(h, _)| h))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs root, network namespaces and iptables: cargo xtask test runs it"
)]
#[tokio::test]
async fn iptables_apply_admits_the_instance_refuses_others_and_removes_it_when_gone() {
    let mut ns = Netns::new("i");
    ns.peer_address("198.51.100.5");
    ns.peer_address("198.51.100.6");
    ns.listen();
    // The host is restricted the seed's way: INPUT drops what nothing accepted.
    ns.host_cmd(&["iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
    ns.host_cmd(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT",
    ]);
    ns.host_cmd(&["iptables", "-P", "INPUT", "DROP"]);
    let before = outside_chain(&ns.host_cmd(&["iptables-save"]));
    assert!(!ns.connects("198.51.100.5"), "closed before any rule");

    let cfg = backend_config(BackendKind::Iptables, &ns);
    let host = Host::new(&cfg);
    let inv = inventory(vec![instance(
        "eu-west-2",
        "i-a",
        "running",
        Some("198.51.100.5"),
    )]);
    let want = rules::desired(&cfg, &inv);
    let plain: Vec<Rule> = want.iter().map(|(_, r)| r.clone()).collect();
    let plan = rules::plan(&host.current().await.expect("current").rules, &plain);
    assert_eq!((plan.add.len(), plan.remove.len()), (3, 0));
    host.apply(&want).await.expect("apply");
    assert!(
        ns.connects("198.51.100.5"),
        "the instance's address is admitted"
    );
    assert!(!ns.connects("198.51.100.6"), "another address is refused");
    let saved = ns.host_cmd(&["iptables-save"]);
    assert_eq!(
        outside_chain(&saved),
        before,
        "nothing outside the chain changed except the jump"
    );
    assert_eq!(saved.matches("-A INPUT -j SB-EC2").count(), 1, "{saved}");
    assert!(
        saved.contains("--comment \"EC2 - ec2-198-51-100-5.compute.example\""),
        "{saved}"
    );

    // Applying the same again changes nothing (one jump, same rules).
    host.apply(&want).await.expect("again");
    assert_eq!(
        ns.host_cmd(&["iptables-save"])
            .matches("-A INPUT -j SB-EC2")
            .count(),
        1
    );

    // The instance is terminated: the plan removes its rules, and it is refused.
    let gone = inventory(vec![instance("eu-west-2", "i-a", "terminated", None)]);
    let want = rules::desired(&cfg, &gone);
    let plain: Vec<Rule> = want.iter().map(|(_, r)| r.clone()).collect();
    let plan = rules::plan(&host.current().await.expect("current").rules, &plain);
    assert_eq!(
        (plan.add.len(), plan.remove.len(), plan.unchanged),
        (0, 2, 1)
    );
    host.apply(&want).await.expect("apply removal");
    assert!(
        !ns.connects("198.51.100.5"),
        "refused once the instance is gone"
    );
    let current = host.current().await.expect("current").rules;
    assert_eq!(
        current.len(),
        1,
        "only the management entry stays: {current:?}"
    );
    assert_eq!(current[0].comment, "staff");

    // A transaction the tool refuses leaves the ruleset exactly as it was.
    let whole_before = super::host::strip_iptables_noise(&ns.host_cmd(&["iptables-save"]));
    let bad = "*filter\n:SB-EC2 - [0:0]\n-A SB-EC2 -s 300.1.1.1/32 -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let err = host
        .apply_script(bad, &host.ruleset().await.expect("ruleset"))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("the ruleset is unchanged"),
        "{err}"
    );
    assert!(err.to_string().contains("iptables-restore"), "{err}");
    let whole_after = super::host::strip_iptables_noise(&ns.host_cmd(&["iptables-save"]));
    assert_eq!(whole_before, whole_after);
}

#[cfg_attr(
    not(feature = "system-tests"),
    ignore = "needs root, network namespaces and nft: cargo xtask test runs it"
)]
#[tokio::test]
async fn nft_apply_admits_the_set_closes_the_ports_to_others_and_is_one_transaction() {
    let mut ns = Netns::new("n");
    ns.peer_address("198.51.100.5");
    ns.peer_address("198.51.100.6");
    ns.listen();
    // Someone else's table on the host: never touched.
    ns.host_cmd(&["nft", "add", "table", "inet", "theirs"]);
    ns.host_cmd(&[
        "nft",
        "add",
        "chain",
        "inet",
        "theirs",
        "c",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    ns.host_cmd(&[
        "nft", "add", "rule", "inet", "theirs", "c", "udp", "dport", "53", "accept",
    ]);
    let theirs = ns.host_cmd(&["nft", "list", "table", "inet", "theirs"]);
    assert!(ns.connects("198.51.100.6"), "open before the app's table");

    let cfg = backend_config(BackendKind::Nftables, &ns);
    let host = Host::new(&cfg);
    assert!(host.current().await.expect("no table yet").rules.is_empty());
    let inv = inventory(vec![instance(
        "eu-west-2",
        "i-a",
        "running",
        Some("198.51.100.5"),
    )]);
    let want = rules::desired(&cfg, &inv);
    host.apply(&want).await.expect("apply");
    assert!(
        ns.connects("198.51.100.5"),
        "the instance's address is admitted"
    );
    assert!(
        !ns.connects("198.51.100.6"),
        "the managed port is closed to others"
    );
    assert!(
        ns.connects_locally(),
        "the host's own services still reach a managed port over lo"
    );
    assert_eq!(
        ns.host_cmd(&["nft", "list", "table", "inet", "theirs"]),
        theirs
    );
    let mut got = host.current().await.expect("current").rules;
    got.sort();
    let mut plain: Vec<Rule> = want.iter().map(|(_, r)| r.clone()).collect();
    plain.sort();
    assert_eq!(got, plain, "read back equals rendered");

    let gone = inventory(Vec::new());
    host.apply(&rules::desired(&cfg, &gone))
        .await
        .expect("apply removal");
    assert!(
        !ns.connects("198.51.100.5"),
        "refused once the instance is gone"
    );

    // A refused transaction changes nothing at all.
    let before = host.ruleset().await.expect("ruleset");
    let bad = "table ip sb\ndelete table ip sb\ntable ip sb {\n\tchain input {\n\t\tip saddr @missing accept\n\t}\n}\n";
    let err = host.apply_script(bad, &before).await.expect_err("refused");
    assert!(
        err.to_string().contains("the ruleset is unchanged"),
        "{err}"
    );
    assert_eq!(host.ruleset().await.expect("after"), before);
}
