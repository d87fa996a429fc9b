//! Receiver integrations: each turns template data into a request for one
//! service and sends it. Errors never contain URLs, tokens or passwords.

pub mod email;

use super::config::{
    DiscordConfig, HttpConfig, Integration, MsTeamsConfig, NtfyConfig, PagerDutyConfig, Secret, SlackConfig,
    TelegramConfig, WebhookConfig,
};
use super::template::{Data, Templates};
use crate::rules::template::Value;
use serde_json::{json, Map};
use std::time::Duration;

/// A failed delivery: whether a retry may help, and a message safe to log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub retryable: bool,
    pub message: String,
}

impl SendError {
    fn permanent(m: impl Into<String>) -> SendError {
        SendError { retryable: false, message: m.into() }
    }
    fn transient(m: impl Into<String>) -> SendError {
        SendError { retryable: true, message: m.into() }
    }
}

/// Default request timeout when the config sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP request ready to send. `url` may hold secrets: never print it.
pub struct HttpRequest {
    pub url: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
}

/// Sends one notification through `integration`.
pub async fn send(integration: &Integration, data: &Data, t: &Templates) -> Result<(), SendError> {
    let v = data.to_value();
    let (http, timeout, req) = match integration {
        Integration::Webhook(c) => (&c.http_config, c.timeout.map(|d| d.0), webhook_request(c, data)?),
        Integration::Slack(c) => (&c.http_config, c.timeout.map(|d| d.0), slack_request(c, data, t, &v)?),
        Integration::PagerDuty(c) => (&c.http_config, c.timeout.map(|d| d.0), pagerduty_request(c, data, t, &v)?),
        Integration::Discord(c) => (&c.http_config, c.timeout.map(|d| d.0), discord_request(c, data, t, &v)?),
        Integration::MsTeams(c) => (&c.http_config, c.timeout.map(|d| d.0), msteams_request(c, data, t, &v)?),
        Integration::Telegram(c) => (&c.http_config, None, telegram_request(c, t, &v)?),
        Integration::Ntfy(c) => (&c.http_config, c.timeout.map(|d| d.0), ntfy_request(c, data, t, &v)?),
        Integration::Email(c) => return email::send(c, data, t, &v).await,
        Integration::Unsupported { kind } => {
            return Err(SendError::permanent(format!("the {kind} integration is not supported by Sightline")))
        }
    };
    let timeout = timeout.filter(|d| !d.is_zero()).unwrap_or(DEFAULT_TIMEOUT);
    let body = post(http.as_ref(), timeout, req).await?;
    if let Integration::Telegram(_) = integration {
        // Telegram answers 200 with {"ok":false} for some errors.
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if v.get("ok") == Some(&serde_json::Value::Bool(false)) {
            return Err(SendError::permanent(format!(
                "telegram: {}",
                v["description"].as_str().unwrap_or("request failed")
            )));
        }
    }
    Ok(())
}

fn read_secret_file(path: &str, what: &str) -> Result<String, SendError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| SendError::permanent(format!("cannot read {what} file {path}: {e}")))
}

fn secret_or_file(inline: &Option<Secret>, file: &Option<String>, what: &str) -> Result<String, SendError> {
    match (inline, file) {
        (Some(s), _) => Ok(s.expose().to_string()),
        (None, Some(f)) => read_secret_file(f, what),
        (None, None) => Err(SendError::permanent(format!("no {what} configured"))),
    }
}

fn tmpl(t: &Templates, v: &Value, text: &str, what: &str) -> Result<String, SendError> {
    t.expand(text, v).map_err(|e| SendError::permanent(format!("template {what}: {e}")))
}

fn json_request(url: String, body: &serde_json::Value) -> HttpRequest {
    HttpRequest { url, body: body.to_string().into_bytes(), content_type: "application/json", headers: Vec::new() }
}

