//! Every target checked on its own schedule.
//!
//! The checks run on a current-thread tokio runtime of their own, on a thread named
//! `health-checker` (unless [`CheckerSettings::own_thread`] is off): thousands of
//! short connections a second then never wake the server's request workers or move
//! between them. One tokio task per target (a sleeping task costs a few hundred
//! bytes); a global
//! [`Semaphore`] bounds how many checks run at once. Each target starts after a random
//! offset in `0..inter` and every interval is spread by ±`jitter_percent` (HAProxy's
//! `spread-checks`), so 10,000 targets do not check in lockstep. The next check is
//! scheduled when the previous one finishes, after the interval the
//! [`HealthCounter`] asks for.
//!
//! The statuses live in a table of per-target mutexes (each task locks only its own),
//! so a snapshot of 10,000 targets is a read lock and 10,000 uncontended locks. Every
//! UP/DOWN transition is sent as a [`StateChange`] on the channel given at start.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    time::Duration,
};

use model::health::{HealthState, Observation, StateChange, TargetSpec, TargetStatus};
use rustls::ClientConfig;
use tokio::{
    runtime::Handle,
    sync::{mpsc, oneshot, Notify, Semaphore},
    task::JoinHandle,
    time::Instant,
};

use tracing::Instrument as _;

use super::{
    check::{now_ms, tls_config, Prepared, TlsSetupError},
    counter::HealthCounter,
};

/// Why the checker did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The extra CA certificates are unusable.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("the health checker needs a tokio runtime")]
    NoRuntime,
    #[error("the health checker's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the health checker's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How the checker runs.
#[derive(Clone, Debug)]
pub struct CheckerSettings {
    /// Checks running at the same time, at most. Default 256.
    pub max_concurrency: usize,
    /// Every interval is spread by up to ± this percentage. Default 10.
    pub jitter_percent: u32,
    /// How many latest latencies each status keeps. Default 30.
    pub history: usize,
    /// Extra trusted CA certificates (PEM) for the HTTPS checks, besides the webpki roots.
    pub extra_roots_pem: Vec<u8>,
    /// Run the checks on a thread and current-thread runtime of their own (default),
    /// or on the caller's runtime.
    pub own_thread: bool,
    /// Checks start on a grid of this step (default 10 ms; zero: whenever due): each
    /// is due at the grid point nearest its time, so the checker (and on loopback
    /// the peers) wake up at most once a step for a batch of checks instead of once
    /// per check. At 10,000 targets this took a fifth off the checker's CPU.
    pub tick: Duration,
}

impl Default for CheckerSettings {
    fn default() -> Self {
        Self {
            max_concurrency: 256,
            jitter_percent: 10,
            history: 30,
            extra_roots_pem: Vec::new(),
            own_thread: true,
            tick: Duration::from_millis(10),
        }
    }
}

/// What the tasks share.
struct Shared {
    tls: Arc<ClientConfig>,
    permits: Semaphore,
    changes: mpsc::UnboundedSender<StateChange>,
    jitter_percent: u32,
    history: usize,
    /// The grid checks start on: `epoch + n * tick`.
    epoch: Instant,
    tick: Duration,
}

impl Shared {
    /// `at`, moved to the nearest point of the grid (so intervals stay `inter` on
    /// average; a point just past is due at once).
    fn on_grid(&self, at: Instant) -> Instant {
        let tick = self.tick.as_nanos();
        if tick == 0 {
            return at;
        }
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        // Nanoseconds in a u64 last 584 years of one checker's run.
        let on_grid = (since + tick / 2) / tick * tick;
        u64::try_from(on_grid).map_or(at, |n| self.epoch + Duration::from_nanos(n))
    }
}

/// One target's state, behind its own mutex.
#[derive(Debug)]
struct Slot {
    counter: HealthCounter,
    since_ms: i64,
    last: Option<Observation>,
    recent: VecDeque<Option<u32>>,
    checks: u64,
}

impl Slot {
    fn status(&self, id: i64) -> TargetStatus {
        TargetStatus {
            id,
            state: self.counter.state(),
            health: self.counter.health(),
            since_ms: self.since_ms,
            last: self.last.clone(),
            recent: self.recent.iter().copied().collect(),
            checks: self.checks,
        }
    }
}

