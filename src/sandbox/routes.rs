//! The sandbox's HTTP surface: WeChat's `/cgi-bin/` endpoints (with faults) and the
//! sandbox-only `/sandbox/` endpoints (without).
//!
//! Handlers parse the request, lock the account for one synchronous step and answer; the lock
//! is never held across an `.await` (the injected latency and hangs sleep outside it).

use std::sync::Mutex;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::errcode::WxError;
use super::faults::{Fault, Faults};
use super::lock;
use super::messages::Interaction;
use super::qr::{QrCreateBody, QrSpec};
use super::state::{Account, OpenIdPage};
use super::tokens::Grant;
use crate::domain::{TagId, UnixTime};

/// WeChat's endpoints the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    StableToken,
    TagsCreate,
    TagsGet,
    TagsUpdate,
    TagsDelete,
    BatchTagging,
    BatchUntagging,
    TagIdList,
    TagMembers,
    Followers,
    UserInfo,
    QrCreate,
    CustomSend,
    TemplateSend,
    Blacklist,
}

impl Endpoint {
    const ALL: [Self; 16] = [
        Self::Token,
        Self::StableToken,
        Self::TagsCreate,
        Self::TagsGet,
        Self::TagsUpdate,
        Self::TagsDelete,
        Self::BatchTagging,
        Self::BatchUntagging,
        Self::TagIdList,
        Self::TagMembers,
        Self::Followers,
        Self::UserInfo,
        Self::QrCreate,
        Self::CustomSend,
        Self::TemplateSend,
        Self::Blacklist,
    ];

    /// The path, exactly as at `api.weixin.qq.com`.
    fn path(self) -> &'static str {
        match self {
            Self::Token => "/cgi-bin/token",
            Self::StableToken => "/cgi-bin/stable_token",
            Self::TagsCreate => "/cgi-bin/tags/create",
            Self::TagsGet => "/cgi-bin/tags/get",
            Self::TagsUpdate => "/cgi-bin/tags/update",
            Self::TagsDelete => "/cgi-bin/tags/delete",
            Self::BatchTagging => "/cgi-bin/tags/members/batchtagging",
            Self::BatchUntagging => "/cgi-bin/tags/members/batchuntagging",
            Self::TagIdList => "/cgi-bin/tags/getidlist",
            Self::TagMembers => "/cgi-bin/user/tag/get",
            Self::Followers => "/cgi-bin/user/get",
            Self::UserInfo => "/cgi-bin/user/info",
            Self::QrCreate => "/cgi-bin/qrcode/create",
            Self::CustomSend => "/cgi-bin/message/custom/send",
            Self::TemplateSend => "/cgi-bin/message/template/send",
            Self::Blacklist => "/cgi-bin/tags/members/getblacklist",
        }
    }

    fn is_get(self) -> bool {
        matches!(
            self,
            Self::Token | Self::TagsGet | Self::Followers | Self::UserInfo
        )
    }
}

/// The query parameters any endpoint reads.
#[derive(Debug, Default, Deserialize)]
struct ApiQuery {
    access_token: Option<String>,
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    openid: Option<String>,
    next_openid: Option<String>,
}

/// The shared account, as handlers receive it.
pub(super) type Shared = web::Data<Mutex<Account>>;

/// Registers every route on an actix app.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    for endpoint in Endpoint::ALL {
        let route = if endpoint.is_get() {
            web::get()
        } else {
            web::post()
        };
        cfg.route(
            endpoint.path(),
            route.to(
                move |shared: Shared,
                      query: web::Query<ApiQuery>,
                      body: web::Bytes,
                      req: HttpRequest| {
                    api(shared, endpoint, query.into_inner(), body, req)
                },
            ),
        );
    }
    cfg.route("/sandbox/state", web::get().to(get_state))
        .route("/sandbox/reset", web::post().to(post_reset))
        .route("/sandbox/tags", web::post().to(post_tag))
        .route("/sandbox/followers", web::post().to(post_followers))
        .route("/sandbox/unfollow", web::post().to(post_unfollow))
        .route("/sandbox/faults", web::post().to(post_faults))
        .route("/sandbox/clock", web::post().to(post_clock))
        .route("/sandbox/interactions", web::post().to(post_interaction))
        .route("/sandbox/blacklist", web::post().to(post_blacklist))
        .route("/sandbox/send_faults", web::post().to(post_send_faults));
    super::menus::configure(cfg);
}

