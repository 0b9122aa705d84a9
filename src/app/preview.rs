//! What the viewport shows before a job has a model, so the app shows progress from its first second:
//! the input clip as soon as it is decoded, then a turntable of the newest generated key frame's views
//! while stage 1 makes the rest, then the finished image matrix (turning, and playing over time)
//! until training sends its first model.

use crate::dataset::Dataset;
use image::RgbaImage;
use std::sync::Arc;

/// Key frames (clip) and views (turntable) shown per second.
const FRAMES_PER_SECOND: f64 = 8.0;
/// The image matrix steps through time this many times slower than it turns, so both read.
const MATRIX_FRAME_SLOWDOWN: f64 = 4.0;

/// The image picked for a moment of the preview, by where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Key frame `k` of the input clip.
    Clip(usize),
    /// View `v` of the newest generated key frame.
    Generated(usize),
    /// Training view `index` of the matrix (frame `frame`, rig view `view`).
    Matrix { index: usize, frame: usize, view: usize },
}

#[derive(Default)]
pub struct StagePreview {
    clip: Vec<RgbaImage>,
    /// The newest generated key frame: which of how many, and its rig views.
    newest: Option<(usize, usize, Vec<RgbaImage>)>,
    matrix: Option<Arc<Dataset>>,
    /// Per matrix frame (in time order), the training-view indices of its rig views (in view order).
    matrix_frames: Vec<Vec<(usize, u32)>>,
    texture: Option<egui::TextureHandle>,
    shown: Option<Pick>,
}

impl StagePreview {
    pub fn clear(&mut self) {
        *self = Self { texture: self.texture.take(), ..Self::default() };
    }

    pub(crate) fn set_clip(&mut self, frames: Vec<RgbaImage>) {
        self.clip = frames;
    }

    /// Key frame `frame` of `total` was generated; `views` are its rig views, in order.
    pub(crate) fn set_generated(&mut self, frame: usize, total: usize, views: Vec<RgbaImage>) {
        if !views.is_empty() {
            self.newest = Some((frame, total, views));
        }
    }

