//! The sandbox's messages to one follower, with WeChat's rules (engagement §5): the windows
//! a user's action opens and their counts for `message/custom/send`, template messages for
//! verified service accounts with the `data` shape checked, and the blacklist.
//!
//! The sandbox must know what each user did to model the windows: WeChat sees every action
//! before it pushes it, and the sandbox is told through `POST /sandbox/interactions`
//! (`wxtag send` and the tests tell it of each push they make). The rules:
//!
//! - a `message` (text, voice, image, …) opens a window of 5 messages for 48 hours; a
//!   `follow`, `scan` or `click` (`click`, `scancode_push`, `scancode_waitmsg`) one of 3 for
//!   one minute; a later action of the same kind opens that window afresh;
//! - a customer-service message is accepted while some open window has room, and counts
//!   against every window open then (WeChat does not document how windows combine; this is
//!   the reading wxtag counts by, so the sandbox shows a send that breaks it);
//! - 43019 for a blacklisted user, 43004 for one who unfollowed, 45015 outside every window,
//!   45047 when the windows' messages are spent;
//! - templates: 48001 on an account that is not a verified service account, 40037 for an
//!   empty template id, 47003 for a `data` value that is not `{"value": string}`; each gets a
//!   `msgid`. Neither kind of message is delivered anywhere: `/sandbox/state` lists them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use super::errcode::WxError;
use crate::domain::{OpenId, UnixTime};

/// How long a user message's window lasts (s), and the messages it allows.
const MESSAGE_WINDOW: (i64, u32) = (48 * 3600, 5);

/// How long a follow's, scan's or click's window lasts (s), and the messages it allows.
const INTERACTION_WINDOW: (i64, u32) = (60, 3);

/// What a user did, as `POST /sandbox/interactions` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interaction {
    /// Sent a message (text, voice, image, …).
    Message,
    /// Followed the account.
    Follow,
    /// Scanned a QR code.
    Scan,
    /// Clicked a `click` or `scancode_*` menu button.
    Click,
}

/// One window: when it opened and what was spent against it.
#[derive(Debug, Clone, Copy)]
struct Opened {
    at: i64,
    spent: u32,
}

/// A user's two windows.
#[derive(Debug, Clone, Copy, Default)]
struct Windows {
    message: Option<Opened>,
    interaction: Option<Opened>,
}

impl Windows {
    /// The windows open at `now`, each with its limit.
    fn open(&mut self, now: i64) -> Vec<(&mut Opened, u32)> {
        let windows = [
            (self.message.as_mut(), MESSAGE_WINDOW),
            (self.interaction.as_mut(), INTERACTION_WINDOW),
        ];
        windows
            .into_iter()
            .filter_map(|(opened, (secs, limit))| {
                opened.filter(|o| now < o.at + secs).map(|o| (o, limit))
            })
            .collect()
    }
}

/// The account's messaging: windows per user, the blacklist, template ids, scripted errors.
#[derive(Debug, Default)]
pub(super) struct Messaging {
    windows: BTreeMap<OpenId, Windows>,
    blacklist: BTreeSet<OpenId>,
    next_msgid: u64,
    /// Errors the next message sends answer, in order, before any rule is checked.
    scripted: VecDeque<WxError>,
}

impl Messaging {
    /// The user did something at `at`: the window of its kind opens afresh.
    pub(super) fn interact(&mut self, openid: OpenId, kind: Interaction, at: UnixTime) {
        let windows = self.windows.entry(openid).or_default();
        let slot = match kind {
            Interaction::Message => &mut windows.message,
            Interaction::Follow | Interaction::Scan | Interaction::Click => {
                &mut windows.interaction
            }
        };
        if slot.is_none_or(|o| o.at < at.0) {
            *slot = Some(Opened { at: at.0, spent: 0 });
        }
    }

    /// Users blacklist the account.
    pub(super) fn blacklist(&mut self, openids: Vec<OpenId>) -> usize {
        openids
            .into_iter()
            .filter(|o| self.blacklist.insert(o.clone()))
            .count()
    }

    /// The blacklist, in openid order.
    pub(super) fn blacklisted(&self) -> impl Iterator<Item = &OpenId> {
        self.blacklist.iter()
    }

    /// The next message sends answer these errors, in order.
    pub(super) fn script(&mut self, errors: Vec<WxError>) {
        self.scripted.extend(errors);
    }

