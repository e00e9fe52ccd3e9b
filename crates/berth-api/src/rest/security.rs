//! What is inside an image: its index report (Clair v4's shape) and SBOMs made from it.
//!
//! Both are per manifest of a repository, so reading them needs read access to that
//! repository, exactly like pulling the image. A report that does not exist yet (the image
//! was pushed a moment ago, or under an older detector set) is made during the request
//! rather than answered with "try later": the scanner's per-manifest lock makes the request
//! and the background loop share one indexing run.

use berth_access::manage::Role;
use berth_domain::Digest;
use serde_json::Value;

use super::repos::checked_repo;
use super::{Ctx, Reply, RestError};

async fn report(c: &Ctx) -> Result<(String, berth_report::IndexReport), RestError> {
    let repo = checked_repo(c, &c.principal, Role::Read).await?;
    let raw = c.param("manifestref");
    let digest: Digest = raw
        .parse()
        .map_err(|_| RestError::bad_request(format!("{raw} is not a manifest digest")))?;
    let Some(scanner) = c.app.scanner.as_ref() else {
        return Err(RestError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the scanner is disabled on this server",
        ));
    };
    match scanner.report(&repo, &digest).await {
        Ok(Some(r)) => Ok((format!("{repo}@{digest}"), r)),
        Ok(None) => Err(RestError::not_found(format!(
            "manifest {digest} is not in repository {repo}"
        ))),
        Err(berth_scan::ScanError::IsIndex(d)) => Err(RestError::bad_request(format!(
            "manifest {d} is an index: ask for one of its images"
        ))),
        Err(e) => {
            tracing::error!(error = %e, manifest = %digest, "index report failed");
            Err(RestError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the image could not be indexed now; try again later",
            ))
        }
    }
}

pub(crate) async fn index_report(c: Ctx) -> Result<Reply, RestError> {
    let (_, r) = report(&c).await?;
    Ok(Reply::ok(serde_json::to_value(r).unwrap_or(Value::Null)))
}

pub(crate) async fn sbom(c: Ctx) -> Result<Reply, RestError> {
    let format = c.query("format").unwrap_or("cyclonedx").to_owned();
    if !matches!(format.as_str(), "cyclonedx" | "spdx") {
        return Err(RestError::bad_request("format must be cyclonedx or spdx"));
    }
    let (name, r) = report(&c).await?;
    if !r.success {
        return Err(RestError::new(
            axum::http::StatusCode::CONFLICT,
            format!("the image could not be indexed: {}", r.err),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let created = crate::time::rfc3339(now);
    let info = berth_sbom::SbomInfo {
        name: &name,
        created: &created,
        tool_version: env!("CARGO_PKG_VERSION"),
    };
    Ok(Reply::ok(if format == "spdx" {
        berth_sbom::spdx(&r, &info)
    } else {
        berth_sbom::cyclonedx(&r, &info)
    }))
}

/// Quay's security endpoint: the scan status and, when scanned, the packages with their
/// vulnerabilities in the shape Quay's UI and API clients read (`data.Layer.Features`).
/// Unlike the index report it never indexes during the request: the answer for an image
/// still in the queue is `queued`, as Quay's.
pub(crate) async fn security(c: Ctx) -> Result<Reply, RestError> {
    let repo = checked_repo(&c, &c.principal, Role::Read).await?;
    let raw = c.param("manifestref");
    let digest: Digest = raw
        .parse()
        .map_err(|_| RestError::bad_request(format!("{raw} is not a manifest digest")))?;
    let with_vulns = matches!(c.query("vulnerabilities"), Some("true" | "1" | "True"));
    let scanner = scanner_of(&c)?;
    let (status, platforms) = match scanner.status(&repo, &digest).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(RestError::not_found(format!(
                "manifest {digest} is not in repository {repo}"
            )));
        }
        Err(e) => return Err(unavailable(&e.to_string(), &digest)),
    };
    let data_of = |d: &Digest, st: &berth_scan::ScanStatus| {
        let scanner = scanner.clone();
        let d = d.clone();
        let scanned = *st == berth_scan::ScanStatus::Scanned;
        async move {
            if !scanned {
                return Ok(Value::Null);
            }
            let Some(index) = scanner
                .stored_report(&d)
                .await
                .map_err(|e| unavailable(&e.to_string(), &d))?
            else {
                return Ok(Value::Null);
            };
            quay_layer(&scanner, &index, with_vulns)
        }
    };
    let mut body = serde_json::json!({ "status": status.as_str() });
    if let Some(reason) = status.reason() {
        body["reason"] = Value::from(reason);
    }
    if platforms.is_empty() {
        body["data"] = data_of(&digest, &status).await?;
    } else {
        body["data"] = Value::Null;
        let mut list = Vec::new();
        for p in &platforms {
            let mut entry = serde_json::json!({
                "platform": p.platform,
                "digest": p.digest.to_string(),
                "status": p.status.as_str(),
                "data": data_of(&p.digest, &p.status).await?,
            });
            if let Some(reason) = p.status.reason() {
                entry["reason"] = Value::from(reason);
            }
            list.push(entry);
        }
        body["platforms"] = Value::Array(list);
    }
    Ok(Reply::ok(body))
}

fn scanner_of(c: &Ctx) -> Result<std::sync::Arc<berth_scan::Scanner>, RestError> {
    c.app.scanner.clone().ok_or_else(|| {
        RestError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the scanner is disabled on this server",
        )
    })
}

