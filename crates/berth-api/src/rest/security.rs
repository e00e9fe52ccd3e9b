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
