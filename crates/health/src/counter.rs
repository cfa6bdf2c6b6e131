//! HAProxy's health counter (`src/check.c`): how consecutive check results move a
//! server between UP and DOWN.
//!
//! `health` runs from `0` to `max = rise + fall - 1`. A server starts fully UP
//! (`health = max`, as HAProxy <= 3.0 does at start-up without `init-state`).
//!
//! ```text
//!                          failure, health > rise: health -= 1
//!                                   +-----+
//!                                   |     v
//!   +--------------+  failure  +----------------------+  failure, health == rise
//!   | UP           |---------->| UP, going down       |------------------------+
//!   | health = max |<----------| rise <= health < max |                        |
//!   +--------------+  success  +----------------------+                        |
//!          ^          (health = max)                                            |
//!          | success, health + 1 == rise                                        v
//!          | (health = max)                                      +--------------+
//!   +----------------------+          success                    | DOWN         |
//!   | DOWN, going up       |<------------------------------------| health = 0   |
//!   | 0 < health < rise    |------------------------------------>|              |
//!   +----------------------+          failure (health = 0)       +--------------+
//!           |     ^
//!           +-----+
//!   success, health + 1 < rise: health += 1
//!
//!   fall == 1: the first failure takes UP straight to DOWN (health == rise == max).
//!   rise == 1: the first success takes DOWN straight to UP.
//! ```
//!
//! In words:
//! - UP, failure: `health > rise` → `health -= 1`; otherwise → DOWN, `health = 0`.
//!   From fully UP that is exactly `fall` consecutive failures.
//! - UP, success: `health = max` (a success while going down restores full health).
//! - DOWN, success: `health += 1`; at `health >= rise` → UP, `health = max`.
//!   From fully DOWN that is exactly `rise` consecutive successes.
//! - DOWN, failure: `health = 0` (a failure while going up starts again).
//!
//! The next check waits `inter` while fully UP, `fastinter` while the state is changing
//! (UP with `health < max`, DOWN with `health > 0`) and `downinter` while fully DOWN;
//! a `fastinter` or `downinter` of 0 means `inter`, as in HAProxy.

use std::time::Duration;

use model::health::{HealthState, Timing};

/// One server's health counter; see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCounter {
    state: HealthState,
    health: u32,
    rise: u32,
    fall: u32,
}

impl HealthCounter {
    /// Fully UP. A `rise` or `fall` of 0 counts as 1.
    #[must_use]
    pub fn new(timing: &Timing) -> Self {
        let rise = timing.rise.max(1);
        let fall = timing.fall.max(1);
        Self {
            state: HealthState::Up,
            health: rise + fall - 1,
            rise,
            fall,
        }
    }