/// A running target.
struct Running {
    spec: TargetSpec,
    slot: Arc<Mutex<Slot>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

/// The health checker; see the [module documentation](self). Stops on drop.
pub struct Checker {
    shared: Arc<Shared>,
    runtime: Handle,
    /// Ends the checker's own thread when dropped (with `own_thread`).
    _thread: Option<oneshot::Sender<()>>,
    targets: RwLock<BTreeMap<i64, Running>>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("targets", &self.read().len())
            .field("stopped", &self.stopped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// Starts checking `targets`, on a thread of its own or (without `own_thread`)
    /// on the current tokio runtime.
    ///
    /// # Errors
    /// No runtime, no thread, or the extra CA certificates are unusable.
    #[tracing::instrument(skip_all, fields(targets = targets.len()), err)]
    pub fn start(
        targets: Vec<TargetSpec>,
        settings: CheckerSettings,
        changes: mpsc::UnboundedSender<StateChange>,
    ) -> Result<Self, StartError> {
        let CheckerSettings {
            max_concurrency,
            jitter_percent,
            history,
            extra_roots_pem,
            own_thread,
            tick,
        } = settings;
        let tls = tls_config(&extra_roots_pem)?;
        let (runtime, thread) = if own_thread {
            let (runtime, stop) = own_runtime()?;
            (runtime, Some(stop))
        } else {
            let runtime = Handle::try_current().map_err(|_| StartError::NoRuntime)?;
            (runtime, None)
        };
        let checker = Self {
            shared: Arc::new(Shared {
                tls,
                permits: Semaphore::new(max_concurrency.max(1)),
                changes,
                jitter_percent: jitter_percent.min(100),
                history,
                epoch: Instant::now(),
                tick,
            }),
            runtime,
            _thread: thread,
            targets: RwLock::new(BTreeMap::new()),
            stopped: AtomicBool::new(false),
        };
        checker.set_targets(targets);
        Ok(checker)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Running>> {
        self.targets.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every target's status, by id.
    #[must_use]
    pub fn statuses(&self) -> Vec<TargetStatus> {
        self.read()
            .iter()
            .map(|(&id, r)| lock(&r.slot).status(id))
            .collect()
    }

    /// One target's status.
    #[must_use]
    pub fn status(&self, id: i64) -> Option<TargetStatus> {
        self.read().get(&id).map(|r| lock(&r.slot).status(id))
    }

    /// Checks these targets from now on: new ones start, removed ones stop, changed
    /// ones start again from fully UP; unchanged ones keep their state and history.
    /// Nothing starts once the checker is stopped.
    pub fn set_targets(&self, targets: Vec<TargetSpec>) {
        let mut table = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        let mut wanted: BTreeMap<i64, TargetSpec> = BTreeMap::new();
        for t in targets {
            wanted.insert(t.id, t);
        }
        table.retain(|id, running| {
            let keep = wanted.get(id).is_some_and(|w| *w == running.spec);
            if !keep {
                running.task.abort();
            }
            keep
        });
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        for (id, spec) in wanted {
            if table.contains_key(&id) {
                continue;
            }
            let slot = Arc::new(Mutex::new(Slot {
                counter: HealthCounter::new(&spec.timing),
                since_ms: now_ms(),
                last: None,
                recent: VecDeque::with_capacity(self.shared.history),
                checks: 0,
            }));
            let wake = Arc::new(Notify::new());
            let task = self.runtime.spawn(run_target(
                self.shared.clone(),
                spec.clone(),
                slot.clone(),
                wake.clone(),
            ));
            table.insert(
                id,
                Running {
                    spec,
                    slot,
                    wake,
                    task,
                },
            );
        }
    }

    /// Checks that target now (after its running check, if one is running).
    pub fn check_now(&self, id: i64) {
        if let Some(r) = self.read().get(&id) {
            r.wake.notify_one();
        }
    }

    /// Stops every check; the statuses stay readable.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        for r in self.read().values() {
            r.task.abort();
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A current-thread runtime on a new thread, running until the sender is dropped.
fn own_runtime() -> Result<(Handle, oneshot::Sender<()>), StartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("health-checker".to_owned())
        .spawn(move || {
            // Ends when the checker is dropped; its tasks are dropped with the runtime.
            let _ = runtime.block_on(stopped);
        })
        .map_err(StartError::Thread)?;
    Ok((handle, stop))
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A small xorshift generator for the offsets and the jitter.
struct Rng(u64);

impl Rng {
    fn new(id: i64) -> Self {
        let seed = getrandom::u64().unwrap_or_else(|_| {
            u64::try_from(now_ms()).unwrap_or(1) ^ id.unsigned_abs().rotate_left(32)
        });
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `interval` ± up to `percent` %.
fn jittered(interval: Duration, percent: u32, rng: &mut Rng) -> Duration {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let spread = ms * u64::from(percent) / 100;
    if spread == 0 {
        return interval;
    }
    let offset = rng.below(2 * spread + 1);
    Duration::from_millis((ms + offset).saturating_sub(spread).max(1))
}

async fn run_target(
    shared: Arc<Shared>,
    spec: TargetSpec,
    slot: Arc<Mutex<Slot>>,
    wake: Arc<Notify>,
) {
    let prepared = Prepared::new(&spec);
    let mut rng = Rng::new(spec.id);
    let inter = u64::from(spec.timing.inter_ms.max(1));
    let mut next = shared.on_grid(Instant::now() + Duration::from_millis(rng.below(inter)));
    // One wake-up registration and one timer, kept across checks (re-armed, not
    // made anew each time).
    let mut woken = std::pin::pin!(wake.notified());
    let sleep = tokio::time::sleep_until(next);
    let mut sleep = std::pin::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => {}
            () = &mut woken => woken.set(wake.notified()),
        }
        let observation = {
            let Ok(_permit) = shared.permits.acquire().await else {
                return;
            };
            match &prepared {
                // Boxed: a sleeping task then holds no room for a check's state.
                // A span per check at TRACE only: thousands run a second.
                Ok(p) => {
                    let span = tracing::trace_span!("health_check", target = spec.id);
                    Box::pin(p.run(&shared.tls).instrument(span)).await
                }
                Err(why) => Observation {
                    at_ms: now_ms(),
                    ok: false,
                    latency_ms: 0,
                    message: why.to_string(),
                    warning: None,
                },
            }
        };
        let (change, interval) = {
            let mut s = lock(&slot);
            let from = s.counter.state();
            let change = s.counter.record(observation.ok).map(|to| StateChange {
                target_id: spec.id,
                name: spec.name.clone(),
                pool: spec.pool.clone(),
                from,
                to,
                at_ms: observation.at_ms,
                message: observation.message.clone(),
            });
            if change.is_some() {
                s.since_ms = observation.at_ms;
            }
            if shared.history > 0 {
                if s.recent.len() >= shared.history {
                    s.recent.pop_front();
                }
                s.recent
                    .push_back(observation.ok.then_some(observation.latency_ms));
            }
            s.checks += 1;
            s.last = Some(observation);
            (change, s.counter.next_interval(&spec.timing))
        };
        if let Some(change) = change {
            if change.to == HealthState::Down {
                tracing::warn!(target = %spec.name, pool = %spec.pool, "DOWN: {}", change.message);
            } else {
                tracing::info!(target = %spec.name, pool = %spec.pool, "UP: {}", change.message);
            }
            let _ = shared.changes.send(change);
        }
        next = shared.on_grid(Instant::now() + jittered(interval, shared.jitter_percent, &mut rng));
        sleep.as_mut().reset(next);
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn shared(tick_ms: u64) -> Shared {
        Shared {
            tls: tls_config(&[]).expect("tls"),
            permits: Semaphore::new(1),
            changes: mpsc::unbounded_channel().0,
            jitter_percent: 0,
            history: 0,
            epoch: Instant::now(),
            tick: Duration::from_millis(tick_ms),
        }
    }

    #[test]
    fn due_times_go_to_the_nearest_grid_point() {
        let s = shared(10);
        let at = |micros: u64| s.epoch + Duration::from_micros(micros);
        // In microseconds: 14.999 ms -> 10 ms, 15 ms -> 20 ms, 20 ms stays.
        assert_eq!(s.on_grid(at(14_999)), s.epoch + Duration::from_millis(10));
        assert_eq!(s.on_grid(at(15_000)), s.epoch + Duration::from_millis(20));
        assert_eq!(s.on_grid(at(20_000)), s.epoch + Duration::from_millis(20));
        assert_eq!(
            s.on_grid(at(2_004_000)),
            s.epoch + Duration::from_millis(2_000)
        );
        // Still on the grid after 600 days (10 ms steps overflow a u32 at 497).
        let days = Duration::from_secs(600 * 86_400);
        assert_eq!(
            s.on_grid(s.epoch + days + Duration::from_micros(3_001)),
            s.epoch + days
        );
        // At or before the epoch: the epoch. No grid: unchanged.
        assert_eq!(s.on_grid(s.epoch), s.epoch);
        if let Some(before) = s.epoch.checked_sub(Duration::from_millis(7)) {
            assert_eq!(s.on_grid(before), s.epoch);
        }
        let none = shared(0);
        let t = none.epoch + Duration::from_micros(12_345);
        assert_eq!(none.on_grid(t), t);
        // Intervals keep their mean: 1,000 jittered 2 s intervals on the grid.
        let mut rng = Rng::new(7);
        let (mut plain, mut gridded) = (Duration::ZERO, Duration::ZERO);
        let mut now = s.epoch + Duration::from_micros(3_217);
        for _ in 0..1_000 {
            let d =
                jittered(Duration::from_millis(2000), 10, &mut rng) + Duration::from_micros(137);
            let next = s.on_grid(now + d);
            plain += d;
            gridded += next - now;
            now = next;
        }
        // Rounding up would add half a step each time (5 s in all).
        let drift = gridded.abs_diff(plain);
        assert!(drift < Duration::from_secs(1), "{drift:?}");
    }

    #[test]
    fn jitter_stays_within_the_spread() {
        let mut rng = Rng::new(1);
        let base = Duration::from_millis(2000);
        let (mut lo, mut hi) = (u128::MAX, 0);
        for _ in 0..10_000 {
            let d = jittered(base, 10, &mut rng).as_millis();
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo >= 1800 && hi <= 2200, "{lo}..{hi}");
        assert!(lo < 1850 && hi > 2150, "spread too narrow: {lo}..{hi}");
        assert_eq!(jittered(base, 0, &mut rng), base);
    }
}
