//! `GET /f/{id}` and `POST /f/{id}`: extract, call into [`super`], answer with a page.
//!
//! Pages are askama templates (escaped), phone-width, with the dashboard's stylesheet and no
//! JavaScript; they go out `no-store` with `Referrer-Policy: no-referrer` (the URL holds the
//! lead's token) and the dashboard's Content-Security-Policy. A POST is refused with no effect,
//! in this order, when its body is over [`MAX_BODY_BYTES`] (413), when its address sent more
//! than [`MAX_PER_MINUTE`] this minute (429), when its CSRF token is missing or does not
//! verify (403), or when the honeypot is filled (400); invalid fields get the form again with
//! the messages (422), nothing stored; then the submission is stored and the thanks page
//! shown (also for a double submit, which stores nothing more).

use actix_web::dev::UrlEncoded;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::check::{self, CONSENT_INPUT, Input, Problems};
use super::{Posted, csrf, identify, submit};
use crate::domain::{Clock, FormId, Scene};
use crate::links::{FORM_PATH, Links};
use crate::oauth::OAuth;
use crate::rules::{Form, LiveRules, Rules};
use crate::store::Store;

/// The largest body a submission may have: 16 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The most submissions one client address may make a minute.
pub const MAX_PER_MINUTE: u64 = 10;

/// The page's own inputs, named so no field can take their names (a field name has no `.`).
const CSRF_INPUT: &str = "wx.csrf";
const TOKEN_INPUT: &str = "wx.t";
const CHANNEL_INPUT: &str = "wx.ch";
const HONEYPOT_INPUT: &str = "wx.website";

/// What the page's own stylesheet and forms may load (the dashboard's policy).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `?t=<token>&ch=<scene>` of a form's URL, and `oauth=failed` when web authorisation could
/// not say who the browser is (the page is then served without it, never asked again).
#[derive(Debug, Deserialize)]
pub struct Opened {
    t: Option<String>,
    ch: Option<String>,
    oauth: Option<String>,
}

/// What a query value keeps as it is: letters, digits and `-._~` (a token and a scene need
/// no escaping, so the path comes back as it was sent).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the callback adds to a form's path when web authorisation did not identify the
/// user: the form is shown all the same, and no second authorisation starts (no loop).
pub const OAUTH_FAILED: &str = "oauth=failed";

impl Opened {
    /// The form's path with this query's token and channel, to return to after an
    /// authorisation.
    fn path(&self, id: &FormId) -> String {
        let mut query = Vec::new();
        for (name, value) in [("t", &self.t), ("ch", &self.ch)] {
            if let Some(value) = value {
                query.push(format!(
                    "{name}={}",
                    utf8_percent_encode(value, QUERY_VALUE)
                ));
            }
        }
        match query.is_empty() {
            true => format!("{FORM_PATH}{id}"),
            false => format!("{FORM_PATH}{id}?{}", query.join("&")),
        }
    }
}

/// One choice of a select field.
#[derive(Debug)]
struct OptionView {
    value: String,
    selected: bool,
}

/// One field on the page.
#[derive(Debug)]
struct FieldView {
    name: String,
    label: String,
    kind: &'static str,
    required: bool,
    options: Vec<OptionView>,
    /// What the person typed (only when the page is shown again after a refusal).
    value: String,
    problem: Option<String>,
}

/// The form page.
#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    title: String,
    id: String,
    fields: Vec<FieldView>,
    consent: String,
    consent_checked: bool,
    consent_problem: Option<String>,
    problems: Problems,
    csrf: String,
    token: String,
    channel: String,
}

/// A page with a heading and one note: the thanks page and every refusal.
#[derive(Template)]
#[template(path = "form_note.html")]
struct NotePage<'a> {
    title: &'a str,
    note: &'a str,
}

