//! The `berth` command line: configuration precedence and start-up validation, as an
//! operator meets them (the config crate's unit tests cover the parsing itself).

use std::process::Command;

use berth_testkit::{BerthServer, free_port};

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    // Keep the developer's own BERTH_* settings out of these tests.
    for (k, _) in std::env::vars() {
        if k.starts_with("BERTH_") {
            c.env_remove(k);
        }
    }
    c
}

type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn effective_config(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = berth()
        .arg("config")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn defaults_file_environment_and_flags_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = effective_config(&[], &[]);
    assert_eq!(defaults["listen"], "127.0.0.1:5000");
    assert_eq!(defaults["data_dir"], "./berth-data");
    assert_eq!(defaults["limits"]["manifest_max_bytes"], 4 * 1024 * 1024);

    let file = dir.path().join("berth.yaml");
    std::fs::write(
        &file,
        "listen: 127.0.0.1:6001\ndata_dir: /from/file\nlimits:\n  manifest_max_bytes: 1000\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let c = effective_config(&["--config", f], &[]);
    assert_eq!(
        (c["listen"].as_str(), c["data_dir"].as_str()),
        (Some("127.0.0.1:6001"), Some("/from/file"))
    );
    assert_eq!(c["limits"]["manifest_max_bytes"], 1000);

    let env = [
        ("BERTH_DATA_DIR", "/from/env"),
        ("BERTH_LIMITS__MANIFEST_MAX_BYTES", "2000"),
    ];
    let c = effective_config(&["--config", f], &env);
    assert_eq!(c["data_dir"], "/from/env");
    assert_eq!(c["limits"]["manifest_max_bytes"], 2000);

    let c = effective_config(&["--config", f, "--data-dir", "/from/flag"], &env);
    assert_eq!(c["data_dir"], "/from/flag");
    assert_eq!(c["listen"], "127.0.0.1:6001");
}

#[test]
fn serve_refuses_bad_settings_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    // (config file, environment, what the error must name)
    let cases: [Case; 4] = [
        (
            "limits:\n  manifest_max_byte: 5\n",
            &[],
            "manifest_max_byte",
        ),
        ("log:\n  format: xml\n", &[], "log.format"),
        (
            "",
            &[("BERTH_LIMITS__MANIFEST_MAX_BYTES", "lots")],
            "limits.manifest_max_bytes",
        ),
        ("listen: [1, 2\n", &[], "not valid YAML"),
    ];
    for (yaml, env, needle) in cases {
        std::fs::write(&bad, yaml).unwrap();
        let out = berth()
            .args([
                "serve",
                "--config",
                bad.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{yaml:?} {env:?} should be refused");
        assert!(
            stderr.contains(needle),
            "error for {yaml:?} {env:?} should name {needle:?}: {stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "a refused start must not create the data folder"
        );
    }
    let out = berth()
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`listen`"));
}

#[test]
fn environment_limits_reach_the_running_server() {
    let server = BerthServer::builder(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_LIMITS__MANIFEST_MAX_BYTES", "100")
        .start();
    let body = format!(
        "{{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(200)
    );
    let resp = reqwest::blocking::Client::new()
        .put(format!("{}/v2/limits/test/manifests/v1", server.url()))
        .bearer_auth(server.admin_token(&["repository:limits/test:pull,push"]))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 413);
    let err: serde_json::Value = resp.json().unwrap();
    assert_eq!(err["errors"][0]["code"], "SIZE_INVALID");
    assert_eq!(err["errors"][0]["detail"]["limit"], 100);
}
