//! One typed configuration: command-line flags, each with an environment
//! override, and defaults that run with no configuration at all.

use std::{ffi::OsString, net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use services::auth::Role;

/// Serve Switchboard: reach maps, infrastructure health, firewall sync and
/// migration checklists.
#[derive(Clone, Debug, Parser)]
#[command(name = "switchboard", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// Folder for the app's own files (the SQLite database, caches).
    /// Default: $XDG_DATA_HOME/switchboard, else ~/.local/share/switchboard.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Database URL. Default: sqlite://<data-dir>/switchboard.db (created on first run).
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// The built site: pkg/ (wasm, js, css), leaflet/ and the favicon.
    #[arg(long, env = "SWITCHBOARD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Log filter, e.g. `info` or `server=debug,tower_http=debug`.
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info")]
    pub log: String,

    /// Mark the session cookie `Secure` (set it when users reach Switchboard over
    /// HTTPS; it is also set per request when a proxy sends `X-Forwarded-Proto: https`).
    #[arg(long, env = "SWITCHBOARD_COOKIE_SECURE")]
    pub cookie_secure: bool,

    /// Take the client address from `X-Forwarded-For` (only behind a proxy you run):
    /// the rightmost hop that is not a `--trusted-proxy` (with none given, the
    /// rightmost value, written by the proxy that connects to us).
    #[arg(long, env = "SWITCHBOARD_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// A proxy in front of Switchboard, as a CIDR range or one address (repeat
    /// it, or give a comma-separated list in the environment). With it,
    /// `X-Forwarded-For` is read only from these peers and walked from the right
    /// over these hops. Needs `--trust-forwarded-for`.
    #[arg(long = "trusted-proxy", value_name = "CIDR", env = "SWITCHBOARD_TRUSTED_PROXY", value_delimiter = ',', value_parser = crate::forwarded::parse_cidr)]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    /// Seconds between housekeeping runs (pruning expired sessions and history
    /// past its retention); one replica runs each, however many there are.
    #[arg(long, env = "SWITCHBOARD_HOUSEKEEPING_EVERY", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub housekeeping_every: u64,

    /// Database connections per replica. With PostgreSQL, replicas x this must
    /// stay under the server's `max_connections`.
    #[arg(long, env = "SWITCHBOARD_DB_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_connections: u32,

    /// An XYZ tile URL for the map's basemap instead of the shipped offline land,
    /// e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`.
    #[arg(long, env = "SWITCHBOARD_BASEMAP_URL")]
    pub basemap_url: Option<String>,

    /// The attribution shown with `--basemap-url`'s tiles.
    #[arg(
        long,
        env = "SWITCHBOARD_BASEMAP_ATTRIBUTION",
        default_value = "© OpenStreetMap contributors"
    )]
    pub basemap_attribution: String,

    /// Milliseconds a response may take to start before it is answered with a
    /// 503 page (uploads are exempt).
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Megabytes of coverage tiles kept in memory.
    #[arg(long, env = "SWITCHBOARD_TILE_CACHE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub tile_cache_mb: u64,

    /// A folder for rendered tiles on disk (optional; may be shared by replicas).
    #[arg(long, env = "SWITCHBOARD_TILE_CACHE_DIR")]
    pub tile_cache_dir: Option<PathBuf>,

    /// Bytes of disk `--tile-cache-dir` may use; the least recently used tiles
    /// are deleted beyond it (each file counts its 4 KiB blocks plus one). At
    /// most 1 TiB: the index of what is on disk is in memory (about 300 bytes
    /// a file, so up to ~80 MB per GiB of empty tiles).
    #[arg(long, env = "SWITCHBOARD_TILE_CACHE_MAX_BYTES", default_value_t = services::tiles::DEFAULT_DISK_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1_048_576..=1_099_511_627_776))]
    pub tile_cache_max_bytes: u64,

    /// Tile renders queued or running at once; a tile needing a render beyond
    /// it is answered 503 with Retry-After. Default: 4 per render thread (one
    /// thread per core).
    #[arg(long, env = "SWITCHBOARD_TILE_RENDER_QUEUE", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tile_render_queue: Option<u32>,

    /// Do not remember empty tiles (render them again each time).
    #[arg(long, env = "SWITCHBOARD_NO_EMPTY_TILE_CACHE")]
    pub no_empty_tile_cache: bool,

    /// Demo outlets generated on first run when the database has none (0: none).
    #[arg(long, env = "SWITCHBOARD_DEMO_OUTLETS", default_value_t = 3000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub demo_outlets: u32,

    /// Features per vector page (GeoJSON/KML/KMZ) when a client does not ask.
    #[arg(long, env = "SWITCHBOARD_FEATURES_PER_PAGE", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub features_per_page: u32,

    /// Auto mode: a selection with more outlets than this is drawn as coverage
    /// tiles at every zoom.
    #[arg(long, env = "SWITCHBOARD_VECTOR_MAX_FEATURES", default_value_t = model::geo::AutoMode::default().max_vector_features)]
    pub vector_max_features: u32,

    /// Auto mode: outlets are drawn as vectors from this zoom in (coverage tiles
    /// further out).
    #[arg(long, env = "SWITCHBOARD_VECTOR_MIN_ZOOM", default_value_t = model::geo::AutoMode::default().min_vector_zoom, value_parser = clap::value_parser!(u8).range(0..=20))]
    pub vector_min_zoom: u8,

    /// Checklist checks: the DNS server to ask (ip:port); the system's resolver when unset.
    #[arg(long, env = "SWITCHBOARD_CHECK_DNS")]
    pub check_dns: Option<SocketAddr>,

    /// Checklist checks: seconds each network step may take (connect, query, handshake).
    #[arg(long, env = "SWITCHBOARD_CHECK_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub check_timeout: u64,

    /// Checklist checks: a PEM file of extra trusted CA certificates (a company CA).
    #[arg(long, env = "SWITCHBOARD_CHECK_CA")]
    pub check_ca: Option<PathBuf>,

    /// Checklist checks: a certificate expiring within this many days is a warning.
    #[arg(long, env = "SWITCHBOARD_CHECK_EXPIRY_WARN_DAYS", default_value_t = 21)]
    pub check_expiry_warn_days: u32,

    /// Health checks: a JSON file of sites, pools, targets, HAProxy instances, DNS
    /// names and the alert webhook (see the README). Without it the server checks itself.
    #[arg(long, env = "SWITCHBOARD_HEALTH_CONFIG")]
    pub health_config: Option<PathBuf>,

    /// The firewall sync: a JSON file naming the backend (iptables, nftables or
    /// export), the ports, the management and static entries, whether applying is
    /// enabled, and the AWS regions (see the README). Checked whole at start-up.
    #[arg(long, env = "SWITCHBOARD_FIREWALL_CONFIG")]
    pub firewall_config: Option<PathBuf>,

    /// `--retain-*-days`: how long each history table keeps its rows.
    #[command(flatten)]
    pub retention: RetentionArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One `--retain-<table>-days` flag (and `SWITCHBOARD_RETAIN_...` variable) per