/// The page for `status`.
fn html(status: StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(error) => {
            tracing::error!(%error, "cannot render a form page");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn note(status: StatusCode, title: &str, note: &str) -> HttpResponse {
    html(status, NotePage { title, note }.render())
}

fn unavailable() -> HttpResponse {
    note(
        StatusCode::SERVICE_UNAVAILABLE,
        "暂时无法提交",
        "服务暂时不可用，请稍后再试。",
    )
}

/// The form named by the path, if the rules have it.
fn form_of<'r>(rules: &'r Rules, raw: &str) -> Option<&'r Form> {
    FormId::parse(raw).ok().and_then(|id| rules.form(&id))
}

fn not_found() -> HttpResponse {
    note(
        StatusCode::NOT_FOUND,
        "表单不存在",
        "这个表单不存在或已下线。",
    )
}

/// The form page: empty fields unless `input` holds what the person typed.
fn render(
    status: StatusCode,
    form: &Form,
    csrf: String,
    opened: (&str, &str),
    input: &Input,
    problems: Problems,
) -> HttpResponse {
    let typed = |name: &str| input.get(name).cloned().unwrap_or_default();
    let fields = form
        .fields
        .iter()
        .map(|f| {
            let value = typed(f.name.as_str());
            FieldView {
                name: f.name.to_string(),
                label: f.label.clone(),
                kind: f.kind.as_str(),
                required: f.required,
                options: f
                    .options
                    .iter()
                    .map(|o| OptionView {
                        value: o.clone(),
                        selected: *o == value,
                    })
                    .collect(),
                problem: problems.get(f.name.as_str()).cloned(),
                value,
            }
        })
        .collect();
    let page = FormPage {
        title: form.title.clone(),
        id: form.id.to_string(),
        fields,
        consent: form.consent.clone(),
        consent_checked: input.get(CONSENT_INPUT).is_some_and(|v| !v.is_empty()),
        consent_problem: problems.get(CONSENT_INPUT).cloned(),
        problems,
        csrf,
        token: opened.0.to_owned(),
        channel: opened.1.to_owned(),
    };
    html(status, page.render())
}

/// `GET /f/{id}`: the form, with a fresh CSRF token and the link's `?t=` and `?ch=` kept in
/// hidden fields. Nothing is filled in from the token.
pub async fn page(
    req: HttpRequest,
    id: web::Path<String>,
    opened: web::Query<Opened>,
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    links: web::Data<Links>,
    clock: web::Data<Clock>,
) -> HttpResponse {
    let rules = rules.load();
    let oauth = req
        .app_data::<web::Data<Option<OAuth>>>()
        .and_then(|oauth| oauth.as_ref().as_ref());
    let Some(form) = form_of(&rules, &id) else {
        return not_found();
    };
    // With web authorisation on, the browser's WeChat user is learnt first (once: a failed
    // authorisation comes back marked, and the form is then served without it).
    if let Some(oauth) = oauth
        && opened.oauth.is_none()
        && oauth.identified(&store, &req, clock.now()).await.is_none()
    {
        match oauth
            .start(&store, &opened.path(&form.id), clock.now())
            .await
        {
            Ok(response) => return response,
            Err(error) => {
                tracing::error!(%error, form = %form.id, "cannot start web authorisation; the form is served without it");
            }
        }
    }
    let key = match links.keys().signing_key(&store).await {
        Ok(key) => key,
        Err(error) => {
            tracing::error!(%error, form = %form.id, "cannot read the link keys to serve a form");
            return unavailable();
        }
    };
    let csrf = csrf::issue(&form.id, &key, clock.now());
    let token = opened.t.as_deref().unwrap_or("");
    let channel = opened.ch.as_deref().unwrap_or("");
    render(
        StatusCode::OK,
        form,
        csrf,
        (token, channel),
        &Input::new(),
        Problems::new(),
    )
}

