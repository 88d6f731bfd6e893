//! The sandbox's in-memory official account: tags, followers, tokens, QR codes, sent messages
//! and call counts, with WeChat's rules and limits.
//!
//! Every method here is synchronous and runs under the sandbox's mutex; the HTTP layer parses
//! requests, takes the lock, calls one method and lets go before it awaits anything.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::errcode::WxError;
use super::faults::{Faults, Plan};
use super::menus::{MenuBook, MenuCode};
use super::messages::{Interaction, Messaging};
use super::oauth::{WebCodes, WebGrant};
use super::qr::{QrCode, QrSpec};
use super::tokens::{Grant, TokenBook};
use super::view::{FollowerView, MessageView, SandboxState, TagView, TokensIssued};
use super::{AccountKind, SandboxConfig, TagNameUnit};
use crate::domain::{OpenId, TagId, UnixTime};
use crate::wechat::limits;

/// Tags WeChat reserves: 0 未分组, 1 黑名单, 2 星标组. Only 2 is listed and can be put on users.
const RESERVED_TAG_IDS: [u32; 3] = [0, 1, 2];

/// The starred tag every account has.
const STAR_TAG: (u32, &str) = (2, "星标组");

/// The first id given to a created tag.
const FIRST_TAG_ID: u32 = 100;

/// A tag with more followers than this cannot be deleted.
const MAX_DELETABLE_MEMBERS: usize = 100_000;

/// Distinct permanent QR codes per account.
const MAX_PERMANENT_QR: usize = 100_000;

/// One tag and who carries it (the only record of who carries what), each follower with
/// when the tag was applied to them (an account-wide sequence), for menus' "the tag applied
/// last wins". Applying a tag a follower already carries does not move it; untag + tag does.
#[derive(Debug, Clone)]
struct Tag {
    name: String,
    members: BTreeMap<OpenId, u64>,
}

/// A user the sandbox knows: tagged once, registered, or unfollowed.
#[derive(Debug, Clone)]
struct Follower {
    subscribe_time: UnixTime,
    /// False once the user unfollowed (until they follow again).
    subscribed: bool,
}

/// What a follower's `user/info` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Profile {
    pub(super) openid: OpenId,
    /// False when the user does not follow; WeChat then sends nothing but the openid.
    pub(super) subscribed: bool,
    pub(super) subscribe_time: UnixTime,
    pub(super) tag_ids: Vec<TagId>,
}

/// One page of openids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OpenIdPage {
    pub(super) openids: Vec<OpenId>,
    /// The last openid of the page; empty when the page is empty.
    pub(super) next_openid: String,
}

/// The official account the sandbox pretends to be.
pub(super) struct Account {
    config: SandboxConfig,
    rng: StdRng,
    clock_offset: Duration,
    tokens: TokenBook,
    tags: BTreeMap<u32, Tag>,
    next_tag_id: u32,
    followers: BTreeMap<OpenId, Follower>,
    qr_codes: Vec<QrCode>,
    messages: Vec<MessageView>,
    calls: BTreeMap<String, BTreeMap<String, u64>>,
    request_ids: u64,
    web_codes: WebCodes,
    messaging: Messaging,
    /// The last tag application's sequence number.
    applied_seq: u64,
    /// The custom menus.
    pub(super) menus: MenuBook,
}

impl Account {
    /// A fresh account with no tags but 星标组, no followers and no tokens.
    pub(super) fn new(config: SandboxConfig) -> Self {
        let rng = match config.faults.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        let tokens = TokenBook::new(
            Duration::from_secs(config.token_ttl_secs),
            Duration::from_secs(config.classic_overlap_secs),
        );
        let (star_id, star_name) = STAR_TAG;
        let tags = BTreeMap::from([(
            star_id,
            Tag {
                name: star_name.to_owned(),
                members: BTreeMap::new(),
            },
        )]);
        Self {
            config,
            rng,
            clock_offset: Duration::ZERO,
            tokens,
            tags,
            next_tag_id: FIRST_TAG_ID,
            followers: BTreeMap::new(),
            qr_codes: Vec::new(),
            messages: Vec::new(),
            calls: BTreeMap::new(),
            request_ids: 0,
            web_codes: WebCodes::default(),
            messaging: Messaging::default(),
            applied_seq: 0,
            menus: MenuBook::default(),
        }
    }