/// table in `services::housekeeping::Table::ALL`: a table given retention there
/// gets its flag here with nothing else to change.
#[derive(Clone, Debug, Default)]
pub struct RetentionArgs(pub services::housekeeping::Retention);

impl clap::FromArgMatches for RetentionArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut retention = services::housekeeping::Retention::default();
        for &table in services::housekeeping::Table::ALL {
            if let Some(days) = matches.get_one::<u32>(table.flag()) {
                table.set_days(&mut retention, *days);
            }
        }
        Ok(Self(retention))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for RetentionArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        services::housekeeping::Table::ALL
            .iter()
            .fold(cmd, |cmd, &table| {
                let kept = match table.always_kept() {
                    "" => String::new(),
                    kept => format!("; {kept} always stays"),
                };
                cmd.arg(
                    clap::Arg::new(table.flag())
                        .long(table.flag())
                        .env(table.env())
                        .value_name("DAYS")
                        .value_parser(clap::value_parser!(u32).range(0..=36_500))
                        .help(format!(
                            "Days {} keeps its rows, pruned by housekeeping (0: forever{kept}) [default: {}]",
                            table.name(),
                            table.default_days()
                        )),
                )
            })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// What to do; serving is the default.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Serve the app (the default).
    Serve,
    /// Manage users from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Import data from a file.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Coverage tiles.
    #[command(subcommand)]
    Tiles(TilesCommand),
}

