//! Playback over the model's time range: play/pause, loop, speed 0.25×–4×, stepping between key frames.

#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub time: f32,
    pub range: (f32, f32),
    /// Key frame times (sorted), for stepping.
    pub keys: Vec<f32>,
    pub playing: bool,
    pub looping: bool,
    pub speed: f32,
    /// Seconds one pass over the range takes at 1×.
    pub seconds_per_pass: f32,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            time: 0.0,
            range: (0.0, 1.0),
            keys: Vec::new(),
            playing: false,
            looping: true,
            speed: 1.0,
            seconds_per_pass: 3.0,
        }
    }
}

impl Timeline {
    pub fn set_range(&mut self, range: (f32, f32), keys: Vec<f32>) {
        self.range = if range.1 > range.0 { range } else { (range.0, range.0 + 1.0) };
        self.keys = keys;
        self.time = self.time.clamp(self.range.0, self.range.1);
    }

    /// Advances by `dt` seconds of wall time; returns whether the time changed.
    pub fn advance(&mut self, dt: f32) -> bool {
        if !self.playing {
            return false;
        }
        let span = self.range.1 - self.range.0;
        let mut t = self.time + dt * self.speed * span / self.seconds_per_pass;
        if t > self.range.1 {
            if self.looping {
                t = self.range.0 + (t - self.range.0) % span;
            } else {
                t = self.range.1;
                self.playing = false;
            }
        }
        let changed = t != self.time;
        self.time = t;
        changed
    }

    /// Jumps to the next (`forward`) or previous key frame; without key frames, by a tenth of the range.
    pub fn step_key(&mut self, forward: bool) {
        let eps = 1e-6;
        let next = if forward {
            self.keys.iter().copied().find(|&k| k > self.time + eps)
        } else {
            self.keys.iter().rev().copied().find(|&k| k < self.time - eps)
        };
        let step = (self.range.1 - self.range.0) / 10.0;
        let fallback = if forward { self.time + step } else { self.time - step };
        self.time = next.unwrap_or(fallback).clamp(self.range.0, self.range.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_loops_or_stops() {
        let mut t = Timeline { playing: true, ..Default::default() };
        assert!(t.advance(1.5));
        assert!((t.time - 0.5).abs() < 1e-6);
        t.advance(2.0);
        assert!(t.time < 0.2 && t.playing, "looped to {}", t.time);
        t.looping = false;
        t.advance(10.0);
        assert_eq!(t.time, 1.0);
        assert!(!t.playing);
    }

    #[test]
    fn stepping_visits_key_frames() {
        let mut t = Timeline::default();
        t.set_range((0.0, 1.0), vec![0.0, 0.25, 0.5, 1.0]);
        t.step_key(true);
        assert_eq!(t.time, 0.25);
        t.step_key(true);
        t.step_key(true);
        assert_eq!(t.time, 1.0);
        t.step_key(true);
        assert_eq!(t.time, 1.0);
        t.step_key(false);
        assert_eq!(t.time, 0.5);
    }
}