fn unavailable(e: &str, digest: &Digest) -> RestError {
    tracing::error!(error = %e, manifest = %digest, "security status failed");
    RestError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "the scan status cannot be read now; try again later",
    )
}

/// Quay's `{"Layer": {"Features": [...]}}` for one image.
fn quay_layer(
    scanner: &berth_scan::Scanner,
    index: &berth_report::IndexReport,
    with_vulns: bool,
) -> Result<Value, RestError> {
    let vulns = if with_vulns {
        match scanner.vulnerabilities_of(index) {
            Ok(v) => Some(v),
            Err(e) => {
                return Err(RestError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ));
            }
        }
    } else {
        None
    };
    let mut features = Vec::new();
    for (id, p) in &index.packages {
        if p.kind == "source" {
            continue;
        }
        let env = index.environments.get(id).and_then(|e| e.first());
        let dist = env.and_then(|e| index.distributions.get(&e.distribution_id));
        let namespace = dist
            .map(|d| format!("{}:{}", d.did, d.version_id))
            .unwrap_or_default();
        let mut feature = serde_json::json!({
            "Name": p.name,
            "VersionFormat": index.ecosystem(id).map(|e| e.osv_name()).unwrap_or(""),
            "NamespaceName": namespace,
            "AddedBy": env.map(|e| e.introduced_in.as_str()).unwrap_or(""),
            "Version": p.version,
            "BaseScores": [],
            "CVEIds": [],
        });
        if let Some(report) = &vulns {
            let mut list = Vec::new();
            let mut scores = Vec::new();
            let mut cves = Vec::new();
            for vid in report.package_vulnerabilities.get(id).into_iter().flatten() {
                let Some(v) = report.vulnerabilities.get(vid) else {
                    continue;
                };
                let score = v.cvss.as_ref().and_then(|c| c.score);
                if let Some(s) = score {
                    scores.push(s);
                }
                if let Some(cve) = std::iter::once(&v.name)
                    .chain(v.aliases.iter())
                    .find(|n| n.starts_with("CVE-"))
                {
                    cves.push(cve.clone());
                }
                list.push(serde_json::json!({
                    "Severity": v.normalized_severity,
                    "NamespaceName": namespace,
                    "Link": v.links,
                    "FixedBy": v.fixed_in_version,
                    "Description": v.description,
                    "Name": v.name,
                    "Metadata": {
                        "UpdatedBy": v.updater,
                        "RepoName": v.repository.as_ref().map(|r| r.name.clone()),
                        "RepoLink": v.repository.as_ref().map(|r| r.uri.clone()),
                        "DistroName": dist.map(|d| d.name.clone()),
                        "DistroVersion": dist.map(|d| d.version_id.clone()),
                        "NVD": {
                            "CVSSv3": {
                                "Vector": v.cvss.as_ref().map(|c| c.vector.clone()).unwrap_or_default(),
                                "Score": score,
                            }
                        },
                    },
                }));
            }
            cves.sort();
            cves.dedup();
            feature["BaseScores"] = serde_json::json!(scores);
            feature["CVEIds"] = serde_json::json!(cves);
            feature["Vulnerabilities"] = Value::Array(list);
        }
        features.push(feature);
    }
    Ok(serde_json::json!({
        "Layer": {
            "Name": index.manifest_hash,
            "ParentName": "",
            "NamespaceName": "",
            "IndexedByVersion": 4,
            "Features": features,
        }
    }))
}
