//! Fetching a weight file from a hub: resumable, hashed while it arrives, checked, then installed.
//!
//! The bytes go to `<name>.part` beside the final file, with `<name>.part.json` saying which remote
//! file they are (size, SHA-256). A later attempt — after a cancel, a dropped connection or a killed
//! process — re-hashes the part it finds and asks only for the rest (`Range`). Nothing is ever written
//! under the final name but a file whose size and SHA-256 match what the hub states and that the
//! caller's check accepted (the loader's names and shapes): it is renamed into place in one step.

use super::hub::{self, HubError, HubFile, RemoteFile};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to fetch and where to put it.
#[derive(Clone, Debug)]
pub struct Request {
    pub file: HubFile,
    /// The name it is installed under in `dir`.
    pub file_name: String,
    pub dir: PathBuf,
    /// The hub or a mirror (see [`hub::endpoint`]).
    pub endpoint: String,
    /// The size the catalogue expects, when known: a hub that states another is refused up front.
    pub expected_size: Option<u64>,
    /// The pause before the first retry after a dropped connection (doubling, 5 tries without progress).
    pub retry_pause: Duration,
    /// How long one read may wait for bytes before the connection counts as dropped.
    pub read_timeout: Duration,
}

impl Request {
    pub fn new(file: HubFile, file_name: &str, dir: &Path) -> Self {
        Self {
            file,
            file_name: file_name.to_string(),
            dir: dir.to_path_buf(),
            endpoint: hub::endpoint(),
            expected_size: None,
            retry_pause: Duration::from_secs(1),
            read_timeout: Duration::from_secs(60),
        }
    }

    pub fn final_path(&self) -> PathBuf {
        self.dir.join(&self.file_name)
    }

    pub fn part_path(&self) -> PathBuf {
        part_path(&self.final_path())
    }
}

/// Where the bytes of `final_path` wait while they arrive.
pub fn part_path(final_path: &Path) -> PathBuf {
    with_suffix(final_path, ".part")
}

/// The record beside a part file saying which remote file it is the beginning of.
fn record_path(part: &Path) -> PathBuf {
    with_suffix(part, ".json")
}

/// `path` with `suffix` added to its file name (`a.ckpt` → `a.ckpt.part`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Which remote file a `.part` holds the beginning of.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartRecord {
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

/// A partial download left in a folder: its bytes so far and what it is part of.
pub fn partial(final_path: &Path) -> Option<(u64, PartRecord)> {
    let part = part_path(final_path);
    let len = std::fs::metadata(&part).ok()?.len();
    let record = serde_json::from_slice(&std::fs::read(record_path(&part)).ok()?).ok()?;
    Some((len, record))
}

/// The steps of a download, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Asking the hub for the file's size and hash.
    Asking,
    /// Reading back a partial download to go on hashing where it stopped.
    Rehashing,
    Downloading,
    /// Checking the file's contents (names and shapes) with the loader.
    Checking,
    Installed,
}

impl Phase {
    /// The phase in words, as the CLI and the app show it.
    pub fn what(self) -> &'static str {
        match self {
            Self::Asking => "asking the hub",
            Self::Rehashing => "reading back the partial download",
            Self::Downloading => "downloading",
            Self::Checking => "checking the tensors against the loader",
            Self::Installed => "installed",
        }
    }
}

/// Where a download stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    /// Over the last few seconds of this attempt (0 before there is any).
    pub bytes_per_second: f64,
}

impl Progress {
    /// The time left at the present rate.
    pub fn eta(&self) -> Option<Duration> {
        (self.phase == Phase::Downloading && self.bytes_per_second > 0.0)
            .then(|| Duration::from_secs_f64(self.total.saturating_sub(self.done) as f64 / self.bytes_per_second))
    }
}

