//! Reading published weight files: the PyTorch checkpoint container (`torch.save`, as
//! `syncdreamer-pretrain.ckpt` and `flownet.pkl` are) gives the same tensors as the safetensors copy.

mod common;

use efficient4d::weights::{read_any, read_pytorch, read_safetensors};
use std::path::PathBuf;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden").join(name)
}

#[test]
fn a_torch_checkpoint_reads_the_same_as_its_safetensors_copy() {
    let ckpt = read_pytorch(&golden("tiny_syncdreamer.ckpt"), Some("state_dict")).unwrap();
    let st = read_safetensors(&golden("tiny_syncdreamer.safetensors")).unwrap();
    assert!(st.len() > 1000, "{} tensors", st.len());
    for (name, want) in &st {
        let got = ckpt.get(name).unwrap_or_else(|| panic!("{name} missing from the .ckpt"));
        assert_eq!(got.shape, want.shape, "{name}");
        assert_eq!(got.values, want.values, "{name}");
    }
    // By content, whatever the name: the .ckpt goes through the PyTorch reader, a safetensors file
    // named like a pickle through the safetensors reader.
    assert_eq!(read_any(&golden("tiny_syncdreamer.ckpt"), Some("state_dict")).unwrap().len(), ckpt.len());
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("flownet.pkl");
    std::fs::copy(golden("rife_ifnet_hdv3_random_f16.safetensors"), &renamed).unwrap();
    assert_eq!(read_any(&renamed, None).unwrap().len(), 160);
}

#[test]
fn broken_weight_files_give_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("flownet.pkl");
    std::fs::write(&bad, b"not a pickle at all").unwrap();
    let err = read_pytorch(&bad, None).unwrap_err().to_string();
    assert!(err.contains("flownet.pkl"), "{err}");
    // A truncated checkpoint.
    let bytes = std::fs::read(golden("tiny_syncdreamer.ckpt")).unwrap();
    let cut = dir.path().join("cut.ckpt");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_pytorch(&cut, Some("state_dict")).is_err());
    let err = read_safetensors(&dir.path().join("missing.safetensors")).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
}

// ---------------------------------------------------------------------------------------------------
// Downloads, against a hub the test starts on 127.0.0.1 (the hub's URL layout, redirect and headers).

use common::hub::{LoopbackHub, Served};
use efficient4d::generate::syncdreamer::SyncDreamerConfig;
use efficient4d::generate::syncdreamer::matrix::check_checkpoint;
use efficient4d::interpolate::rife::Rife;
use efficient4d::weights::download::{self, DownloadError, Phase, Request, part_path};
use efficient4d::weights::hub::HubFile;
use sha2::Digest;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CKPT_FILE: HubFile = HubFile { repo: "test/syncdreamer", revision: "main", path: "syncdreamer-pretrain.ckpt" };
const RIFE_FILE: HubFile = HubFile { repo: "test/rife", revision: "main", path: "flownet.pkl" };

fn tiny_ckpt() -> Vec<u8> {
    std::fs::read(golden("tiny_syncdreamer.ckpt")).unwrap()
}

fn rife_bytes() -> Vec<u8> {
    std::fs::read(golden("rife_ifnet_hdv3_random_f16.safetensors")).unwrap()
}

fn request(hub: &LoopbackHub, file: HubFile, dir: &Path) -> Request {
    Request {
        endpoint: hub.endpoint.clone(),
        retry_pause: Duration::from_millis(10),
        read_timeout: Duration::from_secs(20),
        ..Request::new(file, file.path, dir)
    }
}

fn tiny_check(p: &Path) -> Result<(), String> {
    check_checkpoint(p, SyncDreamerConfig::tiny())
}