    /// Starts over with the same configuration (and the faults in force now).
    pub(super) fn reset(&mut self) {
        let mut fresh = Self::new(self.config.clone());
        std::mem::swap(&mut fresh.rng, &mut self.rng);
        *self = fresh;
    }

    /// Replaces the faults; a seed in them reseeds the random numbers.
    pub(super) fn set_faults(&mut self, faults: Faults) {
        if let Some(seed) = faults.seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        self.config.faults = faults;
    }

    /// Moves the sandbox's clock forward (to expire tokens without waiting).
    pub(super) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    fn unix_now(&self) -> UnixTime {
        let offset = i64::try_from(self.clock_offset.as_secs()).unwrap_or(i64::MAX);
        UnixTime(UnixTime::now().0.saturating_add(offset))
    }

    /// Rolls the faults for one call to `endpoint`, counting the fault if one came up.
    pub(super) fn plan(&mut self, endpoint: &str) -> Plan {
        let plan = self.config.faults.roll(&mut self.rng);
        if let Some(fault) = plan.fault {
            self.count(endpoint, fault.outcome());
        }
        plan
    }

    /// Counts one answer of `endpoint` (an errcode, `0`, `http_500` or `timeout`).
    pub(super) fn count(&mut self, endpoint: &str, outcome: String) {
        *self
            .calls
            .entry(endpoint.to_owned())
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }

    /// A request id for `errmsg`, as WeChat appends one (`rid: …`).
    pub(super) fn next_request_id(&mut self) -> u64 {
        self.request_ids += 1;
        self.request_ids
    }