    /// Checks the user before any message: a scripted error, 43019, 43004.
    fn reachable(&mut self, openid: &OpenId, subscribed: bool) -> Result<(), WxError> {
        if let Some(error) = self.scripted.pop_front() {
            return Err(error);
        }
        if self.blacklist.contains(openid) {
            return Err(WxError::Blacklisted);
        }
        if !subscribed {
            return Err(WxError::RequireSubscribe);
        }
        Ok(())
    }

    /// `message/custom/send` to a user (`subscribed`: follows now): a slot of an open
    /// window with room is spent, counted against every open window.
    pub(super) fn custom(
        &mut self,
        openid: &OpenId,
        subscribed: bool,
        now: UnixTime,
    ) -> Result<(), WxError> {
        self.reachable(openid, subscribed)?;
        let mut open = self
            .windows
            .get_mut(openid)
            .map(|w| w.open(now.0))
            .unwrap_or_default();
        if open.is_empty() {
            return Err(WxError::OutsideWindow);
        }
        if !open.iter().any(|(o, limit)| o.spent < *limit) {
            return Err(WxError::WindowUsed);
        }
        for (opened, _) in &mut open {
            opened.spent += 1;
        }
        Ok(())
    }

    /// `message/template/send`: the account may send templates (`allowed`), the template id
    /// and `data` are checked; answers the `msgid`.
    pub(super) fn template(
        &mut self,
        openid: &OpenId,
        subscribed: bool,
        allowed: bool,
        body: &Value,
    ) -> Result<u64, WxError> {
        if !allowed {
            return Err(WxError::ApiUnauthorized);
        }
        self.reachable(openid, subscribed)?;
        let template_id = body.get("template_id").and_then(Value::as_str);
        if template_id.is_none_or(str::is_empty) {
            return Err(WxError::InvalidTemplateId);
        }
        let fields_ok = match body.get("data") {
            None => true,
            Some(Value::Object(fields)) => fields.values().all(|field| {
                field.as_object().is_some_and(|f| {
                    f.get("value").is_some_and(Value::is_string)
                        && f.keys().all(|k| k == "value" || k == "color")
                })
            }),
            Some(_) => false,
        };
        if !fields_ok {
            return Err(WxError::ArgumentInvalid);
        }
        self.next_msgid += 1;
        Ok(self.next_msgid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead() -> OpenId {
        OpenId::parse("oLead").unwrap()
    }

    #[test]
    fn a_message_allows_five_in_48_hours_and_a_follow_three_in_a_minute() {
        let mut m = Messaging::default();
        assert_eq!(
            m.custom(&lead(), true, UnixTime(1000)),
            Err(WxError::OutsideWindow)
        );
        m.interact(lead(), Interaction::Message, UnixTime(1000));
        for at in 0..5 {
            assert_eq!(m.custom(&lead(), true, UnixTime(1001 + at)), Ok(()));
        }
        assert_eq!(
            m.custom(&lead(), true, UnixTime(1010)),
            Err(WxError::WindowUsed)
        );
        assert_eq!(
            m.custom(&lead(), true, UnixTime(1000 + 48 * 3600)),
            Err(WxError::OutsideWindow)
        );
        m.interact(lead(), Interaction::Follow, UnixTime(500_000));
        for at in 0..3 {
            assert_eq!(m.custom(&lead(), true, UnixTime(500_001 + at)), Ok(()));
        }
        assert_eq!(
            m.custom(&lead(), true, UnixTime(500_010)),
            Err(WxError::WindowUsed)
        );
        assert_eq!(
            m.custom(&lead(), true, UnixTime(500_061)),
            Err(WxError::OutsideWindow)
        );
    }

    #[test]
    fn blacklisted_and_unfollowed_users_are_refused_and_template_data_is_checked() {
        let mut m = Messaging::default();
        m.interact(lead(), Interaction::Message, UnixTime(10));
        assert_eq!(
            m.custom(&lead(), false, UnixTime(11)),
            Err(WxError::RequireSubscribe)
        );
        m.blacklist(vec![lead()]);
        assert_eq!(
            m.custom(&lead(), true, UnixTime(11)),
            Err(WxError::Blacklisted)
        );
        let other = OpenId::parse("oOther").unwrap();
        let good = serde_json::json!({"template_id": "T1", "data": {"k": {"value": "v"}}});
        assert_eq!(m.template(&other, true, true, &good), Ok(1));
        assert_eq!(
            m.template(&other, true, false, &good),
            Err(WxError::ApiUnauthorized)
        );
        let bad = serde_json::json!({"template_id": "T1", "data": {"k": "v"}});
        assert_eq!(
            m.template(&other, true, true, &bad),
            Err(WxError::ArgumentInvalid)
        );
    }
}
