//! The EC2 inventory: every region's instances through `aws-sdk-ec2`.
//! (Being written: see the helper's task.)

use model::firewall::Inventory;

use super::config::AwsSettings;

/// Reads every region's instances (see the module docs).
pub async fn collect(_settings: &AwsSettings, _previous: Option<&Inventory>) -> Inventory {
    Inventory::default()
}

/// As [`collect`], with explicit credentials (tests).
pub async fn collect_with(
    settings: &AwsSettings,
    previous: Option<&Inventory>,
    _credentials: Option<aws_sdk_ec2::config::Credentials>,
) -> Inventory {
    collect(settings, previous).await
}
