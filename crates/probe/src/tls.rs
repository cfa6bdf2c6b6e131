//! The TLS certificate check: what certificate the target presents for each name.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use model::checklist::Verdict;
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    crypto::CryptoProvider,
    pki_types::{pem::PemObject as _, CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use x509_parser::{extensions::GeneralName, prelude::FromDer as _};

use super::{budget, connect, for_each, secs, CannotRun, Done, Item, MigrationTarget, ProbeConfig};

/// The verification result of the standard verifier and the leaf it looked at.
#[derive(Debug, Default)]
struct Seen {
    leaf: Option<CertificateDer<'static>>,
    result: Option<Result<(), rustls::Error>>,
}

/// Asks the standard webpki verifier, records its answer and lets the handshake go
/// on, so that a bad certificate still leaves evidence.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        if let Ok(mut seen) = self.seen.lock() {
            seen.leaf = Some(end_entity.clone().into_owned());
            seen.result = Some(result);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The crypto provider every TLS client here uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The webpki roots plus the configured extra anchors. `Err` is the CannotRun summary.
fn roots(cfg: &ProbeConfig) -> Result<Arc<RootCertStore>, CannotRun> {
    root_store(&cfg.extra_roots_pem).map(Arc::new)
}

/// The webpki roots plus `extra_roots_pem` (PEM certificates; none when empty).
/// `Err` says, for people, why the extra anchors cannot be used.
pub fn root_store(extra_roots_pem: &[u8]) -> Result<RootCertStore, CannotRun> {
    let mut store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if !extra_roots_pem.is_empty() {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(extra_roots_pem) {
            let cert = cert.map_err(|e| {
                CannotRun(format!("The extra trust anchors are not valid PEM: {e}"))
            })?;
            store.add(cert).map_err(|e| {
                CannotRun(format!(
                    "An extra trust anchor is not a usable CA certificate: {e}"
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(CannotRun(
                "The extra trust anchors hold no PEM certificate".to_owned(),
            ));
        }
    }
    Ok(store)
}

pub(super) async fn check(cfg: &ProbeConfig, target: &MigrationTarget) -> Result<Done, CannotRun> {
    if target.names.is_empty() {
        return Err(CannotRun("The plan lists no names to check".to_owned()));
    }
    let roots = roots(cfg)?;
    let ip = super::target_addr(cfg, target).await?;
    let addr = SocketAddr::new(ip, target.https_port);
    let roots = &roots;
    let items = for_each(
        target.names.clone(),
        budget(cfg, target.names.len(), 2),
        |name| async move { one(cfg, roots, addr, &name).await },
    )
    .await?;
    let n = items.len();
    let summary = super::summarise(
        &items,
        "names",
        &format!(
            "{} a valid, trusted certificate on {addr}",
            super::all(n, "name has", "names have")
        ),
        "have a bad certificate",
    );
    Ok(Done { items, summary })
}

async fn one(cfg: &ProbeConfig, roots: &Arc<RootCertStore>, addr: SocketAddr, name: &str) -> Item {
    let subject = format!("{name} on {addr}");
    let fail = |why: String| {
        Item::new(
            subject.clone(),
            Verdict::Fail,
            why.clone(),
            format!("{name} {why}"),
        )
    };
    let inner = match WebPkiServerVerifier::builder_with_provider(roots.clone(), provider()).build()
    {
        Ok(v) => v,
        Err(e) => {
            return Item::new(
                subject,
                Verdict::CannotRun,
                format!("cannot verify: {e}"),
                name,
            )
        }
    };
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(Seen::default()),
    });
    let config = match ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(recording.clone())
            .with_no_client_auth(),
        Err(e) => {
            return Item::new(
                subject,
                Verdict::CannotRun,
                format!("cannot set up TLS: {e}"),
                name,
            )
        }
    };
    let server_name = match ServerName::try_from(name.to_owned()) {
        Ok(n) => n,
        Err(e) => return fail(format!("is not a usable server name: {e}")),
    };
    let stream = match connect(addr, cfg.timeout).await {
        Ok(s) => s,
        Err(why) => return fail(format!("connection {why}")),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = tokio::time::timeout(cfg.timeout, connector.connect(server_name, stream)).await;
    let handshake_error = match handshake {
        Ok(Ok(_tls)) => None,
        Ok(Err(e)) => Some(format!("TLS handshake failed: {e}")),
        Err(_) => Some(format!(
            "TLS handshake timed out after {}",
            secs(cfg.timeout)
        )),
    };
    let seen = match recording.seen.lock() {
        Ok(mut s) => std::mem::take(&mut *s),
        Err(_) => Seen::default(),
    };
    let Some(leaf) = seen.leaf else {
        return fail(handshake_error.unwrap_or_else(|| "presented no certificate".to_owned()));
    };
    judge(cfg, &subject, name, &leaf, seen.result, handshake_error)
}

/// What the leaf certificate says, and the verdict.
fn judge(
    cfg: &ProbeConfig,
    subject: &str,
    name: &str,
    leaf: &CertificateDer<'_>,
    verified: Option<Result<(), rustls::Error>>,
    handshake_error: Option<String>,
) -> Item {
    let cert = match x509_parser::certificate::X509Certificate::from_der(leaf.as_ref()) {
        Ok((_, c)) => c,
        Err(e) => {
            return Item::new(
                subject,
                Verdict::Fail,
                format!("the certificate cannot be read: {e}"),
                format!("{name} unreadable certificate"),
            )
        }
    };
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => ip_from_bytes(b).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_owned);
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map_or_else(|| cert.issuer().to_string(), str::to_owned);
    let now = jiff::Timestamp::now().as_second();
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let days_left = (not_after - now).div_euclid(86_400);
    let date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| t.to_string())
    };

    let mut problems: Vec<String> = Vec::new();
    let mut short: Vec<String> = Vec::new();
    let expiry = if now > not_after {
        problems.push(format!(
            "expired {} ({} days ago)",
            date(not_after),
            (now - not_after) / 86_400
        ));
        short.push("expired".to_owned());
        None
    } else if now < not_before {
        problems.push(format!("not valid before {}", date(not_before)));
        short.push("not yet valid".to_owned());
        None
    } else {
        Some(format!("expires {} ({days_left} days)", date(not_after)))
    };
    let covered = sans.iter().any(|san| name_matches(san, name));
    let covers = if sans.is_empty() {
        format!(
            "no subject alternative names (CN {})",
            cn.as_deref().unwrap_or("none")
        )
    } else {
        format!("covers {}", sans.join(", "))
    };
    if !covered {
        problems.push(format!("does not cover {name}"));
        short.push("name not covered".to_owned());
    }
    match verified {
        Some(Ok(())) | None => {}
        Some(Err(e)) => {
            if let Some(why) = trust_problem(&e) {
                problems.push(why);
                short.push("untrusted".to_owned());
            }
        }
    }
    if let Some(h) = handshake_error {
        problems.push(h);
        short.push("handshake failed".to_owned());
    }
    let issuer_words = format!("issuer {issuer}");
    if problems.is_empty() {
        let expiry = expiry.unwrap_or_default();
        if days_left < i64::from(cfg.expiry_warn_days) {
            Item::new(
                subject,
                Verdict::Warn,
                format!(
                    "expires soon: {days_left} days left ({}), {covers}; {issuer_words}",
                    date(not_after)
                ),
                format!("{name} expires in {days_left} days"),
            )
        } else {
            Item::new(
                subject,
                Verdict::Pass,
                format!("valid, {expiry}, {covers}; {issuer_words}"),
                name,
            )
        }
    } else {
        let mut parts = problems;
        if let Some(e) = expiry {
            parts.push(e);
        }
        Item::new(
            subject,
            Verdict::Fail,
            format!("{}, {covers}; {issuer_words}", parts.join(", ")),
            format!("{name} {}", short.join(", ")),
        )
    }
}

/// The verifier's complaint when it is about trust (time and name are judged from the
/// certificate itself).
pub fn trust_problem(e: &rustls::Error) -> Option<String> {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
            | CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. } => None,
            CertificateError::UnknownIssuer => {
                Some("untrusted chain: the issuer is not a trusted CA".to_owned())
            }
            CertificateError::BadSignature => Some("untrusted chain: bad signature".to_owned()),
            CertificateError::Revoked => Some("untrusted: revoked".to_owned()),
            other => Some(format!("untrusted chain: {other:?}")),
        },
        other => Some(format!("untrusted chain: {other}")),
    }
}

/// Whether a SAN entry (`*.example.test` included) covers `name`.
pub(super) fn name_matches(san: &str, name: &str) -> bool {
    let san = san.trim_end_matches('.').to_ascii_lowercase();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = san.strip_prefix("*.") {
        match name.split_once('.') {
            Some((first, parent)) => !first.is_empty() && parent == rest,
            None => false,
        }
    } else {
        san == name
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}