#[derive(Deserialize)]
struct NewInteraction {
    openid: String,
    kind: Interaction,
    #[serde(default)]
    at: Option<i64>,
}

async fn post_interaction(shared: Shared, body: web::Json<NewInteraction>) -> HttpResponse {
    let result = lock(&shared).interact(&body.openid, body.kind, body.at.map(UnixTime));
    match result {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => refused(e),
    }
}

async fn post_blacklist(shared: Shared, body: web::Json<NewFollowers>) -> HttpResponse {
    let result = lock(&shared).blacklist(&body.openids);
    match result {
        Ok(n) => HttpResponse::Ok().json(json!({ "blacklisted": n })),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
struct SendFaults {
    errcodes: Vec<i64>,
}

async fn post_send_faults(shared: Shared, body: web::Json<SendFaults>) -> HttpResponse {
    match lock(&shared).script_send_errors(&body.errcodes) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => refused(e),
    }
}

/// One API call: faults first, then the endpoint's work under the lock.
async fn api(
    shared: Shared,
    endpoint: Endpoint,
    query: ApiQuery,
    body: web::Bytes,
    req: HttpRequest,
) -> HttpResponse {
    let work = |account: &mut Account, base_url: &str| {
        dispatch(account, endpoint, &query, &body, base_url)
    };
    serve_call(shared, endpoint.path(), &req, work).await
}

/// One call to the `/cgi-bin/` endpoint at `path`: faults first (latency, hang, HTTP 500,
/// errcode), then `work` on the locked account (given the sandbox's own base URL), counted
/// by outcome and answered as WeChat answers.
pub(super) async fn serve_call(
    shared: Shared,
    path: &'static str,
    req: &HttpRequest,
    work: impl FnOnce(&mut Account, &str) -> Result<Value, WxError>,
) -> HttpResponse {
    let (plan, rid) = {
        let mut account = lock(&shared);
        (account.plan(path), account.next_request_id())
    };
    if !plan.latency.is_zero() {
        actix_web::rt::time::sleep(plan.latency).await;
    }
    let result = match plan.fault {
        Some(Fault::Hang(hang)) => {
            actix_web::rt::time::sleep(hang).await;
            Err(WxError::Busy)
        }
        Some(Fault::Http500) => {
            return HttpResponse::InternalServerError().body("sandbox: injected http 500");
        }
        Some(Fault::Errcode(e)) => Err(e),
        None => {
            let base_url = {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            };
            let mut account = lock(&shared);
            let result = work(&mut account, &base_url);
            let outcome = result.as_ref().map_or_else(|e| e.code(), |_| 0);
            account.count(path, outcome.to_string());
            result
        }
    };
    match result {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(e) => HttpResponse::Ok().json(error_body(e, rid)),
    }
}

/// WeChat's error answer, with a request id in `errmsg` as WeChat adds one.
fn error_body(e: WxError, rid: u64) -> Value {
    json!({ "errcode": e.code(), "errmsg": format!("{} rid: sandbox-{rid:08x}", e.errmsg()) })
}

pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WxError> {
    serde_json::from_slice(body).map_err(|_| WxError::DataFormat)
}

pub(super) fn ok() -> Value {
    json!({ "errcode": 0, "errmsg": "ok" })
}

fn grant(grant: Grant) -> Value {
    json!({ "access_token": grant.token, "expires_in": grant.expires_in })
}

fn page(total: Option<usize>, page: OpenIdPage) -> Value {
    let mut body = json!({ "count": page.openids.len(), "next_openid": page.next_openid });
    if !page.openids.is_empty() {
        body["data"] = json!({ "openid": page.openids });
    }
    if let Some(total) = total {
        body["total"] = json!(total);
    }
    body
}

#[derive(Deserialize)]
struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Deserialize)]
struct TagBody {
    tag: TagFields,
}

