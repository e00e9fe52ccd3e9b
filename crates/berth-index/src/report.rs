//! Turning a coalesced image into Clair's index report.
//!
//! Ids are assigned in a stable order (packages sorted by ecosystem, name, version, path), so
//! indexing the same image twice gives byte-identical reports, and a report can be compared
//! or cached by its bytes.

use std::collections::BTreeMap;

use berth_report::{Distribution, Ecosystem, Environment, IndexReport, Package, Repository, state};

use crate::coalesce::Coalesced;

const DISTRIBUTION_ID: &str = "1";

fn ecosystem(osv: &str) -> Option<Ecosystem> {
    Ecosystem::ALL.into_iter().find(|e| e.osv_name() == osv)
}

/// The report for `manifest`, whose layers (base first) have digests `layers`.
pub fn build(manifest: &str, layers: &[String], image: &Coalesced) -> IndexReport {
    let mut report = IndexReport::new(manifest, state::INDEX_FINISHED);
    let dist_id = image.distribution.as_ref().map(|d| {
        report.distributions.insert(
            DISTRIBUTION_ID.to_owned(),
            Distribution {
                id: DISTRIBUTION_ID.to_owned(),
                did: d.did.clone(),
                name: d.name.clone(),
                version: d.version.clone(),
                version_code_name: d.version_codename.clone(),
                version_id: d.version_id.clone(),
                arch: String::new(),
                cpe: d.cpe.clone().unwrap_or_default(),
                pretty_name: d.pretty_name.clone(),
            },
        );
        DISTRIBUTION_ID.to_owned()
    });

    let mut sorted: Vec<_> = image.packages.iter().collect();
    sorted.sort_by(|(a, la), (b, lb)| {
        (&a.ecosystem, &a.name, &a.version, &a.arch, &a.path, la).cmp(&(
            &b.ecosystem,
            &b.name,
            &b.version,
            &b.arch,
            &b.path,
            lb,
        ))
    });
    let mut repo_ids: BTreeMap<Ecosystem, String> = BTreeMap::new();
    let mut ids = (1usize..).map(|n| n.to_string());
    for (p, layer) in sorted {
        let eco = ecosystem(&p.ecosystem);
        let id = ids.next().unwrap_or_default();
        let source = p.source.as_ref().map(|(name, version)| {
            let sid = ids.next().unwrap_or_default();
            Box::new(Package {
                id: sid,
                name: name.clone(),
                version: version.clone(),
                kind: "source".to_owned(),
                source: None,
                normalized_version: String::new(),
                module: String::new(),
                arch: String::new(),
                cpe: String::new(),
            })
        });
        report.packages.insert(
            id.clone(),
            Package {
                id: id.clone(),
                name: p.name.clone(),
                version: p.version.clone(),
                kind: "binary".to_owned(),
                source,
                normalized_version: String::new(),
                module: String::new(),
                arch: p.arch.clone(),
                cpe: String::new(),
            },
        );
        let mut repository_ids = Vec::new();
        if let Some(eco) = eco
            && let Some((name, uri)) = eco.repository()
        {
            let rid = repo_ids
                .entry(eco)
                .or_insert_with(|| {
                    let rid = (report.repository.len() + 1).to_string();
                    report.repository.insert(
                        rid.clone(),
                        Repository {
                            id: rid.clone(),
                            name: name.to_owned(),
                            key: String::new(),
                            uri: uri.to_owned(),
                            cpe: String::new(),
                        },
                    );
                    rid
                })
                .clone();
            repository_ids.push(rid);
        }
        let distribution_id = match (eco.is_some_and(Ecosystem::is_os), &dist_id) {
            (true, Some(d)) => d.clone(),
            _ => String::new(),
        };
        report.environments.insert(
            id,
            vec![Environment {
                package_db: p.path.clone(),
                introduced_in: layers.get(*layer).cloned().unwrap_or_default(),
                distribution_id,
                repository_ids,
            }],
        );
    }
    report
}
