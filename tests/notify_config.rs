//! Upstream Alertmanager config fixtures load or are rejected as upstream does.

use sightline::notify::config::{load_file, Integration};
use sightline::notify::route::Route;
use sightline::tsdb::Labels;
use std::path::PathBuf;

fn fixture(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify").join(dir).join(name)
}

const LOAD: [&str; 20] = [
    "conf.good.yml",
    "conf.empty-fields.yml",
    "conf.group-by-all.yml",
    "conf.http-config.good.yml",
    "conf.smtp-no-username-or-password.yml",
    "conf.smtp-password-global-and-local.yml",
    "conf.sns-topic-arn.yml",
    "conf.victorops-default-apikey.yml",
    "conf.victorops-default-apikey-file.yml",
    "conf.opsgenie-default-apikey.yml",
    "conf.opsgenie-default-apikey-file.yml",
    "conf.telegram-default-bot-token.yml",
    "conf.telegram-default-bot-token-file.yml",
    "conf.rocketchat-default-token.yml",
    "conf.rocketchat-default-token-file.yml",
    "conf.mattermost-default-webhook-url.yml",
    "conf.mattermost-default-webhook-url-file.yml",
    "conf.wechat-default-api-secret-file.yml",
    "conf.slack-default-api-url-file.yml",
    "conf.slack-default-app-token.yml",
];

/// File and a fragment the error must contain.
const REJECT: [(&str, &str); 26] = [
    ("conf.nil-match_re-route.yml", "invalid_label"),
    ("conf.nil-source_match_re-inhibition.yml", "invalid_source_label"),
    ("conf.nil-target_match_re-inhibition.yml", "invalid_target_label"),
    ("conf.smtp-both-password-and-file.yml", "smtp_auth_password & smtp_auth_password_file"),
    ("conf.victorops-both-file-and-apikey.yml", "victorops_api_key & victorops_api_key_file"),
    ("conf.victorops-no-apikey.yml", "no global VictorOps API Key set"),
    ("conf.opsgenie-both-file-and-apikey.yml", "opsgenie_api_key & opsgenie_api_key_file"),
    ("conf.opsgenie-no-apikey.yml", "no global OpsGenie API Key set"),
    ("conf.opsgenie-default-apikey-old-team.yml", "field teams not found"),
    ("conf.telegram-both-bot-token-and-file.yml", "telegram_bot_token & telegram_bot_token_file"),
    ("conf.telegram-valid-receiver-both-bot-token-and-file.yml", "telegram_bot_token & telegram_bot_token_file"),
    ("conf.telegram-no-bot-token.yml", "missing bot_token or bot_token_file"),
    ("conf.slack-both-file-and-url.yml", "slack_api_url & slack_api_url_file"),
    ("conf.slack-both-file-and-token.yml", "slack_app_token & slack_app_token_file"),
    ("conf.slack-both-url-and-token.yml", "at most one of slack_app_token/slack_app_token_file & slack_api_url"),
    ("conf.slack-no-api-url-or-token.yml", "no Slack API URL nor App token"),
    ("conf.slack-update-message-and-webhook.yml", "update_message can only be used with bot tokens"),
    ("conf.sns-invalid.yml", "Target ARN, Topic ARN, or Phone Number"),
    ("conf.rocketchat-both-token-and-tokenfile.yml", "rocketchat_token & rocketchat_token_file"),
    ("conf.rocketchat-both-tokenid-and-tokenidfile.yml", "rocketchat_token_id & rocketchat_token_id_file"),
    ("conf.rocketchat-no-token.yml", "no global Rocketchat Token set"),
    ("conf.wechat-both-file-and-secret.yml", "wechat_api_secret & wechat_api_secret_file"),
    ("conf.wechat-no-api-secret.yml", "no global Wechat Api Secret set"),
    ("conf.mattermost-both-webhook-url-and-file.yml", "mattermost_webhook_url & mattermost_webhook_url_file"),
    (
        "conf.mattermost-valid-receiver-both-webhook-url-and-file.yml",
        "mattermost_webhook_url & mattermost_webhook_url_file",
    ),
    ("conf.mattermost-no-webhook-url.yml", "missing webhook_url or webhook_url_file"),
];

#[test]
fn every_fixture_is_classified() {
    let n = std::fs::read_dir(fixture("config", "")).unwrap().count();
    assert_eq!(n, LOAD.len() + REJECT.len());
}

#[test]
fn good_fixtures_load() {
    for f in LOAD {
        if let Err(e) = load_file(&fixture("config", f)) {
            panic!("{f} must load: {e}");
        }
    }
}

#[test]
fn bad_fixtures_are_rejected_with_file_line_and_reason() {
    for (f, why) in REJECT {
        let path = fixture("config", f);
        match load_file(&path) {
            Ok(_) => panic!("{f} must be rejected"),
            Err(e) => {
                let s = e.to_string();
                assert!(s.contains(why), "{f}: error {s:?} lacks {why:?}");
                let prefix = format!("{}:", path.display());
                assert!(s.starts_with(&prefix), "{f}: {s}");
                let line: usize = s[prefix.len()..].split(':').next().unwrap().parse().unwrap();
                assert!(line > 0, "{f}: no line in {s}");
            }
        }
    }
}

