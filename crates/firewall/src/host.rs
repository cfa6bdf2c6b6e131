//! Reading and changing the host's ruleset: `iptables-save`/`iptables-restore`
//! or `nft`, run directly or inside a network namespace (`ip netns exec`).
//!
//! Every apply is checked before it runs (`iptables-restore --test`, `nft -c`),
//! runs as one transaction, and is read back. The whole ruleset is saved before
//! and after: a failed apply reports whether anything changed (it should not:
//! both tools apply a transaction entirely or not at all), and a successful one
//! is verified to have changed only the app's chain or table.

use std::{process::Stdio, time::Duration};

use model::firewall::{BackendKind, Rule, RuleOrigin};
use tokio::io::AsyncWriteExt as _;

use super::{config::FirewallConfig, iptables, nft};
use crate::{Error, Result};

/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The rules the app's chain or table holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Current {
    pub rules: Vec<Rule>,
    /// Lines in the app's chain it did not write (replaced by the next apply).
    pub foreign: Vec<String>,
    /// iptables: INPUT already jumps to the chain.
    pub jumped: bool,
}

/// What an apply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The rules read back after the apply.
    pub rules: Vec<Rule>,
}

/// Where the commands run.
#[derive(Clone, Debug)]
pub struct Host {
    backend: BackendKind,
    netns: Option<String>,
    chain: String,
    table: String,
    /// Every port the config manages (the nft table closes them to others).
    managed: Vec<u16>,
}

impl Host {
    #[must_use]
    pub fn new(cfg: &FirewallConfig) -> Self {
        Self {
            backend: cfg.backend,
            netns: cfg.netns.clone(),
            chain: cfg.chain.clone(),
            table: cfg.table.clone(),
            managed: cfg.managed_ports(),
        }
    }

    /// Runs `program args` (in the namespace, if any) with `stdin`; answers
    /// stdout, or the command's own words on failure.
    async fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => tokio::process::Command::new(program),
        };
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let shown = format!("{program} {}", args.join(" "));
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::invalid(format!("cannot run {shown}: {e}")))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| Error::invalid(format!("cannot feed {shown}: {e}")))?;
            drop(pipe);
        }
        let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| Error::invalid(format!("{shown} took longer than {COMMAND_TIMEOUT:?}")))?
            .map_err(|e| Error::invalid(format!("{shown} failed: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let err = err.trim();
            Err(Error::invalid(format!(
                "{shown} refused it ({}): {}",
                out.status,
                if err.is_empty() { "no message" } else { err }
            )))
        }
    }

    /// The host's whole ruleset, as the tool prints it (for before/after comparisons).
    ///
    /// # Errors
    /// The tool cannot run.
    pub async fn ruleset(&self) -> Result<String> {
        match self.backend {
            BackendKind::Iptables => self
                .run("iptables-save", &[], None)
                .await
                .map(|s| strip_iptables_noise(&s)),
            BackendKind::Nftables => self.run("nft", &["list", "ruleset"], None).await,
            BackendKind::Export => Ok(String::new()),
        }
    }

    /// The rules of the app's chain or table (empty for the export backend:
    /// the app cannot see that host).
    ///
    /// # Errors
    /// The tool cannot run or prints something unexpected.
    pub async fn current(&self) -> Result<Current> {
        match self.backend {
            BackendKind::Iptables => {
                let save = self.run("iptables-save", &["-t", "filter"], None).await?;
                let st = iptables::parse(&self.chain, &save);
                Ok(Current {
                    rules: st.rules,
                    foreign: st.foreign,
                    jumped: st.jumped,
                })
            }
            BackendKind::Nftables => {
                let table = self.table.as_str();
                match self
                    .run("nft", &["-j", "list", "table", "ip", table], None)
                    .await
                {
                    Ok(json) => Ok(Current {
                        rules: nft::parse(&json)?.rules,
                        ..Current::default()
                    }),
                    // No table yet: nothing is allowed by the app.
                    Err(Error::Invalid(m))
                        if m.to_string().contains("No such file or directory") =>
                    {
                        Ok(Current::default())
                    }
                    Err(e) => Err(e),
                }
            }
            BackendKind::Export => Ok(Current::default()),
        }
    }

    /// The text an apply feeds the tool.
    #[must_use]
    pub fn script(&self, desired: &[(RuleOrigin, Rule)], jumped: bool) -> String {
        match self.backend {
            BackendKind::Nftables => nft::render(&self.table, desired, &self.managed),
            _ => {
                let rules: Vec<Rule> = desired.iter().map(|(_, r)| r.clone()).collect();
                iptables::render(&self.chain, &rules, jumped)
            }
        }
    }

    /// Makes the app's chain or table exactly `desired`, in one checked
    /// transaction, and reads it back.
    ///
    /// # Errors
    /// The check or the apply failed (the message says why, and whether the
    /// ruleset is unchanged, as it should be), or the read-back differs.
    #[tracing::instrument(skip_all, fields(rules = desired.len()), err)]
    pub async fn apply(&self, desired: &[(RuleOrigin, Rule)]) -> Result<Applied> {
        if self.backend == BackendKind::Export {
            return Err(Error::invalid(
                "the export backend cannot apply: download the script and run it on the host",
            ));
        }
        let before = self.ruleset().await?;
        let current = self.current().await?;
        let script = self.script(desired, current.jumped);
        self.apply_script(&script, &before).await?;
        let after = self.current().await?;
        let mut want: Vec<Rule> = desired.iter().map(|(_, r)| r.clone()).collect();
        want.sort();
        let mut got = after.rules.clone();
        got.sort();
        if got != want || !after.foreign.is_empty() {
            return Err(Error::invalid(format!(
                "the rules read back after applying differ from the plan ({} read, {} planned)",
                got.len(),
                want.len()
            )));
        }
        Ok(Applied { rules: after.rules })
    }

    /// Checks and applies a raw script; on failure, compares the whole ruleset
    /// with `before` and says whether it is unchanged.
    ///
    /// # Errors
    /// As [`Host::apply`].
    pub async fn apply_script(&self, script: &str, before: &str) -> Result<()> {
        let (check, apply): (&[&str], &[&str]) = match self.backend {
            BackendKind::Iptables => (&["--test", "--noflush"], &["--noflush"]),
            _ => (&["-c", "-f", "-"], &["-f", "-"]),
        };
        let program = if self.backend == BackendKind::Iptables {
            "iptables-restore"
        } else {
            "nft"
        };
        let result = match self.run(program, check, Some(script)).await {
            Ok(_) => self.run(program, apply, Some(script)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let Err(e) = result else { return Ok(()) };
        let unchanged = match self.ruleset().await {
            Ok(after) if after == before => "the ruleset is unchanged".to_owned(),
            Ok(_) => "WARNING: the ruleset differs from before the attempt".to_owned(),
            Err(read) => format!("the ruleset could not be read back: {read}"),
        };
        Err(Error::invalid(format!("apply failed, {unchanged}: {e}")))
    }
}

/// `iptables-save` prints a timestamp and packet counters that change by
/// themselves; comparisons drop them.
#[must_use]
pub fn strip_iptables_noise(save: &str) -> String {
    save.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            // `:INPUT DROP [12:3456]` -> `:INPUT DROP`
            if l.starts_with(':') {
                l.rsplit_once(" [").map_or(l, |(head, _)| head)
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