    pub(crate) fn set_matrix(&mut self, ds: Arc<Dataset>) {
        // Rig views only where there is a rig: its input view (numbered after them) would jump out of the turn.
        let rig_views = ds.rig.as_ref().map(|r| r.views);
        let mut frames: Vec<(f32, Vec<(usize, u32)>)> = Vec::new();
        for (i, v) in ds.train.iter().enumerate() {
            let view = v.view_index.unwrap_or(0);
            if rig_views.is_some_and(|n| view >= n) {
                continue;
            }
            match frames.iter_mut().find(|(t, _)| *t == v.time) {
                Some((_, list)) => list.push((i, view)),
                None => frames.push((v.time, vec![(i, view)])),
            }
        }
        frames.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, views) in &mut frames {
            views.sort_by_key(|&(_, view)| view);
        }
        self.matrix_frames = frames.into_iter().map(|(_, views)| views).filter(|v| !v.is_empty()).collect();
        self.matrix = (!self.matrix_frames.is_empty()).then_some(ds);
    }

    /// The job's image matrix, once stage 1 has made it.
    pub fn matrix(&self) -> Option<&Arc<Dataset>> {
        self.matrix.as_ref()
    }

    /// What to show `seconds` after the job started: the latest of matrix, generated views and clip.
    pub fn pick(&self, seconds: f64) -> Option<Pick> {
        let tick = (seconds.max(0.0) * FRAMES_PER_SECOND) as usize;
        if self.matrix.is_some() {
            let frame = (tick as f64 / MATRIX_FRAME_SLOWDOWN) as usize % self.matrix_frames.len();
            let views = &self.matrix_frames[frame];
            let (index, view) = views[tick % views.len()];
            return Some(Pick::Matrix { index, frame, view: view as usize });
        }
        if let Some((_, _, views)) = &self.newest {
            return Some(Pick::Generated(tick % views.len()));
        }
        (!self.clip.is_empty()).then(|| Pick::Clip(tick % self.clip.len()))
    }

    /// The caption of a pick.
    pub(crate) fn caption(&self, pick: Pick) -> String {
        match pick {
            Pick::Clip(k) => {
                format!("input clip: key frame {} of {} (stage 1 is generating views)", k + 1, self.clip.len())
            }
            Pick::Generated(v) => {
                let (frame, total) = self.newest.as_ref().map_or((0, 0), |(f, t, _)| (*f, *t));
                format!("generated views of key frame {} of {total}: view {v}", frame + 1)
            }
            Pick::Matrix { frame, view, .. } => format!(
                "image matrix: frame {} of {}, view {view} (waiting for the first model)",
                frame + 1,
                self.matrix_frames.len()
            ),
        }
    }

    fn image(&self, pick: Pick) -> Option<&RgbaImage> {
        match pick {
            Pick::Clip(k) => self.clip.get(k),
            Pick::Generated(v) => self.newest.as_ref().and_then(|(_, _, views)| views.get(v)),
            Pick::Matrix { index, .. } => self.matrix.as_ref().and_then(|ds| ds.train.get(index)).map(|v| &v.image),
        }
    }

    /// The texture for `seconds` after the job started (one texture, updated only when the pick
    /// changes) and its caption; None while there is nothing to show.
    pub fn texture(&mut self, ctx: &egui::Context, seconds: f64) -> Option<(egui::TextureHandle, String)> {
        let pick = self.pick(seconds)?;
        if self.shown != Some(pick) || self.texture.is_none() {
            let img = self.image(pick)?;
            // Straight alpha: the viewport's background shows through, as behind a model.
            let image =
                egui::ColorImage::from_rgba_unmultiplied([img.width() as usize, img.height() as usize], img.as_raw());
            match &mut self.texture {
                Some(t) => t.set(image, egui::TextureOptions::LINEAR),
                None => self.texture = Some(ctx.load_texture("stage-preview", image, egui::TextureOptions::LINEAR)),
            }
            self.shown = Some(pick);
        }
        Some((self.texture.clone()?, self.caption(pick)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> Vec<RgbaImage> {
        (0..n).map(|i| RgbaImage::from_pixel(4, 4, image::Rgba([i as u8, 0, 0, 255]))).collect()
    }

    #[test]
    fn the_preview_plays_the_clip_then_the_newest_views_then_the_matrix() {
        let mut p = StagePreview::default();
        assert_eq!(p.pick(3.0), None, "nothing decoded yet");
        p.set_clip(images(5));
        // 8 key frames a second, looping.
        assert_eq!(p.pick(0.0), Some(Pick::Clip(0)));
        assert_eq!(p.pick(0.5), Some(Pick::Clip(4)));
        assert_eq!(p.pick(0.75), Some(Pick::Clip(1)));
        p.set_generated(2, 16, images(16));
        assert_eq!(p.pick(1.0), Some(Pick::Generated(8)));
        assert!(p.caption(Pick::Generated(8)).contains("key frame 3 of 16"));
        assert_eq!(p.image(Pick::Generated(8)).unwrap().get_pixel(0, 0)[0], 8);
        // A matrix of 3 times × (16 rig views + the input view), listed out of order.
        let rig = crate::camera::SyncDreamerRig::default();
        let mut ds = Dataset { rig: Some(rig.clone()), ..Default::default() };
        for view in (0..=16u32).rev() {
            for (f, time) in [0.5f32, 0.0, 1.0].into_iter().enumerate() {
                ds.train.push(crate::dataset::View {
                    name: format!("f{f}_v{view}"),
                    camera: rig.camera(view.min(15)),
                    time,
                    image: RgbaImage::from_pixel(4, 4, image::Rgba([view as u8, f as u8, 0, 255])),
                    confidence: None,
                    frame_index: Some(f as u32),
                    view_index: Some(view),
                });
            }
        }
        p.set_matrix(Arc::new(ds));
        // It turns at 8 views a second and steps through time 4 times slower; never the input view.
        let seen: Vec<Pick> = (0..64).map(|i| p.pick(i as f64 / 8.0).unwrap()).collect();
        let Pick::Matrix { frame, view, index } = seen[9] else { panic!("{:?}", seen[9]) };
        assert_eq!((frame, view), (2, 9));
        let img = p.image(seen[9]).unwrap().get_pixel(0, 0);
        assert_eq!((img[0], img[1]), (9, 2), "frame 2 in time order is t = 1.0, listed third");
        assert!(p.matrix.as_ref().unwrap().train[index].time == 1.0);
        assert!(seen.iter().all(|s| matches!(s, Pick::Matrix { view, .. } if *view < 16)));
        let frames: Vec<usize> =
            seen.iter().map(|s| if let Pick::Matrix { frame, .. } = s { *frame } else { 9 }).collect();
        assert_eq!(&frames[..13], &[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0]);
    }
}
