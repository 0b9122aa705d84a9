//! How much memory the GPU has for us. wgpu states no figure (its limits bound one buffer, not the
//! device), so it comes from the user (`EFFICIENT4D_GPU_MEMORY`), else from the vendor's own tools:
//! `nvidia-smi`, which ships with every NVIDIA driver, and the amdgpu driver's sysfs counters on Linux.
//! A tool is asked only when it is the adapter's vendor; the GPU is matched by name or PCI id.

use std::path::Path;
use std::process::Command;

const NVIDIA: u32 = 0x10de;
const AMD: u32 = 0x1002;

/// The environment variable that states the GPU's memory by hand ("24GiB", "12G", "8000MiB", bytes).
pub const MEMORY_ENV: &str = "EFFICIENT4D_GPU_MEMORY";

/// A GPU's memory as read from somewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes free for us: the total less what other processes hold when it was read.
    pub free: u64,
    pub total: u64,
    /// Where the figure came from ("nvidia-smi", "amdgpu sysfs", the environment variable).
    pub source: &'static str,
}

/// The memory of the GPU `info` describes, or `None` where nothing states it.
pub fn capacity(info: &wgpu::AdapterInfo) -> Option<Capacity> {
    if let Ok(text) = std::env::var(MEMORY_ENV) {
        return match parse_size(&text) {
            Some(bytes) => Some(Capacity { free: bytes, total: bytes, source: MEMORY_ENV }),
            None => {
                log::warn!("{MEMORY_ENV}={text}: not a size (try 24GiB); asking the driver instead");
                None
            }
        }
        .or_else(|| from_vendor(info));
    }
    from_vendor(info)
}

fn from_vendor(info: &wgpu::AdapterInfo) -> Option<Capacity> {
    match info.vendor {
        NVIDIA => {
            let out = Command::new("nvidia-smi")
                .args(["--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"])
                .output()
                .ok()?;
            out.status.success().then_some(())?;
            nvidia_smi_capacity(&String::from_utf8_lossy(&out.stdout), &info.name)
        }
        AMD => amdgpu_capacity(Path::new("/sys/class/drm"), info.device),
        _ => None,
    }
}

/// "24GiB", "24 GB", "12G", "8000MiB", "8000M", or bytes; GB and GiB alike are read as binary (cards
/// are sold in binary units under decimal names).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim().trim_end_matches('b').trim_end_matches('i') {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    (number.is_finite() && number > 0.0).then_some((number * scale as f64) as u64)
}

/// `nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader,nounits` (MiB): the
/// line whose name is the adapter's, or the only line.
pub fn nvidia_smi_capacity(csv: &str, adapter_name: &str) -> Option<Capacity> {
    let rows: Vec<(String, u64, u64)> = csv
        .lines()
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, ',').map(str::trim);
            let used: u64 = fields.next()?.parse().ok()?;
            let total: u64 = fields.next()?.parse().ok()?;
            Some((fields.next()?.to_string(), total, used))
        })
        .collect();
    let row = match rows.iter().find(|(name, ..)| name == adapter_name) {
        Some(row) => row,
        None if rows.len() == 1 => &rows[0],
        None => return None,
    };
    let mib = 1u64 << 20;
    Some(Capacity { free: row.1.saturating_sub(row.2) * mib, total: row.1 * mib, source: "nvidia-smi" })
}

/// amdgpu's `mem_info_vram_total` / `mem_info_vram_used` (bytes) of the card under `drm` whose PCI
/// device id is the adapter's.
pub fn amdgpu_capacity(drm: &Path, device_id: u32) -> Option<Capacity> {
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    std::fs::read_dir(drm).ok()?.flatten().find_map(|card| {
        let dir = card.path().join("device");
        let id = read(&dir.join("device"))?;
        (u32::from_str_radix(id.trim_start_matches("0x"), 16).ok()? == device_id).then_some(())?;
        let total: u64 = read(&dir.join("mem_info_vram_total"))?.parse().ok()?;
        let used: u64 = read(&dir.join("mem_info_vram_used"))?.parse().ok()?;
        Some(Capacity { free: total.saturating_sub(used), total, source: "amdgpu sysfs" })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("24GiB"), Some(24 << 30));
        assert_eq!(parse_size("24 GB"), Some(24 << 30));
        assert_eq!(parse_size("12g"), Some(12 << 30));
        assert_eq!(parse_size("8000MiB"), Some(8000 << 20));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("123"), Some(123));
        for bad in ["", "GB", "12 parsecs", "-3G", "0"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn nvidia_smi_rows_are_matched_by_name() {
        let two = "NVIDIA GeForce RTX 3060, 12288, 1024\nNVIDIA H100 80GB HBM3, 81559, 7\n";
        let h100 = nvidia_smi_capacity(two, "NVIDIA H100 80GB HBM3").unwrap();
        assert_eq!((h100.total, h100.free), (81559 << 20, 81552 << 20));
        assert_eq!(nvidia_smi_capacity(two, "NVIDIA A100").map(|c| c.total), None, "two GPUs, neither named");
        let one = nvidia_smi_capacity("NVIDIA GeForce RTX 3060, 12288, 1024", "RTX 3060 (renamed)").unwrap();
        assert_eq!(one.free, 11264 << 20, "a single GPU is taken whatever its name");
        assert_eq!(nvidia_smi_capacity("No devices were found", "x"), None);
    }

    #[test]
    fn amdgpu_cards_are_matched_by_pci_id() {
        let drm = tempfile::tempdir().unwrap();
        for (card, id, total, used) in
            [("card0", "0x164e", 512u64 << 20, 100u64 << 20), ("card1", "0x73bf", 16 << 30, 1 << 30)]
        {
            let dir = drm.path().join(card).join("device");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("device"), format!("{id}\n")).unwrap();
            std::fs::write(dir.join("mem_info_vram_total"), format!("{total}\n")).unwrap();
            std::fs::write(dir.join("mem_info_vram_used"), format!("{used}\n")).unwrap();
        }
        let c = amdgpu_capacity(drm.path(), 0x73bf).unwrap();
        assert_eq!((c.total, c.free), (16 << 30, 15 << 30));
        assert_eq!(amdgpu_capacity(drm.path(), 0x1234), None);
    }
}
