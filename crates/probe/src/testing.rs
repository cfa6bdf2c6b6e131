//! Real peers for tests, shared with the health crate's tests: dnsmasq and
//! `openssl s_server` on loopback, a throwaway test CA. A missing binary fails
//! the test with what installs it (`cargo xtask test` installs them all).
#![allow(clippy::missing_panics_doc)]

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A peer process, killed when the test ends (passing or not).
pub struct Peer {
    pub child: Child,
    pub what: &'static str,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Fails the test when the peer has already exited (bad arguments, port taken).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("{} exited early ({status}): {}", self.what, err.trim());
        }
    }
}

/// Fails the test (never skips it) when a peer's binary is missing.
pub fn require(what: &str, path: &str, install: &str) {
    let found = if path.contains('/') {
        Path::new(path).exists()
    } else {
        Command::new(path)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    assert!(
        found,
        "{what} missing: `cargo xtask test` installs {install} (or apt-get install -y {install}); looked for {path}"
    );
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Waits until something accepts TCP on `port`.
pub async fn wait_for_tcp(port: u16, peer: &mut Peer) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return;
        }
        peer.assert_running();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{} did not accept connections on port {port} within 5 s",
        peer.what
    );
}

/// dnsmasq on loopback; killed on drop.
pub struct Dns {
    _peer: Peer,
    _dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

/// dnsmasq answering for `example.test`: `low` (A 127.0.0.1, TTL 60), `high`
/// (A 127.0.0.1, TTL 3600), `elsewhere` (A 192.0.2.50, TTL 60), `www` (CNAME low,
/// TTL 120); other names NXDOMAIN.
pub async fn dnsmasq() -> Dns {
    require("dnsmasq", DNSMASQ, "dnsmasq-base");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(DNSMASQ)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--user=root",
            &format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()),
            // Unknown names in the test zone are NXDOMAIN, not REFUSED (no upstream).
            "--local=/example.test/",
            "--host-record=low.example.test,127.0.0.1,60",
            "--host-record=high.example.test,127.0.0.1,3600",
            "--host-record=elsewhere.example.test,192.0.2.50,60",
            "--cname=www.example.test,low.example.test,120",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dnsmasq");
    let mut peer = Peer {
        child,
        what: "dnsmasq",
    };
    wait_for_tcp(port, &mut peer).await;
    Dns {
        _peer: peer,
        _dir: dir,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    }
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `YYYYMMDDHHMMSSZ`, `days` from now.
pub fn asn1_date(days: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(days * 24);
    t.strftime("%Y%m%d%H%M%SZ").to_string()
}

/// A test CA and a leaf for www.example.test signed by it, valid from..until (days from now).
pub fn leaf(dir: &Path, name: &str, from: i64, until: i64) -> (PathBuf, PathBuf) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=www.example.test",
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &csr,
            "-out",
            &pem,
            "-startdate",
            &asn1_date(from),
            "-enddate",
            &asn1_date(until),
            "-extfile",
            "ext.cnf",
        ],
    );
    (dir.join(pem), dir.join(key))
}

/// A test CA in `d` (`ca.pem`, `ca.key`, `ca.cnf`) whose leaves (see [`leaf`]) carry
/// the subject alternative names `sans` (`DNS:localhost,IP:127.0.0.1`).
pub fn test_ca(d: &Path, sans: &str) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=Switchboard Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::create_dir(d.join("newcerts")).expect("newcerts");
    std::fs::write(d.join("index.txt"), "").expect("index");
    std::fs::write(d.join("serial"), "1000\n").expect("serial");
    std::fs::write(
        d.join("ca.cnf"),
        "[ ca ]\ndefault_ca = test_ca\n[ test_ca ]\ndir = .\ndatabase = ./index.txt\nnew_certs_dir = ./newcerts\nserial = ./serial\ndefault_md = sha256\npolicy = pol\nunique_subject = no\n[ pol ]\ncommonName = supplied\n",
    )
    .expect("ca.cnf");
    std::fs::write(
        d.join("ext.cnf"),
        format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"),
    )
    .expect("ext.cnf");
}

/// `openssl s_server -www` on 127.0.0.1:`port` with `cert` and `key`, accepting.
pub async fn s_server(port: u16, cert: &std::path::Path, key: &std::path::Path) -> Peer {
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start openssl s_server");
    let mut peer = Peer {
        child,
        what: "openssl s_server",
    };
    wait_for_tcp(port, &mut peer).await;
    peer
}