fn truncate(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The webhook request: payload version 4, `max_alerts` applied.
pub fn webhook_request(c: &WebhookConfig, data: &Data) -> Result<HttpRequest, SendError> {
    let url = secret_or_file(&c.url, &c.url_file, "webhook url")?;
    let mut d = data.clone();
    if c.max_alerts > 0 && d.alerts.len() as u64 > c.max_alerts {
        d.truncated_alerts = d.alerts.len() as u64 - c.max_alerts;
        d.alerts.truncate(c.max_alerts as usize);
    }
    Ok(HttpRequest { url, body: d.webhook_json().into_bytes(), content_type: "application/json", headers: Vec::new() })
}

fn put_nonempty(m: &mut Map<String, serde_json::Value>, k: &str, v: String) {
    if !v.is_empty() {
        m.insert(k.into(), serde_json::Value::String(v));
    }
}

/// The Slack request (incoming webhook, or chat.postMessage with a token).
pub fn slack_request(c: &SlackConfig, data: &Data, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let get = |o: &Option<String>, def: &str, what: &str| tmpl(t, v, o.as_deref().unwrap_or(def), what);
    let mut att = Map::new();
    put_nonempty(&mut att, "title", get(&c.title, r#"{{ template "slack.default.title" . }}"#, "title")?);
    put_nonempty(
        &mut att,
        "title_link",
        get(&c.title_link, r#"{{ template "slack.default.titlelink" . }}"#, "title_link")?,
    );
    put_nonempty(&mut att, "pretext", get(&c.pretext, r#"{{ template "slack.default.pretext" . }}"#, "pretext")?);
    put_nonempty(&mut att, "text", get(&c.text, r#"{{ template "slack.default.text" . }}"#, "text")?);
    put_nonempty(&mut att, "fallback", get(&c.fallback, r#"{{ template "slack.default.fallback" . }}"#, "fallback")?);
    put_nonempty(
        &mut att,
        "callback_id",
        get(&c.callback_id, r#"{{ template "slack.default.callbackid" . }}"#, "callback_id")?,
    );
    put_nonempty(&mut att, "footer", get(&c.footer, r#"{{ template "slack.default.footer" . }}"#, "footer")?);
    put_nonempty(
        &mut att,
        "color",
        get(&c.color, r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#, "color")?,
    );
    put_nonempty(&mut att, "image_url", get(&c.image_url, "", "image_url")?);
    put_nonempty(&mut att, "thumb_url", get(&c.thumb_url, "", "thumb_url")?);
    let mrkdwn = c.mrkdwn_in.clone().unwrap_or_else(|| vec!["fallback".into(), "pretext".into(), "text".into()]);
    att.insert("mrkdwn_in".into(), json!(mrkdwn));
    let mut msg = Map::new();
    put_nonempty(&mut msg, "channel", get(&c.channel, "", "channel")?);
    put_nonempty(&mut msg, "username", get(&c.username, r#"{{ template "slack.default.username" . }}"#, "username")?);
    put_nonempty(
        &mut msg,
        "icon_emoji",
        get(&c.icon_emoji, r#"{{ template "slack.default.iconemoji" . }}"#, "icon_emoji")?,
    );
    put_nonempty(&mut msg, "icon_url", get(&c.icon_url, r#"{{ template "slack.default.iconurl" . }}"#, "icon_url")?);
    if c.link_names {
        msg.insert("link_names".into(), json!(true));
    }
    let mut attachments = vec![serde_json::Value::Object(att)];
    attachments.extend(data.charts.iter().map(slack_chart_attachment));
    msg.insert("attachments".into(), serde_json::Value::Array(attachments));
    let token = match (&c.app_token, &c.app_token_file) {
        (None, None) => None,
        (a, f) => Some(secret_or_file(a, f, "slack app token")?),
    };
    let (url, headers) = match token {
        Some(tok) => (
            c.app_url.clone().unwrap_or_else(|| "https://slack.com/api/chat.postMessage".into()),
            vec![("Authorization".into(), format!("Bearer {tok}"))],
        ),
        None => match (&c.api_url, &c.api_url_file) {
            (None, None) => (c.app_url.clone().unwrap_or_default(), Vec::new()),
            (a, f) => (secret_or_file(a, f, "slack api url")?, Vec::new()),
        },
    };
    let mut r = json_request(url, &serde_json::Value::Object(msg));
    r.headers = headers;
    Ok(r)
}

/// One more Slack attachment per chart: the expression linking to the
/// dashboard panel or explore view, its numbers, and the picture when
/// Sightline has a public URL Slack can fetch it from.
fn slack_chart_attachment(c: &super::chart::AlertChart) -> serde_json::Value {
    let mut a = json!({
        "title": truncate(c.expr.clone(), 300),
        "title_link": c.link,
        "text": format!("{} · <{}|open in Sightline ({})>", c.summary(), c.link, c.link_title),
        "fallback": format!("{}: {}", c.expr, c.link),
    });
    if let Some(u) = &c.image_url {
        a["image_url"] = json!(u);
    }
    a
}

/// The PagerDuty Events API v2 request.
pub fn pagerduty_request(c: &PagerDutyConfig, data: &Data, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let key = match (&c.routing_key, &c.routing_key_file) {
        (None, None) => {
            return Err(SendError::permanent("PagerDuty Events API v1 (service_key) is not supported; use routing_key"))
        }
        (a, f) => secret_or_file(a, f, "pagerduty routing key")?,
    };
    let get = |o: &Option<String>, def: &str, what: &str| tmpl(t, v, o.as_deref().unwrap_or(def), what);
    let action = if data.status == "firing" { "trigger" } else { "resolve" };
    // The dedup key must be stable per group; Alertmanager hashes the group key.
    let dedup = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(data.group_key.as_bytes()));
    let mut ev = json!({"routing_key": key, "event_action": action, "dedup_key": dedup});
    if action == "trigger" {
        let mut details = Map::new();
        let defaults = [
            ("firing", r#"{{ template "pagerduty.default.instances" .FiringAlerts }}"#),
            ("resolved", r#"{{ template "pagerduty.default.instances" .ResolvedAlerts }}"#),
            ("num_firing", "{{ len .FiringAlerts }}"),
            ("num_resolved", "{{ len .ResolvedAlerts }}"),
        ];
        let source: Vec<(String, String)> = if c.details.is_empty() {
            defaults.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        } else {
            c.details.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (k, text) in source {
            details.insert(k.clone(), json!(tmpl(t, v, &text, &k)?));
        }
        let summary =
            truncate(get(&c.description, r#"{{ template "pagerduty.default.description" .}}"#, "description")?, 1024);
        let client = get(&c.client, r#"{{ template "pagerduty.default.client" . }}"#, "client")?;
        let mut payload = json!({
            "summary": summary,
            "source": get(&c.source, &client, "source")?,
            "severity": get(&c.severity, "error", "severity")?,
            "custom_details": details,
        });
        for (k, o) in [("class", &c.class), ("component", &c.component), ("group", &c.group)] {
            let s = get(o, "", k)?;
            if !s.is_empty() {
                payload[k] = json!(s);
            }
        }
        ev["payload"] = payload;
        ev["client"] = json!(client);
        ev["client_url"] =
            json!(get(&c.client_url, r#"{{ template "pagerduty.default.clientURL" . }}"#, "client_url")?);
    }
    let url = c.url.clone().unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
    Ok(json_request(url, &ev))
}

/// The Discord webhook request (one embed).
pub fn discord_request(c: &DiscordConfig, data: &Data, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let url = secret_or_file(&c.webhook_url, &c.webhook_url_file, "discord webhook url")?;
    let title = truncate(
        tmpl(t, v, c.title.as_deref().unwrap_or(r#"{{ template "discord.default.title" . }}"#), "title")?,
        256,
    );
    let desc = truncate(
        tmpl(t, v, c.message.as_deref().unwrap_or(r#"{{ template "discord.default.message" . }}"#), "message")?,
        4096,
    );
    let color = if data.status == "firing" { 0x992D22 } else { 0x2ECC71 };
    let mut body = json!({"embeds": [{"title": title, "description": desc, "color": color}]});
    if let Some(content) = &c.content {
        body["content"] = json!(truncate(tmpl(t, v, content, "content")?, 2000));
    }
    if let Some(u) = &c.username {
        body["username"] = json!(tmpl(t, v, u, "username")?);
    }
    if let Some(a) = &c.avatar_url {
        body["avatar_url"] = json!(tmpl(t, v, a, "avatar_url")?);
    }
    Ok(json_request(url, &body))
}

/// The Microsoft Teams request (Office 365 connector MessageCard).
pub fn msteams_request(c: &MsTeamsConfig, data: &Data, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let url = secret_or_file(&c.webhook_url, &c.webhook_url_file, "msteams webhook url")?;
    let title = tmpl(t, v, c.title.as_deref().unwrap_or(r#"{{ template "msteams.default.title" . }}"#), "title")?;
    let summary =
        tmpl(t, v, c.summary.as_deref().unwrap_or(r#"{{ template "msteams.default.summary" . }}"#), "summary")?;
    let text = tmpl(t, v, c.text.as_deref().unwrap_or(r#"{{ template "msteams.default.text" . }}"#), "text")?;
    let color = if data.status == "firing" { "8C1A1A" } else { "2DC72D" };
    let body = json!({
        "@context": "http://schema.org/extensions",
        "type": "MessageCard",
        "title": title,
        "summary": summary,
        "text": text,
        "themeColor": color,
    });
    Ok(json_request(url, &body))
}

/// The Telegram `sendMessage` request.
pub fn telegram_request(c: &TelegramConfig, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let token = secret_or_file(&c.bot_token, &c.bot_token_file, "telegram bot token")?;
    let text = truncate(
        tmpl(t, v, c.message.as_deref().unwrap_or(r#"{{ template "telegram.default.message" . }}"#), "message")?,
        4096,
    );
    let mut body = json!({"chat_id": c.chat_id, "text": text, "disable_notification": c.disable_notifications});
    if let Some(pm) = c.parse_mode.as_deref().filter(|p| !p.is_empty()) {
        body["parse_mode"] = json!(pm);
    }
    if let Some(th) = c.message_thread_id {
        body["message_thread_id"] = json!(th);
    }
    let base = c.api_url.clone().unwrap_or_else(|| "https://api.telegram.org".into());
    let url = format!("{}/bot{token}/sendMessage", base.trim_end_matches('/'));
    Ok(json_request(url, &body))
}

/// The ntfy publish request (JSON to the server root).
pub fn ntfy_request(c: &NtfyConfig, data: &Data, t: &Templates, v: &Value) -> Result<HttpRequest, SendError> {
    let base = c.url.clone().unwrap_or_else(|| "https://ntfy.sh".into());
    let title = tmpl(t, v, c.title.as_deref().unwrap_or(r#"{{ template "ntfy.default.title" . }}"#), "title")?;
    let message = truncate(
        tmpl(t, v, c.message.as_deref().unwrap_or(r#"{{ template "ntfy.default.message" . }}"#), "message")?,
        4096,
    );
    let prio_text = tmpl(
        t,
        v,
        c.priority.as_deref().unwrap_or(r#"{{ if eq .Status "firing" }}high{{ else }}default{{ end }}"#),
        "priority",
    )?;
    let priority = match prio_text.trim() {
        "min" | "1" => 1,
        "low" | "2" => 2,
        "high" | "4" => 4,
        "max" | "urgent" | "5" => 5,
        _ => 3,
    };
    let mut tags =
        vec![if data.status == "firing" { "rotating_light".to_string() } else { "white_check_mark".to_string() }];
    tags.extend(c.tags.iter().cloned());
    let body = json!({"topic": c.topic, "title": title, "message": message, "priority": priority, "tags": tags});
    let mut r = json_request(base.trim_end_matches('/').to_string() + "/", &body);
    match (&c.token, &c.token_file) {
        (None, None) => {}
        (a, f) => r.headers.push(("Authorization".into(), format!("Bearer {}", secret_or_file(a, f, "ntfy token")?))),
    }
    Ok(r)
}

/// Sends `req` with the HTTP config's auth, proxy and TLS settings; 5xx and
/// 429 and network errors are retryable, other 4xx are not.
pub async fn post(http: Option<&HttpConfig>, timeout: Duration, req: HttpRequest) -> Result<Vec<u8>, SendError> {
    crate::scrape::ensure_crypto_provider();
    let default = HttpConfig::default();
    let h = http.unwrap_or(&default);
    let redirect = if h.follow_redirects.unwrap_or(true) {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(redirect)
        .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")));
    match h.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let proxy = reqwest::Proxy::all(p).map_err(|_| SendError::permanent("invalid proxy_url"))?;
            b = b.proxy(proxy);
        }
        None => b = b.no_proxy(),
    }
    if h.tls_config.as_ref().is_some_and(|t| t.insecure_skip_verify) {
        b = b.danger_accept_invalid_certs(true);
    }
    let client =
        b.build().map_err(|e| SendError::permanent(format!("cannot build HTTP client: {}", e.without_url())))?;
    let mut rb = client.post(&req.url).header("Content-Type", req.content_type).body(req.body);
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if let Some(ba) = &h.basic_auth {
        let pw = match (&ba.password, &ba.password_file) {
            (None, None) => None,
            (a, f) => Some(secret_or_file(a, f, "basic auth password")?),
        };
        rb = rb.basic_auth(&ba.username, pw);
    }
    if let Some(a) = &h.authorization {
        let cred = secret_or_file(&a.credentials, &a.credentials_file, "authorization credentials")?;
        rb = rb.header("Authorization", format!("{} {cred}", a.kind.as_deref().unwrap_or("Bearer")));
    } else if h.bearer_token.is_some() || h.bearer_token_file.is_some() {
        rb = rb.header(
            "Authorization",
            format!("Bearer {}", secret_or_file(&h.bearer_token, &h.bearer_token_file, "bearer token")?),
        );
    }
    let resp = rb.send().await.map_err(|e| SendError::transient(format!("request failed: {}", e.without_url())))?;
    let status = resp.status();
    let body =
        resp.bytes().await.map_err(|e| SendError::transient(format!("reading response: {}", e.without_url())))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    let msg = format!("unexpected status code {}: {}", status.as_u16(), snippet.trim());
    if status.is_server_error() || status.as_u16() == 429 {
        Err(SendError::transient(msg))
    } else {
        Err(SendError::permanent(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::alert::Alert;
    use crate::tsdb::Labels;

    fn data(resolved: bool) -> Data {
        let now = chrono::Utc::now();
        let mut a = Alert::firing(Labels::from_pairs([("alertname", "Down"), ("job", "node")]));
        if resolved {
            a.ends_at = Some(now - chrono::Duration::seconds(1));
        }
        Data::new("r", "{}:{alertname=\"Down\"}", &Labels::from_pairs([("alertname", "Down")]), &[a], "http://sl", now)
    }

    fn body(r: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn webhook_max_alerts_truncates_and_counts() {
        let now = chrono::Utc::now();
        let alerts: Vec<Alert> = (0..5)
            .map(|i| Alert::firing(Labels::from_pairs([("alertname", "A".to_string()), ("i", i.to_string())])))
            .collect();
        let d = Data::new("r", "k", &Labels::new(), &alerts, "", now);
        let c = WebhookConfig { url: Some(Secret("http://x".into())), max_alerts: 2, ..Default::default() };
        let b = body(&webhook_request(&c, &d).unwrap());
        assert_eq!(b["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(b["truncatedAlerts"], 3);
    }

    #[test]
    fn payloads() {
        let t = Templates::load(&[], "http://sl").unwrap();
        let d = data(false);
        let v = d.to_value();
        let slack = SlackConfig {
            api_url: Some(Secret("http://x/hook".into())),
            channel: Some("#a".into()),
            ..Default::default()
        };
        let r = slack_request(&slack, &d, &t, &v).unwrap();
        let b = body(&r);
        assert_eq!(b["channel"], "#a");
        assert_eq!(b["attachments"][0]["title"], "[FIRING:1] Down (node)");
        assert_eq!(b["attachments"][0]["color"], "danger");
        let pd = PagerDutyConfig { routing_key: Some(Secret("k".into())), ..Default::default() };
        let b = body(&pagerduty_request(&pd, &d, &t, &v).unwrap());
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["payload"]["severity"], "error");
        assert_eq!(b["payload"]["custom_details"]["num_firing"], "1");
        let dr = data(true);
        let b = body(&pagerduty_request(&pd, &dr, &t, &dr.to_value()).unwrap());
        assert_eq!(b["event_action"], "resolve");
        assert!(b.get("payload").is_none());
        let tg = TelegramConfig {
            bot_token: Some(Secret("123:abc".into())),
            chat_id: 5,
            parse_mode: Some("HTML".into()),
            ..Default::default()
        };
        let r = telegram_request(&tg, &t, &v).unwrap();
        assert!(r.url.ends_with("/bot123:abc/sendMessage"));
        assert!(body(&r)["text"].as_str().unwrap().contains("Alerts Firing"));
        let n = NtfyConfig { url: Some("http://n".into()), topic: "t".into(), ..Default::default() };
        let b = body(&ntfy_request(&n, &d, &t, &v).unwrap());
        assert_eq!(b["priority"], 4);
        assert_eq!(b["topic"], "t");
    }
}
