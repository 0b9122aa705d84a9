//! Which training views a pass over the data visits, and how often. By default every view once per
//! pass. With an end balance, views near the clip's ends are visited more often: a splat living at an
//! end is seen from one side of its temporal mean only, by about half the views a splat in the middle
//! sees (measured: the ends are the worst test views on D-NeRF).

use rand::Rng;
use rand::seq::SliceRandom;

/// Each view's expected visits per pass: 1 + balance·(2w / |[t − w, t + w] ∩ range| − 1). With
/// evenly spaced times that is 1 in the middle and 1 + balance at an end, where half of the window
/// falls outside the clip. `window` is w in time units; a window ≤ 0 or a balance of 0 gives 1.
pub fn end_balance_weights(times: &[f32], time_range: (f32, f32), window: f32, balance: f32) -> Vec<f32> {
    let (start, end) = time_range;
    times
        .iter()
        .map(|&t| {
            if balance == 0.0 || window <= 0.0 || end <= start {
                return 1.0;
            }
            let inside = (t + window).min(end) - (t - window).max(start);
            let share = (inside / (2.0 * window)).clamp(0.5, 1.0);
            1.0 + balance * (1.0 / share - 1.0)
        })
        .collect()
}

/// One shuffled pass: view `i` appears ⌊wᵢ⌋ times, plus once more with probability frac(wᵢ), so its
/// expected count is wᵢ (so a batch may hold a view twice). Never empty while there are views (a
/// pass of all zero draws falls back to every view once).
pub fn weighted_pass(weights: &[f32], rng: &mut impl Rng) -> Vec<usize> {
    let mut pass = Vec::with_capacity(weights.len() * 2);
    for (i, &w) in weights.iter().enumerate() {
        let w = w.max(0.0);
        // No draw for a whole weight, so all-one weights give the plain shuffle of the same seed.
        let extra = usize::from(w.fract() > 0.0 && rng.random::<f32>() < w.fract());
        pass.extend(std::iter::repeat_n(i, w.floor() as usize + extra));
    }
    if pass.is_empty() {
        pass.extend(0..weights.len());
    }
    pass.shuffle(rng);
    pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn even_times(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 / (n - 1) as f32).collect()
    }

    #[test]
    fn weights_are_one_in_the_middle_and_one_plus_balance_at_the_ends() {
        let times = even_times(101);
        let w = end_balance_weights(&times, (0.0, 1.0), 0.1, 1.0);
        assert!((w[0] - 2.0).abs() < 1e-5 && (w[100] - 2.0).abs() < 1e-5, "{} {}", w[0], w[100]);
        assert!(w[10..=90].iter().all(|&x| (x - 1.0).abs() < 1e-5));
        // Half way into the window: 3/4 of it inside, so 1 + (4/3 − 1).
        assert!((w[5] - 4.0 / 3.0).abs() < 1e-4, "{}", w[5]);
        // Monotone towards the end.
        assert!(w[0..=10].windows(2).all(|p| p[0] >= p[1]));
        let w = end_balance_weights(&times, (0.0, 1.0), 0.1, 0.5);
        assert!((w[0] - 1.5).abs() < 1e-5);
    }

    #[test]
    fn no_balance_no_window_or_one_time_gives_one() {
        let times = even_times(11);
        assert!(end_balance_weights(&times, (0.0, 1.0), 0.1, 0.0).iter().all(|&w| w == 1.0));
        assert!(end_balance_weights(&times, (0.0, 1.0), 0.0, 1.0).iter().all(|&w| w == 1.0));
        assert!(end_balance_weights(&[0.5, 0.5], (0.5, 0.5), 0.1, 1.0).iter().all(|&w| w == 1.0));
        // A window wider than the clip: every time sees the whole clip, half its window or more.
        let w = end_balance_weights(&times, (0.0, 1.0), 10.0, 1.0);
        assert!(w.iter().all(|&x| (x - 2.0).abs() < 1e-5), "{w:?}");
    }

    #[test]
    fn a_pass_visits_each_view_by_its_weight() {
        let mut rng = StdRng::seed_from_u64(7);
        let pass = weighted_pass(&[1.0, 2.0, 3.0], &mut rng);
        let count = |i| pass.iter().filter(|&&j| j == i).count();
        assert_eq!((count(0), count(1), count(2)), (1, 2, 3));
        // Fractional weights: expected counts over many passes.
        let mut total = [0usize; 2];
        for _ in 0..4000 {
            for i in weighted_pass(&[1.25, 0.5], &mut rng) {
                total[i] += 1;
            }
        }
        assert!((total[0] as f64 / 4000.0 - 1.25).abs() < 0.03, "{total:?}");
        assert!((total[1] as f64 / 4000.0 - 0.5).abs() < 0.03, "{total:?}");
        assert_eq!(weighted_pass(&[0.0, 0.0], &mut rng).len(), 2);
        // Whole weights of 1 are exactly a plain shuffle (the schedule without end balance).
        let mut plain: Vec<usize> = (0..50).collect();
        plain.shuffle(&mut StdRng::seed_from_u64(3));
        assert_eq!(weighted_pass(&[1.0; 50], &mut StdRng::seed_from_u64(3)), plain);
        assert!(weighted_pass(&[], &mut rng).is_empty());
    }
}
