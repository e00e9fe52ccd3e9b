//! The OCI distribution API endpoints (`/v2/...`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_blob::{BlobContent, ByteStream, UploadId};
use berth_domain::media_type as mt;
use berth_domain::{Digest, ErrorCode, Reference, RepoName};
use berth_registry::{Page, RegistryError};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};

use crate::error::ApiError;
use crate::headers::{
    accept_list, blob_range, content_length, has_body, upload_content_range, upload_range,
};
use crate::route::{self, Route};
use crate::{AppState, auth};
use berth_auth::VerifiedToken;

type ApiResult = Result<Response, ApiError>;

const DIGEST_HEADER: &str = "Docker-Content-Digest";
const UPLOAD_UUID: &str = "Docker-Upload-UUID";

/// The single entry point: routes by hand (see [`crate::route`]) and maps every error.
pub async fn dispatch(app: AppState, req: Request) -> Response {
    match handle(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(app: AppState, req: Request) -> ApiResult {
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let Some(route) = route::parse(&path) else {
        return Err(ApiError::unsupported_route());
    };
    let method = req.method().clone();
    let need = auth::Need::of(&route, &method);
    let token = auth::authorize(&app, req.headers(), &need).await?;
    let origin = crate::origin(&req);
    let audit = |kind: &str, repo: &RepoName, meta: serde_json::Value| {
        app.access
            .record_token_action(kind, &token.claims.sub, repo.as_str(), &origin, meta);
    };
    let reg = &app.registry;
    let name = |n: &str| RepoName::parse(n).map_err(ApiError::name_invalid);
    match (route, &method) {
        (Route::Base, &Method::GET | &Method::HEAD) => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({}),
            &method,
        )),
        (Route::Catalog, &Method::GET) => {
            let (n, last) = pagination(&query)?;
            let page = visible_catalog(&app, &token.claims.sub, n, last).await?;
            let link = page_link("/v2/_catalog", &page);
            let mut resp = json_response(
                StatusCode::OK,
                &serde_json::json!({ "repositories": page.items }),
                &method,
            );
            add_link(&mut resp, link);
            Ok(resp)
        }
        (Route::Tags { name: n }, &Method::GET) => {
            let repo = name(n)?;
            let (n, last) = pagination(&query)?;
            let page = reg.tags(&repo, n, last).await?;
            let link = page_link(&format!("/v2/{repo}/tags/list"), &page);
            let mut resp = json_response(
                StatusCode::OK,
                &serde_json::json!({ "name": repo.as_str(), "tags": page.items }),
                &method,
            );
            add_link(&mut resp, link);
            Ok(resp)
        }
        (Route::Manifest { name: n, reference }, m) => {
            let repo = name(n)?;
            match *m {
                Method::GET | Method::HEAD => {
                    let resp = manifest_get(&app, &repo, reference, req.headers(), m).await?;
                    if *m == Method::GET {
                        audit("pull", &repo, serde_json::json!({ "reference": reference }));
                    }
                    Ok(resp)
                }
                Method::PUT => {
                    app.access
                        .ensure_repository(&token.claims.sub, repo.as_str(), &origin)
                        .await?;
                    let resp = manifest_put(&app, &repo, reference, req).await?;
                    let digest = resp
                        .headers()
                        .get(DIGEST_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    audit(
                        "push",
                        &repo,
                        serde_json::json!({ "reference": reference, "digest": digest }),
                    );
                    Ok(resp)
                }
                Method::DELETE => {
                    let r = Reference::parse(reference).map_err(ApiError::name_invalid)?;
                    reg.manifest_delete(&repo, &r).await?;
                    let kind = match r {
                        Reference::Tag(_) => "delete_tag",
                        Reference::Digest(_) => "delete_manifest",
                    };
                    audit(kind, &repo, serde_json::json!({ "reference": reference }));
                    Ok(StatusCode::ACCEPTED.into_response())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Route::Blob { name: n, digest }, m) => {
            let repo = name(n)?;
            let digest = parse_digest(digest)?;
            match *m {
                Method::GET | Method::HEAD => {
                    blob_get(&app, &repo, &digest, req.headers(), m).await
                }
                Method::DELETE => {
                    reg.blob_delete(&repo, &digest).await?;
                    audit(
                        "delete_blob",
                        &repo,
                        serde_json::json!({ "digest": digest.to_string() }),
                    );
                    Ok(StatusCode::ACCEPTED.into_response())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Route::UploadStart { name: n }, &Method::POST) => {
            let repo = name(n)?;
            app.access
                .ensure_repository(&token.claims.sub, repo.as_str(), &origin)
                .await?;
            upload_start(&app, &repo, &query, &token, req).await
        }
        (Route::Upload { name: n, id }, m) => {
            let repo = name(n)?;
            let id = UploadId::parse(id)
                .ok_or_else(|| ApiError::from(RegistryError::BlobUploadUnknown))?;
            match *m {
                Method::GET => {
                    let offset = reg.upload_offset(&repo, id).await?;
                    Ok(upload_response(StatusCode::NO_CONTENT, &repo, id, offset))
                }
                Method::PATCH => upload_patch(&app, &repo, id, req).await,
                Method::PUT => upload_put(&app, &repo, id, &query, req).await,
                Method::DELETE => {
                    reg.upload_cancel(&repo, id).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (Route::Referrers { name: n, digest }, &Method::GET) => {
            referrers(&app, &name(n)?, &parse_digest(digest)?, &query).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `GET /v2/<name>/referrers/<digest>`: an image index of the manifests whose `subject` is
/// `digest`, optionally only those of one `artifactType`.
async fn referrers(
    app: &AppState,
    repo: &RepoName,
    digest: &Digest,
    query: &HashMap<String, String>,
) -> ApiResult {
    let filter = query
        .get("artifactType")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    let entries = app.registry.referrers(repo, digest, filter).await?;
    let manifests: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            let mut d = serde_json::json!({
                "mediaType": e.media_type,
                "digest": e.digest.to_string(),
                "size": e.size,
            });
            if let Some(a) = e.artifact_type {
                d["artifactType"] = a.into();
            }
            if let Some(a) = e.annotations {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_INDEX,
        "manifests": manifests,
    });
    let mut resp = json_response(StatusCode::OK, &body, &Method::GET);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mt::OCI_INDEX),
    );
    if filter.is_some() {
        resp.headers_mut().insert(
            "OCI-Filters-Applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::DigestInvalid,
            e.to_string(),
        )
    })
}

fn json_response(status: StatusCode, body: &serde_json::Value, method: &Method) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let len = bytes.len();
    let mut resp = if method == Method::HEAD {
        status.into_response()
    } else {
        (status, bytes).into_response()
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

fn pagination(q: &HashMap<String, String>) -> Result<(Option<u32>, Option<&str>), ApiError> {
    let n = match q.get("n") {
        None => None,
        Some(s) => Some(s.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::PaginationNumberInvalid,
                format!("n={s:?} is not a count"),
            )
        })?),
    };
    Ok((n, q.get("last").map(String::as_str)))
}

/// `Link: </v2/...?n=N&last=LAST>; rel="next"` when there is another page.
fn page_link(base: &str, page: &Page) -> Option<String> {
    let n = page.next?;
    // Stored names and tags match [A-Za-z0-9._/-] by grammar: safe in a query unescaped.
    let last = page.items.last()?;
    Some(format!("<{base}?n={n}&last={last}>; rel=\"next\""))
}

fn add_link(resp: &mut Response, link: Option<String>) {
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, l);
    }
}

fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .map_err(std::io::Error::other)
        .boxed()
}

// ---- blobs -------------------------------------------------------------------------------

async fn blob_get(
    app: &AppState,
    repo: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult {
    let reg = &app.registry;
    let mut resp_headers = HeaderMap::new();
    resp_headers.insert(
        DIGEST_HEADER,
        HeaderValue::from_str(&digest.to_string()).expect("digest is ASCII"),
    );
    resp_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp_headers.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{digest}\"")).expect("ASCII"),
    );
    if method == Method::HEAD {
        let size = reg.blob_size(repo, digest).await?;
        resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        return Ok((StatusCode::OK, resp_headers).into_response());
    }
    let read = reg.blob_get(repo, digest, blob_range(headers)).await?;
    let len = read.content.len();
    resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let status = match read.range {
        Some((s, e)) => {
            let v = format!("bytes {s}-{e}/{}", read.size);
            resp_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&v).expect("ASCII"),
            );
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    let body = match read.content {
        BlobContent::Whole(b) => Body::from(b),
        BlobContent::Stream { stream, .. } => Body::from_stream(stream),
    };
    Ok((status, resp_headers, body).into_response())
}

