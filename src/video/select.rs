//! Which source frames become key frames: K evenly spaced over the clip or over a time range.

/// `k` evenly spaced indices in `first..=last` (rounded), without duplicates when the span is short.
pub fn evenly_spaced(first: usize, last: usize, k: usize) -> Vec<usize> {
    if k == 0 || last < first {
        return Vec::new();
    }
    if k == 1 {
        return vec![first];
    }
    let span = (last - first) as f64;
    let mut out: Vec<usize> = (0..k).map(|i| first + (span * i as f64 / (k - 1) as f64).round() as usize).collect();
    out.dedup();
    out
}

/// The frame indices (of `total` frames at `fps`) inside `[start, end]` seconds, as an inclusive index range.
pub fn range_to_indices(total: usize, fps: f64, start: f64, end: f64) -> Option<(usize, usize)> {
    let valid = fps.is_finite() && fps > 0.0 && start.is_finite() && end.is_finite() && end >= start;
    if total == 0 || !valid {
        return None;
    }
    let first = (start * fps).ceil().max(0.0) as usize;
    let last = ((end * fps).floor() as usize).min(total - 1);
    (first <= last && first < total).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_of_a_hundred_include_both_ends() {
        let v = evenly_spaced(0, 99, 16);
        assert_eq!(v.len(), 16);
        assert_eq!((v[0], v[15]), (0, 99));
        assert!(v.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn two_frames_are_the_ends_and_short_clips_do_not_repeat() {
        assert_eq!(evenly_spaced(0, 9, 2), vec![0, 9]);
        assert_eq!(evenly_spaced(0, 2, 16), vec![0, 1, 2]);
        assert!(evenly_spaced(3, 2, 4).is_empty());
    }

    #[test]
    fn ranges_clamp_to_the_clip() {
        assert_eq!(range_to_indices(100, 25.0, 1.0, 2.0), Some((25, 50)));
        assert_eq!(range_to_indices(100, 25.0, 3.0, 100.0), Some((75, 99)));
        assert_eq!(range_to_indices(100, 25.0, 5.0, 6.0), None);
        assert_eq!(range_to_indices(100, 25.0, 2.0, 1.0), None);
    }
}