/// `POST /f/{id}` from `client` (its address, through trusted proxies: the admin layer's
/// route table tells it): see the module's doc for the order of the checks.
pub async fn post(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    client: String,
) -> HttpResponse {
    let (Some(rules), Some(store), Some(links), Some(oauth), Some(clock)) = (
        req.app_data::<web::Data<LiveRules>>(),
        req.app_data::<web::Data<Store>>(),
        req.app_data::<web::Data<Links>>(),
        req.app_data::<web::Data<Option<OAuth>>>(),
        req.app_data::<web::Data<Clock>>(),
    ) else {
        tracing::error!("the app serves forms without its rules, store, links, oauth or clock");
        return unavailable();
    };
    let mut payload = payload.into_inner();
    let pairs: Vec<(String, String)> = match UrlEncoded::new(&req, &mut payload)
        .limit(MAX_BODY_BYTES)
        .await
    {
        Ok(pairs) => pairs,
        Err(error) => {
            let status = actix_web::ResponseError::status_code(&error);
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "提交的内容过长（最多 16 KB），请精简后再试。"
            } else {
                "提交的内容无法读取，请重新打开表单再试。"
            };
            return note(status, "无法提交", message);
        }
    };
    let rules = rules.load();
    let Some(form) = form_of(&rules, &id) else {
        return not_found();
    };
    match store.count_form_submission(&client).await {
        Ok(n) if n > MAX_PER_MINUTE => {
            tracing::warn!(%client, form = %form.id, "form submission refused: more than {MAX_PER_MINUTE} this minute from this address");
            return note(
                StatusCode::TOO_MANY_REQUESTS,
                "提交过于频繁",
                "提交过于频繁，请一分钟后再试。",
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::error!(%error, "cannot count a form submission");
            return unavailable();
        }
    }
    let mut input = Input::new();
    for (name, value) in pairs {
        input.entry(name).or_insert(value);
    }
    let now = clock.now();
    let raw_csrf = input.get(CSRF_INPUT).map_or("", String::as_str);
    let verified = match csrf::verify(raw_csrf, &form.id, links.keys(), store, now).await {
        Ok(verified) => verified,
        Err(error) => {
            tracing::error!(%error, "cannot read the link keys to check a form");
            return unavailable();
        }
    };
    let Some(verified) = verified else {
        tracing::info!(%client, form = %form.id, "form submission refused: missing or invalid CSRF token");
        return note(
            StatusCode::FORBIDDEN,
            "页面已失效",
            "页面已失效，请重新打开表单链接后再提交。",
        );
    };
    if input.get(HONEYPOT_INPUT).is_some_and(|v| !v.is_empty()) {
        tracing::info!(%client, form = %form.id, "form submission refused: the honeypot is filled");
        return note(
            StatusCode::BAD_REQUEST,
            "无法提交",
            "无法提交，请重新打开表单再试。",
        );
    }
    let token = input.get(TOKEN_INPUT).cloned().unwrap_or_default();
    let channel = input.get(CHANNEL_INPUT).cloned().unwrap_or_default();
    let values = match check::check(form, &input) {
        Ok(values) => values,
        Err(problems) => {
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                raw_csrf.to_owned(),
                (&token, &channel),
                &input,
                problems,
            );
        }
    };
    // Only a channel's scene (a `[[qr]]` or a `[[channel]]`) counts; any other is ignored.
    let scene = Scene::parse(&channel)
        .ok()
        .filter(|s| rules.channel(s).is_some());
    let stored = async {
        let token = Some(token.as_str()).filter(|t| !t.is_empty());
        let authorised = match oauth.as_ref() {
            Some(oauth) => oauth.identified(store, &req, now).await,
            None => None,
        };
        let identity = identify(authorised, token, &form.id, links, store, now).await?;
        let posted = Posted {
            form,
            nonce: &verified.nonce,
            identity: &identity,
            scene: scene.as_ref(),
            values: &values,
            at: now,
        };
        submit(&posted, &rules, store, links).await
    };
    match stored.await {
        Ok(submitted) => {
            tracing::debug!(?submitted, form = %form.id, "form submitted");
            note(StatusCode::OK, &form.title, &form.thanks)
        }
        Err(error) => {
            tracing::error!(%error, form = %form.id, "cannot store a form submission");
            unavailable()
        }
    }
}