    /// `rise + fall - 1`: the health of a fully UP server.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.rise + self.fall - 1
    }

    #[must_use]
    pub fn state(&self) -> HealthState {
        self.state
    }

    #[must_use]
    pub fn health(&self) -> u32 {
        self.health
    }

    /// UP but below full health, or DOWN but above 0.
    #[must_use]
    pub fn is_changing(&self) -> bool {
        match self.state {
            HealthState::Up => self.health < self.max(),
            HealthState::Down => self.health > 0,
        }
    }

    /// Counts one check result; `Some(new state)` when it made the state change.
    pub fn record(&mut self, ok: bool) -> Option<HealthState> {
        match (self.state, ok) {
            (HealthState::Up, true) => {
                self.health = self.max();
                None
            }
            (HealthState::Up, false) => {
                if self.health > self.rise {
                    self.health -= 1;
                    None
                } else {
                    self.health = 0;
                    self.state = HealthState::Down;
                    Some(HealthState::Down)
                }
            }
            (HealthState::Down, true) => {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.max();
                    self.state = HealthState::Up;
                    Some(HealthState::Up)
                } else {
                    None
                }
            }
            (HealthState::Down, false) => {
                self.health = 0;
                None
            }
        }
    }

    /// How long until the next check: `inter`, `fastinter` or `downinter`.
    #[must_use]
    pub fn next_interval(&self, timing: &Timing) -> Duration {
        let inter = timing.inter_ms.max(1);
        let or_inter = |ms: u32| if ms == 0 { inter } else { ms };
        let ms = if self.is_changing() {
            or_inter(timing.fastinter_ms)
        } else if self.state == HealthState::Up {
            inter
        } else {
            or_inter(timing.downinter_ms)
        };
        Duration::from_millis(u64::from(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(fall: u32, rise: u32) -> Timing {
        Timing {
            inter_ms: 2000,
            fastinter_ms: 500,
            downinter_ms: 5000,
            fall,
            rise,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn starts_fully_up() {
        let c = HealthCounter::new(&timing(3, 2));
        assert_eq!(c.state(), HealthState::Up);
        assert_eq!(c.health(), 4);
        assert!(!c.is_changing());
    }

    #[test]
    fn fall_1_rise_1_flips_on_every_change() {
        let mut c = HealthCounter::new(&timing(1, 1));
        assert_eq!(c.health(), 1);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(false), Some(HealthState::Down));
        assert_eq!(c.health(), 0);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(true), Some(HealthState::Up));
        assert_eq!(c.health(), 1);
        assert!(!c.is_changing());
    }

    #[test]
    fn fall_3_needs_three_consecutive_failures() {
        let mut c = HealthCounter::new(&timing(3, 2));
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.health(), 2);
        assert!(c.is_changing());
        // A success while going down restores full health.
        assert_eq!(c.record(true), None);
        assert_eq!(c.health(), 4);
        assert!(!c.is_changing());
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(HealthState::Down));
        assert_eq!(c.health(), 0);
    }

    #[test]
    fn rise_2_restarts_after_a_failure() {
        let mut c = HealthCounter::new(&timing(3, 2));
        for _ in 0..3 {
            c.record(false);
        }
        assert_eq!(c.state(), HealthState::Down);
        assert_eq!(c.record(true), None);
        assert_eq!(c.health(), 1);
        assert!(c.is_changing());
        // A failure while going up resets to 0.
        assert_eq!(c.record(false), None);
        assert_eq!(c.health(), 0);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(HealthState::Up));
        assert_eq!(c.health(), 4);
    }

    #[test]
    fn intervals_at_each_stage() {
        let t = timing(3, 2);
        let ms = Duration::from_millis;
        let mut c = HealthCounter::new(&t);
        assert_eq!(c.next_interval(&t), ms(2000)); // fully UP
        c.record(false);
        assert_eq!(c.next_interval(&t), ms(500)); // going down
        c.record(false);
        assert_eq!(c.next_interval(&t), ms(500));
        c.record(false);
        assert_eq!(c.next_interval(&t), ms(5000)); // fully DOWN
        c.record(true);
        assert_eq!(c.next_interval(&t), ms(500)); // going up
        c.record(true);
        assert_eq!(c.next_interval(&t), ms(2000)); // UP again
                                                   // fastinter and downinter default to inter.
        let plain = Timing {
            fastinter_ms: 0,
            downinter_ms: 0,
            ..t
        };
        c.record(false);
        assert_eq!(c.next_interval(&plain), ms(2000));
        c.record(false);
        c.record(false);
        assert_eq!(c.next_interval(&plain), ms(2000));
    }

    #[test]
    fn zero_rise_and_fall_count_as_one() {
        let mut c = HealthCounter::new(&timing(0, 0));
        assert_eq!(c.health(), 1);
        assert_eq!(c.record(false), Some(HealthState::Down));
        assert_eq!(c.record(true), Some(HealthState::Up));
    }

    /// Random sequences: health stays in range, the state follows the counts exactly.
    #[test]
    fn health_never_leaves_its_range() {
        let mut seed: u64 = 0x5eed_1234_abcd_0001;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed >> 33
        };
        for _ in 0..500 {
            let fall = u32::try_from(next() % 5).unwrap_or(0) + 1;
            let rise = u32::try_from(next() % 5).unwrap_or(0) + 1;
            let t = timing(fall, rise);
            let mut c = HealthCounter::new(&t);
            let (mut fails, mut oks) = (0u32, 0u32);
            for _ in 0..200 {
                let ok = next() % 3 != 0;
                let before = c.state();
                let change = c.record(ok);
                if ok {
                    oks += 1;
                    fails = 0;
                } else {
                    fails += 1;
                    oks = 0;
                }
                assert!(c.health() < rise + fall, "{c:?}");
                match c.state() {
                    HealthState::Up => assert!(c.health() >= rise, "{c:?}"),
                    HealthState::Down => assert!(c.health() < rise, "{c:?}"),
                }
                assert_eq!(change.is_some(), before != c.state());
                if change == Some(HealthState::Down) {
                    assert_eq!(fails, fall, "down after {fails} failures: {c:?}");
                }
                if change == Some(HealthState::Up) {
                    assert_eq!(oks, rise, "up after {oks} successes: {c:?}");
                }
                if before == HealthState::Up && fails == fall {
                    assert_eq!(c.state(), HealthState::Down);
                }
            }
        }
    }
}
