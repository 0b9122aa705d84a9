//! Efficient4D's time-synchronous smoothing: at every DDIM step each frame's spatial feature volume
//! is replaced by a weighted average over frames, with the weights of its `get_w(n, is_cyc)`.

/// Row-normalised smoothing weights for `n` frames (`cyclic`: the clip loops). Reproduces the
/// reference's tables: hand-written ones for 2..4 frames, a 7-tap band [1,1,1,6,1,1,1] for 5..12
/// frames, a 13-tap band [1,1,1,1,1,2,14,2,1,1,1,1,1] from 13 on (cyclic bands wrap around). Where the
/// reference fails (cyclic with 5 or 6 frames, shorter than its kernel) the kernel is wrapped and
/// its overlapping taps summed instead.
pub fn smoothing_weights(n: usize, cyclic: bool) -> Vec<Vec<f64>> {
    let raw: Vec<Vec<f64>> = match (n, cyclic) {
        (0, _) => return Vec::new(),
        (1, _) => vec![vec![1.0]],
        (2, _) => vec![vec![0.75, 0.25], vec![0.25, 0.75]],
        (3, false) => table(&[[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]]),
        (3, true) => table(&[[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]]),
        (4, false) => {
            table(&[[0.7, 0.2, 0.1, 0.0], [0.15, 0.6, 0.15, 0.1], [0.1, 0.15, 0.6, 0.15], [0.0, 0.1, 0.2, 0.7]])
        }
        (4, true) => table(&[[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.1, 0.7]]),
        _ => {
            let kernel: &[f64] = if n < 13 {
                &[1.0, 1.0, 1.0, 6.0, 1.0, 1.0, 1.0]
            } else {
                &[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 14.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]
            };
            band(n, kernel, cyclic)
        }
    };
    raw.into_iter()
        .map(|row| {
            let sum: f64 = row.iter().sum();
            row.into_iter().map(|w| w / sum).collect()
        })
        .collect()
}

/// The hand-written tables, stored in float32 as the reference holds them.
fn table<const N: usize>(rows: &[[f32; N]; N]) -> Vec<Vec<f64>> {
    rows.iter().map(|r| r.iter().map(|&w| w as f64).collect()).collect()
}

fn band(n: usize, kernel: &[f64], cyclic: bool) -> Vec<Vec<f64>> {
    let centre = (kernel.len() / 2) as isize;
    let mut w = vec![vec![0.0; n]; n];
    for (i, row) in w.iter_mut().enumerate() {
        for (k, &tap) in kernel.iter().enumerate() {
            let j = i as isize + k as isize - centre;
            if cyclic {
                row[j.rem_euclid(n as isize) as usize] += tap;
            } else if (0..n as isize).contains(&j) {
                row[j as usize] = tap;
            }
        }
    }
    w
}
