//! Dashboards and Explore on a remote Prometheus-compatible API
//! (`datasources:`): here another Sightline holds the data, the one serving
//! the page has none of it.

mod util;

use util::{encode, Server, Target};

#[test]
fn dashboards_and_explore_query_a_remote_datasource() {
    let target = Target::start(
        "# TYPE remote_only_metric gauge\nremote_only_metric{site=\"far\"} 42\nremote_only_metric{site=\"near\"} 7\n",
    );
    let far = Server::start(&format!(
        "global:\n  scrape_interval: 1s\nhost:\n  enabled: false\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        target.addr
    ));
    far.wait_for("remote_only_metric", 15, |r| r.len() == 2);

    let dir = tempfile::tempdir().unwrap();
    let dash_dir = dir.path().join("dashboards");
    std::fs::create_dir(&dash_dir).unwrap();
    std::fs::write(
        dash_dir.join("remote.yml"),
        r#"title: Remote
uid: remote
datasource: far
variables:
  - name: site
    query: label_values(remote_only_metric, site)
rows:
  - panels:
      - title: Far metric
        type: stat
        targets:
          - expr: remote_only_metric{site="$site"}
            legend: "{{site}}"
      - title: Missing source
        datasource: nowhere
        targets:
          - expr: up
"#,
    )
    .unwrap();
    let config = format!(
        "host:\n  enabled: false\nscrape_configs: []\ndashboards:\n  paths: ['{}']\ndatasources:\n  - name: far\n    url: http://{}/\n    timeout: 5s\n",
        dash_dir.display(),
        far.addr
    );
    let near = Server::start_in(&config, dir.path(), &dir.path().join("data"));
    assert!(near.query("remote_only_metric").is_empty(), "the serving instance has none of the data");

    let (status, page) = near.get("/d/remote?var-site=far");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">far<") && page.contains(">near<"), "variable options come from the remote: {page}");
    assert!(page.contains("42"), "the stat shows the remote value: {page}");
    assert!(page.contains("no datasource named &quot;nowhere&quot;"), "{page}");

    let (status, page) = near.get(&format!("/explore?q={}&ds=far&tab=table", encode("remote_only_metric")));
    assert_eq!(status, 200);
    assert!(page.contains("site=&#34;near&#34;}</td><td class=\"num\">7<"), "{page}");
    assert!(page.contains("<option selected>far</option>"), "{page}");
    let (_, page) = near.get(&format!("/explore?q={}&ds=elsewhere", encode("up")));
    assert!(page.contains("no datasource named"), "{page}");
}

#[test]
fn a_bad_datasource_is_a_config_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    std::fs::write(
        &file,
        "datasources:\n  - name: x\n    url: ftp://example.com\n  - name: sightline\n    url: http://a\n",
    )
    .unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_sightline")).arg("check-config").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("bad.yml:3") && text.contains("not an http(s) URL"), "{text}");
    assert!(text.contains("bad.yml:4") && text.contains("already taken"), "{text}");
}