#[derive(Deserialize)]
struct TagFields {
    #[serde(default)]
    id: Option<TagId>,
    #[serde(default)]
    name: Option<String>,
}

impl TagBody {
    fn id(&self) -> Result<TagId, WxError> {
        self.tag.id.ok_or(WxError::InvalidTagId)
    }

    fn name(&self) -> &str {
        self.tag.name.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct BatchBody {
    #[serde(default)]
    openid_list: Vec<String>,
    tagid: TagId,
}

#[derive(Deserialize)]
struct OpenIdBody {
    openid: String,
}

#[derive(Deserialize)]
struct TagMembersBody {
    tagid: TagId,
    #[serde(default)]
    next_openid: String,
}

#[derive(Deserialize)]
struct CustomSendBody {
    touser: String,
    msgtype: String,
}

#[derive(Deserialize)]
struct TemplateSendBody {
    touser: String,
}

#[derive(Deserialize)]
struct BlacklistBody {
    #[serde(default)]
    begin_openid: String,
}

/// The work of one endpoint, on the locked account.
fn dispatch(
    account: &mut Account,
    endpoint: Endpoint,
    query: &ApiQuery,
    body: &[u8],
    base_url: &str,
) -> Result<Value, WxError> {
    if !matches!(endpoint, Endpoint::Token | Endpoint::StableToken) {
        account.authorize(query.access_token.as_deref())?;
    }
    match endpoint {
        Endpoint::Token => account
            .classic_token(
                query.grant_type.as_deref(),
                query.appid.as_deref(),
                query.secret.as_deref(),
            )
            .map(grant),
        Endpoint::StableToken => {
            let req: StableTokenBody = parse(body)?;
            account
                .stable_token(
                    req.grant_type.as_deref(),
                    req.appid.as_deref(),
                    req.secret.as_deref(),
                    req.force_refresh,
                )
                .map(grant)
        }
        Endpoint::TagsCreate => {
            let req: TagBody = parse(body)?;
            let id = account.create_tag(req.name())?;
            Ok(json!({ "tag": { "id": id, "name": req.name() } }))
        }
        Endpoint::TagsGet => {
            let tags: Vec<Value> = account
                .list_tags()
                .into_iter()
                .map(|(id, name, count)| json!({ "id": id, "name": name, "count": count }))
                .collect();
            Ok(json!({ "tags": tags }))
        }
        Endpoint::TagsUpdate => {
            let req: TagBody = parse(body)?;
            account.rename_tag(req.id()?, req.name()).map(|()| ok())
        }
        Endpoint::TagsDelete => {
            let req: TagBody = parse(body)?;
            account.delete_tag(req.id()?).map(|()| ok())
        }
        Endpoint::BatchTagging => {
            let req: BatchBody = parse(body)?;
            account
                .batch_tag(req.tagid, &req.openid_list)
                .map(|()| ok())
        }
        Endpoint::BatchUntagging => {
            let req: BatchBody = parse(body)?;
            account
                .batch_untag(req.tagid, &req.openid_list)
                .map(|()| ok())
        }
        Endpoint::TagIdList => {
            let req: OpenIdBody = parse(body)?;
            let ids = account.user_tags(&req.openid)?;
            Ok(json!({ "tagid_list": ids }))
        }
        Endpoint::TagMembers => {
            let req: TagMembersBody = parse(body)?;
            let members = account.tag_members(req.tagid, &req.next_openid)?;
            Ok(page(None, members))
        }
        Endpoint::Followers => {
            let after = query.next_openid.as_deref().unwrap_or_default();
            let (total, followers) = account.followers_page(after);
            Ok(page(Some(total), followers))
        }
        Endpoint::UserInfo => {
            let openid = query.openid.as_deref().unwrap_or_default();
            let profile = account.profile(openid)?;
            if !profile.subscribed {
                return Ok(json!({ "subscribe": 0, "openid": profile.openid }));
            }
            Ok(json!({
                "subscribe": 1,
                "openid": profile.openid,
                "language": "zh_CN",
                "subscribe_time": profile.subscribe_time,
                "remark": "",
                "groupid": 0,
                "tagid_list": profile.tag_ids,
                "subscribe_scene": "ADD_SCENE_OTHERS",
                "qr_scene": 0,
                "qr_scene_str": "",
            }))
        }
        Endpoint::QrCreate => {
            let spec = QrSpec::from_body(parse::<QrCreateBody>(body)?)?;
            let code = account.create_qrcode(spec, base_url)?;
            let mut answer = json!({ "ticket": code.ticket, "url": code.url });
            if let Some(secs) = code.expire_seconds() {
                answer["expire_seconds"] = json!(secs);
            }
            Ok(answer)
        }
        Endpoint::CustomSend => {
            let whole: Value = parse(body)?;
            let req: CustomSendBody =
                serde_json::from_value(whole.clone()).map_err(|_| WxError::DataFormat)?;
            account
                .send_message(&req.touser, req.msgtype, whole)
                .map(|()| ok())
        }
        Endpoint::TemplateSend => {
            let whole: Value = parse(body)?;
            let req: TemplateSendBody =
                serde_json::from_value(whole.clone()).map_err(|_| WxError::DataFormat)?;
            let msgid = account.send_template(&req.touser, whole)?;
            Ok(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid }))
        }
        Endpoint::Blacklist => {
            let req: BlacklistBody = parse(body)?;
            let (total, listed) = account.blacklist_page(&req.begin_openid);
            Ok(page(Some(total), listed))
        }
    }
}

