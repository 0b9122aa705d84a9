//! A hub on 127.0.0.1 for the weights tests: the Hugging Face hub's URL layout, redirect and headers.

use sha2::Digest;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the loopback hub serves one file.
#[derive(Clone, Default)]
pub struct Served {
    pub bytes: Arc<Vec<u8>>,
    /// What the hub states (defaults: the bytes' own SHA-256 and length).
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The first body sent stops after this many bytes, the connection closed under it.
    pub drop_first_after: Option<usize>,
    /// Every body ends here (the hub states more than it has).
    pub only: Option<usize>,
    /// Bytes per second (sent in small pieces), to have time to stop a download part way.
    pub rate: Option<usize>,
    /// No X-Linked-Etag.
    pub no_hash: bool,
    /// A gated file the hub serves itself: every request needs `Authorization: Bearer {token}` (401
    /// without), and the hub answers the `HEAD` and `GET` without a redirect.
    pub token: Option<&'static str>,
}

impl Served {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes: Arc::new(bytes), ..Default::default() }
    }
}

/// A hub on 127.0.0.1: `HEAD`/`GET /{repo}/resolve/{rev}/{path}` redirect to `/cdn/{repo}/{path}`
/// with `X-Linked-Size`, `X-Linked-Etag` and `X-Repo-Commit`; the storage server honours `Range`.
pub struct LoopbackHub {
    pub server: Arc<tiny_http::Server>,
    pub endpoint: String,
    /// Every request: method, path, and the first byte asked for (0 without a Range).
    pub log: Arc<Mutex<Vec<(String, String, u64)>>>,
}

impl LoopbackHub {
    pub fn start(files: Vec<(&str, Served)>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let files: Arc<HashMap<String, Served>> =
            Arc::new(files.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let log = Arc::new(Mutex::new(Vec::new()));
        let dropped_once = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let (s, l) = (server.clone(), log.clone());
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let (files, log, dropped_once) = (files.clone(), l.clone(), dropped_once.clone());
                std::thread::spawn(move || serve(req, &files, &log, &dropped_once));
            }
        });
        Self { server, endpoint: format!("http://127.0.0.1:{port}"), log }
    }

    pub fn ranges(&self) -> Vec<u64> {
        self.log.lock().unwrap().iter().filter(|(m, p, _)| m == "GET" && p.starts_with("/cdn/")).map(|e| e.2).collect()
    }
}

impl Drop for LoopbackHub {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn serve(
    req: tiny_http::Request,
    files: &HashMap<String, Served>,
    log: &Mutex<Vec<(String, String, u64)>>,
    dropped_once: &Mutex<std::collections::HashSet<String>>,
) {
    let method = req.method().to_string();
    let path = req.url().to_string();
    let start: u64 = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .and_then(|h| h.value.as_str().strip_prefix("bytes=")?.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    log.lock().unwrap().push((method.clone(), path.clone(), start));
    let authorized = |f: &Served| {
        f.token.is_none_or(|t| {
            req.headers().iter().any(|h| h.field.equiv("Authorization") && h.value.as_str() == format!("Bearer {t}"))
        })
    };
    let not_found = || tiny_http::Response::empty(404);
    // /{repo}/resolve/{revision}/{path}: the hub; a gated file is served from there, others redirect.
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let hub_key = match parts.as_slice() {
        [owner, name, "resolve", _rev, file] => Some(format!("{owner}/{name}/{file}")),
        _ => None,
    };
    let gated = hub_key.as_ref().filter(|k| files.get(k.as_str()).is_some_and(|f| f.token.is_some()));
    if let Some(rest) = path.strip_prefix("/cdn/").map(str::to_string).or_else(|| gated.cloned()) {
        let rest = rest.as_str();
        let Some(f) = files.get(rest) else { return drop(req.respond(not_found())) };
        if !authorized(f) {
            return drop(req.respond(tiny_http::Response::empty(401)));
        }
        let end = f.only.unwrap_or(f.bytes.len());
        if start >= end as u64 {
            return drop(req.respond(tiny_http::Response::empty(416)));
        }
        let mut body: Vec<u8> = f.bytes[start as usize..end].to_vec();
        let mut headers = vec![header("Connection", "close")];
        let status = if start > 0 {
            headers.push(header("Content-Range", &format!("bytes {start}-{}/{}", end - 1, f.bytes.len())));
            206
        } else {
            200
        };
        if method == "HEAD" {
            let sha = f.sha256.clone().unwrap_or_else(|| format!("{:x}", sha2::Sha256::digest(f.bytes.as_slice())));
            headers.push(header("X-Linked-Size", &f.bytes.len().to_string()));
            headers.push(header("X-Linked-Etag", &format!("\"{sha}\"")));
        }
        let length = body.len();
        let first = dropped_once.lock().unwrap().insert(rest.to_string());
        if let (Some(after), true) = (f.drop_first_after, first) {
            body.truncate(after);
        }
        let reader = Paced { data: std::io::Cursor::new(body), rate: f.rate };
        // The length stated is the whole range: a body cut short ends the connection under it.
        let _ = req.respond(tiny_http::Response::new(status.into(), headers, reader, Some(length), None));
        return;
    }
    // Not gated: the hub redirects to the storage server.
    let Some(key) = hub_key else { return drop(req.respond(not_found())) };
    let Some(f) = files.get(&key) else { return drop(req.respond(not_found())) };
    let sha = f.sha256.clone().unwrap_or_else(|| format!("{:x}", sha2::Sha256::digest(f.bytes.as_slice())));
    let mut resp = tiny_http::Response::empty(302)
        .with_header(header("Location", &format!("/cdn/{key}")))
        .with_header(header("X-Linked-Size", &f.size.unwrap_or(f.bytes.len() as u64).to_string()))
        .with_header(header("X-Repo-Commit", &"c0ffee".repeat(7)[..40]))
        .with_header(header("Connection", "close"));
    if !f.no_hash {
        resp = resp.with_header(header("X-Linked-Etag", &format!("\"{sha}\"")));
    }
    let _ = req.respond(resp);
}

/// A body sent at `rate` bytes per second, in small pieces.
struct Paced {
    data: std::io::Cursor<Vec<u8>>,
    rate: Option<usize>,
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.rate {
            None => self.data.read(buf),
            Some(rate) => {
                let piece = (rate / 20).max(1).min(buf.len());
                let n = self.data.read(&mut buf[..piece])?;
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                Ok(n)
            }
        }
    }
}