/// The headers that tell a client where its upload is and how much of it berth has.
fn set_upload_headers(h: &mut HeaderMap, repo: &RepoName, id: UploadId, offset: u64) {
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{repo}/blobs/uploads/{id}")).expect("ASCII"),
    );
    h.insert(
        header::RANGE,
        HeaderValue::from_str(&upload_range(offset)).expect("ASCII"),
    );
    h.insert(
        UPLOAD_UUID,
        HeaderValue::from_str(&id.to_string()).expect("ASCII"),
    );
}

fn upload_response(status: StatusCode, repo: &RepoName, id: UploadId, offset: u64) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    set_upload_headers(h, repo, id, offset);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp
}

fn blob_created(repo: &RepoName, digest: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{repo}/blobs/{digest}")).expect("ASCII"),
    );
    h.insert(
        DIGEST_HEADER,
        HeaderValue::from_str(&digest.to_string()).expect("ASCII"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a single-request upload, or a new session.
async fn upload_start(
    app: &AppState,
    repo: &RepoName,
    q: &HashMap<String, String>,
    token: &VerifiedToken,
    req: Request,
) -> ApiResult {
    let reg = &app.registry;
    if let Some(m) = q.get("mount") {
        let digest = parse_digest(m)?;
        let from = match q.get("from").filter(|f| !f.is_empty()) {
            Some(f) => Some(RepoName::parse(f).map_err(ApiError::name_invalid)?),
            None => None,
        };
        // Mount only from a repository the caller may pull from; a mount by digest alone
        // could copy a private blob whose digest leaked, so it becomes an upload.
        if let Some(from) = from.filter(|f| auth::may_pull(token, f))
            && reg.blob_mount(repo, &digest, Some(&from)).await?.is_some()
        {
            return Ok(blob_created(repo, &digest));
        }
        // Not mountable: the spec says to fall back to a new upload session.
        let id = reg.upload_start(repo).await?;
        return Ok(upload_response(StatusCode::ACCEPTED, repo, id, 0));
    }
    if let Some(d) = q.get("digest") {
        let digest = parse_digest(d)?;
        let len = content_length(req.headers());
        reg.upload_monolithic(repo, &digest, body_stream(req.into_body()), len)
            .await?;
        return Ok(blob_created(repo, &digest));
    }
    let id = reg.upload_start(repo).await?;
    Ok(upload_response(StatusCode::ACCEPTED, repo, id, 0))
}

async fn upload_patch(app: &AppState, repo: &RepoName, id: UploadId, req: Request) -> ApiResult {
    let reg = &app.registry;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid, m);
    let range = upload_content_range(req.headers()).map_err(bad)?;
    let declared = content_length(req.headers());
    let exact_len = match (range, declared) {
        (Some((s, e)), Some(n)) if e - s + 1 != n => {
            return Err(bad(format!(
                "Content-Range {s}-{e} is {} bytes but Content-Length is {n}",
                e - s + 1
            )));
        }
        (Some((s, e)), _) => Some(e - s + 1),
        (None, n) => n,
    };
    let start = range.map(|(s, _)| s);
    match reg
        .upload_patch(repo, id, start, exact_len, body_stream(req.into_body()))
        .await
    {
        Ok(offset) => Ok(upload_response(StatusCode::ACCEPTED, repo, id, offset)),
        Err(RegistryError::UploadOutOfOrder { current }) => {
            let mut resp =
                ApiError::from(RegistryError::UploadOutOfOrder { current }).into_response();
            set_upload_headers(resp.headers_mut(), repo, id, current);
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

async fn upload_put(
    app: &AppState,
    repo: &RepoName,
    id: UploadId,
    q: &HashMap<String, String>,
    req: Request,
) -> ApiResult {
    let digest = match q.get("digest") {
        Some(d) => parse_digest(d)?,
        None => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::DigestInvalid,
                "the digest query parameter is required",
            ));
        }
    };
    let last = if has_body(req.headers()) {
        let len = content_length(req.headers());
        Some((body_stream(req.into_body()), len))
    } else {
        None
    };
    app.registry
        .upload_complete(repo, id, &digest, last)
        .await?;
    Ok(blob_created(repo, &digest))
}

// ---- manifests ---------------------------------------------------------------------------

/// How much of an oversized body is read and discarded before answering 413. Answering
/// while the client is still sending makes most HTTP clients report a broken pipe instead of
/// the error (RFC 9112 §9.6 suggests reading on); beyond this, closing is the lesser evil.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;

/// Reads a body of at most `limit` bytes. `Ok(None)` when it is larger (the excess, up to
/// [`DRAIN_MAX`], is read and dropped so the client sees the answer).
async fn read_bounded(body: Body, limit: u64) -> Result<Option<Bytes>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > DRAIN_MAX {
            return Ok(None);
        }
        if total <= limit {
            buf.extend_from_slice(&chunk);
        }
    }
    Ok((total <= limit).then(|| buf.freeze()))
}