#[test]
fn old_team_error_points_at_line_16() {
    let e = load_file(&fixture("config", "conf.opsgenie-default-apikey-old-team.yml")).unwrap_err().to_string();
    assert!(e.contains(".yml:16:"), "{e}");
}

#[test]
fn good_config_details() {
    let c = load_file(&fixture("config", "conf.good.yml")).unwrap();
    assert_eq!(c.global.smtp_hello.as_deref(), Some("host.example.org"));
    let printed = format!("{c:?}");
    assert!(!printed.contains("mysecret"), "secret leaked");
    let e = load_file(&fixture("config", "conf.empty-fields.yml")).unwrap();
    assert_eq!(e.global.smtp_auth_username.as_deref(), Some(""));
    assert_eq!(e.global.smtp_require_tls, Some(true));
    assert_eq!(e.resolve_timeout.as_secs(), 300);
    match &e.receivers[0].integrations[0] {
        Integration::Email(m) => {
            assert_eq!(m.from.as_deref(), Some("alertmanager@example.org"));
            assert_eq!(m.smarthost.as_deref(), Some("localhost:25"));
            assert_eq!(m.require_tls, Some(true));
        }
        other => panic!("unexpected {other:?}"),
    }
    let g = load_file(&fixture("config", "conf.group-by-all.yml")).unwrap();
    assert!(Route::from_config(&g.route).group_by_all);
}

#[test]
fn smtp_password_inheritance() {
    let c = load_file(&fixture("config", "conf.smtp-password-global-and-local.yml")).unwrap();
    let mails: Vec<_> = c.receivers[0]
        .integrations
        .iter()
        .map(|i| match i {
            Integration::Email(m) => m.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(mails[0].auth_password_file.as_deref(), Some("/tmp/globaluserpassword"));
    assert_eq!(mails[0].auth_secret_file.as_deref(), Some("/tmp/globalusersecret"));
    assert_eq!(mails[1].auth_password_file.as_deref(), Some("/tmp/localuser1password"));
    assert_eq!(mails[2].auth_password.as_ref().map(|s| s.expose()), Some("mysecret"));
    assert!(mails[2].auth_password_file.is_none());
    assert_eq!(mails[3].auth_secret.as_ref().map(|s| s.expose()), Some("myprecious"));
    assert!(mails[3].auth_secret_file.is_none());
    assert_eq!(mails[4].auth_secret_file.as_deref(), Some("/tmp/localuser4secret"));
}

#[test]
fn telegram_and_slack_inheritance() {
    let c = load_file(&fixture("config", "conf.telegram-default-bot-token.yml")).unwrap();
    let tok = |r: usize| match &c.receivers[r].integrations[0] {
        Integration::Telegram(t) => t.bot_token.as_ref().map(|s| s.expose().to_string()),
        other => panic!("{other:?}"),
    };
    assert_eq!(tok(0).as_deref(), Some("asd132"));
    assert_eq!(tok(1).as_deref(), Some("qwe456"));
    let s = load_file(&fixture("config", "conf.slack-default-app-token.yml")).unwrap();
    let slack: Vec<_> = s.receivers[0]
        .integrations
        .iter()
        .map(|i| match i {
            Integration::Slack(c) => c.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(slack[0].app_token.as_ref().map(|t| t.expose()), Some("xoxb-1234-abcdefgh"));
    assert_eq!(slack[1].app_token.as_ref().map(|t| t.expose()), Some("xoxb-1234-xxxxxx"));
    assert_eq!(slack[2].app_url.as_deref(), Some("http://api.fakeslack.example/"));
    assert!(slack[3].app_token.is_none());
    assert!(slack[4].api_url.as_ref().is_some_and(|u| u.expose().starts_with("https://hooks.slack.com/")));
}

fn receivers_for(file: &str, labels: &[(&str, &str)]) -> Vec<String> {
    let c = load_file(&fixture("routing", file)).unwrap();
    let t = Route::from_config(&c.route);
    let l = Labels::from_pairs(labels.iter().map(|(a, b)| (*a, *b)));
    t.matches(&l).iter().map(|r| r.receiver.clone()).collect()
}

#[test]
fn amtool_routing_fixtures() {
    assert_eq!(receivers_for("conf.routing.yml", &[("test", "1")]), ["test1"]);
    assert_eq!(receivers_for("conf.routing.yml", &[("test", "2")]), ["test1", "test2"]);
    assert_eq!(receivers_for("conf.routing-reverted.yml", &[("test", "2")]), ["test2", "test1"]);
    assert_eq!(receivers_for("conf.routing.yml", &[("test", "volovina")]), ["default"]);
}
