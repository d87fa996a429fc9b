//! Email over SMTP (lettre, rustls): implicit TLS on port 465 or when
//! forced, STARTTLS otherwise (required unless `require_tls: false`),
//! PLAIN/LOGIN auth, HTML and text bodies.

use super::{secret_or_file, tmpl, SendError};
use crate::notify::chart::{charts_html, charts_text, insert_into_html, AlertChart};
use crate::notify::config::EmailConfig;
use crate::notify::template::{Data, Templates};
use crate::rules::template::Value;
use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Builds the message (exposed for tests).
pub fn build_message(c: &EmailConfig, t: &Templates, v: &Value) -> Result<Message, SendError> {
    build_message_with_charts(c, t, v, &[])
}

/// Builds the message with charts: the HTML part gets each chart inline
/// (multipart/related, `cid:` images) with its numbers and link; the text
/// part gets the numbers and links.
pub fn build_message_with_charts(
    c: &EmailConfig,
    t: &Templates,
    v: &Value,
    charts: &[AlertChart],
) -> Result<Message, SendError> {
    let mut headers = c.headers.clone();
    headers.entry("Subject".into()).or_insert_with(|| r#"{{ template "email.default.subject" . }}"#.into());
    headers.entry("To".into()).or_insert_with(|| c.to.clone());
    headers.entry("From".into()).or_insert_with(|| c.from.clone().unwrap_or_default());
    let mut expanded = std::collections::BTreeMap::new();
    for (k, text) in &headers {
        expanded.insert(k.clone(), tmpl(t, v, text, &format!("header {k}"))?);
    }
    let from: Mailbox =
        expanded["From"].parse().map_err(|e| SendError::permanent(format!("invalid From address: {e}")))?;
    let mut b = Message::builder().from(from).subject(expanded["Subject"].clone());
    for to in expanded["To"].split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mb: Mailbox = to.parse().map_err(|e| SendError::permanent(format!("invalid To address {to:?}: {e}")))?;
        b = b.to(mb);
    }
    let mut html = tmpl(t, v, c.html.as_deref().unwrap_or(r#"{{ template "email.default.html" . }}"#), "html")?;
    let mut text = tmpl(t, v, c.text.as_deref().unwrap_or(r#"{{ template "email.default.text" . }}"#), "text")?;
    if !charts.is_empty() {
        if !html.is_empty() {
            html = insert_into_html(&html, &charts_html(charts));
        }
        if !text.is_empty() {
            text.push_str(&charts_text(charts));
        }
    }
    let html_part = || -> MultiPart {
        let html_single = SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone());
        let images: Vec<&AlertChart> = charts.iter().filter(|c| c.png.is_some()).collect();
        if images.is_empty() {
            return MultiPart::mixed().singlepart(html_single);
        }
        let mut related = MultiPart::related().singlepart(html_single);
        for ch in images {
            let png = ch.png.clone().unwrap_or_default();
            related = related.singlepart(Attachment::new_inline(ch.cid.clone()).body(png, image_png()));
        }
        related
    };
    let body = match (text.is_empty(), html.is_empty()) {
        (false, false) => MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
            .multipart(html_part()),
        (true, false) => html_part(),
        _ => MultiPart::mixed().singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text)),
    };
    b.multipart(body).map_err(|e| SendError::permanent(format!("cannot build message: {e}")))
}

fn image_png() -> ContentType {
    ContentType::parse("image/png").unwrap_or(ContentType::TEXT_PLAIN)
}

/// Sends one email notification.
pub async fn send(c: &EmailConfig, data: &Data, t: &Templates, v: &Value) -> Result<(), SendError> {
    crate::scrape::ensure_crypto_provider();
    let msg = build_message_with_charts(c, t, v, &data.charts)?;
    let smarthost = c.smarthost.clone().unwrap_or_default();
    let (host, port) = smarthost
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.trim_matches(|c| c == '[' || c == ']').to_string(), p)))
        .ok_or_else(|| SendError::permanent(format!("invalid smarthost {smarthost:?}: want host:port")))?;
    let insecure = c.tls_config.as_ref().is_some_and(|t| t.insecure_skip_verify);
    let server_name = c.tls_config.as_ref().and_then(|t| t.server_name.clone()).unwrap_or_else(|| host.clone());
    let params = || {
        TlsParameters::builder(server_name.clone())
            .dangerous_accept_invalid_certs(insecure)
            .build_rustls()
            .map_err(|e| SendError::permanent(format!("TLS setup: {e}")))
    };
    let tls = if port == 465 || c.force_implicit_tls == Some(true) {
        Tls::Wrapper(params()?)
    } else if c.require_tls.unwrap_or(true) {
        Tls::Required(params()?)
    } else {
        Tls::Opportunistic(params()?)
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)))
        .hello_name(ClientId::Domain(c.hello.clone().unwrap_or_else(|| "localhost".into())));
    if let Some(user) = c.auth_username.as_deref().filter(|u| !u.is_empty()) {
        let pw = match (&c.auth_password, &c.auth_password_file) {
            (None, None) => None,
            (a, f) => Some(secret_or_file(a, f, "smtp password")?),
        };
        if let Some(pw) = pw.filter(|p| !p.is_empty()) {
            b = b.credentials(Credentials::new(user.to_string(), pw));
        }
    }
    let mailer = b.build();
    match mailer.send(msg).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // lettre's messages carry server replies, never our credentials.
            let permanent = e.is_permanent();
            let m = format!("smtp: {e}");
            Err(if permanent { SendError::permanent(m) } else { SendError::transient(m) })
        }
    }
}
