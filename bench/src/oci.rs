//! The OCI distribution requests the bench drives, with the checks a real client would make.
//!
//! Every failure names the request and the registry's answer, so a protocol bug found by the
//! bench is reported precisely rather than as a bad number.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode, header};

use crate::data::{BlobSpec, Pool};
use crate::http::{Conn, ReqBody, location_path, with_param};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// How a blob is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadMode {
    /// POST to open a session, then one PUT `?digest=` carrying the whole body (the spec's
    /// "POST then PUT"; Distribution 2.8 ignores a body on the POST itself).
    Monolithic,
    /// POST, then PATCHes of `chunk` bytes with `Content-Range`, then an empty PUT `?digest=`.
    Chunked { chunk: u64 },
}

impl UploadMode {
    pub fn name(self) -> &'static str {
        match self {
            UploadMode::Monolithic => "monolithic",
            UploadMode::Chunked { .. } => "chunked",
        }
    }
}

/// Opens an upload session; returns the upload URL path.
async fn start_upload(conn: &mut Conn, repo: &str) -> Result<String> {
    let what = format!("POST /v2/{repo}/blobs/uploads/");
    let r = conn
        .call(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            ReqBody::Empty,
        )
        .await?;
    let r = r.expect(&what, StatusCode::ACCEPTED)?;
    let loc = r
        .header("location")
        .with_context(|| format!("{what}: 202 without Location"))?;
    Ok(location_path(loc))
}

/// Pushes a generated blob and checks the registry's answer (201 and the right digest).
pub async fn upload(
    conn: &mut Conn,
    pool: &Pool,
    repo: &str,
    spec: BlobSpec,
    digest: &str,
    mode: UploadMode,
) -> Result<()> {
    let mut loc = start_upload(conn, repo).await?;
    let body_on_put = match mode {
        UploadMode::Monolithic => ReqBody::Gen(pool.stream(spec, 0, spec.size)),
        UploadMode::Chunked { chunk } => {
            let mut off = 0;
            while off < spec.size {
                let end = (off + chunk).min(spec.size);
                let range = format!("{}-{}", off, end - 1);
                let what = format!("PATCH {loc} (Content-Range {range})");
                let r = conn
                    .call(
                        Method::PATCH,
                        &loc,
                        &[
                            (header::CONTENT_TYPE, "application/octet-stream"),
                            (header::CONTENT_RANGE, &range),
                        ],
                        ReqBody::Gen(pool.stream(spec, off, end)),
                    )
                    .await
                    .with_context(|| what.clone())?
                    .expect(&what, StatusCode::ACCEPTED)?;
                let want_range = format!("0-{}", end - 1);
                match r.header("range") {
                    Some(got) if got == want_range => {}
                    got => bail!("{what}: 202 with Range {got:?}, expected {want_range:?}"),
                }
                loc = location_path(
                    r.header("location")
                        .with_context(|| format!("{what}: 202 without Location"))?,
                );
                off = end;
            }
            ReqBody::Empty
        }
    };
    let put = with_param(&loc, &format!("digest={digest}"));
    let what = format!("PUT {put} ({} body bytes)", body_on_put_len(&body_on_put));
    let r = conn
        .call(
            Method::PUT,
            &put,
            &[(header::CONTENT_TYPE, "application/octet-stream")],
            body_on_put,
        )
        .await
        .with_context(|| what.clone())?
        .expect(&what, StatusCode::CREATED)?;
    match r.header("docker-content-digest") {
        Some(d) if d != digest => {
            bail!("{what}: 201 with Docker-Content-Digest {d}, expected {digest}")
        }
        _ => Ok(()),
    }
}

fn body_on_put_len(b: &ReqBody) -> u64 {
    match b {
        ReqBody::Gen(s) => s.remaining(),
        ReqBody::Full(b) => b.len() as u64,
        ReqBody::Empty => 0,
    }
}

/// Pushes a small in-memory blob monolithically (config blobs, 4 KiB blobs).
pub async fn upload_bytes(conn: &mut Conn, repo: &str, data: Bytes, digest: &str) -> Result<()> {
    let loc = start_upload(conn, repo).await?;
    let put = with_param(&loc, &format!("digest={digest}"));
    let what = format!("PUT {put}");
    conn.call(
        Method::PUT,
        &put,
        &[(header::CONTENT_TYPE, "application/octet-stream")],
        ReqBody::Full(data),
    )
    .await?
    .expect(&what, StatusCode::CREATED)?;
    Ok(())
}

/// HEADs a blob and checks it exists with the expected size.
pub async fn head_blob(conn: &mut Conn, repo: &str, digest: &str, size: u64) -> Result<()> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let what = format!("HEAD {path}");
    let r = conn
        .call(Method::HEAD, &path, &[], ReqBody::Empty)
        .await?
        .expect(&what, StatusCode::OK)?;
    let len = r
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if len != Some(size) {
        bail!("{what}: Content-Length {len:?}, expected {size}");
    }
    Ok(())
}

/// GETs a whole blob, counting its bytes; fails unless it is 200 with exactly `size` bytes.
pub async fn get_blob(conn: &mut Conn, repo: &str, digest: &str, size: u64) -> Result<()> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let what = format!("GET {path}");
    let r = conn.call_discard(Method::GET, &path, &[]).await?;
    if r.status != StatusCode::OK {
        bail!("{what}: expected 200 OK, got {}", r.status);
    }
    if r.body_len != size {
        bail!("{what}: got {} body bytes, expected {size}", r.body_len);
    }
    Ok(())
}

/// GETs a byte range of a blob and compares it with the generated content.
pub async fn check_range(
    conn: &mut Conn,
    pool: &Pool,
    repo: &str,
    spec: BlobSpec,
    digest: &str,
) -> Result<()> {
    let (start, end) = (spec.size / 3, spec.size / 3 + 9999);
    let path = format!("/v2/{repo}/blobs/{digest}");
    let range = format!("bytes={start}-{end}");
    let what = format!("GET {path} (Range: {range})");
    let r = conn
        .call(
            Method::GET,
            &path,
            &[(header::RANGE, &range)],
            ReqBody::Empty,
        )
        .await?;
    let r = r.expect(&what, StatusCode::PARTIAL_CONTENT)?;
    let mut want = Vec::new();
    let mut s = pool.stream(spec, start, end + 1);
    while let Some(f) = s.next_frame() {
        want.extend_from_slice(&f);
    }
    if r.body[..] != want[..] {
        bail!(
            "{what}: 206 body differs from the uploaded bytes ({} bytes, expected {})",
            r.body.len(),
            want.len()
        );
    }
    Ok(())
}

/// PUTs a manifest by tag and returns the digest the registry reports.
pub async fn put_manifest(
    conn: &mut Conn,
    repo: &str,
    tag: &str,
    manifest: Bytes,
) -> Result<String> {
    let path = format!("/v2/{repo}/manifests/{tag}");
    let what = format!("PUT {path}");
    let r = conn
        .call(
            Method::PUT,
            &path,
            &[(header::CONTENT_TYPE, OCI_MANIFEST)],
            ReqBody::Full(manifest),
        )
        .await?
        .expect(&what, StatusCode::CREATED)?;
    Ok(r.header("docker-content-digest")
        .unwrap_or_default()
        .to_owned())
}
