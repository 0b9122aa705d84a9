//! Where a published weight file lives on a Hugging Face–style hub, and what the hub says about it.
//!
//! The hub's layout: `{endpoint}/{repo}/resolve/{revision}/{path}`. For a file kept in Git LFS (every
//! large weight file) that URL answers with a redirect to the storage server and headers that state
//! the file: `X-Linked-Size` (bytes), `X-Linked-Etag` (its SHA-256) and `X-Repo-Commit`. We read those
//! from a `HEAD` without following the redirect, then fetch the storage URL ourselves, so that a
//! `Range` header survives every hop.

use std::time::Duration;

/// The variable that names a mirror of the hub (the convention of Hugging Face's own tools).
pub(crate) const ENDPOINT_ENV: &str = "HF_ENDPOINT";
/// The hub itself.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// A token for gated or private repositories (sent to the hub only, never to the storage server).
pub(crate) const TOKEN_ENV: &str = "HF_TOKEN";

/// One file of a hub repository at a revision (a branch, tag or commit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubFile {
    pub repo: &'static str,
    pub revision: &'static str,
    pub path: &'static str,
}

impl HubFile {
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}/{}/resolve/{}/{}", endpoint.trim_end_matches('/'), self.repo, self.revision, self.path)
    }
}

/// The endpoint to use: `HF_ENDPOINT` when set, else the hub.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_ENV).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// What the hub states about a file before we fetch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteFile {
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// The commit the revision resolved to, when the hub says.
    pub commit: Option<String>,
    /// Where the bytes are served from (the redirect's target, or the URL itself).
    pub location: String,
}

/// Why the hub could not tell us about a file.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("could not reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} answered {status}{hint}")]
    Status { url: String, status: u16, hint: &'static str },
    #[error("{url} does not state the file's SHA-256 (no X-Linked-Etag): it cannot be verified, so it is not fetched")]
    NoHash { url: String },
    #[error("{url} does not state the file's size")]
    NoSize { url: String },
}

/// An HTTP agent with the time-outs a multi-gigabyte download needs: quick to give up on a host that
/// does not answer, patient with a slow body (each read may wait `per_read`, the whole body has no limit).
pub(crate) fn agent(per_read: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(per_read))
        .user_agent(concat!("efficient4d/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A response header as trimmed text (absent or not text: `None`).
pub fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

/// An ETag as a SHA-256, if it is one: `"abc…"` or `W/"abc…"`, 64 hex digits.
fn etag_sha256(etag: &str) -> Option<String> {
    let tag = etag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    (tag.len() == 64 && tag.bytes().all(|b| b.is_ascii_hexdigit())).then_some(tag)
}

/// Resolves `location` (absolute, or a path on `base`'s host) against `base`.
pub(crate) fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    if location.starts_with('/') {
        format!("{}{location}", &base[..host_end])
    } else {
        let dir_end = base.rfind('/').filter(|&i| i >= host_end).unwrap_or(host_end);
        format!("{}/{location}", &base[..dir_end])
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (the repository may be gated or private: accept its terms on the hub and set HF_TOKEN)",
        404 => " (no such file at that revision: the repository may have moved; a mirror can be set with HF_ENDPOINT)",
        429 => " (too many requests: wait a little and try again)",
        _ => "",
    }
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// `req` with the user's token when `url` is on the hub itself (`endpoint`'s origin): a gated file the
/// hub serves directly needs it; the storage servers its redirects lead to get signed URLs instead,
/// and never see the token.
pub(crate) fn with_token<B>(req: ureq::RequestBuilder<B>, url: &str, endpoint: &str) -> ureq::RequestBuilder<B> {
    match std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        Some(token) if origin(url).eq_ignore_ascii_case(origin(endpoint)) => {
            req.header("Authorization", format!("Bearer {token}"))
        }
        _ => req,
    }
}

/// Asks the hub for `file`'s size, hash and storage location (a `HEAD`, redirects not followed).
pub(crate) fn stat(agent: &ureq::Agent, endpoint: &str, file: &HubFile) -> Result<RemoteFile, HubError> {
    let url = file.url(endpoint);
    let resp = with_token(agent.head(&url), &url, endpoint)
        .call()
        .map_err(|e| HubError::Unreachable { url: url.clone(), message: e.to_string() })?;
    let status = resp.status().as_u16();
    if !(200..400).contains(&status) {
        return Err(HubError::Status { url, status, hint: status_hint(status) });
    }
    let sha256 = header(&resp, "x-linked-etag")
        .and_then(|t| etag_sha256(&t))
        .or_else(|| header(&resp, "etag").and_then(|t| etag_sha256(&t)))
        .ok_or_else(|| HubError::NoHash { url: url.clone() })?;
    let size = header(&resp, "x-linked-size")
        .or_else(|| header(&resp, "content-length"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HubError::NoSize { url: url.clone() })?;
    let location = match header(&resp, "location") {
        Some(loc) if (300..400).contains(&status) => resolve_location(&url, &loc),
        _ => url.clone(),
    };
    Ok(RemoteFile { size, sha256, commit: header(&resp, "x-repo-commit"), location })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_url_layout_and_locations() {
        let f = HubFile { repo: "owner/name", revision: "main", path: "dir/w.ckpt" };
        assert_eq!(f.url("https://hf.co/"), "https://hf.co/owner/name/resolve/main/dir/w.ckpt");
        let base = "http://127.0.0.1:8/owner/name/resolve/main/w.ckpt";
        assert_eq!(resolve_location(base, "/cdn/x?sig=1"), "http://127.0.0.1:8/cdn/x?sig=1");
        assert_eq!(resolve_location(base, "https://cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location(base, "other"), "http://127.0.0.1:8/owner/name/resolve/main/other");
        assert_eq!(origin(base), "http://127.0.0.1:8");
        assert_eq!(origin("https://cdn-lfs.hf.co/repos/x?sig=1"), "https://cdn-lfs.hf.co");
        assert_eq!(origin("https://huggingface.co"), "https://huggingface.co");
    }

    #[test]
    fn only_a_sha256_etag_is_a_hash() {
        let h = "a".repeat(64);
        assert_eq!(etag_sha256(&format!("\"{h}\"")), Some(h.clone()));
        assert_eq!(etag_sha256(&format!("W/\"{}\"", h.to_uppercase())), Some(h));
        // A git blob id (SHA-1, what the hub gives for small non-LFS files) is not one.
        assert_eq!(etag_sha256("\"0123456789abcdef0123456789abcdef01234567\""), None);
        assert_eq!(etag_sha256(&format!("\"{}\"", "g".repeat(64))), None);
    }
}