/// Why a download did not install a file. Every variant leaves the final name as it was.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(
        "the hub states {stated} bytes for {url}, but the published file is {expected} bytes: not fetched \
         (a mirror serving another file?)"
    )]
    UnexpectedSize { url: String, stated: u64, expected: u64 },
    #[error(
        "not enough free space in {dir}: {needed} needed, {available} free. Free some space, or point \
         EFFICIENT4D_WEIGHTS at a folder on a disk with room"
    )]
    DiskFull { dir: PathBuf, needed: String, available: String },
    #[error("{path} is being downloaded by another process")]
    Busy { path: PathBuf },
    #[error(
        "the connection to {url} kept dropping: {got} of {total} bytes after {tries} tries ({message}); run it again to go on"
    )]
    Dropped { url: String, got: u64, total: u64, tries: u32, message: String },
    #[error(
        "the download was truncated: {url} ended the file at {got} of the {total} bytes the hub states; not installed"
    )]
    Truncated { url: String, got: u64, total: u64 },
    #[error(
        "SHA-256 mismatch: the hub states {expected}, the {size} bytes received hash to {got}; not installed (the partial file was removed)"
    )]
    HashMismatch { expected: String, got: String, size: u64 },
    #[error(
        "the file arrived whole (SHA-256 {sha256} as stated) but is not the one the loader needs: {message}; not installed"
    )]
    WrongContents { sha256: String, message: String },
    #[error(
        "cancelled at {done} of {total} bytes; the partial download is kept and the next attempt goes on from there"
    )]
    Cancelled { done: u64, total: u64 },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> DownloadError + '_ {
    move |e| DownloadError::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Bytes as people read them (1.2 GB, 340.0 MB).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// Room kept free beyond the file itself (the filesystem's own needs, other writers).
const DISK_MARGIN: u64 = 64 << 20;
/// One read from the network or the part file.
const CHUNK: usize = 1 << 20;

/// Fetches `req`, checks it with `check` (the loader's names and shapes; its message says what is
/// wrong) and installs it under its final name. Calls `progress` as it goes; stops at the next chunk
/// once `cancel` is set, keeping what arrived.
pub fn download(
    req: &Request,
    check: &dyn Fn(&Path) -> Result<(), String>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PathBuf, DownloadError> {
    let agent = hub::agent(req.read_timeout);
    progress(&Progress { phase: Phase::Asking, done: 0, total: 0, bytes_per_second: 0.0 });
    let remote = hub::stat(&agent, &req.endpoint, &req.file)?;
    let url = req.file.url(&req.endpoint);
    if let Some(expected) = req.expected_size.filter(|&e| e != remote.size) {
        return Err(DownloadError::UnexpectedSize { url, stated: remote.size, expected });
    }
    std::fs::create_dir_all(&req.dir).map_err(io_err(&req.dir))?;
    crate::atomic_file::remove_stale_temps(&req.dir);
    let record = PartRecord { url: url.clone(), size: remote.size, sha256: remote.sha256.clone() };

    // What an earlier attempt left of this same remote file (a part of another is started over).
    let kept = partial(&req.final_path())
        .filter(|(len, r)| r.sha256 == record.sha256 && r.size == record.size && *len <= r.size)
        .map_or(0, |(len, _)| len);
    // Refused up front, before a byte is written, when the rest cannot fit.
    let needed = remote.size - kept + DISK_MARGIN;
    if let Ok(available) = fs4::available_space(&req.dir)
        && available < needed
    {
        return Err(DownloadError::DiskFull {
            dir: req.dir.clone(),
            needed: human_bytes(needed),
            available: human_bytes(available),
        });
    }

    let part = req.part_path();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part)
        .map_err(io_err(&part))?;
    // One writer per part file: a second process (or a second window) is told, not interleaved.
    if file.try_lock().is_err() {
        return Err(DownloadError::Busy { path: part });
    }
    let mut hasher = Sha256::new();
    let mut done = resume_point(&mut file, &part, kept > 0, record.size, &mut hasher, cancel, progress)?;
    if done == 0 {
        let json = serde_json::to_vec_pretty(&record).expect("a record serialises");
        crate::atomic_file::write_atomically(&record_path(&part), &json).map_err(io_err(&part))?;
    }

    fetch_rest(&agent, req, &remote, &url, &mut file, &mut hasher, &mut done, cancel, progress)?;
    file.sync_all().map_err(io_err(&part))?;
    // Closed (and unlocked) before the check reads it and the rename moves it: on Windows a locked or
    // open file can be neither read through another handle nor renamed.
    drop(file);

    let got = format!("{:x}", hasher.finalize());
    if got != remote.sha256 {
        remove_part(&part);
        return Err(DownloadError::HashMismatch { expected: remote.sha256, got, size: done });
    }
    progress(&Progress { phase: Phase::Checking, done, total: remote.size, bytes_per_second: 0.0 });
    if let Err(message) = check(&part) {
        remove_part(&part);
        return Err(DownloadError::WrongContents { sha256: got, message });
    }
    // The rename replaces an older file only now, with one that passed every check.
    let target = req.final_path();
    std::fs::rename(&part, &target).map_err(io_err(&target))?;
    let _ = std::fs::remove_file(record_path(&part));
    progress(&Progress { phase: Phase::Installed, done, total: remote.size, bytes_per_second: 0.0 });
    Ok(target)
}

