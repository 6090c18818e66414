//! Pace: how fast passes scan, in output-keys per second, and what that makes of a wait. It turns the
//! output-keys queued ahead of a job into the `Retry-After` a refused client is told, and a target pass
//! duration into the output-keys a pass may take. Measured from the passes themselves (a moving average),
//! with a cautious guess per scan thread before the first. Owns no clock: times are passed in.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Output-keys one scan thread checks per second before any pass was measured: about 30-40 µs per miss
/// on one core of a small server, rounded down so the first estimates err long.
const GUESS_PER_THREAD: f64 = 20_000.0;
/// Weight of the newest pass in the moving average.
const NEWEST_WEIGHT: f64 = 0.3;
/// Passes shorter than this say little about the pace (fixed costs dominate) and are not averaged in.
const SHORTEST_MEASURED: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
struct State {
    /// Output-keys per second, once a pass was measured.
    measured: Option<f64>,
    /// The pass running now: when it started and its output-keys.
    running: Option<(Instant, u64)>,
}

#[derive(Debug)]
pub struct Pace {
    guess: f64,
    state: Mutex<State>,
}

impl Pace {
    /// A pace for `threads` scan threads.
    pub fn new(threads: usize) -> Pace {
        Pace {
            guess: GUESS_PER_THREAD * threads.max(1) as f64,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Output-keys per second: measured, or the guess.
    pub fn rate(&self) -> f64 {
        self.state().measured.unwrap_or(self.guess)
    }

    /// A pass of `output_keys` starts at `now`.
    pub fn started(&self, now: Instant, output_keys: u64) {
        self.state().running = Some((now, output_keys));
    }

    /// The pass running since `started` ended at `now`, having scanned `output_keys`.
    pub fn finished(&self, now: Instant, output_keys: u64) {
        let mut state = self.state();
        if let Some((started, _)) = state.running.take() {
            let took = now.saturating_duration_since(started);
            if took >= SHORTEST_MEASURED && output_keys > 0 {
                let rate = output_keys as f64 / took.as_secs_f64();
                state.measured = Some(match state.measured {
                    Some(average) => average + NEWEST_WEIGHT * (rate - average),
                    None => rate,
                });
            }
        }
    }

    /// How long scanning `output_keys` takes at the current pace.
    pub fn time_for(&self, output_keys: u64) -> Duration {
        Duration::from_secs_f64((output_keys as f64 / self.rate()).min(1e9))
    }

    /// What is left of the running pass at `now` (zero if none runs, or it overran its estimate).
    pub fn remaining(&self, now: Instant) -> Duration {
        let running = self.state().running;
        running.map_or(Duration::ZERO, |(started, keys)| {
            (started + self.time_for(keys)).saturating_duration_since(now)
        })
    }

    /// The wait until `output_keys` queued ahead are scanned, after the running pass: at least a second.
    pub fn wait(&self, now: Instant, output_keys: u64) -> Duration {
        (self.remaining(now) + self.time_for(output_keys)).max(Duration::from_secs(1))
    }

    /// Output-keys a pass may take to last about `target`.
    pub fn keys_for(&self, target: Duration) -> u64 {
        (self.rate() * target.as_secs_f64()).max(1.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guess_until_a_pass_is_measured_then_a_moving_average() {
        let pace = Pace::new(2);
        assert_eq!(pace.rate(), 40_000.0);
        let t0 = Instant::now();
        pace.started(t0, 1_000_000);
        assert_eq!(pace.remaining(t0 + Duration::from_secs(5)), Duration::from_secs(20));
        pace.finished(t0 + Duration::from_secs(10), 1_000_000);
        assert_eq!(pace.rate(), 100_000.0);
        pace.started(t0, 2_000_000);
        pace.finished(t0 + Duration::from_secs(10), 2_000_000);
        assert!((pace.rate() - 130_000.0).abs() < 1e-6);
        assert_eq!(pace.remaining(t0), Duration::ZERO, "nothing runs");
    }

    #[test]
    fn short_passes_do_not_move_the_pace() {
        let pace = Pace::new(1);
        let t0 = Instant::now();
        pace.started(t0, 10);
        pace.finished(t0 + Duration::from_millis(5), 10);
        assert_eq!(pace.rate(), 20_000.0);
    }

    #[test]
    fn waits_add_the_running_pass_and_the_work_ahead() {
        let pace = Pace::new(1);
        let t0 = Instant::now();
        pace.started(t0, 200_000);
        let wait = pace.wait(t0 + Duration::from_secs(4), 100_000);
        assert_eq!(
            wait,
            Duration::from_secs(11),
            "6 s left of the pass, 5 s for the work ahead"
        );
        assert_eq!(pace.wait(t0 + Duration::from_secs(100), 0), Duration::from_secs(1));
        assert_eq!(pace.keys_for(Duration::from_secs(15)), 300_000);
    }
}