/// A sandbox-only endpoint's refusal: HTTP 400 with WeChat's error shape.
fn refused(e: WxError) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "errcode": e.code(), "errmsg": e.errmsg() }))
}

async fn get_state(shared: Shared) -> HttpResponse {
    let state = lock(&shared).view();
    HttpResponse::Ok().json(state)
}

async fn post_reset(shared: Shared) -> HttpResponse {
    lock(&shared).reset();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct ConsoleTag {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn post_tag(shared: Shared, body: web::Json<ConsoleTag>) -> HttpResponse {
    let result = lock(&shared).console_tag(&body.name, &body.members);
    match result {
        Ok(id) => HttpResponse::Created().json(json!({ "id": id, "name": body.name })),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
struct NewFollowers {
    openids: Vec<String>,
}

async fn post_followers(shared: Shared, body: web::Json<NewFollowers>) -> HttpResponse {
    let result = lock(&shared).add_followers(&body.openids);
    match result {
        Ok(registered) => HttpResponse::Ok().json(json!({ "registered": registered })),
        Err(e) => refused(e),
    }
}

async fn post_unfollow(shared: Shared, body: web::Json<NewFollowers>) -> HttpResponse {
    let result = lock(&shared).unfollow(&body.openids);
    match result {
        Ok(unfollowed) => HttpResponse::Ok().json(json!({ "unfollowed": unfollowed })),
        Err(e) => refused(e),
    }
}

async fn post_faults(shared: Shared, body: web::Json<Faults>) -> HttpResponse {
    let faults = body.into_inner();
    lock(&shared).set_faults(faults.clone());
    HttpResponse::Ok().json(faults)
}

#[derive(Deserialize)]
struct ClockAdvance {
    advance_secs: u64,
}

async fn post_clock(shared: Shared, body: web::Json<ClockAdvance>) -> HttpResponse {
    lock(&shared).advance_clock(Duration::from_secs(body.advance_secs));
    HttpResponse::NoContent().finish()
}
