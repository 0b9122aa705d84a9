//! Editing a 4D model in the viewer: crop to a box and delete selected splats. Both act on whole 4D
//! Gaussians, so an edit applies at every time. Every edit can be undone and redone.

use crate::camera::Camera;
use crate::gaussians::Gaussians4d;
use crate::gaussians::math::slice;

/// Keeps the Gaussians whose centre — at the time they are most present (their own time mean) —
/// lies inside the axis-aligned box.
pub(crate) fn crop_to_box(g: &Gaussians4d, min: [f32; 3], max: [f32; 3]) -> Gaussians4d {
    g.filtered(|i| (0..3).all(|a| (min[a]..=max[a]).contains(&g.means[i * 4 + a])))
}

/// Indices of the Gaussians visible at time `t` (sliced opacity above `min_opacity`) whose projected
/// centre falls inside the pixel rectangle [x0, x1] × [y0, y1] of `camera`.
pub fn select_in_rect(g: &Gaussians4d, camera: &Camera, t: f32, rect: [f32; 4], min_opacity: f64) -> Vec<usize> {
    let [x0, y0, x1, y1] = rect;
    (0..g.len())
        .filter(|&i| {
            let s = slice(&g.get(i), t as f64);
            if s.opacity.is_nan() || s.opacity <= min_opacity || !s.mean.is_finite() {
                return false;
            }
            match camera.project(s.mean) {
                Some((u, v, _)) => (x0 as f64..=x1 as f64).contains(&u) && (y0 as f64..=y1 as f64).contains(&v),
                None => false,
            }
        })
        .collect()
}

/// The model without the Gaussians listed in `remove` (sorted or not).
pub fn delete(g: &Gaussians4d, remove: &[usize]) -> Gaussians4d {
    let mut gone = vec![false; g.len()];
    for &i in remove {
        if i < gone.len() {
            gone[i] = true;
        }
    }
    g.filtered(|i| !gone[i])
}

/// Undo / redo of whole-model states (a few MB each; the oldest are dropped past `limit`).
#[derive(Debug, Default)]
pub struct History {
    undo: Vec<Gaussians4d>,
    redo: Vec<Gaussians4d>,
}

impl History {
    const LIMIT: usize = 32;

    /// Records `before` as the state an undo returns to; clears the redo list.
    pub fn push(&mut self, before: Gaussians4d) {
        self.undo.push(before);
        if self.undo.len() > Self::LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    pub(crate) fn undo(&mut self, current: Gaussians4d) -> Option<Gaussians4d> {
        let previous = self.undo.pop()?;
        self.redo.push(current);
        Some(previous)
    }

    pub(crate) fn redo(&mut self, current: Gaussians4d) -> Option<Gaussians4d> {
        let next = self.redo.pop()?;
        self.undo.push(current);
        Some(next)
    }

    pub(crate) fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub(crate) fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::SyncDreamerRig;
    use crate::gaussians::random::RandomScene;

    #[test]
    fn crop_keeps_only_the_inside_and_delete_only_the_selection() {
        let g = RandomScene { count: 500, ..Default::default() }.build();
        let c = crop_to_box(&g, [-0.1, -1.0, -1.0], [1.0, 1.0, 1.0]);
        assert!(c.len() < g.len() && !c.is_empty());
        assert!(c.means.chunks(4).all(|m| m[0] >= -0.1));
        c.validate().unwrap();
        let d = delete(&g, &[0, 7, 499, 10_000]);
        assert_eq!(d.len(), 497);
        assert_eq!(d.means[..4], g.means[4..8]);
    }

    #[test]
    fn a_rectangle_selects_what_it_covers() {
        let g = RandomScene { count: 400, log_scale_t: (1.0, 2.0), ..Default::default() }.build();
        let camera = SyncDreamerRig::default().camera(0);
        let all = select_in_rect(&g, &camera, 0.5, [0.0, 0.0, 256.0, 256.0], 0.0);
        let left = select_in_rect(&g, &camera, 0.5, [0.0, 0.0, 128.0, 256.0], 0.0);
        assert!(all.len() > 200, "{} of 400 in view", all.len());
        assert!(!left.is_empty() && left.len() < all.len());
        assert!(left.iter().all(|i| all.contains(i)));
    }

    #[test]
    fn undo_and_redo_walk_the_history() {
        let a = RandomScene { count: 3, ..Default::default() }.build();
        let b = delete(&a, &[0]);
        let mut h = History::default();
        h.push(a.clone());
        let back = h.undo(b.clone()).unwrap();
        assert_eq!(back, a);
        assert_eq!(h.redo(back).unwrap(), b);
        assert!(h.can_undo() && !h.can_redo());
    }
}
