//! The iptables backend: a chain the app owns (`SWITCHBOARD-EC2` by default),
//! jumped to from the top of INPUT, holding one ACCEPT rule per source and port,
//! written exactly as `iptables-save` prints it so what is read back compares
//! equal to what was rendered.
//!
//! An apply is one `iptables-restore --noflush` transaction: declaring
//! `:CHAIN - [0:0]` empties just that chain, the rules refill it, and the jump is
//! inserted only when INPUT lacks it. Nothing else in the ruleset is touched.
//! The chain only accepts: everything else falls through to the rest of INPUT
//! and its policy (DROP, on a host restricted the way the seed's office was).

use std::fmt::Write as _;

use model::firewall::Rule;

/// What the app's chain holds now, read from `iptables-save`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainState {
    /// The chain exists.
    pub exists: bool,
    /// INPUT jumps to it.
    pub jumped: bool,
    pub rules: Vec<Rule>,
    /// Lines in the chain that are not rules this app writes (someone edited
    /// the chain by hand): an apply replaces them.
    pub foreign: Vec<String>,
}

/// One rule as `iptables-save` prints it.
#[must_use]
pub fn rule_line(chain: &str, r: &Rule) -> String {
    format!(
        "-A {chain} -s {} -p tcp -m tcp --dport {} -m comment --comment {} -j ACCEPT",
        r.source,
        r.port,
        quote(&r.comment)
    )
}

/// `iptables-save` quotes a comment unless it is only letters, digits, `_` and `-`.
fn quote(comment: &str) -> String {
    if !comment.is_empty()
        && comment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        comment.to_owned()
    } else {
        format!("\"{comment}\"")
    }
}

/// The `iptables-restore --noflush` input that makes the chain exactly `rules`.
#[must_use]
pub fn render(chain: &str, rules: &[Rule], jumped: bool) -> String {
    let mut out = String::with_capacity(64 + rules.len() * 110);
    out.push_str("*filter\n");
    let _ = writeln!(out, ":{chain} - [0:0]");
    if !jumped {
        let _ = writeln!(out, "-I INPUT 1 -j {chain}");
    }
    for r in rules {
        out.push_str(&rule_line(chain, r));
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// Reads the app's chain out of `iptables-save -t filter` output.
#[must_use]
pub fn parse(chain: &str, save: &str) -> ChainState {
    let mut state = ChainState::default();
    let declared = format!(":{chain} ");
    let ours = format!("-A {chain} ");
    let jump = format!("-j {chain}");
    for line in save.lines() {
        if line.starts_with(&declared) {
            state.exists = true;
        } else if let Some(rest) = line.strip_prefix(&ours) {
            match parse_rule(rest) {
                Some(r) => state.rules.push(r),
                None => state.foreign.push(line.to_owned()),
            }
        } else if line.starts_with("-A INPUT ") && line.ends_with(&jump) {
            state.jumped = true;
        }
    }
    state
}

/// `-s A/N -p tcp -m tcp --dport P -m comment --comment C -j ACCEPT`.
fn parse_rule(rest: &str) -> Option<Rule> {
    let words = split_words(rest)?;
    let mut source = None;
    let mut port = None;
    let mut comment = None;
    let mut accept = false;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "-s" => source = Some(it.next()?.clone()),
            "-p" | "-m" => {
                let v = it.next()?;
                if !matches!(v.as_str(), "tcp" | "comment") {
                    return None;
                }
            }
            "--dport" => port = it.next()?.parse::<u16>().ok(),
            "--comment" => comment = Some(it.next()?.clone()),
            "-j" => accept = it.next()? == "ACCEPT",
            _ => return None,
        }
    }
    if !accept {
        return None;
    }
    Some(Rule {
        source: source?,
        port: port?,
        comment: comment.unwrap_or_default(),
    })
}

/// Splits a saved rule into words, honouring double quotes (with `\"`).
fn split_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => cur.push(chars.next()?),
            ' ' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return None;
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// The script for a host the app cannot reach: checks, then applies in one
/// transaction, then adds the jump if INPUT lacks it.
#[must_use]
pub fn export_script(chain: &str, rules: &[Rule], generated: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "#!/bin/sh\n\
         # Switchboard firewall export, generated {generated}.\n\
         # Replaces the rules of the chain {chain} (and nothing else) with {n} allow rules,\n\
         # in one iptables-restore transaction, after checking it with --test.\n\
         set -eu\n\
         RULES=$(mktemp)\n\
         trap 'rm -f \"$RULES\"' EXIT\n\
         cat > \"$RULES\" <<'SWITCHBOARD_RULES'\n",
        n = rules.len()
    );
    out.push_str(&render(chain, rules, true));
    let _ = write!(
        out,
        "SWITCHBOARD_RULES\n\
         iptables-restore --test --noflush < \"$RULES\"\n\
         iptables-restore --noflush < \"$RULES\"\n\
         iptables -C INPUT -j {chain} 2>/dev/null || iptables -I INPUT 1 -j {chain}\n\
         echo \"{chain}: {n} rules\"\n",
        n = rules.len()
    );
    out
}
