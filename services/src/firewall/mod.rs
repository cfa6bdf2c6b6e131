//! Firewall sync: EC2 instances of every region become host allow rules,
//! planned as a diff, applied atomically (iptables or nftables) or exported,
//! audited, on a schedule that never overlaps itself.

pub mod config;
pub mod inventory;

pub use config::FirewallConfig;