fn remove_part(part: &Path) {
    let _ = std::fs::remove_file(part);
    let _ = std::fs::remove_file(record_path(part));
}

/// How many bytes of the remote file `part` already holds (hashed into `hasher`): all it has when
/// `same_file` (its record names the file being fetched), none otherwise (it is emptied).
fn resume_point(
    file: &mut std::fs::File,
    part: &Path,
    same_file: bool,
    total: u64,
    hasher: &mut Sha256,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<u64, DownloadError> {
    let len = file.metadata().map_err(io_err(part))?.len();
    if len == 0 || !same_file || len > total {
        file.set_len(0).map_err(io_err(part))?;
        file.rewind().map_err(io_err(part))?;
        return Ok(0);
    }
    file.rewind().map_err(io_err(part))?;
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0u64;
    while read < len {
        if cancel.load(Ordering::Relaxed) {
            return Err(DownloadError::Cancelled { done: len, total });
        }
        let n = file.read(&mut buf).map_err(io_err(part))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
        progress(&Progress { phase: Phase::Rehashing, done: read, total, bytes_per_second: 0.0 });
    }
    file.seek(std::io::SeekFrom::Start(read)).map_err(io_err(part))?;
    Ok(read)
}

/// Bytes per second over a sliding window of a few seconds.
struct Rate {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl Rate {
    fn new() -> Self {
        Self { samples: Default::default() }
    }

    fn add(&mut self, at: Instant, done: u64) -> f64 {
        self.samples.push_back((at, done));
        while self.samples.len() > 2 && at - self.samples[0].0 > Duration::from_secs(5) {
            self.samples.pop_front();
        }
        let (t0, d0) = self.samples[0];
        let dt = (at - t0).as_secs_f64();
        if dt > 0.0 { (done - d0) as f64 / dt } else { 0.0 }
    }
}

/// Requests the bytes from `done` on and appends them until the file is whole, retrying a dropped
/// connection where it stopped.
#[allow(clippy::too_many_arguments)]
fn fetch_rest(
    agent: &ureq::Agent,
    req: &Request,
    remote: &RemoteFile,
    url: &str,
    file: &mut std::fs::File,
    hasher: &mut Sha256,
    done: &mut u64,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), DownloadError> {
    const TRIES: u32 = 5;
    let part = req.part_path();
    let mut failures = 0u32;
    let mut ended_early = 0u32;
    let mut rate = Rate::new();
    let mut buf = vec![0u8; CHUNK];
    let mut location = remote.location.clone();
    while *done < remote.size {
        if cancel.load(Ordering::Relaxed) {
            return Err(DownloadError::Cancelled { done: *done, total: remote.size });
        }
        let before = *done;
        let result = fetch_once(agent, &location, remote.size, done, file, hasher, &mut buf, cancel, &mut |d| {
            let bytes_per_second = rate.add(Instant::now(), d);
            progress(&Progress { phase: Phase::Downloading, done: d, total: remote.size, bytes_per_second });
        });
        match result {
            Ok(Attempt::Whole) => {}
            Ok(Attempt::EndedAt) => {
                ended_early += 1;
                if ended_early >= TRIES {
                    return Err(DownloadError::Truncated { url: url.to_string(), got: *done, total: remote.size });
                }
            }
            Ok(Attempt::RestartFromZero) => {
                file.set_len(0).map_err(io_err(&part))?;
                file.rewind().map_err(io_err(&part))?;
                *hasher = Sha256::new();
                *done = 0;
            }
            Err(FetchError::Write(e)) => return Err(io_err(&part)(e)),
            Err(FetchError::Cancelled) => {
                return Err(DownloadError::Cancelled { done: *done, total: remote.size });
            }
            Err(FetchError::Network(message)) => {
                failures = if *done > before { 1 } else { failures + 1 };
                if failures >= TRIES {
                    return Err(DownloadError::Dropped {
                        url: url.to_string(),
                        got: *done,
                        total: remote.size,
                        tries: failures,
                        message,
                    });
                }
                std::thread::sleep(req.retry_pause * 2u32.pow(failures - 1));
                // A signed storage URL may have expired: ask the hub again.
                if let Ok(fresh) = hub::stat(agent, &req.endpoint, &req.file)
                    && fresh.sha256 == remote.sha256
                {
                    location = fresh.location;
                }
            }
        }
    }
    Ok(())
}

enum Attempt {
    /// Every byte up to the stated size arrived.
    Whole,
    /// The server ended the body (or refused the range) before the stated size.
    EndedAt,
    /// The server ignored the range and sent the file from its start.
    RestartFromZero,
}

enum FetchError {
    Network(String),
    Write(std::io::Error),
    Cancelled,
}

/// One request for the bytes from `done` on, following redirects with the range kept.
#[allow(clippy::too_many_arguments)]
fn fetch_once(
    agent: &ureq::Agent,
    start_url: &str,
    total: u64,
    done: &mut u64,
    file: &mut std::fs::File,
    hasher: &mut Sha256,
    buf: &mut [u8],
    cancel: &AtomicBool,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Attempt, FetchError> {
    let net = |e: ureq::Error| FetchError::Network(e.to_string());
    let mut url = start_url.to_string();
    let mut resp = None;
    for _ in 0..8 {
        let mut r = hub::with_token(agent.get(&url), &url, &hub::endpoint());
        if *done > 0 {
            r = r.header("Range", format!("bytes={}-", *done));
        }
        let got = r.call().map_err(net)?;
        let status = got.status().as_u16();
        if (300..400).contains(&status) {
            let loc = hub::header(&got, "location")
                .ok_or_else(|| FetchError::Network("a redirect without a Location".into()))?;
            url = hub::resolve_location(&url, &loc);
            continue;
        }
        resp = Some(got);
        break;
    }
    let resp = resp.ok_or_else(|| FetchError::Network("too many redirects".into()))?;
    match resp.status().as_u16() {
        206 => {
            let starts_at = hub::header(&resp, "content-range")
                .and_then(|v| v.strip_prefix("bytes ")?.split('-').next()?.trim().parse::<u64>().ok());
            if starts_at != Some(*done) {
                return Ok(Attempt::RestartFromZero);
            }
        }
        200 if *done > 0 => return Ok(Attempt::RestartFromZero),
        200 => {}
        416 => return Ok(Attempt::EndedAt),
        s => return Err(FetchError::Network(format!("{url} answered {s}"))),
    }
    let mut body = resp.into_body().into_reader();
    let mut last_report = Instant::now() - Duration::from_secs(1);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(FetchError::Cancelled);
        }
        let want = buf.len().min((total - *done) as usize);
        if want == 0 {
            return Ok(Attempt::Whole);
        }
        let n = match body.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                file.flush().map_err(FetchError::Write)?;
                return Err(FetchError::Network(e.to_string()));
            }
        };
        if n == 0 {
            return Ok(if *done >= total { Attempt::Whole } else { Attempt::EndedAt });
        }
        file.write_all(&buf[..n]).map_err(FetchError::Write)?;
        hasher.update(&buf[..n]);
        *done += n as u64;
        // Progress a few times a second, and at the end.
        if last_report.elapsed() >= Duration::from_millis(200) || *done == total {
            last_report = Instant::now();
            on_bytes(*done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_files_sit_beside_the_final_name() {
        let f = Path::new("/w/syncdreamer-pretrain.ckpt");
        assert_eq!(part_path(f), Path::new("/w/syncdreamer-pretrain.ckpt.part"));
        assert_eq!(record_path(&part_path(f)), Path::new("/w/syncdreamer-pretrain.ckpt.part.json"));
    }

    #[test]
    fn rate_and_eta() {
        let mut r = Rate::new();
        let t = Instant::now();
        assert_eq!(r.add(t, 0), 0.0);
        assert!((r.add(t + Duration::from_secs(2), 2_000_000) - 1e6).abs() < 1.0);
        let p = Progress { phase: Phase::Downloading, done: 2_000_000, total: 12_000_000, bytes_per_second: 1e6 };
        assert_eq!(p.eta(), Some(Duration::from_secs(10)));
        assert_eq!(human_bytes(5_570_034_171), "5.57 GB");
    }
}