    /// Checks the appid and secret a token request carries.
    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), WxError> {
        if grant_type != Some("client_credential") {
            return Err(WxError::InvalidGrantType);
        }
        let appid = appid
            .filter(|a| !a.is_empty())
            .ok_or(WxError::MissingAppid)?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or(WxError::MissingSecret)?;
        if appid != self.config.appid {
            Err(WxError::InvalidAppid)
        } else if secret != self.config.secret.expose() {
            Err(WxError::InvalidAppsecret)
        } else {
            Ok(())
        }
    }

    /// The AppID this account accepts.
    pub(super) fn appid(&self) -> &str {
        &self.config.appid
    }

    /// Up to `n` followers who follow now, by openid: whom the authorisation page offers.
    pub(super) fn some_followers(&self, n: usize) -> Vec<OpenId> {
        self.followers
            .iter()
            .filter(|(_, f)| f.subscribed)
            .map(|(openid, _)| openid.clone())
            .take(n)
            .collect()
    }

    /// A web authorisation code for the browser's user (`GET /connect/oauth2/authorize`).
    pub(super) fn issue_web_code(
        &mut self,
        openid: OpenId,
        unionid: Option<String>,
        scope: &str,
    ) -> String {
        let now = self.now();
        self.web_codes
            .issue(openid, unionid, scope, now, &mut self.rng)
    }

    /// `GET /sns/oauth2/access_token`: the grant type, appid and secret checked as the token
    /// endpoints check them, then the code used up.
    pub(super) fn exchange_web_code(
        &mut self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        code: Option<&str>,
    ) -> Result<WebGrant, WxError> {
        if grant_type != Some("authorization_code") {
            return Err(WxError::InvalidGrantType);
        }
        self.check_credentials(Some("client_credential"), appid, secret)?;
        let code = code.filter(|c| !c.is_empty()).ok_or(WxError::MissingCode)?;
        let now = self.now();
        self.web_codes.redeem(code, now)
    }

    /// `GET /cgi-bin/token`.
    pub(super) fn classic_token(
        &mut self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<Grant, WxError> {
        self.check_credentials(grant_type, appid, secret)?;
        let now = self.now();
        Ok(self.tokens.classic(now, &mut self.rng))
    }

    /// `POST /cgi-bin/stable_token`.
    pub(super) fn stable_token(
        &mut self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        force_refresh: bool,
    ) -> Result<Grant, WxError> {
        self.check_credentials(grant_type, appid, secret)?;
        let now = self.now();
        Ok(self.tokens.stable(force_refresh, now, &mut self.rng))
    }

    /// Checks the `access_token` of an API call.
    pub(super) fn authorize(&self, token: Option<&str>) -> Result<(), WxError> {
        self.tokens.check(token, self.now())
    }

    /// Parses an openid of this account: well-formed and without the invalid prefix.
    fn user_id(&self, raw: &str) -> Result<OpenId, WxError> {
        let openid = OpenId::parse(raw).map_err(|_| WxError::InvalidOpenid)?;
        let prefix = &self.config.invalid_openid_prefix;
        if !prefix.is_empty() && raw.starts_with(prefix.as_str()) {
            return Err(WxError::InvalidOpenid);
        }
        Ok(openid)
    }

    fn user_ids(&self, raw: &[impl AsRef<str>]) -> Result<Vec<OpenId>, WxError> {
        raw.iter().map(|r| self.user_id(r.as_ref())).collect()
    }

    /// Parses an openid and checks it is a follower: a user of this account who did not
    /// unfollow (WeChat answers 40003 for a user who unfollowed).
    fn follower_id(&self, raw: &str) -> Result<OpenId, WxError> {
        let openid = self.user_id(raw)?;
        if self.followers.get(&openid).is_some_and(|f| !f.subscribed) {
            return Err(WxError::InvalidOpenid);
        }
        Ok(openid)
    }

    /// Registers followers (the sandbox's stand-in for people following the account, again
    /// for those who unfollowed): all or none; returns how many were new.
    pub(super) fn add_followers(&mut self, raw: &[impl AsRef<str>]) -> Result<usize, WxError> {
        let openids = self.user_ids(raw)?;
        let now = self.unix_now();
        for openid in &openids {
            if let Some(follower) = self.followers.get_mut(openid)
                && !follower.subscribed
            {
                follower.subscribed = true;
                follower.subscribe_time = now;
            }
        }
        Ok(self.register(&openids))
    }

    /// Users unfollow, all or none: as on WeChat, they lose every tag, and tagging them or
    /// reading their tags answers 40003 until they follow again. Returns how many followed.
    pub(super) fn unfollow(&mut self, raw: &[impl AsRef<str>]) -> Result<usize, WxError> {
        let openids = self.user_ids(raw)?;
        let subscribe_time = self.unix_now();
        let mut unfollowed = 0;
        for openid in openids {
            for tag in self.tags.values_mut() {
                tag.members.remove(&openid);
            }
            let follower = self.followers.entry(openid).or_insert(Follower {
                subscribe_time,
                subscribed: true,
            });
            if follower.subscribed {
                follower.subscribed = false;
                unfollowed += 1;
            }
        }
        Ok(unfollowed)
    }

    fn follower_ids(&self, raw: &[impl AsRef<str>]) -> Result<Vec<OpenId>, WxError> {
        raw.iter().map(|r| self.follower_id(r.as_ref())).collect()
    }

    /// Makes the openids followers (idempotent); returns how many were new.
    fn register(&mut self, openids: &[OpenId]) -> usize {
        let subscribe_time = self.unix_now();
        let mut new = 0;
        for openid in openids {
            if !self.followers.contains_key(openid) {
                self.followers.insert(
                    openid.clone(),
                    Follower {
                        subscribe_time,
                        subscribed: true,
                    },
                );
                new += 1;
            }
        }
        new
    }

    fn check_tag_name(&self, name: &str, renaming: Option<u32>) -> Result<(), WxError> {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(WxError::InvalidTagName);
        }
        let len = match self.config.tag_name_unit {
            TagNameUnit::Chars => name.chars().count(),
            TagNameUnit::Bytes => name.len(),
        };
        if len > limits::TAG_NAME_LEN {
            return Err(WxError::TagNameTooLong);
        }
        let taken = self
            .tags
            .iter()
            .any(|(id, tag)| tag.name == name && Some(*id) != renaming);
        if taken {
            return Err(WxError::InvalidTagName);
        }
        Ok(())
    }

    /// `tags/create`: checks the name, then the 100-tag limit.
    pub(super) fn create_tag(&mut self, name: &str) -> Result<TagId, WxError> {
        self.check_tag_name(name, None)?;
        let created = self
            .tags
            .keys()
            .filter(|id| !RESERVED_TAG_IDS.contains(id))
            .count();
        if created >= limits::TAGS_PER_ACCOUNT {
            return Err(WxError::TooManyTags);
        }
        let id = self.next_tag_id;
        self.next_tag_id += 1;
        self.tags.insert(
            id,
            Tag {
                name: name.to_owned(),
                members: BTreeMap::new(),
            },
        );
        Ok(TagId(id))
    }

    /// `tags/get`: every tag with its follower count, 星标组 first.
    pub(super) fn list_tags(&self) -> Vec<(TagId, String, usize)> {
        self.tags
            .iter()
            .map(|(id, tag)| (TagId(*id), tag.name.clone(), tag.members.len()))
            .collect()
    }

    fn changeable_tag(&self, id: TagId) -> Result<u32, WxError> {
        if RESERVED_TAG_IDS.contains(&id.0) {
            Err(WxError::SystemTag)
        } else if self.tags.contains_key(&id.0) {
            Ok(id.0)
        } else {
            Err(WxError::InvalidTagId)
        }
    }

    /// `tags/update`.
    pub(super) fn rename_tag(&mut self, id: TagId, name: &str) -> Result<(), WxError> {
        let id = self.changeable_tag(id)?;
        self.check_tag_name(name, Some(id))?;
        if let Some(tag) = self.tags.get_mut(&id) {
            tag.name = name.to_owned();
        }
        Ok(())
    }

    /// `tags/delete`: the tag goes, and with it from all its followers.
    pub(super) fn delete_tag(&mut self, id: TagId) -> Result<(), WxError> {
        let id = self.changeable_tag(id)?;
        if self
            .tags
            .get(&id)
            .is_some_and(|t| t.members.len() > MAX_DELETABLE_MEMBERS)
        {
            return Err(WxError::TagTooBig);
        }
        self.tags.remove(&id);
        Ok(())
    }

    /// A tag that can be put on followers: 星标组 or a created tag.
    fn taggable(&self, id: TagId) -> Result<u32, WxError> {
        if id.0 == STAR_TAG.0 || self.changeable_tag(id).is_ok() {
            Ok(id.0)
        } else {
            Err(WxError::InvalidTagId)
        }
    }

    /// Checks a batch's openids: 1 to 50, each a follower's.
    fn batch_ids(&self, raw: &[String]) -> Result<Vec<OpenId>, WxError> {
        if raw.is_empty() || raw.len() > limits::OPENIDS_PER_TAGGING_CALL {
            return Err(WxError::InvalidOpenidList);
        }
        self.follower_ids(raw)
    }

    /// `tags/members/batchtagging`: all or nothing; nobody may end up with more than 20 tags.
    pub(super) fn batch_tag(&mut self, id: TagId, raw: &[String]) -> Result<(), WxError> {
        let id = self.taggable(id)?;
        let openids = self.batch_ids(raw)?;
        self.tag_users(id, &openids)
    }

    /// True when putting tag `id` on the openids would give one of them more than 20 tags.
    fn would_overflow(&self, id: u32, openids: &[OpenId]) -> bool {
        openids.iter().any(|openid| {
            let has_it = self
                .tags
                .get(&id)
                .is_some_and(|t| t.members.contains_key(openid));
            !has_it && self.tags_of(openid).len() >= limits::TAGS_PER_USER
        })
    }

    /// Puts tag `id` on the openids (registering them) unless one would pass 20 tags.
    fn tag_users(&mut self, id: u32, openids: &[OpenId]) -> Result<(), WxError> {
        if self.would_overflow(id, openids) {
            return Err(WxError::UserTagLimit);
        }
        self.register(openids);
        if let Some(tag) = self.tags.get_mut(&id) {
            for openid in openids {
                tag.members.entry(openid.clone()).or_insert_with(|| {
                    self.applied_seq += 1;
                    self.applied_seq
                });
            }
        }
        Ok(())
    }

    /// `tags/members/batchuntagging`: taking off a tag someone lacks is fine.
    pub(super) fn batch_untag(&mut self, id: TagId, raw: &[String]) -> Result<(), WxError> {
        let id = self.taggable(id)?;
        let openids = self.batch_ids(raw)?;
        if let Some(tag) = self.tags.get_mut(&id) {
            for openid in &openids {
                tag.members.remove(openid);
            }
        }
        Ok(())
    }

    /// The tag ids a follower carries, ascending.
    fn tags_of(&self, openid: &OpenId) -> Vec<TagId> {
        self.tags
            .iter()
            .filter(|(_, tag)| tag.members.contains_key(openid))
            .map(|(id, _)| TagId(*id))
            .collect()
    }

    /// `tags/getidlist`.
    pub(super) fn user_tags(&self, raw: &str) -> Result<Vec<TagId>, WxError> {
        Ok(self.tags_of(&self.follower_id(raw)?))
    }

    /// `user/tag/get`: a tag's followers after `next_openid`, one page.
    pub(super) fn tag_members(&self, id: TagId, next_openid: &str) -> Result<OpenIdPage, WxError> {
        let id = self.taggable(id)?;
        let members = self.tags.get(&id).map(|t| t.members.keys());
        Ok(self.page(members.into_iter().flatten(), next_openid))
    }

    /// `user/get`: the followers after `next_openid`, one page, and how many there are
    /// (users who unfollowed are not followers).
    pub(super) fn followers_page(&self, next_openid: &str) -> (usize, OpenIdPage) {
        let following = || {
            self.followers
                .iter()
                .filter(|(_, f)| f.subscribed)
                .map(|(openid, _)| openid)
        };
        (following().count(), self.page(following(), next_openid))
    }

    /// The openids (in ascending order) after `after`, at most one page of them.
    fn page<'a>(&self, sorted: impl Iterator<Item = &'a OpenId>, after: &str) -> OpenIdPage {
        let openids: Vec<OpenId> = sorted
            .filter(|openid| after.is_empty() || openid.as_str() > after)
            .take(self.config.page_size.max(1))
            .cloned()
            .collect();
        let next_openid = openids
            .last()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        OpenIdPage {
            openids,
            next_openid,
        }
    }

    /// `user/info`: any well-formed openid without the invalid prefix follows, unless it
    /// unfollowed.
    pub(super) fn profile(&self, raw: &str) -> Result<Profile, WxError> {
        let openid = self.user_id(raw)?;
        let known = self.followers.get(&openid);
        Ok(Profile {
            tag_ids: self.tags_of(&openid),
            subscribed: known.is_none_or(|f| f.subscribed),
            subscribe_time: known.map_or_else(|| self.unix_now(), |f| f.subscribe_time),
            openid,
        })
    }

    /// `qrcode/create`: a permanent code for a scene already used gets its old ticket back.
    pub(super) fn create_qrcode(
        &mut self,
        spec: QrSpec,
        base_url: &str,
    ) -> Result<QrCode, WxError> {
        if spec.is_permanent() {
            if let Some(existing) = self.qr_codes.iter().find(|q| q.spec == spec) {
                return Ok(existing.clone());
            }
            let permanent = self
                .qr_codes
                .iter()
                .filter(|q| q.spec.is_permanent())
                .count();
            if permanent >= MAX_PERMANENT_QR {
                return Err(WxError::QrLimit);
            }
        }
        let code = QrCode::new(spec, self.qr_codes.len() + 1, base_url);
        self.qr_codes.push(code.clone());
        Ok(code)
    }

    /// True unless the user unfollowed.
    fn follows(&self, openid: &OpenId) -> bool {
        self.followers.get(openid).is_none_or(|f| f.subscribed)
    }

    /// `message/custom/send`: inside a window with room (see `messages.rs`), recorded, not
    /// delivered anywhere.
    pub(super) fn send_message(
        &mut self,
        touser: &str,
        msgtype: String,
        body: serde_json::Value,
    ) -> Result<(), WxError> {
        let touser = self.user_id(touser)?;
        let (follows, now) = (self.follows(&touser), self.unix_now());
        self.messaging.custom(&touser, follows, now)?;
        self.messages.push(MessageView {
            touser,
            msgtype,
            body,
        });
        Ok(())
    }

    /// `message/template/send`: a verified service account's, its `data` checked; recorded
    /// (as `msgtype` `template`), not delivered anywhere. Answers the `msgid`.
    pub(super) fn send_template(
        &mut self,
        touser: &str,
        body: serde_json::Value,
    ) -> Result<u64, WxError> {
        let touser = self.user_id(touser)?;
        let allowed = self.config.verified && self.config.account_kind == AccountKind::Service;
        let follows = self.follows(&touser);
        let msgid = self.messaging.template(&touser, follows, allowed, &body)?;
        self.messages.push(MessageView {
            touser,
            msgtype: "template".to_owned(),
            body,
        });
        Ok(msgid)
    }

    /// `POST /sandbox/interactions`: the user did something, at `at` (now when not given).
    pub(super) fn interact(
        &mut self,
        raw: &str,
        kind: Interaction,
        at: Option<UnixTime>,
    ) -> Result<(), WxError> {
        let openid = self.user_id(raw)?;
        let at = at.unwrap_or_else(|| self.unix_now());
        self.messaging.interact(openid, kind, at);
        Ok(())
    }

    /// `POST /sandbox/blacklist`: users blacklist the account, all or none; returns how many
    /// were new on it.
    pub(super) fn blacklist(&mut self, raw: &[impl AsRef<str>]) -> Result<usize, WxError> {
        let openids = self.user_ids(raw)?;
        Ok(self.messaging.blacklist(openids))
    }

    /// `tags/members/getblacklist`: the blacklist after `begin`, one page, and its size.
    pub(super) fn blacklist_page(&self, begin: &str) -> (usize, OpenIdPage) {
        let total = self.messaging.blacklisted().count();
        (total, self.page(self.messaging.blacklisted(), begin))
    }

    /// `POST /sandbox/send_faults`: the next message sends answer these errcodes, in order.
    pub(super) fn script_send_errors(&mut self, codes: &[i64]) -> Result<(), WxError> {
        let errors = codes
            .iter()
            .map(|&code| WxError::of_send(code).ok_or(WxError::DataFormat))
            .collect::<Result<Vec<_>, _>>()?;
        self.messaging.script(errors);
        Ok(())
    }

    /// The staff console's "new tag": create it and tag the members, without the 50-per-call
    /// limit but with every other rule.
    pub(super) fn console_tag(
        &mut self,
        name: &str,
        members: &[impl AsRef<str>],
    ) -> Result<TagId, WxError> {
        let openids = self.follower_ids(members)?;
        // The new tag's id is not in use yet, so this asks whether anyone already has 20 tags.
        if self.would_overflow(self.next_tag_id, &openids) {
            return Err(WxError::UserTagLimit);
        }
        let id = self.create_tag(name)?;
        self.tag_users(id.0, &openids)?;
        Ok(id)
    }

    /// Everything the sandbox holds, for `GET /sandbox/state`.
    pub(super) fn view(&self) -> SandboxState {
        SandboxState {
            tags: self
                .tags
                .iter()
                .map(|(id, tag)| TagView {
                    id: TagId(*id),
                    name: tag.name.clone(),
                    members: tag.members.keys().cloned().collect(),
                })
                .collect(),
            followers: self
                .followers
                .keys()
                .map(|openid| FollowerView {
                    openid: openid.clone(),
                    tagid_list: self.tags_of(openid),
                })
                .collect(),
            calls: self.calls.clone(),
            tokens_issued: TokensIssued {
                classic: self.tokens.classic_issued,
                stable: self.tokens.stable_issued,
            },
            qrcodes: self.qr_codes.iter().map(QrCode::view).collect(),
            messages: self.messages.clone(),
            blacklist: self.messaging.blacklisted().cloned().collect(),
            faults: self.config.faults.clone(),
            menus: self.menus.view(),
        }
    }

    /// Whether a tag with this id exists (星标组 included).
    pub(super) fn has_tag(&self, id: TagId) -> bool {
        self.tags.contains_key(&id.0)
    }

    /// `menu/trymatch`'s user: a follower of the account (65302 otherwise), with the tag
    /// applied to them last, if they carry any.
    pub(super) fn menu_user(&self, raw: &str) -> Result<Option<TagId>, WxError> {
        let no_user = WxError::Menu(MenuCode::NO_SUCH_USER);
        let openid = self.user_id(raw).map_err(|_| no_user)?;
        if !self.followers.get(&openid).is_some_and(|f| f.subscribed) {
            return Err(no_user);
        }
        let last = (self.tags.iter())
            .filter_map(|(id, tag)| tag.members.get(&openid).map(|seq| (*seq, *id)))
            .max();
        Ok(last.map(|(_, id)| TagId(id)))
    }
}
