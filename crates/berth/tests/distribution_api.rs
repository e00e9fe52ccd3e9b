//! The OCI distribution spec v1.1 over HTTP, endpoint by endpoint and error by error, against
//! the real `berth` binary (or, with `BERTH_TEST_REGISTRY=127.0.0.1:PORT`, an already running
//! registry for the tests that need neither a restart nor a configuration of their own).
//!
//! Spec: <https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md>. Where the
//! spec leaves a choice open, the tests assert berth's documented choice (Location as a path,
//! `Range: 0-<last offset>`, 202 for every DELETE, 204 for upload status and cancel, ...).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The Range header an upload with `n` bytes reports.
fn range_of(n: usize) -> String {
    if n == 0 {
        "0-0".into()
    } else {
        format!("0-{}", n - 1)
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks an upload-session response (POST start, PATCH, status GET): Location is the
/// session's path, Docker-Upload-UUID names it, Range covers `uploaded` bytes. Returns the
/// Location to use next.
#[track_caller]
fn assert_upload_session(reg: &Registry, r: &Resp, repo: &str, uploaded: usize) -> String {
    let loc = r.location();
    let uuid = r.hdr("docker-upload-uuid");
    assert!(
        is_uuid(uuid),
        "Docker-Upload-UUID {uuid:?} is not a UUID:\n{r}"
    );
    let want = format!("/v2/{repo}/blobs/uploads/{uuid}");
    if reg.external() {
        assert_eq!(
            loc.split('?').next().unwrap(),
            want,
            "upload Location:\n{r}"
        );
    } else {
        assert_eq!(loc, want, "upload Location:\n{r}");
    }
    assert_eq!(r.hdr("range"), range_of(uploaded), "upload Range:\n{r}");
    loc
}

/// Checks a 201 for a finished blob upload or mount.
#[track_caller]
fn assert_blob_created(r: &Resp, repo: &str, digest: &str) {
    assert_eq!(r.status, 201, "blob not created:\n{r}");
    assert_eq!(
        r.location(),
        format!("/v2/{repo}/blobs/{digest}"),
        "blob Location:\n{r}"
    );
    assert_eq!(
        r.hdr("docker-content-digest"),
        digest,
        "Docker-Content-Digest:\n{r}"
    );
}

/// Current offset of an upload session, through the status GET.
fn upload_range(reg: &Registry, loc: &str) -> String {
    reg.get(loc).expect(204).hdr("range").to_owned()
}

fn start_upload(reg: &Registry, repo: &str) -> String {
    let r = try_start_upload(reg, repo).unwrap_or_else(|e| panic!("{e:?}"));
    assert_upload_session(reg, &r, repo, 0)
}

fn patch_range(reg: &Registry, loc: &str, range: &str, body: &[u8]) -> Resp {
    reg.send(
        reg.req(Method::PATCH, loc)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", range)
            .body(body.to_vec()),
    )
}

fn put_upload(reg: &Registry, loc: &str, digest: &str, body: &[u8]) -> Resp {
    reg.send(
        reg.req(Method::PUT, &with_digest(loc, digest))
            .header("Content-Type", "application/octet-stream")
            .body(body.to_vec()),
    )
}

/// Tags of a repository; a repository holding no manifest may be unknown (404 NAME_UNKNOWN).
fn tags_if_known(reg: &Registry, repo: &str) -> Vec<String> {
    let r = reg.get(&format!("/v2/{repo}/tags/list"));
    if r.status == 404 {
        r.expect_error(&[404], &["NAME_UNKNOWN"]);
        return vec![];
    }
    tags(reg, repo)
}

fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    let v = reg.get(&format!("/v2/{repo}/tags/list")).expect(200).json();
    assert_eq!(v["name"], repo);
    v["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Asserts a `Link: <path?n=N&last=LAST>; rel="next"` header. For berth exactly that form
/// (LAST may be percent-encoded); for an external registry the parameters in any order.
#[track_caller]
fn assert_next_link(reg: &Registry, r: &Resp, path: &str, n: usize, last: &str) {
    let link = r.hdr("link");
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("Link is not <url>; rel=\"next\":\n{r}"));
    let (p, q) = url
        .split_once('?')
        .unwrap_or_else(|| panic!("Link without a query:\n{r}"));
    let mut q: Vec<String> = q.split('&').map(percent_decode).collect();
    let want = vec![format!("n={n}"), format!("last={last}")];
    if reg.external() {
        q.sort();
        let mut w = want.clone();
        w.sort();
        assert_eq!((p, q), (path, w), "Link:\n{r}");
    } else {
        assert_eq!(
            (p, q),
            (path, want),
            "Link (want <{path}?n={n}&last={last}>; rel=\"next\"):\n{r}"
        );
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A raw PUT with a Content-Length, or with chunked transfer encoding.
fn raw_put(
    reg: &Registry,
    path: &str,
    content_type: &str,
    body: &[u8],
    chunked: bool,
) -> Option<Resp> {
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n",
        reg.addr()
    )
    .into_bytes();
    if chunked {
        for c in body.chunks(64 * 1024) {
            req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            req.extend_from_slice(c);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(body);
    }
    raw_http(reg.addr(), &req, false)
}

/// A manifest (OCI, empty config, one empty layer) padded with an annotation to exactly `len`
/// bytes.
fn manifest_of_len(len: usize) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.padding",
        "config": empty_descriptor(),
        "layers": [empty_descriptor()],
        "annotations": { "pad": "" },
    });
    let base = serde_json::to_vec(&m).unwrap().len();
    assert!(len >= base, "cannot make a manifest of {len} bytes");
    m["annotations"]["pad"] = Value::String("x".repeat(len - base));
    let bytes = serde_json::to_vec(&m).unwrap();
    assert_eq!(bytes.len(), len);
    bytes
}

/// An artifact manifest with an empty config.
fn artifact(
    artifact_type: &str,
    layers: Vec<(&str, Vec<u8>)>,
    subject: Option<&Image>,
    annotations: Value,
) -> Image {
    let mut extra = json!({ "artifactType": artifact_type, "annotations": annotations });
    if let Some(s) = subject {
        extra["subject"] = s.descriptor();
    }
    Image::build(
        OCI_MANIFEST,
        (OCI_EMPTY, EMPTY_JSON.to_vec()),
        layers,
        extra,
    )
}

// ---------------------------------------------------------------------------------------------
// Base
// ---------------------------------------------------------------------------------------------

#[test]
fn ping() {
    let reg = Registry::start();
    let r = reg.get("/v2/").expect(200);
    assert_eq!(
        r.hdr("docker-distribution-api-version"),
        "registry/2.0",
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// Blob uploads
// ---------------------------------------------------------------------------------------------

#[test]
fn monolithic_post_then_put() {
    let reg = Registry::start();
    let repo = unique_repo("mono");
    let data = random_bytes(100_000);
    let digest = sha256(&data);
    let loc = start_upload(&reg, &repo);
    // Not visible before the PUT.
    reg.head(&format!("/v2/{repo}/blobs/{digest}"))
        .expect_error(&[404], &[]);
    let r = put_upload(&reg, &loc, &digest, &data);
    assert_blob_created(&r, &repo, &digest);
    assert_blob(&reg, &repo, &digest, &data);
    // The session is gone once the blob is committed.
    reg.get(&loc).expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
}

#[test]
fn empty_blob() {
    let reg = Registry::start();
    let repo = unique_repo("emptyblob");
    for how in [Upload::PostPut, Upload::SinglePost] {
        let digest =
            try_push_blob(&reg, &repo, b"", how).unwrap_or_else(|e| panic!("{how:?}: {e:?}"));
        assert_eq!(
            digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let r = reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(200);
        assert_eq!(r.hdr("content-length"), "0", "{r}");
        assert_blob(&reg, &repo, &digest, b"");
    }
}

#[test]
fn same_blob_uploaded_concurrently() {
    let reg = Registry::start();
    let repo = unique_repo("samecontent");
    let data = random_bytes(3_000_000);
    let digest = sha256(&data);
    std::thread::scope(|s| {
        for how in [
            Upload::PostPut,
            Upload::SinglePost,
            Upload::Chunked(700_000),
            Upload::Streamed(900_000),
        ] {
            let (reg, repo, data) = (&reg, &repo, &data);
            s.spawn(move || {
                try_push_blob(reg, repo, data, how).unwrap_or_else(|e| panic!("{how:?}: {e:?}"))
            });
        }
    });
    assert_blob(&reg, &repo, &digest, &data);
}

#[test]
fn single_post_with_digest() {
    let reg = Registry::start();
    let repo = unique_repo("post");
    let data = random_bytes(70_000);
    let digest = sha256(&data);
    let r = reg.send(
        reg.req(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        )
        .header("Content-Type", "application/octet-stream")
        .body(data.clone()),
    );
    assert_blob_created(&r, &repo, &digest);
    assert_blob(&reg, &repo, &digest, &data);

    // A wrong digest: DIGEST_INVALID, and nothing stored under either digest.
    let other = random_bytes(5000);
    let wrong = sha256(b"something else");
    reg.send(
        reg.req(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest={wrong}"),
        )
        .body(other.clone()),
    )
    .expect_error(&[400], &["DIGEST_INVALID"]);
    reg.head(&format!("/v2/{repo}/blobs/{wrong}")).expect(404);
    reg.head(&format!("/v2/{repo}/blobs/{}", sha256(&other)))
        .expect(404);
}

#[test]
fn chunked_upload_in_several_patches() {
    let reg = Registry::start();
    let repo = unique_repo("chunked");
    let data = random_bytes(1_000_003);
    let digest = sha256(&data);
    let mut loc = start_upload(&reg, &repo);
    let uuid = loc
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let chunk = 262_144;
    let (head, last) = data.split_at(3 * chunk);
    for (i, c) in head.chunks(chunk).enumerate() {
        let r = patch_range(
            &reg,
            &loc,
            &format!("{}-{}", i * chunk, i * chunk + c.len() - 1),
            c,
        )
        .expect(202);
        loc = assert_upload_session(&reg, &r, &repo, i * chunk + c.len());
        assert_eq!(
            r.hdr("docker-upload-uuid"),
            uuid,
            "the session keeps its UUID"
        );
    }
    // The status GET reports the same offset; the blob is still invisible.
    let r = reg.get(&loc).expect(204);
    assert_upload_session(&reg, &r, &repo, head.len());
    assert!(r.body.is_empty());
    reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(404);
    // The last chunk rides on the closing PUT.
    let r = reg.send(
        reg.req(Method::PUT, &with_digest(&loc, &digest))
            .header("Content-Type", "application/octet-stream")
            .header(
                "Content-Range",
                format!("{}-{}", head.len(), data.len() - 1),
            )
            .body(last.to_vec()),
    );
    assert_blob_created(&r, &repo, &digest);
    assert_blob(&reg, &repo, &digest, &data);
}

#[test]
fn out_of_order_patch_is_416_and_the_upload_survives() {
    let reg = Registry::start();
    let repo = unique_repo("order");
    let data = random_bytes(300);
    let digest = sha256(&data);
    let loc = start_upload(&reg, &repo);
    let loc = patch_range(&reg, &loc, "0-99", &data[..100])
        .expect(202)
        .location();
    // A gap, an overlap, a restart from zero: all 416.
    patch_range(&reg, &loc, "200-299", &data[200..]).expect(416);
    patch_range(&reg, &loc, "50-149", &data[50..150]).expect(416);
    patch_range(&reg, &loc, "0-99", &data[..100]).expect(416);
    assert_eq!(
        upload_range(&reg, &loc),
        "0-99",
        "a refused chunk changes nothing"
    );
    let loc = patch_range(&reg, &loc, "100-299", &data[100..])
        .expect(202)
        .location();
    assert_blob_created(&put_upload(&reg, &loc, &digest, &[]), &repo, &digest);
    assert_blob(&reg, &repo, &digest, &data);
}

#[test]
fn streamed_upload_without_content_range() {
    let reg = Registry::start();
    let repo = unique_repo("stream");
    let data = random_bytes(600_000);
    let digest = try_push_blob(&reg, &repo, &data, Upload::Streamed(250_000))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_blob(&reg, &repo, &digest, &data);
    // Offsets after each streamed PATCH.
    let loc = start_upload(&reg, &repo);
    let r = try_patch(&reg, &loc, 0, &data[..1000], false).unwrap_or_else(|e| panic!("{e:?}"));
    let loc = assert_upload_session(&reg, &r, &repo, 1000);
    let r =
        try_patch(&reg, &loc, 1000, &data[1000..2500], false).unwrap_or_else(|e| panic!("{e:?}"));
    let loc = assert_upload_session(&reg, &r, &repo, 2500);
    let d = sha256(&data[..2500]);
    assert_blob_created(&put_upload(&reg, &loc, &d, &[]), &repo, &d);
}

#[test]
fn upload_status_and_cancel() {
    let reg = Registry::start();
    let repo = unique_repo("cancel");
    let loc = start_upload(&reg, &repo);
    let r = reg.get(&loc).expect(204);
    assert_upload_session(&reg, &r, &repo, 0);
    let loc = patch_range(&reg, &loc, "0-4095", &random_bytes(4096))
        .expect(202)
        .location();
    let r = reg.get(&loc).expect(204);
    assert_upload_session(&reg, &r, &repo, 4096);

    reg.delete(&loc).expect(204);
    reg.get(&loc).expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    patch_range(&reg, &loc, "4096-4096", b"x").expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    put_upload(&reg, &loc, &sha256(b"x"), b"x").expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    reg.delete(&loc)
        .expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);

    // A session that never existed.
    let ghost = format!("/v2/{repo}/blobs/uploads/6a1f3b52-0c4e-4a8e-9b1d-2f5e7c9a0b11");
    reg.get(&ghost)
        .expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    patch_range(&reg, &ghost, "0-0", b"x").expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    // A session of one repository is unknown under another.
    let other = start_upload(&reg, &repo);
    let uuid = other.rsplit('/').next().unwrap().split('?').next().unwrap();
    reg.get(&format!(
        "/v2/{}/blobs/uploads/{uuid}",
        unique_repo("elsewhere")
    ))
    .expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
}

#[test]
fn upload_put_with_a_wrong_or_malformed_digest() {
    let reg = Registry::start();
    let repo = unique_repo("baddigest");
    let data = random_bytes(10_000);
    let right = sha256(&data);
    let wrong = sha256(b"not this");
    for (digest, codes) in [
        (wrong.as_str(), &["DIGEST_INVALID"][..]),
        ("sha256:1234", &["DIGEST_INVALID"]),
        (
            "sha256:zzzz6e8e4c0c8d2d1d3e9a8a9c1a7a8a8f1d1e3c2b4a5f6e7d8c9b0a1f2e3d4c",
            &["DIGEST_INVALID"],
        ),
        ("nonsense", &["DIGEST_INVALID"]),
        (
            "md5:0123456789abcdef0123456789abcdef",
            &["DIGEST_INVALID", "UNSUPPORTED"],
        ),
    ] {
        let loc = start_upload(&reg, &repo);
        put_upload(&reg, &loc, digest, &data).expect_error(&[400], codes);
        reg.head(&format!("/v2/{repo}/blobs/{right}")).expect(404);
    }
    reg.head(&format!("/v2/{repo}/blobs/{wrong}")).expect(404);
    // No digest at all.
    let loc = start_upload(&reg, &repo);
    reg.send(reg.req(Method::PUT, &loc).body(data.clone()))
        .expect_error(&[400], &["DIGEST_INVALID"]);
    reg.head(&format!("/v2/{repo}/blobs/{right}")).expect(404);
    // Chunks, then a PUT with the digest of something else: the chunks stay invisible.
    let loc = start_upload(&reg, &repo);
    let loc = patch_range(&reg, &loc, &format!("0-{}", data.len() - 1), &data)
        .expect(202)
        .location();
    put_upload(&reg, &loc, &wrong, &[]).expect_error(&[400], &["DIGEST_INVALID"]);
    reg.head(&format!("/v2/{repo}/blobs/{right}")).expect(404);
    reg.head(&format!("/v2/{repo}/blobs/{wrong}")).expect(404);
}

#[test]
fn resumable_upload_survives_a_restart() {
    let Some(mut reg) = Registry::own(&[]) else {
        return;
    };
    let repo = unique_repo("resume");
    let data = random_bytes(2_000_000);
    let digest = sha256(&data);
    let half = 1_100_000;
    let loc = start_upload(&reg, &repo);
    let loc = patch_range(&reg, &loc, &format!("0-{}", half - 1), &data[..half])
        .expect(202)
        .location();
    reg.server().restart();
    let r = reg.get(&loc).expect(204);
    let loc = assert_upload_session(&reg, &r, &repo, half);
    let loc = patch_range(
        &reg,
        &loc,
        &format!("{half}-{}", data.len() - 1),
        &data[half..],
    )
    .expect(202)
    .location();
    assert_eq!(upload_range(&reg, &loc), range_of(data.len()));
    reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(404);
    assert_blob_created(&put_upload(&reg, &loc, &digest, &[]), &repo, &digest);
    reg.server().restart();
    assert_blob(&reg, &repo, &digest, &data);
}

#[test]
fn sha512_blobs() {
    let reg = Registry::start();
    let repo = unique_repo("sha512");
    for (i, how) in [Upload::PostPut, Upload::SinglePost, Upload::Chunked(40_000)]
        .into_iter()
        .enumerate()
    {
        let data = random_bytes(100_000 + i);
        let digest = try_push_blob_as(&reg, &repo, &data, how, "sha512")
            .unwrap_or_else(|e| panic!("{how:?}: {e:?}"));
        assert!(digest.starts_with("sha512:") && digest.len() == 7 + 128);
        let r = reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(200);
        assert_eq!(r.hdr("docker-content-digest"), digest);
        assert_eq!(r.hdr("content-length"), data.len().to_string());
        assert_blob(&reg, &repo, &digest, &data);
        // The same bytes are not known under their sha256 unless pushed so.
        reg.head(&format!("/v2/{repo}/blobs/{}", sha256(&data)))
            .expect(404);
    }
    // A wrong sha512 is refused like a wrong sha256.
    let loc = start_upload(&reg, &repo);
    put_upload(&reg, &loc, &sha512(b"other"), b"content").expect_error(&[400], &["DIGEST_INVALID"]);
}

#[test]
fn upload_cannot_be_completed_in_another_repository() {
    let reg = Registry::start();
    let repo = unique_repo("owner");
    let thief = unique_repo("thief");
    let data = random_bytes(3000);
    let loc = start_upload(&reg, &repo);
    let foreign = loc.replacen(&format!("/v2/{repo}/"), &format!("/v2/{thief}/"), 1);
    put_upload(&reg, &foreign, &sha256(&data), &data)
        .expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
    reg.head(&format!("/v2/{thief}/blobs/{}", sha256(&data)))
        .expect(404);
}

// ---------------------------------------------------------------------------------------------
// Blob reads and deletes
// ---------------------------------------------------------------------------------------------

#[test]
fn blob_head_and_get() {
    let reg = Registry::start();
    let repo = unique_repo("blobread");
    let data = random_bytes(12_345);
    let digest = push_blob(&reg, &repo, &data);
    let r = reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(200);
    assert_eq!(r.hdr("content-length"), "12345", "{r}");
    assert_eq!(r.hdr("docker-content-digest"), digest, "{r}");
    assert!(r.body.is_empty(), "HEAD with a body:\n{r}");
    let r = reg.get(&format!("/v2/{repo}/blobs/{digest}")).expect(200);
    assert_eq!(r.hdr("content-length"), "12345");
    assert_eq!(r.hdr("docker-content-digest"), digest);
    assert_eq!(sha256(&r.body), digest);
}

#[test]
fn blob_range_requests() {
    let reg = Registry::start();
    let repo = unique_repo("range");
    let data = random_bytes(10_000);
    let digest = push_blob(&reg, &repo, &data);
    let path = format!("/v2/{repo}/blobs/{digest}");
    let get_range = |range: &str| reg.send(reg.req(Method::GET, &path).header("Range", range));

    let r = get_range("bytes=10-99").expect(206);
    assert_eq!(r.hdr("content-range"), "bytes 10-99/10000", "{r}");
    assert_eq!(r.hdr("content-length"), "90");
    assert!(r.body == data[10..100]);
    let r = get_range("bytes=9000-").expect(206);
    assert_eq!(r.hdr("content-range"), "bytes 9000-9999/10000", "{r}");
    assert!(r.body == data[9000..]);
    let r = get_range("bytes=-100").expect(206);
    assert_eq!(r.hdr("content-range"), "bytes 9900-9999/10000", "{r}");
    assert!(r.body == data[9900..]);
    // An end past the blob is clamped to it.
    let r = get_range("bytes=9990-20000").expect(206);
    assert_eq!(r.hdr("content-range"), "bytes 9990-9999/10000", "{r}");
    assert!(r.body == data[9990..]);
    // A start past the end cannot be satisfied.
    let r = get_range("bytes=10000-10010").expect(416);
    assert_eq!(r.hdr("content-range"), "bytes */10000", "{r}");
}

#[test]
fn blob_unknown_and_invalid_digests() {
    let reg = Registry::start();
    let repo = unique_repo("blobunknown");
    push_blob(&reg, &repo, b"make the repository exist");
    let missing = sha256(b"never pushed");
    reg.get(&format!("/v2/{repo}/blobs/{missing}"))
        .expect_error(&[404], &["BLOB_UNKNOWN"]);
    reg.head(&format!("/v2/{repo}/blobs/{missing}"))
        .expect_error(&[404], &[]);
    reg.get(&format!("/v2/{}/blobs/{missing}", unique_repo("norepo")))
        .expect_error(&[404], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
    for bad in ["sha256:abc", "sha256:ZZ", "sha256:", "latest"] {
        reg.get(&format!("/v2/{repo}/blobs/{bad}"))
            .expect_error(&[400, 404], &["DIGEST_INVALID", "BLOB_UNKNOWN"]);
    }
    reg.get(&format!("/v2/{repo}/blobs/sha256:{}", "g".repeat(64)))
        .expect_error(&[400], &["DIGEST_INVALID"]);
}

#[test]
fn blob_delete() {
    let reg = Registry::start();
    let repo = unique_repo("blobdel");
    let other = unique_repo("blobkeep");
    let data = random_bytes(5000);
    let digest = push_blob(&reg, &repo, &data);
    push_blob(&reg, &other, &data);
    reg.delete(&format!("/v2/{repo}/blobs/{digest}"))
        .expect(202);
    reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(404);
    reg.get(&format!("/v2/{repo}/blobs/{digest}"))
        .expect_error(&[404], &["BLOB_UNKNOWN"]);
    reg.delete(&format!("/v2/{repo}/blobs/{digest}"))
        .expect_error(&[404], &["BLOB_UNKNOWN"]);
    // Other repositories holding the same content keep it.
    assert_blob(&reg, &other, &digest, &data);
    // It can be pushed again.
    push_blob(&reg, &repo, &data);
    assert_blob(&reg, &repo, &digest, &data);
}

// ---------------------------------------------------------------------------------------------
// Cross-repository mount
// ---------------------------------------------------------------------------------------------

#[test]
fn cross_repository_mount() {
    let reg = Registry::start();
    let from = unique_repo("mountsrc");
    let to = unique_repo("mountdst");
    let data = random_bytes(20_000);
    let digest = push_blob(&reg, &from, &data);
    // Not readable from `to` before the mount.
    reg.get(&format!("/v2/{to}/blobs/{digest}"))
        .expect_error(&[404], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
    let r = reg.send(reg.req(
        Method::POST,
        &format!("/v2/{to}/blobs/uploads/?mount={digest}&from={from}"),
    ));
    assert_blob_created(&r, &to, &digest);
    assert_blob(&reg, &to, &digest, &data);
    // Both copies are independent: deleting the source keeps the mount.
    reg.delete(&format!("/v2/{from}/blobs/{digest}"))
        .expect(202);
    assert_blob(&reg, &to, &digest, &data);
}

/// A mount without `from` would copy any stored blob whose digest the caller knows, readable
/// by it or not; berth answers it with an upload session instead (which the spec allows), so
/// the client uploads the bytes it claims to have.
#[test]
fn mount_by_digest_alone_starts_an_upload() {
    let reg = Registry::start();
    let from = unique_repo("anysrc");
    let to = unique_repo("anydst");
    let data = random_bytes(3000);
    let digest = push_blob(&reg, &from, &data);
    let r = reg.send(reg.req(
        Method::POST,
        &format!("/v2/{to}/blobs/uploads/?mount={digest}"),
    ));
    assert_eq!(r.status, 202, "{r}");
    assert_upload_session(&reg, &r, &to, 0);
    reg.get(&format!("/v2/{to}/blobs/{digest}"))
        .expect_error(&[404], &["BLOB_UNKNOWN"]);
}

#[test]
fn mount_of_an_unreadable_blob_starts_an_upload() {
    let reg = Registry::start();
    let from = unique_repo("emptysrc");
    let to = unique_repo("fallback");
    push_blob(&reg, &from, b"something else");
    let data = random_bytes(4000);
    let digest = sha256(&data);
    for query in [
        format!("mount={digest}&from={from}"),
        format!("mount={digest}&from={}", unique_repo("nosuch")),
        format!("mount={digest}"),
    ] {
        let r = reg
            .send(reg.req(Method::POST, &format!("/v2/{to}/blobs/uploads/?{query}")))
            .expect(202);
        let loc = assert_upload_session(&reg, &r, &to, 0);
        reg.head(&format!("/v2/{to}/blobs/{digest}")).expect(404);
        reg.delete(&loc).expect(204);
    }
    // The fallback session is a real one.
    let r = reg
        .send(reg.req(
            Method::POST,
            &format!("/v2/{to}/blobs/uploads/?mount={digest}&from={from}"),
        ))
        .expect(202);
    assert_blob_created(
        &put_upload(&reg, &r.location(), &digest, &data),
        &to,
        &digest,
    );
    assert_blob(&reg, &to, &digest, &data);
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

/// Every read of a pushed manifest returns its exact bytes, type and digest.
#[track_caller]
fn assert_manifest(reg: &Registry, repo: &str, reference: &str, img: &Image) {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let r = reg.get_accept(&path, &img.media_type).expect(200);
    assert!(r.body == img.manifest, "manifest bytes differ:\n{r}");
    assert_eq!(r.hdr("content-type"), img.media_type, "{r}");
    assert_eq!(r.hdr("docker-content-digest"), img.digest, "{r}");
    let r = reg
        .send(
            reg.req(Method::HEAD, &path)
                .header("Accept", &img.media_type),
        )
        .expect(200);
    assert!(r.body.is_empty(), "HEAD with a body:\n{r}");
    assert_eq!(
        r.hdr("content-length"),
        img.manifest.len().to_string(),
        "{r}"
    );
    assert_eq!(r.hdr("content-type"), img.media_type, "{r}");
    assert_eq!(r.hdr("docker-content-digest"), img.digest, "{r}");
}

#[test]
fn oci_image_manifest_by_tag_and_digest() {
    let reg = Registry::start();
    let repo = unique_repo("ociimg");
    let img = Image::random(&[1000, 20_000]);
    let r = img.push(&reg, &repo, "v1");
    assert_eq!(
        r.location(),
        format!("/v2/{repo}/manifests/{}", img.digest),
        "{r}"
    );
    assert_eq!(r.hdr("docker-content-digest"), img.digest, "{r}");
    assert_manifest(&reg, &repo, "v1", &img);
    assert_manifest(&reg, &repo, &img.digest, &img);
    assert_eq!(tags(&reg, &repo), ["v1"]);

    // Pushing by digest adds no tag.
    let img2 = Image::random(&[10]);
    let r = img2.push(&reg, &repo, &img2.digest);
    assert_eq!(r.hdr("docker-content-digest"), img2.digest);
    assert_manifest(&reg, &repo, &img2.digest, &img2);
    assert_eq!(tags(&reg, &repo), ["v1"]);

    // A tag moves to the manifest pushed last; the old one stays by digest.
    img2.push(&reg, &repo, "v1");
    assert_manifest(&reg, &repo, "v1", &img2);
    assert_manifest(&reg, &repo, &img.digest, &img);
}

#[test]
fn manifest_bytes_are_kept_exactly() {
    let reg = Registry::start();
    let repo = unique_repo("exact");
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = random_bytes(500);
    push_blob(&reg, &repo, &config);
    push_blob(&reg, &repo, &layer);
    // Odd key order, tabs, a trailing newline and an unknown field: the bytes are the manifest.
    let body = format!(
        "{{\n\t\"layers\" : [ {{\"size\":{},\"digest\":\"{}\",\"mediaType\":\"{OCI_LAYER}\"}} ],\n\t\"x-extra\": {{\"b\":1,\"a\":2}},\n\t\"config\":{{\"mediaType\":\"{OCI_CONFIG}\",\"size\":{},\"digest\":\"{}\"}},\n\t\"schemaVersion\" :2 , \"mediaType\":\"{OCI_MANIFEST}\"\n}}\n",
        layer.len(),
        sha256(&layer),
        config.len(),
        sha256(&config)
    )
    .into_bytes();
    let img = Image::raw(OCI_MANIFEST, body);
    put_manifest(&reg, &repo, "odd", OCI_MANIFEST, &img.manifest).expect(201);
    assert_manifest(&reg, &repo, "odd", &img);
    assert_manifest(&reg, &repo, &img.digest, &img);
    // Also without any Accept header at all (raw request).
    let r = reg
        .raw(
            format!(
                "GET /v2/{repo}/manifests/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                img.digest,
                reg.addr()
            )
            .as_bytes(),
        )
        .expect("an answer");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.body == img.manifest, "{r}");
    assert_eq!(r.hdr("content-type"), OCI_MANIFEST);
}

#[test]
fn manifests_without_a_media_type_field() {
    // The image spec makes `mediaType` a SHOULD: the Content-Type tells what was pushed.
    let reg = Registry::start();
    let repo = unique_repo("nomediatype");
    let img = Image::random(&[100]);
    img.push_blobs(&reg, &repo);
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m.as_object_mut().unwrap().remove("mediaType");
    let body = serde_json::to_vec(&m).unwrap();
    put_manifest(&reg, &repo, "bare", OCI_MANIFEST, &body).expect(201);
    let bare = Image::raw(OCI_MANIFEST, body);
    assert_manifest(&reg, &repo, "bare", &bare);
    let index =
        serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": [bare.descriptor()] }))
            .unwrap();
    put_manifest(&reg, &repo, "bare-index", OCI_INDEX, &index).expect(201);
    let index = Image::raw(OCI_INDEX, index);
    assert_manifest(&reg, &repo, "bare-index", &index);
}

#[test]
fn manifest_put_by_digest_must_match_the_body() {
    let reg = Registry::start();
    let repo = unique_repo("putdigest");
    let img = Image::random(&[100]);
    img.push_blobs(&reg, &repo);
    let other = sha256(b"different");
    put_manifest(&reg, &repo, &other, OCI_MANIFEST, &img.manifest)
        .expect_error(&[400], &["DIGEST_INVALID"]);
    reg.get(&format!("/v2/{repo}/manifests/{other}"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.get(&format!("/v2/{repo}/manifests/{}", img.digest))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    // By a sha512 digest of the exact bytes.
    let d512 = sha512(&img.manifest);
    let r = put_manifest(&reg, &repo, &d512, OCI_MANIFEST, &img.manifest).expect(201);
    assert_eq!(r.hdr("docker-content-digest"), d512, "{r}");
    let r = reg
        .get_accept(&format!("/v2/{repo}/manifests/{d512}"), OCI_MANIFEST)
        .expect(200);
    assert!(r.body == img.manifest);
}

#[test]
fn docker_schema2_manifest_and_manifest_list() {
    let reg = Registry::start();
    let repo = unique_repo("docker");
    let amd = Image::random_typed(DOCKER_MANIFEST, &[2000, 3000]);
    let arm = Image::random_typed(DOCKER_MANIFEST, &[4000]);
    amd.push(&reg, &repo, &amd.digest);
    arm.push(&reg, &repo, "arm");
    let list = Image::index(DOCKER_LIST, &[&amd, &arm], json!({}));
    let r = list.push(&reg, &repo, "latest");
    assert_eq!(r.hdr("docker-content-digest"), list.digest);
    assert_manifest(&reg, &repo, "latest", &list);
    assert_manifest(&reg, &repo, &list.digest, &list);
    assert_manifest(&reg, &repo, &amd.digest, &amd);
    assert_manifest(&reg, &repo, "arm", &arm);
    let mut t = tags(&reg, &repo);
    t.sort();
    assert_eq!(t, ["arm", "latest"]);
}

#[test]
fn oci_index_and_content_negotiation() {
    let reg = Registry::start();
    let repo = unique_repo("negotiate");
    let a = Image::random(&[100]);
    let b = Image::random(&[200]);
    a.push(&reg, &repo, "a");
    b.push(&reg, &repo, &b.digest);
    let index = Image::index(
        OCI_INDEX,
        &[&a, &b],
        json!({ "annotations": { "org.example": "multi" } }),
    );
    index.push(&reg, &repo, "multi");
    assert_manifest(&reg, &repo, "multi", &index);
    let r = reg
        .get_accept(
            &format!("/v2/{repo}/manifests/multi"),
            &format!("{OCI_MANIFEST}, {OCI_INDEX};q=0.9, {DOCKER_LIST}"),
        )
        .expect(200);
    assert!(r.body == index.manifest);
    assert_eq!(r.hdr("content-type"), OCI_INDEX);

    // An image manifest is returned even when the Accept list does not name its type.
    for accept in [
        DOCKER_MANIFEST,
        "*/*",
        "application/json",
        &format!("{DOCKER_MANIFEST}, {DOCKER_LIST}"),
    ] {
        let r = reg
            .get_accept(&format!("/v2/{repo}/manifests/a"), accept)
            .expect(200);
        assert!(r.body == a.manifest, "Accept {accept}:\n{r}");
        assert_eq!(r.hdr("content-type"), OCI_MANIFEST, "Accept {accept}");
        assert_eq!(r.hdr("docker-content-digest"), a.digest);
    }
}

#[test]
fn manifest_referencing_a_missing_blob_is_refused() {
    let reg = Registry::start();
    let repo = unique_repo("missingblob");
    let img = Image::random(&[100, 200]);
    // Config and first layer present, second layer missing.
    push_blob(&reg, &repo, &img.blobs[0]);
    push_blob(&reg, &repo, &img.blobs[1]);
    put_manifest(&reg, &repo, "v1", OCI_MANIFEST, &img.manifest)
        .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
    reg.get(&format!("/v2/{repo}/manifests/v1"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.get(&format!("/v2/{repo}/manifests/{}", img.digest))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    assert!(!tags_if_known(&reg, &repo).contains(&"v1".to_owned()));
    // Missing config.
    let img2 = Image::random(&[50]);
    push_blob(&reg, &repo, &img2.blobs[1]);
    put_manifest(&reg, &repo, "v2", OCI_MANIFEST, &img2.manifest)
        .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
    // A blob held only by another repository does not count.
    let elsewhere = unique_repo("blobowner");
    push_blob(&reg, &elsewhere, &img.blobs[2]);
    put_manifest(&reg, &repo, "v1", OCI_MANIFEST, &img.manifest)
        .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
    // Once the blob is there, the same bytes are accepted.
    push_blob(&reg, &repo, &img.blobs[2]);
    put_manifest(&reg, &repo, "v1", OCI_MANIFEST, &img.manifest).expect(201);
    assert_manifest(&reg, &repo, "v1", &img);
}

#[test]
fn index_referencing_a_missing_child_is_refused() {
    let reg = Registry::start();
    let repo = unique_repo("missingchild");
    let present = Image::random(&[100]);
    let absent = Image::random(&[100]);
    present.push(&reg, &repo, "present");
    absent.push_blobs(&reg, &repo);
    for t in [OCI_INDEX, DOCKER_LIST] {
        let index = Image::index(t, &[&present, &absent], json!({}));
        put_manifest(&reg, &repo, "multi", t, &index.manifest)
            .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
        reg.get(&format!("/v2/{repo}/manifests/{}", index.digest))
            .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    }
    reg.get(&format!("/v2/{repo}/manifests/multi"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    // A child held only by another repository does not count.
    let elsewhere = unique_repo("childowner");
    absent.push(&reg, &elsewhere, &absent.digest);
    let index = Image::index(OCI_INDEX, &[&present, &absent], json!({}));
    put_manifest(&reg, &repo, "multi", OCI_INDEX, &index.manifest)
        .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
    // A child that exists as a blob but not as a manifest does not count either.
    let blob_only = Image::random(&[10]);
    push_blob(&reg, &repo, &blob_only.manifest);
    let index = Image::index(OCI_INDEX, &[&present, &blob_only], json!({}));
    put_manifest(&reg, &repo, "multi", OCI_INDEX, &index.manifest)
        .expect_error(&[400], &["MANIFEST_BLOB_UNKNOWN"]);
    absent.push(&reg, &repo, &absent.digest);
    let index = Image::index(OCI_INDEX, &[&present, &absent], json!({}));
    index.push(&reg, &repo, "multi");
    assert_manifest(&reg, &repo, "multi", &index);
}

/// (what, Content-Type, body, allowed statuses, allowed codes)
type BadManifest<'a> = (&'a str, &'a str, Vec<u8>, &'a [u16], &'a [&'a str]);

#[test]
fn bad_manifests_are_refused_and_change_nothing() {
    let reg = Registry::start();
    let repo = unique_repo("badmanifest");
    let good = Image::random(&[100]);
    good.push(&reg, &repo, "keep");
    let config = &good.blobs[0];
    let layer = &good.blobs[1];
    let valid = |mt: &str| json!({ "schemaVersion": 2, "mediaType": mt, "config": descriptor(OCI_CONFIG, config), "layers": [descriptor(OCI_LAYER, layer)] });
    let schema1 = json!({
        "schemaVersion": 1, "name": repo, "tag": "old", "architecture": "amd64",
        "fsLayers": [{ "blobSum": sha256(layer) }], "history": [{ "v1Compatibility": "{}" }],
        "signatures": [],
    });
    let mut no_layers_digest = valid(OCI_MANIFEST);
    no_layers_digest["layers"][0]["digest"] = json!("sha256:nothex");
    let mut negative = valid(OCI_MANIFEST);
    negative["layers"][0]["size"] = json!(-1);
    let mut v3 = valid(OCI_MANIFEST);
    v3["schemaVersion"] = json!(3);
    let mut no_config = valid(OCI_MANIFEST);
    no_config.as_object_mut().unwrap().remove("config");
    let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
    let cases: Vec<BadManifest> = vec![
        (
            "malformed JSON",
            OCI_MANIFEST,
            b"{\"schemaVersion\": 2, \"config\": ".to_vec(),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "not an object",
            OCI_MANIFEST,
            b"[1,2,3]".to_vec(),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "empty body",
            OCI_MANIFEST,
            vec![],
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "binary",
            OCI_MANIFEST,
            random_bytes(300),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "schema 1",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            bytes(&schema1),
            &[400, 415],
            &["MANIFEST_INVALID", "UNSUPPORTED"],
        ),
        (
            "schema 1 as json",
            "application/vnd.docker.distribution.manifest.v1+json",
            bytes(&schema1),
            &[400, 415],
            &["MANIFEST_INVALID", "UNSUPPORTED"],
        ),
        (
            "schemaVersion 3",
            OCI_MANIFEST,
            bytes(&v3),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "mediaType differs from Content-Type",
            DOCKER_MANIFEST,
            bytes(&valid(OCI_MANIFEST)),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "unknown Content-Type",
            "application/vnd.example.unknown+json",
            bytes(&valid("application/vnd.example.unknown+json")),
            &[400, 415],
            &["MANIFEST_INVALID", "UNSUPPORTED"],
        ),
        (
            "bad descriptor digest",
            OCI_MANIFEST,
            bytes(&no_layers_digest),
            &[400],
            &["MANIFEST_INVALID", "DIGEST_INVALID"],
        ),
        (
            "negative size",
            OCI_MANIFEST,
            bytes(&negative),
            &[400],
            &["MANIFEST_INVALID"],
        ),
        (
            "no config",
            OCI_MANIFEST,
            bytes(&no_config),
            &[400],
            &["MANIFEST_INVALID"],
        ),
    ];
    for (what, ct, body, statuses, codes) in cases {
        let r = put_manifest(&reg, &repo, "keep", ct, &body);
        assert!(
            statuses.contains(&r.status),
            "{what}: expected {statuses:?}:\n{r}"
        );
        r.expect_error(statuses, codes);
        put_manifest(&reg, &repo, "fresh", ct, &body).expect_error(statuses, codes);
        reg.get(&format!("/v2/{repo}/manifests/{}", sha256(&body)))
            .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    }
    // The tag still points where it did; no other tag appeared.
    assert_manifest(&reg, &repo, "keep", &good);
    assert_eq!(tags(&reg, &repo), ["keep"]);
}

#[test]
fn invalid_tags_are_refused() {
    let reg = Registry::start();
    let repo = unique_repo("badtag");
    let img = Image::random(&[10]);
    img.push_blobs(&reg, &repo);
    let long = "t".repeat(129);
    for tag in ["-lead", ".dot", long.as_str(), "a%20b", "t%3Ag"] {
        let r = put_manifest(&reg, &repo, tag, OCI_MANIFEST, &img.manifest);
        assert!(r.status == 400 || r.status == 404, "tag {tag:?}:\n{r}");
        r.expect_error(
            &[400, 404],
            &[
                "MANIFEST_INVALID",
                "TAG_INVALID",
                "NAME_INVALID",
                "DIGEST_INVALID",
                "MANIFEST_UNKNOWN",
            ],
        );
    }
    // A 128-character tag is fine.
    let ok = "T".repeat(128);
    put_manifest(&reg, &repo, &ok, OCI_MANIFEST, &img.manifest).expect(201);
    assert_eq!(tags(&reg, &repo), [ok]);
}

#[test]
fn oversized_manifest_default_limit() {
    let reg = Registry::start();
    let repo = unique_repo("huge");
    push_blob(&reg, &repo, EMPTY_JSON);
    let big = manifest_of_len(4 * 1024 * 1024 + 1);
    // Raw requests: the registry may answer before reading the whole body, which some HTTP
    // clients (reqwest) report as a broken pipe instead of the answer.
    for chunked in [false, true] {
        let r = raw_put(
            &reg,
            &format!("/v2/{repo}/manifests/big"),
            OCI_MANIFEST,
            &big,
            chunked,
        )
        .unwrap_or_else(|| panic!("no answer to an oversized manifest (chunked: {chunked})"));
        assert!(
            r.status == 413 || r.status == 400,
            "oversized manifest:\n{r}"
        );
        r.expect_error(&[413, 400], &["MANIFEST_INVALID", "SIZE_INVALID"]);
    }
    reg.get(&format!("/v2/{repo}/manifests/big"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    // A large manifest under the limit is fine.
    let ok = manifest_of_len(1024 * 1024);
    put_manifest(&reg, &repo, "ok", OCI_MANIFEST, &ok).expect(201);
    let r = reg
        .get_accept(&format!("/v2/{repo}/manifests/ok"), OCI_MANIFEST)
        .expect(200);
    assert!(r.body == ok);
}

#[test]
fn oversized_manifest_configured_limit() {
    let Some(reg) = Registry::own(&[("BERTH_LIMITS__MANIFEST_MAX_BYTES", "2000")]) else {
        return;
    };
    let repo = unique_repo("limit");
    push_blob(&reg, &repo, EMPTY_JSON);
    put_manifest(&reg, &repo, "at", OCI_MANIFEST, &manifest_of_len(2000)).expect(201);
    let over = manifest_of_len(2001);
    put_manifest(&reg, &repo, "over", OCI_MANIFEST, &over)
        .expect_error(&[413, 400], &["MANIFEST_INVALID", "SIZE_INVALID"]);
    reg.get(&format!("/v2/{repo}/manifests/over"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    // Also when the body arrives without a Content-Length (chunked).
    let r = reg.send(
        reg.req(Method::PUT, &format!("/v2/{repo}/manifests/chunked"))
            .header("Content-Type", OCI_MANIFEST)
            .body(reqwest::blocking::Body::new(std::io::Cursor::new(
                manifest_of_len(5000),
            ))),
    );
    r.expect_error(&[413, 400], &["MANIFEST_INVALID", "SIZE_INVALID"]);
    assert_eq!(tags(&reg, &repo), ["at"]);
}

#[test]
fn unknown_repository_and_manifest() {
    let reg = Registry::start();
    let repo = unique_repo("unknown");
    reg.get(&format!("/v2/{repo}/tags/list"))
        .expect_error(&[404], &["NAME_UNKNOWN"]);
    reg.get(&format!("/v2/{repo}/manifests/latest"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    Image::random(&[10]).push(&reg, &repo, "v1");
    reg.get(&format!("/v2/{repo}/manifests/latest"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.head(&format!("/v2/{repo}/manifests/latest"))
        .expect_error(&[404], &[]);
    let missing = sha256(b"no such manifest");
    reg.get(&format!("/v2/{repo}/manifests/{missing}"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.delete(&format!("/v2/{repo}/manifests/{missing}"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.delete(&format!("/v2/{repo}/manifests/nosuchtag"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    reg.get(&format!("/v2/{repo}/manifests/sha256:abc"))
        .expect_error(&[400, 404], &["DIGEST_INVALID", "MANIFEST_UNKNOWN"]);
}

#[test]
fn repositories_are_independent() {
    let reg = Registry::start();
    let a = unique_repo("indep-a");
    let b = unique_repo("indep-b");
    let img = Image::random(&[300]);
    img.push(&reg, &a, "v1");
    // Not visible in a repository it was never pushed to.
    reg.get(&format!("/v2/{b}/manifests/{}", img.digest))
        .expect_error(&[404], &["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    reg.get(&format!("/v2/{b}/blobs/{}", sha256(&img.blobs[1])))
        .expect_error(&[404], &["BLOB_UNKNOWN", "NAME_UNKNOWN"]);
    img.push(&reg, &b, "v1");
    // Deleting from one leaves the other whole.
    reg.delete(&format!("/v2/{a}/manifests/{}", img.digest))
        .expect(202);
    reg.get(&format!("/v2/{a}/manifests/v1"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    assert_manifest(&reg, &b, "v1", &img);
    assert_manifest(&reg, &b, &img.digest, &img);
    reg.delete(&format!("/v2/{b}/manifests/v1")).expect(202);
    assert_manifest(&reg, &b, &img.digest, &img);
}

#[test]
fn foreign_layers_need_not_be_present() {
    let reg = Registry::start();
    let repo = unique_repo("foreign");
    let config = br#"{"architecture":"amd64","os":"windows"}"#.to_vec();
    let local = random_bytes(200);
    push_blob(&reg, &repo, &config);
    push_blob(&reg, &repo, &local);
    let mut foreign = descriptor(
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        b"not uploaded",
    );
    foreign["urls"] = json!(["https://example.com/layer.tar.gz"]);
    let body = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, &config),
        "layers": [foreign, descriptor(DOCKER_LAYER, &local)],
    }))
    .unwrap();
    put_manifest(&reg, &repo, "win", DOCKER_MANIFEST, &body).expect(201);
    let img = Image::raw(DOCKER_MANIFEST, body);
    assert_manifest(&reg, &repo, "win", &img);
}

// ---------------------------------------------------------------------------------------------
// Artifacts and referrers
// ---------------------------------------------------------------------------------------------

#[test]
fn artifacts_with_empty_config_and_custom_layer_types() {
    let reg = Registry::start();
    let repo = unique_repo("artifacts");
    assert_eq!(
        sha256(EMPTY_JSON),
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    // A Helm chart: its own config type, a chart layer.
    let chart_config = br#"{"name":"demo","version":"0.1.0","apiVersion":"v2"}"#.to_vec();
    let helm = Image::build(
        OCI_MANIFEST,
        ("application/vnd.cncf.helm.config.v1+json", chart_config),
        vec![(
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            random_bytes(3000),
        )],
        json!({}),
    );
    // An SBOM and a signature: empty config, artifactType, arbitrary layer types.
    let sbom = artifact(
        "application/spdx+json",
        vec![(
            "application/spdx+json",
            br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec(),
        )],
        None,
        json!({}),
    );
    let sig = artifact(
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        vec![(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            random_bytes(300),
        )],
        None,
        json!({ "dev.cosignproject.cosign/signature": "MEUCIQ..." }),
    );
    // An artifact with no content at all: the empty descriptor as its only layer.
    let bare = artifact(
        "application/vnd.example.marker",
        vec![(OCI_EMPTY, EMPTY_JSON.to_vec())],
        None,
        json!({}),
    );
    for (tag, img) in [
        ("chart", &helm),
        ("sbom", &sbom),
        ("sig", &sig),
        ("bare", &bare),
    ] {
        img.push(&reg, &repo, tag);
        assert_manifest(&reg, &repo, tag, img);
        for b in &img.blobs {
            assert_blob(&reg, &repo, &sha256(b), b);
        }
    }
}

/// GET /v2/<repo>/referrers/<digest>[?query]: checks the envelope, returns the descriptors.
#[track_caller]
fn referrers(reg: &Registry, repo: &str, digest: &str, query: &str) -> (Resp, Vec<Value>) {
    let r = reg
        .get(&format!("/v2/{repo}/referrers/{digest}{query}"))
        .expect(200);
    assert!(
        r.hdr("content-type").starts_with(OCI_INDEX),
        "referrers Content-Type:\n{r}"
    );
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2, "{r}");
    assert_eq!(v["mediaType"], OCI_INDEX, "{r}");
    let list = v["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests array:\n{r}"))
        .clone();
    (r, list)
}

fn sorted_digests(list: &[Value]) -> Vec<String> {
    let mut d: Vec<String> = list
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    d.sort();
    d
}

#[test]
fn referrers_api() {
    let reg = Registry::start();
    let repo = unique_repo("referrers");
    let subject = Image::random(&[1000]);
    subject.push(&reg, &repo, "app");

    let sbom_type = "application/vnd.example.sbom.v1+json";
    let sig_type = "application/vnd.example.signature.v1";
    let sbom = artifact(
        sbom_type,
        vec![("application/spdx+json", b"{}sbom".to_vec())],
        Some(&subject),
        json!({ "org.example.kind": "sbom" }),
    );
    let sig = artifact(
        sig_type,
        vec![("application/octet-stream", random_bytes(64))],
        Some(&subject),
        json!({ "org.example.kind": "sig" }),
    );
    // An image manifest without artifactType: its config media type stands in.
    let helm_type = "application/vnd.cncf.helm.config.v1+json";
    let helm = Image::build(
        OCI_MANIFEST,
        (helm_type, b"{\"name\":\"x\"}".to_vec()),
        vec![(
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            random_bytes(100),
        )],
        json!({ "subject": subject.descriptor() }),
    );
    for a in [&sbom, &sig, &helm] {
        let r = a.push(&reg, &repo, &a.digest);
        assert_eq!(
            r.hdr("oci-subject"),
            subject.digest,
            "OCI-Subject on a PUT with a subject:\n{r}"
        );
    }
    // A manifest without subject carries no OCI-Subject.
    let r = Image::random(&[5]).push(&reg, &repo, "plain");
    assert!(r.header("oci-subject").is_none(), "{r}");

    let (r, list) = referrers(&reg, &repo, &subject.digest, "");
    assert!(
        r.header("oci-filters-applied").is_none(),
        "no filter, no OCI-Filters-Applied:\n{r}"
    );
    let mut want = vec![sbom.digest.clone(), sig.digest.clone(), helm.digest.clone()];
    want.sort();
    assert_eq!(sorted_digests(&list), want, "{r}");
    for (img, at, ann) in [
        (&sbom, sbom_type, Some("sbom")),
        (&sig, sig_type, Some("sig")),
        (&helm, helm_type, None),
    ] {
        let d = list
            .iter()
            .find(|d| d["digest"] == img.digest.as_str())
            .unwrap();
        assert_eq!(d["mediaType"], OCI_MANIFEST, "{d}");
        assert_eq!(d["size"], img.manifest.len(), "{d}");
        assert_eq!(d["artifactType"], at, "{d}");
        if let Some(a) = ann {
            assert_eq!(
                d["annotations"]["org.example.kind"], a,
                "annotations are copied: {d}"
            );
        }
    }

    // Filtering by artifactType.
    let (r, list) = referrers(
        &reg,
        &repo,
        &subject.digest,
        &format!("?artifactType={sig_type}"),
    );
    assert_eq!(r.hdr("oci-filters-applied"), "artifactType", "{r}");
    assert_eq!(sorted_digests(&list), [sig.digest.as_str()]);
    let (r, list) = referrers(
        &reg,
        &repo,
        &subject.digest,
        "?artifactType=application/vnd.example.none",
    );
    assert_eq!(r.hdr("oci-filters-applied"), "artifactType", "{r}");
    assert!(list.is_empty(), "{r}");
    // A percent-encoded filter value ('+' sent as %2B, '/' as %2F, as Go clients send it).
    let (r, list) = referrers(
        &reg,
        &repo,
        &subject.digest,
        "?artifactType=application%2Fvnd.example.sbom.v1%2Bjson",
    );
    assert_eq!(r.hdr("oci-filters-applied"), "artifactType", "{r}");
    assert_eq!(sorted_digests(&list), [sbom.digest.as_str()], "{r}");

    // A digest nobody refers to (or that does not exist): an empty index.
    let (_, list) = referrers(&reg, &repo, &sha256(b"nothing refers to this"), "");
    assert!(list.is_empty());
    let (_, list) = referrers(&reg, &repo, &sbom.digest, "");
    assert!(list.is_empty());

    // Deleting a referrer removes it from the list.
    reg.delete(&format!("/v2/{repo}/manifests/{}", sig.digest))
        .expect(202);
    let (_, list) = referrers(&reg, &repo, &subject.digest, "");
    let mut want = vec![sbom.digest.clone(), helm.digest.clone()];
    want.sort();
    assert_eq!(sorted_digests(&list), want);

    // Referrers are per repository.
    let (_, list) = referrers(&reg, &unique_repo("otherrepo"), &subject.digest, "");
    assert!(list.is_empty());
    // An invalid digest is a client error.
    reg.get(&format!("/v2/{repo}/referrers/sha256:xyz"))
        .expect_error(
            &[400, 404],
            &["DIGEST_INVALID", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"],
        );
}

#[test]
fn referrer_pushed_before_its_subject() {
    let reg = Registry::start();
    let repo = unique_repo("early");
    let subject = Image::random(&[100]);
    let sig = artifact(
        "application/vnd.example.sig",
        vec![(OCI_EMPTY, EMPTY_JSON.to_vec())],
        Some(&subject),
        json!({}),
    );
    let r = sig.push(&reg, &repo, &sig.digest);
    assert_eq!(r.hdr("oci-subject"), subject.digest, "{r}");
    let (_, list) = referrers(&reg, &repo, &subject.digest, "");
    assert_eq!(sorted_digests(&list), [sig.digest.as_str()]);
    subject.push(&reg, &repo, "late");
    let (_, list) = referrers(&reg, &repo, &subject.digest, "");
    assert_eq!(sorted_digests(&list), [sig.digest.as_str()]);
    // An index can be a referrer too.
    let idx = Image::index(
        OCI_INDEX,
        &[&subject],
        json!({ "artifactType": "application/vnd.example.bundle", "subject": subject.descriptor() }),
    );
    let r = idx.push(&reg, &repo, &idx.digest);
    assert_eq!(r.hdr("oci-subject"), subject.digest, "{r}");
    let (_, list) = referrers(
        &reg,
        &repo,
        &subject.digest,
        "?artifactType=application/vnd.example.bundle",
    );
    assert_eq!(sorted_digests(&list), [idx.digest.as_str()]);
    assert_eq!(list[0]["mediaType"], OCI_INDEX);
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

#[test]
fn tags_list_sorted_and_paginated() {
    let reg = Registry::start();
    let repo = unique_repo("tags");
    let img = Image::random(&[10]);
    img.push_blobs(&reg, &repo);
    for t in ["e", "b", "d", "a", "c", "v1.10", "v1.9"] {
        put_manifest(&reg, &repo, t, OCI_MANIFEST, &img.manifest).expect(201);
    }
    let path = format!("/v2/{repo}/tags/list");
    let all = ["a", "b", "c", "d", "e", "v1.10", "v1.9"];
    let r = reg.get(&path).expect(200);
    assert!(r.header("link").is_none(), "{r}");
    assert_eq!(r.json(), json!({ "name": repo, "tags": all }));

    let page = |q: &str| reg.get(&format!("{path}?{q}")).expect(200);
    let r = page("n=2");
    assert_eq!(r.json()["tags"], json!(["a", "b"]));
    assert_next_link(&reg, &r, &path, 2, "b");
    let r = page("n=2&last=b");
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    assert_next_link(&reg, &r, &path, 2, "d");
    let r = page("n=2&last=e");
    assert_eq!(r.json()["tags"], json!(["v1.10", "v1.9"]));
    let r = page("n=5&last=d");
    assert_eq!(r.json()["tags"], json!(["e", "v1.10", "v1.9"]));
    assert!(r.header("link").is_none(), "last page has no Link:\n{r}");
    let r = page("n=0");
    assert_eq!(
        r.json()["tags"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{r}"
    );
    assert!(r.header("link").is_none(), "n=0 has no Link:\n{r}");
    // `last` without `n`; `last` that is not a tag but sorts between tags.
    assert_eq!(
        page("last=c").json()["tags"],
        json!(["d", "e", "v1.10", "v1.9"])
    );
    assert_eq!(page("last=bb&n=1").json()["tags"], json!(["c"]));
    assert_eq!(
        page("last=zzz").json()["tags"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0),
        0
    );

    // Following the Link headers visits every tag once.
    let mut seen = Vec::new();
    let mut next = Some(format!("{path}?n=3"));
    while let Some(url) = next {
        let r = reg.get(&url).expect(200);
        seen.extend(
            r.json()["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned()),
        );
        next = r.header("link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        assert!(seen.len() <= all.len(), "pagination does not end");
    }
    assert_eq!(seen, all);
}

#[test]
fn catalog_sorted_and_paginated() {
    let reg = Registry::start();
    let prefix = unique_repo("cat");
    let names: Vec<String> = ["c", "a", "b", "d/e"]
        .iter()
        .map(|s| format!("{prefix}-{s}"))
        .collect();
    let img = Image::random(&[10]);
    for n in &names {
        img.push(&reg, n, "v1");
    }
    let mut want = names.clone();
    want.sort();
    // Walk the whole catalog two by two.
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some("/v2/_catalog?n=2".to_owned());
    while let Some(url) = next {
        let r = reg.get(&url).expect(200);
        let page: Vec<String> = r.json()["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(page.len() <= 2, "{r}");
        next = r.header("link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        if let Some(last) = page.last().filter(|_| next.is_some()) {
            assert_next_link(&reg, &r, "/v2/_catalog", 2, last);
        }
        seen.extend(page);
        assert!(seen.len() < 100_000, "catalog pagination does not end");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "catalog is sorted and has no duplicates");
    let ours: Vec<String> = seen
        .iter()
        .filter(|s| s.starts_with(&prefix))
        .cloned()
        .collect();
    assert_eq!(ours, want);
    if !reg.external() {
        // A fresh berth holds exactly our repositories.
        assert_eq!(seen, want);
        let r = reg.get("/v2/_catalog?n=2").expect(200);
        assert_eq!(r.json()["repositories"], json!(want[..2]));
        assert_next_link(&reg, &r, "/v2/_catalog", 2, &want[1]);
        let r = reg
            .get(&format!("/v2/_catalog?n=2&last={}", want[1]))
            .expect(200);
        assert_eq!(r.json()["repositories"], json!(want[2..]));
        let r = reg.get("/v2/_catalog").expect(200);
        assert_eq!(r.json(), json!({ "repositories": want }));
        assert!(r.header("link").is_none());
        let r = reg.get("/v2/_catalog?n=0").expect(200);
        assert_eq!(
            r.json()["repositories"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0),
            0
        );
        assert!(r.header("link").is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// Deletion
// ---------------------------------------------------------------------------------------------

#[test]
fn deleting_a_tag_keeps_the_manifest() {
    let reg = Registry::start();
    let repo = unique_repo("tagdel");
    let img = Image::random(&[100]);
    img.push(&reg, &repo, "one");
    put_manifest(&reg, &repo, "two", OCI_MANIFEST, &img.manifest).expect(201);
    reg.delete(&format!("/v2/{repo}/manifests/one")).expect(202);
    reg.get(&format!("/v2/{repo}/manifests/one"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    assert_manifest(&reg, &repo, &img.digest, &img);
    assert_manifest(&reg, &repo, "two", &img);
    assert_eq!(tags(&reg, &repo), ["two"]);
    reg.delete(&format!("/v2/{repo}/manifests/one"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
}

#[test]
fn deleting_a_manifest_removes_its_tags() {
    let reg = Registry::start();
    let repo = unique_repo("mandel");
    let img = Image::random(&[100]);
    let other = Image::random(&[100]);
    img.push(&reg, &repo, "one");
    put_manifest(&reg, &repo, "two", OCI_MANIFEST, &img.manifest).expect(201);
    other.push(&reg, &repo, "other");
    reg.delete(&format!("/v2/{repo}/manifests/{}", img.digest))
        .expect(202);
    for r in ["one", "two", img.digest.as_str()] {
        reg.get(&format!("/v2/{repo}/manifests/{r}"))
            .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
        reg.head(&format!("/v2/{repo}/manifests/{r}")).expect(404);
    }
    assert_eq!(tags(&reg, &repo), ["other"]);
    assert_manifest(&reg, &repo, "other", &other);
    reg.delete(&format!("/v2/{repo}/manifests/{}", img.digest))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
    // Pushing it again brings it back.
    put_manifest(&reg, &repo, "one", OCI_MANIFEST, &img.manifest).expect(201);
    assert_manifest(&reg, &repo, "one", &img);
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn repository_names_with_many_segments() {
    let reg = Registry::start();
    let base = unique_repo("deep");
    // Components that look like API keywords must not confuse the router.
    for repo in [
        format!("{base}/a/b/c/d/e/f/g/h/i/j/k"),
        format!("{base}/blobs/uploads/manifests/tags/list/referrers"),
        format!("{base}/v2/x_y/z.w/a--b/c__d"),
        // 32 components in all.
        format!("{base}/{}", vec!["s"; 31].join("/")),
    ] {
        let img = Image::random(&[1000]);
        let mut loc = start_upload(&reg, &repo);
        loc = patch_range(&reg, &loc, "0-1", b"ab").expect(202).location();
        assert_upload_session(&reg, &reg.get(&loc).expect(204), &repo, 2);
        reg.delete(&loc).expect(204);
        img.push(&reg, &repo, "latest");
        assert_manifest(&reg, &repo, "latest", &img);
        assert_blob(&reg, &repo, &sha256(&img.blobs[1]), &img.blobs[1]);
        assert_eq!(tags(&reg, &repo), ["latest"]);
        let (_, list) = referrers(&reg, &repo, &img.digest, "");
        assert!(list.is_empty());
        let cat = reg.get("/v2/_catalog").expect(200).json();
        assert!(
            cat["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == repo.as_str()),
            "{repo} not in catalog"
        );
    }
}

#[test]
fn invalid_repository_names() {
    let reg = Registry::start();
    let too_long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
    let digest = sha256(b"x");
    for name in [
        "Upper",
        "org/App",
        "-lead",
        "trail-",
        "a..b",
        "a/.b",
        "a__-b",
        "a_",
        too_long.as_str(),
    ] {
        for (method, path) in [
            (Method::GET, format!("/v2/{name}/tags/list")),
            (Method::GET, format!("/v2/{name}/manifests/latest")),
            (Method::PUT, format!("/v2/{name}/manifests/latest")),
            (Method::GET, format!("/v2/{name}/blobs/{digest}")),
            (Method::POST, format!("/v2/{name}/blobs/uploads/")),
            (Method::GET, format!("/v2/{name}/referrers/{digest}")),
        ] {
            let r = reg.send(
                reg.req(method, &path)
                    .header("Content-Type", OCI_MANIFEST)
                    .body("{}"),
            );
            r.expect_error(&[400], &["NAME_INVALID"]);
        }
    }
}

#[test]
fn path_traversal_in_names_is_refused() {
    let reg = Registry::start();
    let before = reg
        .server
        .as_ref()
        .map(|s| list_dir(s.data_dir().parent().unwrap()));
    let digest = sha256(b"x");
    for name in [
        "..",
        "../x",
        "x/../y",
        "x/..",
        "%2e%2e",
        "%2e%2e/%2e%2e/escape",
        "x/%2E%2E/%2e%2e/escape",
        "x%2f..%2f..%2fescape",
        "x//y",
        "/x",
        "x/",
    ] {
        for (method, path) in [
            ("GET", format!("/v2/{name}/tags/list")),
            ("POST", format!("/v2/{name}/blobs/uploads/")),
            ("PUT", format!("/v2/{name}/manifests/latest")),
            ("GET", format!("/v2/{name}/blobs/{digest}")),
            ("POST", format!("/v2/{name}/blobs/uploads/?digest={digest}")),
        ] {
            let body = if method == "GET" { "" } else { "x" };
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reg.addr(),
                body.len()
            );
            let r = reg
                .raw(req.as_bytes())
                .unwrap_or_else(|| panic!("no answer to {method} {path}"));
            assert!(
                r.status == 400 || r.status == 404,
                "{method} {path}: expected 400 or 404:\n{r}"
            );
            if r.status == 400 {
                r.expect_error(
                    &[400],
                    &["NAME_INVALID", "DIGEST_INVALID", "BLOB_UPLOAD_INVALID"],
                );
            } else {
                r.expect_error(
                    &[404],
                    &[
                        "NAME_UNKNOWN",
                        "NAME_INVALID",
                        "BLOB_UNKNOWN",
                        "MANIFEST_UNKNOWN",
                        "UNSUPPORTED",
                        "UNKNOWN",
                    ],
                );
            }
        }
    }
    if let (Some(before), Some(s)) = (before, reg.server.as_ref()) {
        assert_eq!(
            list_dir(s.data_dir().parent().unwrap()),
            before,
            "nothing appears beside the data folder"
        );
        let cat = reg.get("/v2/_catalog").expect(200).json();
        assert_eq!(
            cat["repositories"].as_array().map(Vec::len).unwrap_or(0),
            0,
            "no repository was created: {cat}"
        );
    }
}

fn list_dir(p: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Bad input: clear errors, no changes, never a 500
// ---------------------------------------------------------------------------------------------

#[test]
fn content_range_lies_change_nothing() {
    let reg = Registry::start();
    let repo = unique_repo("lies");
    let data = random_bytes(200);
    let loc = start_upload(&reg, &repo);
    let loc = patch_range(&reg, &loc, "0-9", &data[..10])
        .expect(202)
        .location();
    let codes = &["BLOB_UPLOAD_INVALID", "SIZE_INVALID", "RANGE_INVALID"][..];
    for (range, body) in [
        ("10-109", &data[10..60]),                  // claims more than it sends
        ("10-39", &data[10..110]),                  // claims less than it sends
        ("10-5", &data[10..20]),                    // end before start
        ("abc", &data[10..20]),                     // not a range
        ("10-", &data[10..20]),                     // no end
        ("-10-20", &data[10..21]),                  // negative
        ("10-18446744073709551616", &data[10..20]), // overflow
    ] {
        let r = patch_range(&reg, &loc, range, body);
        assert!(
            r.status == 400 || r.status == 416,
            "Content-Range {range:?} with {} bytes:\n{r}",
            body.len()
        );
        if r.status == 400 {
            r.expect_error(&[400], codes);
        }
        assert_eq!(
            upload_range(&reg, &loc),
            "0-9",
            "Content-Range {range:?} changed the upload"
        );
    }
    let loc = patch_range(&reg, &loc, "10-199", &data[10..])
        .expect(202)
        .location();
    let digest = sha256(&data);
    assert_blob_created(&put_upload(&reg, &loc, &digest, &[]), &repo, &digest);
    assert_blob(&reg, &repo, &digest, &data);
}

#[test]
fn bodies_that_end_early_change_nothing() {
    let reg = Registry::start();
    let repo = unique_repo("short");
    let data = random_bytes(20_000);
    let digest = sha256(&data);
    let send_short = |method: &str, path: &str, extra: &str| {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            reg.addr(),
            data.len()
        )
        .into_bytes();
        req.extend_from_slice(&data[..data.len() / 2]);
        let r = raw_http(reg.addr(), &req, true);
        if let Some(r) = &r {
            assert!(
                (400..500).contains(&r.status),
                "{method} {path} with half its body: expected a 4xx or a closed connection:\n{r}"
            );
        }
    };
    // Monolithic PUT and single POST.
    let loc = start_upload(&reg, &repo);
    send_short("PUT", &with_digest(&loc, &digest), "");
    send_short(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        "",
    );
    reg.head(&format!("/v2/{repo}/blobs/{digest}")).expect(404);
    // PATCH after a good first chunk: the upload keeps exactly the good chunk (or is gone).
    let loc = start_upload(&reg, &repo);
    let loc = patch_range(&reg, &loc, "0-99", &data[..100])
        .expect(202)
        .location();
    send_short("PATCH", &loc, "");
    send_short(
        "PATCH",
        &loc,
        &format!("Content-Range: 100-{}\r\n", 100 + data.len() - 1),
    );
    let r = reg.get(&loc);
    if r.status == 204 {
        assert_eq!(
            r.hdr("range"),
            "0-99",
            "a truncated PATCH changed the upload:\n{r}"
        );
        let loc = patch_range(&reg, &loc, &format!("100-{}", data.len() - 1), &data[100..])
            .expect(202)
            .location();
        assert_blob_created(&put_upload(&reg, &loc, &digest, &[]), &repo, &digest);
    } else {
        r.expect_error(&[404], &["BLOB_UPLOAD_UNKNOWN"]);
        push_blob(&reg, &repo, &data);
    }
    assert_blob(&reg, &repo, &digest, &data);
    // A manifest body that ends early.
    let img = Image::random(&[10]);
    img.push_blobs(&reg, &repo);
    let mut req = format!(
        "PUT /v2/{repo}/manifests/short HTTP/1.1\r\nHost: {}\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reg.addr(),
        img.manifest.len()
    )
    .into_bytes();
    req.extend_from_slice(&img.manifest[..img.manifest.len() - 5]);
    if let Some(r) = raw_http(reg.addr(), &req, true) {
        assert!((400..500).contains(&r.status), "truncated manifest:\n{r}");
    }
    reg.get(&format!("/v2/{repo}/manifests/short"))
        .expect_error(&[404], &["MANIFEST_UNKNOWN"]);
}

/// (method, path, headers, body)
type OddRequest = (Method, String, Vec<(&'static str, &'static str)>, Vec<u8>);

#[test]
fn malformed_requests_never_get_a_500() {
    let reg = Registry::start();
    let repo = unique_repo("fuzz");
    let img = Image::random(&[100]);
    img.push(&reg, &repo, "v1");
    let loc = start_upload(&reg, &repo);
    let any = &[400, 404, 405, 413, 415, 416][..];
    let cases: Vec<OddRequest> = vec![
        (Method::GET, format!("/v2/{repo}/tags/list?n=abc"), vec![], vec![]),
        (Method::GET, format!("/v2/{repo}/tags/list?n=-1"), vec![], vec![]),
        (Method::GET, format!("/v2/{repo}/tags/list?n=99999999999999999999999"), vec![], vec![]),
        (Method::GET, "/v2/_catalog?n=xyz".into(), vec![], vec![]),
        (Method::GET, format!("/v2/{repo}/blobs/{}", sha256(b"q")), vec![("Range", "bytes=abc")], vec![]),
        (Method::GET, format!("/v2/{repo}/blobs/uploads/not-a-uuid"), vec![], vec![]),
        (Method::PATCH, format!("/v2/{repo}/blobs/uploads/..%2f..%2fx"), vec![], b"x".to_vec()),
        (Method::PUT, with_digest(&loc, ""), vec![], b"x".to_vec()),
        (Method::PUT, with_digest(&loc, "sha256:"), vec![], b"x".to_vec()),
        (Method::PUT, with_digest(&loc, &format!("sha256:{}", "0".repeat(1000))), vec![], b"x".to_vec()),
        (Method::POST, format!("/v2/{repo}/blobs/uploads/?mount=garbage&from={repo}"), vec![], vec![]),
        (Method::POST, format!("/v2/{repo}/blobs/uploads/?mount={}&from=Bad..Name", img.digest), vec![], vec![]),
        (Method::PUT, format!("/v2/{repo}/manifests/v2"), vec![("Content-Type", OCI_MANIFEST)], b"\xff\xfe\x00".to_vec()),
        (Method::PUT, format!("/v2/{repo}/manifests/v2"), vec![("Content-Type", OCI_MANIFEST)], b"{\"schemaVersion\":2,\"mediaType\":5}".to_vec()),
        (Method::PUT, format!("/v2/{repo}/manifests/v2"), vec![("Content-Type", OCI_MANIFEST)], format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        (Method::PUT, format!("/v2/{repo}/manifests/v2"), vec![("Content-Type", OCI_INDEX)], b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}".to_vec()),
        (Method::GET, format!("/v2/{repo}/referrers/{}?artifactType=%ff%fe", img.digest), vec![], vec![]),
        (Method::DELETE, format!("/v2/{repo}/blobs/uploads/"), vec![], vec![]),
        (Method::PUT, format!("/v2/{repo}/blobs/{}", img.digest), vec![], b"x".to_vec()),
    ];
    for (method, path, headers, body) in cases {
        let mut rb = reg.req(method.clone(), &path).body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let r = reg.send(rb);
        // A handful may legitimately succeed (an ignored Range, a clamped n): never a 5xx.
        assert!(r.status < 500, "{method} {path}: server error:\n{r}");
        if r.status >= 400 {
            r.expect_error(
                any,
                &[
                    "BLOB_UNKNOWN",
                    "BLOB_UPLOAD_INVALID",
                    "BLOB_UPLOAD_UNKNOWN",
                    "DIGEST_INVALID",
                    "MANIFEST_INVALID",
                    "MANIFEST_UNKNOWN",
                    "NAME_INVALID",
                    "NAME_UNKNOWN",
                    "SIZE_INVALID",
                    "UNSUPPORTED",
                    "PAGINATION_NUMBER_INVALID",
                    "RANGE_INVALID",
                ],
            );
        }
    }
    // Malformed HTTP itself.
    for raw in [
        "GARBAGE\r\n\r\n".to_string(),
        format!("GET /v2/{repo}/tags/list HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnope\r\n0\r\n\r\n"
        ),
    ] {
        if let Some(r) = reg.raw(raw.as_bytes()) {
            assert!(r.status < 500, "{raw:?}:\n{r}");
        }
    }
    // Nothing above changed the repository.
    assert_eq!(tags(&reg, &repo), ["v1"]);
    assert_manifest(&reg, &repo, "v1", &img);
    reg.get("/v2/").expect(200);
}