/// `switchboard tiles ...`
#[derive(Clone, Debug, Subcommand)]
pub enum TilesCommand {
    /// Render a selection's tiles for a zoom range ahead of time, into the
    /// caches (use --tile-cache-dir to keep them), with progress and a summary.
    Seed {
        /// The selection, as in the map's URL (e.g. county:bedfordshire).
        #[arg(long)]
        sel: String,
        /// Outlet kinds (e.g. radio,tv); all when left out.
        #[arg(long, default_value = "")]
        kinds: String,
        /// Zooms, e.g. 6-10 or 8.
        #[arg(long, default_value = "5-9")]
        zooms: String,
        /// 2 for 512-pixel (@2x) tiles.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
        scale: u32,
    },
}

/// `switchboard import ...`
#[derive(Clone, Debug, Subcommand)]
pub enum ImportCommand {
    /// Import outlets from a .csv, .geojson or .kml file (checked whole first:
    /// a file with any problem changes nothing).
    Outlets {
        /// The file.
        file: PathBuf,
        /// Replace every outlet (the demo set included) instead of adding.
        #[arg(long)]
        replace: bool,
    },
    /// Add regions to the tree from a .geojson or .kml file of polygons with a
    /// `name` and optionally a `parent` code (no parent: a new area).
    Regions {
        /// The file.
        file: PathBuf,
    },
}

/// `switchboard user ...`
#[derive(Clone, Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Prints a random password unless --password-stdin is given.
    Add {
        /// The name to sign in with.
        #[arg(long)]
        username: String,
        /// viewer, staff or admin.
        #[arg(long, default_value = "staff", value_parser = parse_role)]
        role: Role,
        /// The name shown in the app (default: the user name).
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Clear a user's sign-in throttle (failed sign-ins from every address),
    /// so they can sign in again at once.
    Unlock {
        /// The user name whose failures to clear.
        #[arg(long)]
        username: String,
    },
}

fn parse_role(s: &str) -> Result<Role, NotARole> {
    Role::from_name(s).ok_or_else(|| NotARole(s.to_owned()))
}

/// A `--role` that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a role: use viewer, staff or admin")]
pub struct NotARole(String);

/// Why the command line did not give a usable configuration.
#[derive(Debug)]
pub enum ConfigError {
    /// `--help` or `--version` was printed: exit with this code.
    Exit(ExitCode),
    /// Refused, with a one-line reason.
    Invalid(String),
}

