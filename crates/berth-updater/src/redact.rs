//! URLs as they may appear in logs, error messages and `state.json`.
//!
//! Feed URLs can carry secrets: `https://user:token@mirror/...` for a private mirror, or a
//! signed query (`?X-Amz-Signature=...`, `?token=...`). Everything this crate shows or stores
//! goes through [`redact_url`] first, so a secret never outlives the request that needed it.

/// Query parameter names (lowercased substrings) whose values are treated as secrets.
const SECRET_PARAMS: &[&str] = &[
    "token", "key", "secret", "sig", "pass", "auth", "cred", "session", "code",
];

/// `url` without its userinfo, and with the values of secret-looking query parameters
/// replaced by `***`. An unparsable URL is shown only up to its scheme and host-ish prefix,
/// because we cannot tell where a secret might be in it.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return redact_unparsable(url);
    };
    if !u.username().is_empty() || u.password().is_some() {
        // Both only fail for URLs that cannot have userinfo, which then has none to strip.
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.set_fragment(None);
    if let Some(query) = u.query().map(str::to_owned) {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret(k) => format!("{k}=***"),
                _ if !pair.contains('=') && is_secret(pair) => "***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        u.set_query(Some(&redacted.join("&")));
    }
    u.to_string()
}

fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| lower.contains(s))
}

fn redact_unparsable(url: &str) -> String {
    // Userinfo sits between "://" and '@'; without a parser, drop everything after the scheme.
    let cut = if url.contains('@') {
        url.find("://").map_or(0, |i| i + 3)
    } else {
        url.find(['?', '#']).unwrap_or(url.len())
    }
    .min(200);
    let shown: String = url
        .char_indices()
        .take_while(|(i, _)| *i < cut)
        .map(|(_, c)| c)
        .collect();
    if shown.len() < url.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_userinfo_and_secret_query_values() {
        assert_eq!(
            redact_url("https://bob:hunter2@mirror.example/feeds/nvd.json.gz"),
            "https://mirror.example/feeds/nvd.json.gz"
        );
        assert_eq!(
            redact_url("https://x.example/a.zip?X-Amz-Signature=abc&X-Amz-Credential=me&v=2"),
            "https://x.example/a.zip?X-Amz-Signature=***&X-Amz-Credential=***&v=2"
        );
        assert_eq!(
            redact_url("https://x.example/a?api_key=s3cr3t#frag"),
            "https://x.example/a?api_key=***"
        );
        let shown = redact_url("not a url://user:pw@host/x");
        assert!(!shown.contains("pw"), "{shown}");
    }
}
