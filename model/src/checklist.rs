//! The migration checklist template as the pages see it.

use serde::{Deserialize, Serialize};

/// A machine check that can verify a checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomatedCheck {
    /// The TTL of each domain's DNS records is low enough to move.
    DnsTtl,
    /// A valid TLS certificate covers each name on the target.
    TlsCertificate,
    /// The planned service ports answer on the target.
    ServicePorts,
    /// HTTP answers for each Host header on its VIP.
    HttpHost,
}

impl AutomatedCheck {
    /// The stored name (the `automated_check` column).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DnsTtl => "dns_ttl",
            Self::TlsCertificate => "tls_certificate",
            Self::ServicePorts => "service_ports",
            Self::HttpHost => "http_host",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::DnsTtl,
            Self::TlsCertificate,
            Self::ServicePorts,
            Self::HttpHost,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }

    /// A short label for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::DnsTtl => "DNS TTL check",
            Self::TlsCertificate => "TLS certificate check",
            Self::ServicePorts => "port check",
            Self::HttpHost => "HTTP Host check",
        }
    }
}

/// One point to settle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateItem {
    pub id: i64,
    pub text: String,
    pub guidance: Option<String>,
    pub automated_check: Option<AutomatedCheck>,
}

/// A group of points (Planning, DNS, ...), in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSection {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub items: Vec<TemplateItem>,
}

/// A whole checklist template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub sections: Vec<TemplateSection>,
}

impl Template {
    /// How many points the template holds.
    #[must_use]
    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }
}

/// What an automated check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything checked is as it should be.
    Pass,
    /// Usable, but look at it (a certificate close to expiry, a 4xx answer).
    Warn,
    /// Something checked is wrong (TTL too high, port closed, certificate expired).
    Fail,
    /// The check could not run (no DNS server, nothing to check): it says why.
    CannotRun,
}

impl Verdict {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::CannotRun => "cannot_run",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pass, Self::Warn, Self::Fail, Self::CannotRun]
            .into_iter()
            .find(|v| v.as_str() == name)
    }

    /// A word for people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "Pass",
            Self::Warn => "Warning",
            Self::Fail => "Fail",
            Self::CannotRun => "Could not run",
        }
    }

    /// The worse of two verdicts (a check's verdict is the worst of its evidence).
    #[must_use]
    pub fn worst(self, other: Self) -> Self {
        let rank = |v: Self| match v {
            Self::Pass => 0,
            Self::Warn => 1,
            Self::CannotRun => 2,
            Self::Fail => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// One line of a check's evidence: one name, one port, one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was looked at: `www.example.com A`, `smtp 192.0.2.7:25`.
    pub subject: String,
    pub verdict: Verdict,
    /// What was seen, in words: `TTL 3600 s (limit 300 s)`, `refused`, `expires in 9 days`.
    pub detail: String,
}

/// The outcome of one run of an automated check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub check: AutomatedCheck,
    /// The worst verdict of the evidence (or `CannotRun` with the reason in `summary`).
    pub verdict: Verdict,
    /// One sentence for the page.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// How long the run took.
    pub elapsed_ms: u64,
}