impl Config {
    /// Parses and checks the command line (and environment).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with a one-line message for anything unusable.
    pub fn from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let config = match Self::try_parse_from(args) {
            Ok(c) => c,
            Err(e) if !e.use_stderr() => {
                let _ = e.print();
                return Err(ConfigError::Exit(ExitCode::SUCCESS));
            }
            Err(e) => {
                let rendered = e.render().to_string();
                let line = rendered
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_owned();
                return Err(ConfigError::Invalid(line));
            }
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.log).map_err(|e| {
            ConfigError::Invalid(format!("invalid --log filter {:?}: {e}", self.log))
        })?;
        if let Some(tiles) = &self.basemap_url {
            let ok = (tiles.starts_with("https://") || tiles.starts_with("http://"))
                && ["{z}", "{x}", "{y}"].iter().all(|p| tiles.contains(p));
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "invalid --basemap-url {tiles:?}: expected an http(s) URL with {{z}}, {{x}} and {{y}}"
                )));
            }
        }
        if !self.trusted_proxy.is_empty() && !self.trust_forwarded_for {
            return Err(ConfigError::Invalid(
                "--trusted-proxy needs --trust-forwarded-for (without it X-Forwarded-For is ignored)"
                    .into(),
            ));
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Invalid(format!(
                "invalid --database-url {url:?}: expected sqlite://PATH or postgres://USER@HOST/DB"
            )));
        }
        if self.data_dir.is_none() && default_data_dir().is_none() {
            return Err(ConfigError::Invalid(
                "no --data-dir given and neither XDG_DATA_HOME nor HOME is set".into(),
            ));
        }
        Ok(())
    }

    /// The folder for the app's files.
    ///
    /// # Panics
    /// Never after [`Config::from_args`], which checks that one is known.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(default_data_dir)
            .expect("checked in Config::check")
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    #[must_use]
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir().join("switchboard.db").display()
            )
        })
    }

    /// Sends `tracing` output to stderr with the configured filter.
    pub fn init_tracing(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_writer(std::io::stderr)
            .try_init();
    }
}

fn default_data_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty());
    xdg.map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("switchboard"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_args(std::iter::once("switchboard").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_run_without_any_configuration() {
        let c = parse(&["--data-dir", "/tmp/sb"]).expect("defaults");
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url(), "sqlite:///tmp/sb/switchboard.db");
    }

    #[test]
    fn trusted_proxies_repeat_or_come_as_a_list() {
        let c = parse(&[
            "--data-dir",
            "/tmp/sb",
            "--trust-forwarded-for",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "2001:db8::/32,192.0.2.7",
        ])
        .expect("proxies");
        let got: Vec<String> = c.trusted_proxy.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]);
    }

    #[test]
    fn every_retained_table_has_a_flag_with_its_default() {
        use services::housekeeping::{Retention, Table};
        let c = parse(&["--data-dir", "/tmp/sb"]).expect("defaults");
        assert_eq!(c.retention.0, Retention::default());
        let mut args = vec!["--data-dir".to_owned(), "/tmp/sb".to_owned()];
        for (i, table) in Table::ALL.iter().enumerate() {
            args.push(format!("--{}", table.flag()));
            args.push(i.to_string());
        }
        let c = parse(&args.iter().map(String::as_str).collect::<Vec<_>>()).expect("flags");
        for (i, table) in Table::ALL.iter().enumerate() {
            assert_eq!(table.days(&c.retention.0) as usize, i, "{table:?}");
        }
        for bad in ["--retain-audit-days=-1", "--retain-audit-days=40000"] {
            match parse(&[bad]) {
                Err(ConfigError::Invalid(line)) => {
                    assert!(line.contains("retain-audit-days"), "{line}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_values_give_one_line() {
        for args in [
            &["--bind", "not-an-address"][..],
            &["--database-url", "mysql://x"],
            &["--log", "=[=="],
            &["--no-such-flag"],
            &["--trust-forwarded-for", "--trusted-proxy", "10.0.0.0/33"],
            &["--trust-forwarded-for", "--trusted-proxy", "proxy.example"],
            &["--trusted-proxy", "10.0.0.0/8"],
            &["--retain-job-runs-days", "forever"],
            &["--tile-cache-max-bytes", "10"],
            &["--tile-cache-max-bytes", "2000000000000"],
            &["--tile-render-queue", "0"],
        ] {
            match parse(args) {
                Err(ConfigError::Invalid(line)) => {
                    assert!(!line.contains('\n'), "{line}");
                    assert!(!line.is_empty());
                }
                other => panic!("{args:?} gave {other:?}"),
            }
        }
    }
}