fn fetch(req: &Request, check: &dyn Fn(&Path) -> Result<(), String>) -> Result<PathBuf, DownloadError> {
    download::download(req, check, &AtomicBool::new(false), &mut |_| {})
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn a_full_download_is_checked_installed_and_then_loads() {
    let hub = LoopbackHub::start(vec![
        ("test/syncdreamer/syncdreamer-pretrain.ckpt", Served::new(tiny_ckpt())),
        ("test/rife/flownet.pkl", Served::new(rife_bytes())),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut phases = Vec::new();
    let req = request(&hub, CKPT_FILE, dir.path());
    let path = download::download(&req, &tiny_check, &AtomicBool::new(false), &mut |p| {
        if phases.last() != Some(&p.phase) {
            phases.push(p.phase);
        }
        assert!(p.done <= p.total || p.phase == Phase::Asking);
    })
    .unwrap();
    assert_eq!(phases, [Phase::Asking, Phase::Downloading, Phase::Checking, Phase::Installed]);
    assert_eq!(path, dir.path().join("syncdreamer-pretrain.ckpt"));
    assert_eq!(sha(&std::fs::read(&path).unwrap()), sha(&tiny_ckpt()));
    assert!(!part_path(&path).exists() && download::partial(&path).is_none());
    // It loads: the tiny model, from the installed file.
    let device = burn::tensor::Device::flex();
    let state = read_any(&path, Some("state_dict")).unwrap();
    let table = efficient4d::weights::TensorTable::new(&state, |k| Some(k.to_string()), &path, "SyncDreamer", &device);
    efficient4d::generate::syncdreamer::model::SyncDreamerT::load(&table, SyncDreamerConfig::tiny(), &device).unwrap();
    // RIFE the same way, checked by the loader the pipeline uses for the published file.
    let path = fetch(&request(&hub, RIFE_FILE, dir.path()), &Rife::check_weights).unwrap();
    Rife::load(&path, &device).unwrap();
    // The full-size check refuses the tiny model: it is not the published one.
    let err = check_checkpoint(&dir.path().join("syncdreamer-pretrain.ckpt"), SyncDreamerConfig::full()).unwrap_err();
    assert!(err.contains("have another shape"), "{err}");
}

#[test]
fn a_dropped_connection_goes_on_where_it_stopped() {
    let bytes = tiny_ckpt();
    let half = bytes.len() / 2;
    let served = Served { drop_first_after: Some(half), ..Served::new(bytes.clone()) };
    let hub = LoopbackHub::start(vec![("test/syncdreamer/syncdreamer-pretrain.ckpt", served)]);
    let dir = tempfile::tempdir().unwrap();
    let path = fetch(&request(&hub, CKPT_FILE, dir.path()), &tiny_check).unwrap();
    assert_eq!(sha(&std::fs::read(&path).unwrap()), sha(&bytes));
    let ranges = hub.ranges();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], 0);
    // The second request asked for the rest only (whatever of the first half had arrived).
    assert!(ranges[1] > 0 && ranges[1] <= half as u64, "{ranges:?}");
}

#[test]
fn a_cancelled_download_keeps_its_part_and_the_next_one_goes_on() {
    let bytes = tiny_ckpt();
    let served = Served { rate: Some(bytes.len() / 2), ..Served::new(bytes.clone()) };
    let hub = LoopbackHub::start(vec![("test/syncdreamer/syncdreamer-pretrain.ckpt", served)]);
    let dir = tempfile::tempdir().unwrap();
    let req = request(&hub, CKPT_FILE, dir.path());
    let cancel = AtomicBool::new(false);
    let err = download::download(&req, &tiny_check, &cancel, &mut |p| {
        if p.phase == Phase::Downloading && p.done > 0 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap_err();
    let DownloadError::Cancelled { done, total } = err else { panic!("{err}") };
    assert!(done > 0 && done < total, "{done} of {total}");
    assert!(!req.final_path().exists());
    let (kept, record) = download::partial(&req.final_path()).expect("the partial download is kept");
    assert_eq!((kept, record.size, record.sha256.clone()), (done, bytes.len() as u64, sha(&bytes)));
    // The next attempt re-hashes what it has and asks for the rest.
    let fast = LoopbackHub::start(vec![("test/syncdreamer/syncdreamer-pretrain.ckpt", Served::new(bytes.clone()))]);
    let mut phases = Vec::new();
    let path =
        download::download(&request(&fast, CKPT_FILE, dir.path()), &tiny_check, &AtomicBool::new(false), &mut |p| {
            if phases.last() != Some(&p.phase) {
                phases.push(p.phase);
            }
        })
        .unwrap();
    assert_eq!(phases, [Phase::Asking, Phase::Rehashing, Phase::Downloading, Phase::Checking, Phase::Installed]);
    assert_eq!(fast.ranges(), [done]);
    assert_eq!(sha(&std::fs::read(&path).unwrap()), sha(&bytes));
}

#[test]
fn bad_downloads_are_refused_each_with_its_own_message_and_nothing_is_installed() {
    let ckpt = tiny_ckpt();
    let cut_ckpt = ckpt[..ckpt.len() / 2].to_vec();
    let hub = LoopbackHub::start(vec![
        (
            "wrong-hash/x/syncdreamer-pretrain.ckpt",
            Served { sha256: Some("ab".repeat(32)), ..Served::new(ckpt.clone()) },
        ),
        ("cut/x/syncdreamer-pretrain.ckpt", Served { only: Some(ckpt.len() / 2), ..Served::new(ckpt.clone()) }),
        ("cut-upload/x/syncdreamer-pretrain.ckpt", Served::new(cut_ckpt)),
        ("wrong-tensors/x/syncdreamer-pretrain.ckpt", Served::new(rife_bytes())),
        ("no-hash/x/syncdreamer-pretrain.ckpt", Served { no_hash: true, ..Served::new(ckpt.clone()) }),
        ("huge/x/syncdreamer-pretrain.ckpt", Served { size: Some(1 << 60), ..Served::new(ckpt.clone()) }),
    ]);
    let file = |repo: &'static str| HubFile { repo, ..CKPT_FILE };
    // Each in a folder of its own: what one leaves behind is not the next one's business.
    let attempt = |repo: &'static str| {
        let dir = tempfile::tempdir().unwrap();
        let req = request(&hub, file(repo), dir.path());
        let err = fetch(&req, &tiny_check).unwrap_err();
        assert!(!req.final_path().exists(), "{repo}: installed despite {err}");
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        (err, left)
    };
    let part = ["syncdreamer-pretrain.ckpt.part", "syncdreamer-pretrain.ckpt.part.json"];
    let (err, left) = attempt("wrong-hash/x");
    assert!(matches!(err, DownloadError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&"ab".repeat(32)), "{err}");
    assert!(left.is_empty(), "a file that failed its hash is not kept to resume from: {left:?}");

    // The hub states more bytes than it serves: kept, to go on from should the hub mend it.
    let (err, left) = attempt("cut/x");
    let DownloadError::Truncated { got, total, .. } = err else { panic!("{err}") };
    assert_eq!((got, total), (ckpt.len() as u64 / 2, ckpt.len() as u64));
    assert_eq!(left, part);

    // Whole as the hub states it (the hash matches) but not a checkpoint the reader can open.
    let (err, left) = attempt("cut-upload/x");
    assert!(matches!(err, DownloadError::WrongContents { .. }), "{err}");
    assert!(err.to_string().contains("could not read"), "{err}");
    assert!(left.is_empty(), "{left:?}");

    let (err, left) = attempt("wrong-tensors/x");
    assert!(matches!(err, DownloadError::WrongContents { .. }), "{err}");
    assert!(err.to_string().contains("tensors the loader needs are missing"), "{err}");
    assert!(left.is_empty(), "{left:?}");

    let (err, left) = attempt("no-hash/x");
    assert!(err.to_string().contains("does not state the file's SHA-256"), "{err}");
    assert!(left.is_empty(), "{left:?}");

    // Not enough room: refused before a byte is written.
    let (err, left) = attempt("huge/x");
    assert!(matches!(err, DownloadError::DiskFull { .. }), "{err}");
    assert!(left.is_empty(), "{left:?}");
    assert!(!hub.log.lock().unwrap().iter().any(|(m, p, _)| m == "GET" && p.starts_with("/cdn/huge")));

    // The catalogue's size pin: a hub stating another size is not fetched.
    let dir = tempfile::tempdir().unwrap();
    let req = Request { expected_size: Some(5_570_034_171), ..request(&hub, file("wrong-hash/x"), dir.path()) };
    let err = fetch(&req, &tiny_check).unwrap_err();
    assert!(matches!(err, DownloadError::UnexpectedSize { .. }), "{err}");
    // A repository the hub does not have.
    let (err, left) = attempt("nobody/x");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_installed_file_is_replaced_only_by_one_that_passes() {
    let hub = LoopbackHub::start(vec![
        ("test/syncdreamer/syncdreamer-pretrain.ckpt", Served::new(tiny_ckpt())),
        ("bad/x/syncdreamer-pretrain.ckpt", Served::new(rife_bytes())),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let good = fetch(&request(&hub, CKPT_FILE, dir.path()), &tiny_check).unwrap();
    let bad = HubFile { repo: "bad/x", ..CKPT_FILE };
    assert!(fetch(&request(&hub, bad, dir.path()), &tiny_check).is_err());
    assert_eq!(sha(&std::fs::read(&good).unwrap()), sha(&tiny_ckpt()));
}

/// `efficient4d weights get rife`, killed with SIGKILL part way, then stopped with Ctrl-C (SIGINT) part
/// way: nothing under the final name, the part kept and grown; run again, it goes on from there and
/// installs; `efficient4d weights` says so.
#[cfg(unix)]
#[test]
fn a_killed_or_interrupted_weights_get_leaves_no_final_file_and_the_next_goes_on() {
    let bytes = rife_bytes();
    let slow = Served { rate: Some(bytes.len() / 4), ..Served::new(bytes.clone()) };
    let hub = LoopbackHub::start(vec![(
        &format!("{}/{}", efficient4d::weights::RIFE.hub.repo, efficient4d::weights::RIFE.hub.path),
        slow,
    )]);
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"));
        c.args(args).env("EFFICIENT4D_WEIGHTS", dir.path()).env("HF_ENDPOINT", &hub.endpoint);
        c
    };
    let mut child = cli(&["weights", "get", "rife"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let final_path = dir.path().join("flownet.pkl");
    let part = part_path(&final_path);
    let started = std::time::Instant::now();
    while std::fs::metadata(&part).map_or(0, |m| m.len()) == 0 {
        assert!(started.elapsed() < common::HANG_CEILING, "no bytes arrived");
        assert!(child.try_wait().unwrap().is_none(), "weights get ended before it was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!final_path.exists(), "a killed download left a file under the final name");
    let (kept, _) = download::partial(&final_path).expect("the part and its record are kept");
    assert!(kept > 0 && kept < bytes.len() as u64, "{kept}");

    let listing = String::from_utf8(cli(&["weights"]).output().unwrap().stdout).unwrap();
    assert!(listing.contains("partial:") && listing.contains("RIFE"), "{listing}");

    // Ctrl-C (SIGINT) part way through the next attempt: it stops by itself, says so, keeps more.
    let mut child = cli(&["weights", "get", "rife"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::metadata(&part).map_or(0, |m| m.len()) <= kept {
        assert!(started.elapsed() < common::HANG_CEILING, "no new bytes arrived");
        assert!(child.try_wait().unwrap().is_none(), "weights get ended before Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "an interrupted download does not report success");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cancelled"), "{said}");
    assert!(!final_path.exists(), "an interrupted download left a file under the final name");
    let (kept_now, _) = download::partial(&final_path).expect("the part is kept after Ctrl-C");
    assert!(kept_now > kept && kept_now < bytes.len() as u64, "{kept} then {kept_now}");

    let out = cli(&["weights", "get", "rife"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sha(&std::fs::read(&final_path).unwrap()), sha(&bytes));
    assert!(hub.ranges().iter().any(|&r| r > 0), "the second run asked for the rest only: {:?}", hub.ranges());
    let listing = String::from_utf8(cli(&["weights"]).output().unwrap().stdout).unwrap();
    assert!(listing.contains("installed: RIFE"), "{listing}");
    // Installed: a second `get` fetches nothing.
    let n = hub.ranges().len();
    let out = cli(&["weights", "get", "rife"]).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("is installed"));
    assert_eq!(hub.ranges().len(), n);
}

/// A gated file the hub serves itself (no redirect to signed storage): `HF_TOKEN` rides on the `GET` as
/// on the `HEAD`; without it the refusal says to set it, and nothing is written.
#[test]
fn a_gated_file_served_by_the_hub_itself_is_fetched_with_the_token() {
    let bytes = rife_bytes();
    let gated = Served { token: Some("hf_secret"), ..Served::new(bytes.clone()) };
    let hub = LoopbackHub::start(vec![(
        &format!("{}/{}", efficient4d::weights::RIFE.hub.repo, efficient4d::weights::RIFE.hub.path),
        gated,
    )]);
    let dir = tempfile::tempdir().unwrap();
    let cli = |token: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"));
        c.args(["weights", "get", "rife"]).env("EFFICIENT4D_WEIGHTS", dir.path()).env("HF_ENDPOINT", &hub.endpoint);
        match token {
            Some(t) => c.env("HF_TOKEN", t),
            None => c.env_remove("HF_TOKEN"),
        };
        c.output().unwrap()
    };
    let out = cli(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HF_TOKEN"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("flownet.pkl").exists());
    let out = cli(Some("hf_secret"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sha(&std::fs::read(dir.path().join("flownet.pkl")).unwrap()), sha(&bytes));
    let gets = hub.log.lock().unwrap().iter().filter(|(m, p, _)| m == "GET" && p.contains("/resolve/")).count();
    assert!(gets >= 1, "the file came from the hub itself");
}
