//! A faithful re-implementation of the seed's `cron.ec2.firewall.sh` check,
//! for the benchmark only: for every instance and port it scans the whole
//! saved ruleset for lines holding the instance's host name, then for
//! `--dport <port>` among those (`grep "$EC2_HOST" | egrep "\-\-dport $PORT"`),
//! and appends a rule when none matched. Like the script, it never removes
//! anything, and `--dport 22` also matches `--dport 2222`.

use model::firewall::Instance;

/// The `iptables -A INPUT ...` commands the seed would run for `instances`
/// against the saved ruleset `saved` (the text of `iptables-save`).
#[must_use]
pub fn plan(saved: &str, instances: &[Instance], ports: &[u16]) -> Vec<String> {
    let mut commands = Vec::new();
    for i in instances {
        let (Some(host), Some(ip)) = (i.public_dns.as_deref(), i.public_ip.as_deref()) else {
            continue;
        };
        for port in ports {
            let needle = format!("--dport {port}");
            // cat /etc/iptables-config | grep "$EC2_HOST" | egrep "$MATCH_RULES"
            let matched = saved
                .lines()
                .filter(|l| l.contains(host))
                .any(|l| l.contains(&needle));
            if !matched {
                commands.push(format!(
                    "iptables -A INPUT -s {ip}/32 -p tcp -m tcp --dport {port} -m comment --comment \"EC2 - {host}\" -j ACCEPT"
                ));
            }
        }
    }
    commands
}
