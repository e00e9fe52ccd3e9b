//! Platforms (`os/arch[/variant]`) and choosing one image out of a multi-arch index.
//!
//! Indexes spell the same machine several ways (`arm64` with or without `v8`, `arm` meaning
//! `v7`, tools writing `x86_64` or `aarch64`), so matching compares normalised forms the way
//! containerd does; otherwise `--platform linux/arm64` would miss an index entry written as
//! `linux/arm64/v8` and the user would get a confusing "no manifest" error.

use std::fmt;
use std::str::FromStr;

use crate::error::SourceError;

/// A target platform as the user writes it (`linux/arm64/v8`) and as indexes declare it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// What a scan of a multi-arch image means when the user names no platform: the machine
    /// most images are built and deployed for, independent of where berth itself runs (so
    /// two hosts scanning the same reference report on the same manifest).
    pub fn default_target() -> Platform {
        Platform::new("linux", "amd64", None)
    }

    /// `(os, arch, variant)` with aliases resolved and each architecture's default variant
    /// filled in, so that equal machines compare equal.
    fn normalized(&self) -> (String, String, Option<String>) {
        let os = self.os.to_ascii_lowercase();
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.as_deref().map(str::to_ascii_lowercase);
        let (arch, variant) = match arch.as_str() {
            "x86_64" | "x86-64" => ("amd64".to_owned(), variant),
            "aarch64" => ("arm64".to_owned(), variant),
            "armhf" => ("arm".to_owned(), Some("v7".to_owned())),
            "armel" => ("arm".to_owned(), Some("v6".to_owned())),
            "i386" | "i686" => ("386".to_owned(), variant),
            _ => (arch, variant),
        };
        let variant = match (arch.as_str(), variant.as_deref()) {
            ("arm64", None | Some("8" | "v8")) => Some("v8".to_owned()),
            ("arm", None) => Some("v7".to_owned()),
            ("arm", Some(v)) if v.len() == 1 && v.as_bytes()[0].is_ascii_digit() => {
                Some(format!("v{v}"))
            }
            ("amd64", Some("v1")) => None,
            (_, v) => v.map(str::to_owned),
        };
        (os, arch, variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Platform, SourceError> {
        let bad = |reason: &str| SourceError::BadPlatform {
            input: s.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        if s.len() > 128 {
            return Err(bad("too long"));
        }
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("wrong number of '/'-separated parts"));
        }
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(bad(
                "each part must be non-empty letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

impl From<&berth_oci::Platform> for Platform {
    fn from(p: &berth_oci::Platform) -> Platform {
        Platform::new(&p.os, &p.architecture, p.variant.as_deref())
    }
}

/// Index into `candidates` of the entry that serves `want`.
///
/// A variant the user wrote must match exactly (after normalisation); without one, any
/// variant of the os/arch will do, the architecture's default (`arm64/v8`, `arm/v7`)
/// preferred, then the first listed, as `docker pull --platform` does. Entries without a
/// platform never match: guessing would scan the wrong machine's packages.
pub(crate) fn best_match(want: &Platform, candidates: &[Option<Platform>]) -> Option<usize> {
    let (os, arch, variant) = want.normalized();
    let explicit_variant = want.variant.is_some();
    let mut fallback = None;
    for (i, c) in candidates.iter().enumerate() {
        let Some(c) = c else { continue };
        let (c_os, c_arch, c_variant) = c.normalized();
        if c_os != os || c_arch != arch {
            continue;
        }
        if c_variant == variant {
            return Some(i);
        }
        if !explicit_variant && fallback.is_none() {
            fallback = Some(i);
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/amd64").variant, None);
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "a/b/c/d",
            "linux/amd 64",
            "linux//v8",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
        assert!("x/".repeat(100).parse::<Platform>().is_err());
    }

    #[test]
    fn matches_aliases_and_default_variants() {
        let c = vec![
            Some(p("linux/amd64")),
            Some(p("linux/arm/v6")),
            Some(p("linux/arm/v7")),
            Some(p("linux/arm64/v8")),
            None,
        ];
        assert_eq!(best_match(&p("linux/amd64"), &c), Some(0));
        assert_eq!(best_match(&p("linux/x86_64"), &c), Some(0));
        assert_eq!(best_match(&p("linux/arm64"), &c), Some(3));
        assert_eq!(best_match(&p("linux/aarch64/8"), &c), Some(3));
        // arm without a variant means v7, not the first arm listed.
        assert_eq!(best_match(&p("linux/arm"), &c), Some(2));
        assert_eq!(best_match(&p("linux/arm/v6"), &c), Some(1));
        assert_eq!(best_match(&p("linux/arm/v5"), &c), None);
        assert_eq!(best_match(&p("windows/amd64"), &c), None);
        // An index entry without a variant serves an explicit default variant.
        assert_eq!(
            best_match(&p("linux/arm64/v8"), &[Some(p("linux/arm64"))]),
            Some(0)
        );
        // Only a non-default variant listed: taken when the user named no variant.
        assert_eq!(
            best_match(&p("linux/amd64"), &[Some(p("linux/amd64/v3"))]),
            Some(0)
        );
        assert_eq!(
            best_match(&p("linux/amd64/v2"), &[Some(p("linux/amd64/v3"))]),
            None
        );
    }
}