async fn manifest_get(
    app: &AppState,
    repo: &RepoName,
    reference: &str,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult {
    let reference = Reference::parse(reference).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ManifestUnknown,
            format!("no manifest can have that reference: {e}"),
        )
    })?;
    let accept = accept_list(headers);
    let accept: Vec<&str> = accept.iter().map(String::as_str).collect();
    let m = app.registry.manifest_get(repo, &reference, &accept).await?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&m.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        DIGEST_HEADER,
        HeaderValue::from_str(&m.digest.to_string()).expect("ASCII"),
    );
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{}\"", m.digest)).expect("ASCII"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(m.content.len()));
    if method == Method::HEAD {
        return Ok((StatusCode::OK, h).into_response());
    }
    Ok((StatusCode::OK, h, Body::from(m.content)).into_response())
}

async fn manifest_put(app: &AppState, repo: &RepoName, reference: &str, req: Request) -> ApiResult {
    let reference = Reference::parse(reference).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ManifestInvalid,
            format!("invalid reference: {e}"),
        )
    })?;
    let limit = app.registry.limits().manifest_max_bytes;
    let too_large = || ApiError::from(RegistryError::ManifestTooLarge { limit });
    if content_length(req.headers()).is_some_and(|n| n > DRAIN_MAX) {
        // Too large to be worth reading just to answer politely.
        return Err(too_large());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_bounded(req.into_body(), limit).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(too_large()),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ManifestInvalid,
                format!("reading the manifest failed: {e}"),
            ));
        }
    };
    let put = app
        .registry
        .manifest_put(repo, &reference, content_type.as_deref(), body)
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/{repo}/manifests/{}", put.digest)).expect("ASCII"),
    );
    h.insert(
        DIGEST_HEADER,
        HeaderValue::from_str(&put.digest.to_string()).expect("ASCII"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    if let Some(s) = put.subject {
        h.insert(
            "OCI-Subject",
            HeaderValue::from_str(&s.to_string()).expect("ASCII"),
        );
    }
    Ok(resp)
}

/// A catalog page holding only repositories the token's account may see, filled up to `n`
/// by reading further pages of the full catalog.
async fn visible_catalog(
    app: &AppState,
    sub: &str,
    n: Option<u32>,
    last: Option<&str>,
) -> Result<Page, ApiError> {
    let principal = app
        .access
        .principal_by_name(sub)
        .await
        .map_err(ApiError::from)?;
    let filter = app
        .access
        .repo_filter(&principal)
        .await
        .map_err(ApiError::from)?;
    let mut items = Vec::new();
    let mut cursor = last.map(str::to_owned);
    let want = n.unwrap_or(u32::MAX) as usize;
    loop {
        let page = app.registry.catalog(n, cursor.as_deref()).await?;
        let page_len = page.items.len();
        cursor = page.items.last().cloned();
        for name in page.items {
            if filter.allows(&name) {
                if items.len() == want {
                    // Announce a next page only when a visible name follows: a link to an
                    // empty page would tell that hidden repositories sort after this one.
                    return Ok(Page { items, next: n });
                }
                items.push(name);
            }
        }
        if page.next.is_none() || page_len == 0 {
            return Ok(Page { items, next: None });
        }
    }
}
