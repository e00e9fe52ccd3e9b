//! `berth scan --format json`: the report in Clair's own shape, so scripts written for Clair
//! (and `jq` one-liners) read it unchanged, filtered to the same findings the table shows.
//!
//! Filtering prunes every map that names a vulnerability together: a vulnerability is kept
//! exactly when some package still lists it, and enrichments only for kept vulnerabilities,
//! so a consumer that follows ids never meets one that is not there. Packages, distributions
//! and environments are all kept: they describe the image, not the findings.

use std::collections::BTreeSet;

use berth_report::VulnerabilityReport;
use serde_json::Value;

use crate::{Options, severity};

/// The report as JSON (see the module docs).
pub fn json(report: &VulnerabilityReport, opts: &Options) -> Value {
    let mut out = report.clone();
    out.package_vulnerabilities = report
        .package_vulnerabilities
        .iter()
        .filter_map(|(pid, ids)| {
            let kept: Vec<String> = ids
                .iter()
                .filter(|id| {
                    report
                        .vulnerabilities
                        .get(*id)
                        .is_some_and(|v| severity(v) >= opts.min_severity)
                })
                .cloned()
                .collect();
            (!kept.is_empty()).then(|| (pid.clone(), kept))
        })
        .collect();
    let listed: BTreeSet<&String> = out.package_vulnerabilities.values().flatten().collect();
    out.vulnerabilities.retain(|id, _| listed.contains(id));
    for maps in out.enrichments.values_mut() {
        for map in maps.iter_mut() {
            map.retain(|id, _| out.vulnerabilities.contains_key(id));
        }
        maps.retain(|m| !m.is_empty());
    }
    out.enrichments.retain(|_, maps| !maps.is_empty());
    // String-keyed maps, strings and numbers: nothing here can fail to serialize (a score
    // that is not finite becomes null).
    serde_json::to_value(&out).expect("a vulnerability report serializes")
}
