//! Stage 1 fitted to the device: SyncDreamer-T's memory model and the view batch it chooses
//! (`generate::syncdreamer::memory`). The model's figures for the tiny model are the sizes burn's pool
//! report measured on lavapipe (`bench generate --tiny --wgpu`, docs/syncdreamer.md).

use efficient4d::generate::syncdreamer::SyncDreamerConfig;
use efficient4d::generate::syncdreamer::memory::{
    DeviceMemory, Phase, ViewBatch, card_table, estimate, fit, largest_tensors, weights_bytes,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn device(capacity: Option<u64>, max_buffer: u64, f16: bool) -> DeviceMemory {
    DeviceMemory { capacity, source: "test", max_buffer, f16 }
}

#[test]
fn the_tiny_models_largest_tensors_are_the_ones_burn_allocated() {
    let tiny = SyncDreamerConfig::tiny();
    // Measured on lavapipe: the depth attention's keys, 9 MiB per view (72 MiB at 8 views); the VAE
    // decoder's 256² activations, 8 MiB per view (128 MiB at 16); the unprojected volume, 32 MiB.
    let at = |views: usize, phase: Phase| largest_tensors(&tiny, 2, views).iter().find(|p| p.0 == phase).unwrap().1;
    for views in [1, 2, 4, 8, 16] {
        assert_eq!(at(views, Phase::Denoise), views as u64 * 9 * MIB, "{views} views");
        assert_eq!(at(views, Phase::Decode), views as u64 * 8 * MIB, "{views} views");
    }
    assert_eq!(at(1, Phase::Volume), 32 * MIB);
    // 16 views ask for 144 MiB in one buffer: over lavapipe's 128 MiB binding, the failure seen there.
    assert_eq!(estimate(&tiny, 2, 16, false).largest_tensor, 144 * MIB);
}

#[test]
fn auto_takes_the_largest_view_batch_whose_tensors_fit_one_buffer() {
    let tiny = SyncDreamerConfig::tiny();
    let lavapipe = device(None, 128 * MIB, true);
    let plan = fit(&tiny, 2, ViewBatch::Auto, false, &lavapipe).unwrap();
    assert_eq!(plan.view_batch, 8);
    assert!(plan.describe().contains("8 views per batch (auto)"), "{}", plan.describe());

    let refused = fit(&tiny, 2, ViewBatch::Fixed(16), false, &lavapipe).unwrap_err();
    assert!(refused.contains("144 MiB") && refused.contains("--view-batch 8 fits"), "{refused}");
    assert_eq!(fit(&tiny, 2, ViewBatch::Fixed(4), false, &lavapipe).unwrap().view_batch, 4, "a fixed batch that fits");
    assert_eq!(fit(&tiny, 2, ViewBatch::Auto, false, &DeviceMemory::host()).unwrap().view_batch, 16);
}

#[test]
fn the_full_models_weights_are_counted_in_their_precision() {
    let full = SyncDreamerConfig::full();
    // `bench generate` (full size) measured what the loader hands out: 5164 MiB in f32, 2730 MiB in f16.
    let mib = |bytes: u64| (bytes as f64 / MIB as f64).round();
    assert_eq!(mib(weights_bytes(&full, false)), 5164.0);
    assert_eq!(mib(weights_bytes(&full, true)), 2730.0);
}

#[test]
fn memory_grows_with_the_view_batch_and_the_frames() {
    let full = SyncDreamerConfig::full();
    let peak = |frames, views| estimate(&full, frames, views, true).peak();
    for views in [1, 2, 4, 8] {
        assert!(peak(16, views) < peak(16, views * 2), "{views} views");
    }
    assert!(peak(16, 4) < peak(64, 4));
}

#[test]
fn a_card_too_small_is_refused_naming_what_would_fit() {
    let full = SyncDreamerConfig::full();
    let card = |gib: u64, f16: bool| device(Some(gib * GIB), 2 * GIB, f16);
    // f32 weights alone are 5 GiB: a 6 GiB card with shader-f16 is pointed at f16.
    let refused = fit(&full, 16, ViewBatch::Auto, false, &card(6, true)).unwrap_err();
    assert!(refused.contains("--precision f16 fits"), "{refused}");
    // A fixed batch that does not fit names the largest that does.
    let refused = fit(&full, 16, ViewBatch::Fixed(16), true, &card(6, true)).unwrap_err();
    assert!(refused.contains("--view-batch") && refused.contains("fits"), "{refused}");
    let suggested: usize = refused.split("--view-batch ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(fit(&full, 16, ViewBatch::Fixed(suggested), true, &card(6, true)).is_ok(), "the suggestion fits");
    // Nothing fits a 2 GiB card: the message says what the smallest run needs.
    let refused = fit(&full, 16, ViewBatch::Auto, true, &card(2, true)).unwrap_err();
    assert!(refused.contains("no setting fits") && refused.contains("GiB"), "{refused}");
}

#[test]
fn the_docs_table_is_what_the_model_predicts() {
    let table = card_table(&[8, 12, 16, 24, 48], 16);
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/syncdreamer.md")).unwrap();
    assert!(docs.contains(&table), "docs/syncdreamer.md should hold the model's table:\n{table}");
}
