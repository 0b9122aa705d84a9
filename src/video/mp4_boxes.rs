//! A pre-flight walk over an MP4's box tree (headers only). re_mp4 loops forever on a child box whose
//! size field is below its header's (it seeks back to the same header), so every box is checked here
//! first: sizes at least a header, children inside their parent, bounded nesting.

use std::io::{Read, Seek, SeekFrom};

/// Boxes made only of child boxes.
const CONTAINERS: [&[u8; 4]; 12] =
    [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"mvex", b"moof", b"traf", b"udta", b"mfra"];
/// Visual sample entries: 78 bytes of fields, then child boxes (avcC, btrt, pasp, colr, ...).
const VISUAL_ENTRIES: [&[u8; 4]; 9] = [b"avc1", b"avc3", b"hvc1", b"hev1", b"av01", b"vp08", b"vp09", b"mp4v", b"encv"];
/// Audio sample entries: 28 bytes of fields, then child boxes.
const AUDIO_ENTRIES: [&[u8; 4]; 2] = [b"mp4a", b"enca"];
const MAX_DEPTH: usize = 16;

fn read_header<R: Read + Seek>(r: &mut R, at: u64, end: u64, depth: usize) -> Result<(u64, [u8; 4], u64), String> {
    r.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    let mut h = [0u8; 8];
    r.read_exact(&mut h).map_err(|_| format!("box header at byte {at} cut off"))?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
    let name = [h[4], h[5], h[6], h[7]];
    let (size, header) = match size32 {
        // "To the end of the file" is legal only for a last top-level box; re_mp4 spins on it elsewhere.
        0 if depth == 0 => (end - at, 8),
        1 => {
            let mut l = [0u8; 8];
            r.read_exact(&mut l).map_err(|_| format!("box size at byte {at} cut off"))?;
            (u64::from_be_bytes(l), 16)
        }
        s => (s, 8),
    };
    if size < header || at.checked_add(size).is_none_or(|e| e > end) {
        let shown = String::from_utf8_lossy(&name).into_owned();
        return Err(format!("box '{shown}' at byte {at} has an impossible size {size}"));
    }
    Ok((size, name, header))
}

fn walk<R: Read + Seek>(r: &mut R, mut at: u64, end: u64, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("boxes nested too deeply".into());
    }
    while at < end {
        if end - at < 8 {
            return Err(format!("{} stray bytes at byte {at}", end - at));
        }
        let (size, name, header) = read_header(r, at, end, depth)?;
        let body = at + header;
        let children_at = if CONTAINERS.contains(&&name) {
            Some(body)
        } else if &name == b"stsd" {
            Some(body + 8) // version, flags, entry count
        } else if VISUAL_ENTRIES.contains(&&name) {
            Some(body + 78)
        } else if AUDIO_ENTRIES.contains(&&name) {
            Some(body + 28)
        } else if &name == b"meta" {
            Some(body + 4) // version and flags
        } else {
            None
        };
        if let Some(first) = children_at.filter(|&c| c <= at + size) {
            walk(r, first, at + size, depth + 1)?;
        }
        at += size;
    }
    Ok(())
}

/// Checks the whole file's box tree.
pub fn check_box_tree<R: Read + Seek>(r: &mut R, len: u64) -> Result<(), String> {
    walk(r, 0, len, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend(name);
        v.extend(body);
        v
    }

    #[test]
    fn a_zero_sized_child_is_refused_and_a_sound_tree_passes() {
        let good = [boxed(b"ftyp", b"isom0000"), boxed(b"moov", &boxed(b"trak", &boxed(b"tkhd", &[0; 12])))].concat();
        assert!(check_box_tree(&mut Cursor::new(&good), good.len() as u64).is_ok());
        let mut bad_child = 0u32.to_be_bytes().to_vec();
        bad_child.extend(b"free");
        let stbl = boxed(b"stbl", &[bad_child.clone(), vec![0; 8]].concat());
        let bad = [boxed(b"ftyp", b"isom0000"), boxed(b"moov", &stbl)].concat();
        // A size of 0 ("to the end") inside a container, or of 3, is refused.
        let err = check_box_tree(&mut Cursor::new(&bad), bad.len() as u64).unwrap_err();
        assert!(err.contains("impossible size 0"), "{err}");
        let mut tiny = 3u32.to_be_bytes().to_vec();
        tiny.extend(b"free");
        let bad = [boxed(b"ftyp", b"isom0000"), boxed(b"moov", &boxed(b"stbl", &tiny))].concat();
        let err = check_box_tree(&mut Cursor::new(&bad), bad.len() as u64).unwrap_err();
        assert!(err.contains("impossible size 3"), "{err}");
        let cut = &good[..good.len() - 3];
        assert!(check_box_tree(&mut Cursor::new(cut), cut.len() as u64).is_err());
    }
}
