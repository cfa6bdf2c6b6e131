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
