//! Every label of the dashboard, one table per language: Chinese ([`ZH`], the default) and
//! English ([`EN`]).
//!
//! `?lang=en` (or `?lang=zh`; on the login page, in the `next` page it returns to) picks a
//! table and is remembered in the `wxtag_lang` cookie, so the choice carries over through
//! the dashboard's links, forms and redirects; without either, a browser whose first
//! `Accept-Language` is English gets English, anything else Chinese. A label with a value
//! inside is a [`Pattern`]; templates escape what it makes.

use std::fmt::Display;
use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpRequest, dev::Payload, http::header, web};
use serde::Deserialize;

use super::PageError;
use crate::admin::channels::ORGANIC_NAME;

/// The cookie that remembers a `?lang=` choice.
pub const LANG_COOKIE: &str = "wxtag_lang";

/// How long the language choice is remembered.
const LANG_COOKIE_DAYS: i64 = 365;

/// A label with one value inside, written `{}` where the value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern(&'static str);

impl Pattern {
    /// The label with `value` in its place, as plain text (the template escapes all of it).
    pub fn fill(&self, value: impl Display) -> String {
        format!("{}{value}{}", self.before(), self.after())
    }

    /// The text before the value, for markup around the value.
    pub fn before(&self) -> &'static str {
        self.0.split_once("{}").map_or(self.0, |(before, _)| before)
    }

    /// The text after the value.
    pub fn after(&self) -> &'static str {
        self.0.split_once("{}").map_or("", |(_, after)| after)
    }
}

/// The labels of one language, grouped by page.
#[derive(Debug)]
pub struct Words {
    // The frame of every page, and the login page.
    /// The `lang` attribute of the page.
    pub html_lang: &'static str,
    /// The navigation's entries: the channels page (also its title).
    pub nav_channels: &'static str,
    /// The lead list (also its title, and the way back to it from a lead).
    pub nav_leads: &'static str,
    /// The tags page (also its title, and the tags section of a lead).
    pub nav_tags: &'static str,
    /// The CSV export.
    pub nav_export: &'static str,
    /// The logout button.
    pub logout: &'static str,
    /// The login page: its title and button.
    pub login: &'static str,
    /// What the dashboard is, under the login title.
    pub login_subtitle: &'static str,
    /// The token field's label.
    pub token_label: &'static str,
    /// A wrong token (a fixed HTML fragment, written here, never user input).
    pub wrong_token_html: &'static str,
    /// Too many login attempts (plain text).
    pub throttled: &'static str,
    // Shared by several pages.
    /// A lead that follows the account.
    pub subscribed: &'static str,
    /// A lead that unfollowed.
    pub unsubscribed: &'static str,
    /// A lead first seen outside the chat (a link, a form, an event) that has not followed.
    pub never_followed: &'static str,
    /// A filter's "any value".
    pub all: &'static str,
    /// A column or field holding one tag.
    pub col_tag: &'static str,
    /// A column or field holding one channel.
    pub col_channel: &'static str,
    /// Where a lead or tag came from.
    pub col_source: &'static str,
    /// When something happened.
    pub col_time: &'static str,
    /// A column holding one lead.
    pub col_lead: &'static str,
    /// A lead's last interaction.
    pub last_seen: &'static str,
    /// No tag to list.
    pub no_tags: &'static str,
    /// Anything the dashboard has no name for.
    pub other: &'static str,
    /// The channel of follows through no QR code.
    pub organic: &'static str,
    // The channels page.
    /// The range form: its start date.
    pub from: &'static str,
    /// The range form: its end date.
    pub to: &'static str,
    /// The range form's button.
    pub show: &'static str,
    /// A preset range: the last 7 days.
    pub last_7_days: &'static str,
    /// A preset range: last calendar week.
    pub last_week: &'static str,
    /// A preset range: this month.
    pub this_month: &'static str,
    /// A preset range: the last 30 days.
    pub last_30_days: &'static str,
    /// A range that cannot be shown, with why.
    pub bad_dates: Pattern,
    /// Between the two dates of the summary.
    pub until: &'static str,
    /// The channel that brought the most new leads (the value is marked up).
    pub best_channel: Pattern,
    /// No channel brought a new lead.
    pub no_new_leads: &'static str,
    /// Before the summary's totals.
    pub in_all: &'static str,
    /// The chart's title, around the metric's name.
    pub per_day: Pattern,
    /// The chart has nothing to show, around the metric's name.
    pub none_in_range: Pattern,
    /// The chart's description for screen readers, around the metric's name.
    pub chart_description: Pattern,
    /// The table's title.
    pub by_channel: &'static str,
    /// The counter of new leads (a column and a chart metric).
    pub leads: &'static str,
    /// The counter of follows.
    pub follows: &'static str,
    /// The counter of scans by followers.
    pub scans: &'static str,
    /// The counter of link clicks and form submits through a channel (`?ch=`).
    pub visits: &'static str,
    /// In a link channel's QR column: it has no code, its links carry `?ch=`.
    pub link_channel: &'static str,
    /// The counter of unfollows.
    pub unfollows: &'static str,
    /// Follows minus unfollows.
    pub net: &'static str,
    /// The column of QR code downloads.
    pub col_qr: &'static str,
    /// A QR code's download link.
    pub download_png: &'static str,
    /// The table's totals row.
    pub total: &'static str,
    /// What each counter means.
    pub channels_note: &'static str,
    /// The funnel table's title.
    pub funnel_title: &'static str,
    /// The funnel form's stage picker.
    pub funnel_stage: &'static str,
    /// The funnel's form step: leads that submitted a form.
    pub funnel_form: &'static str,
    /// The funnel's stage column, around the stage tag.
    pub funnel_reached: Pattern,
    /// The funnel's tag column, around the tag.
    pub funnel_holding: Pattern,
    /// What the funnel counts.
    pub funnel_note: &'static str,
    /// The funnel stopped at its cap, around how many leads it examined.
    pub funnel_incomplete: Pattern,
    /// A stage or tag the funnel cannot count, with why.
    pub bad_funnel: Pattern,
    // The lead list.
    /// The subscription filter and column.
    pub status: &'static str,
    /// The search button.
    pub search: &'static str,
    /// The search found nothing.
    pub no_leads_match: &'static str,
    /// The link to the next page of leads.
    pub next_page: &'static str,
    /// No lead has the openid searched for.
    pub no_lead: Pattern,
    /// The openid searched for is malformed, with why.
    pub bad_openid: Pattern,
    /// A tag name is malformed, with why.
    pub bad_tag: Pattern,
    /// A tag form that would add or remove a derived tag: the tag (and its rule).
    pub derived_tag: Pattern,
    /// A channel is malformed, with why.
    pub bad_channel: Pattern,
    // One lead's page.
    /// The page's title, before the openid.
    pub lead_title: &'static str,
    /// The channel the lead came through first.
    pub first_source: &'static str,
    /// Every channel the lead came through.
    pub channel_path: &'static str,
    /// The lead came through no channel.
    pub no_path: &'static str,
    /// When the lead was first seen.
    pub first_seen: &'static str,
    /// The last location the lead sent.
    pub last_location: &'static str,
    /// The lead's UnionID (from web authorisation).
    pub unionid: &'static str,
    /// The id another system (a CRM) knows the lead by.
    pub external_id: &'static str,
    /// The lead asked not to be contacted: no send or broadcast reaches it.
    pub do_not_contact: &'static str,
    /// WeChat said the user blacklisted the account: sends skip the lead.
    pub blacklisted: &'static str,
    /// Why a tag was applied.
    pub why_column: &'static str,
    /// The button that removes sales' own tag.
    pub remove: &'static str,
    /// The remove button's description, around the tag's name.
    pub remove_tag: Pattern,
    /// The form that adds a sales tag.
    pub add_tag_label: &'static str,
    /// Example tag names in the empty field.
    pub add_tag_example: &'static str,
    /// The add button.
    pub add: &'static str,
    /// What happens to sales' tags.
    pub add_tag_note: &'static str,
    /// The lead's score, decayed to now.
    pub score: &'static str,
    /// The lead's lifecycle stage.
    pub stage: &'static str,
    /// Marks a tag the rules over time give and take (no remove button).
    pub derived: &'static str,
    /// What derived tags are, under a lead's tags.
    pub derived_note: &'static str,
    /// The timeline's title.
    pub timeline: &'static str,
    /// An empty timeline.
    pub no_events: &'static str,
    // Why a tag was applied.
    /// A follow of the account.
    pub why_follow: &'static str,
    /// A channel's QR code.
    pub why_qr: &'static str,
    /// A link opened through a link channel (`[[channel]]`, `?ch=`).
    pub why_channel: &'static str,
    /// A menu click.
    pub why_click: &'static str,
    /// A menu link.
    pub why_view: &'static str,
    /// A tracked link's click.
    pub why_link: &'static str,
    /// A lead form submitted.
    pub why_form: &'static str,
    /// The lead page's form fields section.
    pub fields_title: &'static str,
    /// The form fields' column: the field's name.
    pub col_field: &'static str,
    /// The form fields' column: what was entered.
    pub col_value: &'static str,
    /// The form fields' column: the form it came through.
    pub col_form: &'static str,
    /// A field whose submitter was known by the form link's token, which a forward carries.
    pub identity_link: &'static str,
    /// A keyword the lead wrote.
    pub why_keyword: &'static str,
    /// Sales added it.
    pub why_admin: &'static str,
    /// A rule tag (`[[rule]]`); also the kind of a preview row.
    pub why_rule: &'static str,
    /// A value tier (`[[tiers]]`).
    pub why_tiers: &'static str,
    /// A lifecycle stage (`[lifecycle]`).
    pub why_lifecycle: &'static str,
    /// A behaviour preference (`[[preference]]`).
    pub why_preference: &'static str,
    /// A tag that lapsed (`[[expire]]`).
    pub why_expire: &'static str,
    /// A tag an exclusive group replaced (`[[group]]`).
    pub why_group: &'static str,
    // What a timeline entry was.
    /// Followed.
    pub event_follow: &'static str,
    /// Scanned a channel code.
    pub event_scan: &'static str,
    /// Unfollowed.
    pub event_unfollow: &'static str,
    /// Clicked a menu entry.
    pub event_click: &'static str,
    /// Opened a menu link.
    pub event_view: &'static str,
    /// Sent a message.
    pub event_text: &'static str,
    /// Sent an image.
    pub event_image: &'static str,
    /// Sent a voice message.
    pub event_voice: &'static str,
    /// Sent a video.
    pub event_video: &'static str,
    /// Sent a location.
    pub event_location: &'static str,
    /// Sent a link.
    pub event_link: &'static str,
    /// Opened a tracked link.
    pub event_link_click: &'static str,
    /// Someone else opened the lead's tracked link (a forward).
    pub event_forward: &'static str,
    /// Submitted a lead form.
    pub event_form: &'static str,
    /// An event from another system (a CRM, the website).
    pub event_custom: &'static str,
    /// Another system's id was joined to the lead.
    pub event_identity: &'static str,
    /// Tags changed.
    pub event_tag: &'static str,
    /// Opened a mini program.
    pub event_miniprogram: &'static str,
    /// Scanned through the menu.
    pub event_scancode: &'static str,
    /// Sent a photo through the menu.
    pub event_pic: &'static str,
    /// A template message arrived.
    pub event_template: &'static str,
    /// A broadcast arrived.
    pub event_mass: &'static str,
    /// The rules over time added a tag.
    pub event_tag_added: &'static str,
    /// The rules over time removed a tag.
    pub event_tag_removed: &'static str,
    // The tags page.
    /// The title of the tag bars.
    pub leads_per_tag: &'static str,
    /// The column of lead counts.
    pub col_leads: &'static str,
    /// The column of WeChat sync states.
    pub col_sync: &'static str,
    /// When a tag was first applied.
    pub col_first_used: &'static str,
    /// What each sync state means.
    pub tags_note: &'static str,
    /// The title of the derived tags, by kind.
    pub derived_by_kind: &'static str,
    /// A column: the kind of rule.
    pub col_kind: &'static str,
    /// A column: the rule, tier list, stage or preference that gives a tag.
    pub col_given_by: &'static str,
    /// No lead holds a derived tag.
    pub no_derived: &'static str,
    /// The link from the tags page to the preview.
    pub preview_link: &'static str,
    /// Made on WeChat's platform.
    pub sync_external: &'static str,
    /// WeChat has the tag.
    pub sync_synced: &'static str,
    /// WeChat cannot take the tag.
    pub sync_unsynced: &'static str,
    /// Not in WeChat yet.
    pub sync_pending: &'static str,
    /// The dead letters' title.
    pub sync_failed: &'static str,
    /// No dead letter.
    pub no_failed: &'static str,
    /// What a dead letter tried.
    pub col_op: &'static str,
    /// What WeChat answered.
    pub col_error: &'static str,
    /// Tagging a lead.
    pub op_tag: &'static str,
    /// Untagging a lead.
    pub op_untag: &'static str,
    /// Creating a tag.
    pub op_create: &'static str,
    /// Only the newest dead letters are listed, around how many; the API's path follows.
    pub newest_shown: Pattern,
    /// The end of a sentence that ends in markup.
    pub full_stop: &'static str,
    // The preview page.
    /// The preview page's title.
    pub preview_title: &'static str,
    /// What the preview shows.
    pub preview_intro: &'static str,
    /// The table of the rules in force.
    pub rules_in_force: &'static str,
    /// The table of the files on disk.
    pub files_on_disk: &'static str,
    /// Where the files on disk are, around the folder.
    pub files_on_disk_note: Pattern,
    /// A column: a rule's name.
    pub col_name: &'static str,
    /// A column: leads a rule would tag.
    pub would_tag: &'static str,
    /// A column: leads a rule would untag.
    pub would_untag: &'static str,
    /// No derived section to preview.
    pub no_preview_rows: &'static str,
    /// Every lead was read, around how many.
    pub all_leads_read: Pattern,
    /// Only the first leads were read, around how many; the command follows.
    pub first_leads_read: Pattern,
    /// After the command that reads every lead.
    pub reads_them_all: &'static str,
    /// The files on disk do not load, before their mistakes.
    pub disk_not_loaded: &'static str,
    /// Warnings from loading the files on disk.
    pub load_warnings: &'static str,
    // The error page.
    /// The page's title.
    pub error_title: &'static str,
    /// The way back to the channels page.
    pub back_to_channels: &'static str,
    /// The way to the lead search.
    pub find_leads: &'static str,
    /// A form posted from another site.
    pub cross_site: &'static str,
    /// The credential's role does not allow this.
    pub forbidden: &'static str,
    /// The server failed; the cause is in its log.
    pub internal: &'static str,
    // The segment pages.
    /// The navigation's entry: the segments (also the list's title).
    pub nav_segments: &'static str,
    /// The button to the builder.
    pub new_segment: &'static str,
    /// A column: a segment's members.
    pub col_members: &'static str,
    /// A column: when a segment was counted.
    pub col_counted_at: &'static str,
    /// A column: who saved a segment, and when.
    pub col_saved_by: &'static str,
    /// No saved segment yet.
    pub no_segments: &'static str,
    /// How fresh the counts are.
    pub segments_note: &'static str,
    /// The profile's title.
    pub profile_title: &'static str,
    /// The profile is estimated, around how many members it reads.
    pub profile_estimated: Pattern,
    /// A profile table with nothing in it.
    pub profile_none: &'static str,
    /// The profile's tags.
    pub profile_tags: &'static str,
    /// The profile's first channels.
    pub profile_channels: &'static str,
    /// The profile's lifecycle stages.
    pub profile_stages: &'static str,
    /// The builder's title.
    pub builder_title: &'static str,
    /// The segment name's label.
    pub segment_name: &'static str,
    /// An example segment name.
    pub segment_name_hint: &'static str,
    /// The button that counts the condition.
    pub preview_count: &'static str,
    /// The button that saves the segment.
    pub save_segment: &'static str,
    /// The condition can only be edited as JSON.
    pub json_only: &'static str,
    /// The label of a group's kind.
    pub group_kind: &'static str,
    /// A group of which every condition holds.
    pub group_all: &'static str,
    /// A group of which one condition holds.
    pub group_any: &'static str,
    /// A group of which no condition holds.
    pub group_none: &'static str,
    /// The button that removes a group.
    pub remove_group: &'static str,
    /// The label of a condition's kind.
    pub condition_kind: &'static str,
    /// A condition: holds a tag.
    pub leaf_tag: &'static str,
    /// A condition: holds a tag starting with a prefix.
    pub leaf_tag_prefix: &'static str,
    /// A condition: came through a channel.
    pub leaf_channel: &'static str,
    /// A condition: the first channel.
    pub leaf_first_channel: &'static str,
    /// A condition: follows or not.
    pub leaf_subscribed: &'static str,
    /// A condition: first seen within some days.
    pub leaf_first_seen: &'static str,
    /// A condition: a touch within some days.
    pub leaf_last_seen: &'static str,
    /// A condition: no touch within some days.
    pub leaf_inactive: &'static str,
    /// A condition: the score within bounds.
    pub leaf_score: &'static str,
    /// A condition: a profile field is filled in.
    pub leaf_field: &'static str,
    /// A condition: touches in a window.
    pub leaf_count: &'static str,
    /// Before a window's days.
    pub within: &'static str,
    /// After a window's days.
    pub days: &'static str,
    /// The button that removes a condition.
    pub remove_condition: &'static str,
    /// The button that adds a condition to a group.
    pub add_condition: &'static str,
    /// The button that adds a group to a group.
    pub add_group: &'static str,
    /// The JSON box's summary.
    pub as_json: &'static str,
    /// The button that takes the JSON box.
    pub use_json: &'static str,
    /// A segment's size, around the count.
    pub preview_members: Pattern,
    /// How long a count took, around the milliseconds.
    pub took_ms: Pattern,
    /// The count stopped at the most leads a count looks at.
    pub count_incomplete: &'static str,
    /// The sample's title.
    pub sample_title: &'static str,
    /// A segment not counted yet.
    pub not_counted: &'static str,
    /// When a segment was counted, around the time.
    pub counted_at: Pattern,
    /// Who saved a segment, around the name.
    pub saved_by: Pattern,
    /// The link to edit a segment.
    pub edit_segment: &'static str,
    /// The button that deletes a segment.
    pub delete_segment: &'static str,
    /// The trend chart's title.
    pub trend_title: &'static str,
    /// No daily count yet.
    pub trend_empty: &'static str,
    /// The bulk tagging section's title.
    pub bulk_title: &'static str,
    /// A job's progress, around done / total.
    pub job_progress: Pattern,
    /// A job that runs.
    pub job_running: &'static str,
    /// A job that is done.
    pub job_done: &'static str,
    /// A job that was cancelled.
    pub job_cancelled: &'static str,
    /// A job that failed.
    pub job_failed: &'static str,
    /// The tags to add.
    pub bulk_add: &'static str,
    /// The tags to remove.
    pub bulk_remove: &'static str,
    /// The button that shows what tagging would do.
    pub dry_run: &'static str,
    /// A dry run: members.
    pub dry_leads: &'static str,
    /// A dry run: tag changes.
    pub dry_changes: &'static str,
    /// A dry run: WeChat calls.
    pub dry_calls: &'static str,
    /// A dry run: leads over WeChat's 20 tags.
    pub dry_over_20: &'static str,
    /// The button that starts the job.
    pub confirm_bulk: &'static str,
    /// The members' title.
    pub members_title: &'static str,
    /// A segment without members.
    pub no_members: &'static str,
    /// A segment name that does not read, around why.
    pub bad_segment: Pattern,
    /// JSON that does not read, around why.
    pub bad_json: Pattern,
    /// A condition that does not parse, around why.
    pub bad_condition: Pattern,
    /// Bulk tags that cannot be applied, around why.
    pub bad_bulk: Pattern,
    /// Saving without a name.
    pub name_needed: &'static str,
    /// An example tag for a form control.
    pub hint_tag: &'static str,
    /// An example tag prefix for a form control.
    pub hint_prefix: &'static str,
}

/// Chinese, the dashboard's language.
pub static ZH: Words = Words {
    // The frame of every page, and the login page.
    html_lang: "zh-CN",
    nav_channels: "渠道",
    nav_leads: "线索",
    nav_tags: "标签",
    nav_export: "导出 CSV",
    logout: "退出",
    login: "登录",
    login_subtitle: "公众号线索与标签看板",
    token_label: "管理令牌",
    wrong_token_html: "令牌不正确。请使用服务器上 <code>WXTAG_ADMIN_TOKEN</code> 的值,或 <code>wxtag token create</code> 为你生成的令牌。",
    throttled: "登录尝试太多,请一分钟后再试。",
    // Shared by several pages.
    subscribed: "已关注",
    unsubscribed: "已取关",
    never_followed: "未关注（站外线索）",
    all: "全部",
    col_tag: "标签",
    col_channel: "渠道",
    col_source: "来源",
    col_time: "时间",
    col_lead: "线索",
    last_seen: "最近互动",
    no_tags: "还没有标签。",
    other: "其他",
    organic: ORGANIC_NAME,
    // The channels page.
    from: "从",
    to: "到",
    show: "查询",
    last_7_days: "最近 7 天",
    last_week: "上周",
    this_month: "本月",
    last_30_days: "最近 30 天",
    bad_dates: Pattern("日期不对:{}。下面是最近 7 天。"),
    until: "至",
    best_channel: Pattern("新线索最多的渠道是 {}。"),
    no_new_leads: "没有新线索。",
    in_all: "合计",
    per_day: Pattern("每日{}"),
    none_in_range: Pattern("这段时间没有{}。"),
    chart_description: Pattern("每日{},按渠道堆叠"),
    by_channel: "各渠道",
    leads: "新线索",
    follows: "关注",
    scans: "扫码",
    visits: "链接访问",
    link_channel: "链接渠道（?ch=）",
    unfollows: "取关",
    net: "净增",
    col_qr: "二维码",
    download_png: "下载 PNG",
    total: "合计",
    channels_note: "新线索:第一次通过该渠道来的人。关注:通过该渠道码关注(含取关后重新关注)。扫码:已关注的人再扫该渠道码。取关:首个渠道是它的人取消关注。净增 = 关注 − 取关。时间按北京时间。",
    funnel_title: "各渠道转化漏斗",
    funnel_stage: "阶段",
    funnel_form: "提交表单",
    funnel_reached: Pattern("到达 {}"),
    funnel_holding: Pattern("持有 {}"),
    funnel_note: "新线索:这段时间第一次出现、首个渠道是该渠道的人;后面各步是其中的人数和占比。阶段和标签按现在是否持有计算:到过某阶段又离开的人不计。提交表单:其中在这段时间提交过任一表单的人;规则里没有表单([[form]])时显示 —。",
    funnel_incomplete: Pattern("只查看了最新的 {} 条线索,漏斗数字偏少。"),
    bad_funnel: Pattern("无法这样统计漏斗:{}。下面是默认漏斗。"),
    // The lead list.
    status: "状态",
    search: "查找",
    no_leads_match: "没有符合条件的线索。",
    next_page: "下一页",
    no_lead: Pattern("没有 openid 为 {} 的线索。"),
    bad_openid: Pattern("openid 格式不对:{}"),
    bad_tag: Pattern("标签名不对:{}"),
    derived_tag: Pattern(
        "{} 是按行为自动计算的标签,不能手动添加或删除;请在 channels/ 里修改对应的规则。",
    ),
    bad_channel: Pattern("渠道不对:{}"),
    // One lead's page.
    lead_title: "线索",
    first_source: "首个来源",
    channel_path: "渠道路径",
    no_path: "无(自然关注)",
    first_seen: "首次出现",
    last_location: "最近位置",
    unionid: "开放平台 UnionID",
    external_id: "外部编号",
    do_not_contact: "勿联系",
    blacklisted: "已拉黑公众号",
    why_column: "来源(为什么)",
    remove: "移除",
    remove_tag: Pattern("移除 {}"),
    add_tag_label: "添加销售标签",
    add_tag_example: "如 意向:高 或 跟进:王磊",
    add: "添加",
    add_tag_note: "销售添加的标签会和规则标签一样同步到微信,来源记为“销售添加”。",
    score: "评分",
    stage: "阶段",
    derived: "规则生成",
    derived_note: "标有“规则生成”的标签由 channels/ 中的规则按行为和时间自动加上、去掉,不能手动移除。",
    timeline: "时间线",
    no_events: "没有记录。",
    // Why a tag was applied.
    why_follow: "关注公众号",
    why_qr: "渠道二维码",
    why_channel: "渠道链接",
    why_click: "菜单点击",
    why_view: "菜单链接",
    why_link: "追踪链接",
    why_form: "表单",
    fields_title: "留资信息",
    col_field: "字段",
    col_value: "内容",
    col_form: "表单",
    identity_link: "经表单链接识别（可能是转发者填写）",
    why_keyword: "关键词",
    why_admin: "销售添加",
    why_rule: "规则",
    why_tiers: "价值分层",
    why_lifecycle: "生命周期",
    why_preference: "行为偏好",
    why_expire: "到期",
    why_group: "互斥组",
    // What a timeline entry was.
    event_follow: "关注",
    event_scan: "扫码",
    event_unfollow: "取关",
    event_click: "点击菜单",
    event_view: "打开菜单链接",
    event_text: "发消息",
    event_image: "发图片",
    event_voice: "发语音",
    event_video: "发视频",
    event_location: "发位置",
    event_link: "发链接",
    event_link_click: "打开追踪链接",
    event_forward: "转发的链接被他人打开",
    event_form: "提交表单",
    event_custom: "外部事件",
    event_identity: "关联外部编号",
    event_tag: "标签变更",
    event_miniprogram: "打开小程序",
    event_scancode: "菜单扫一扫",
    event_pic: "菜单发图",
    event_template: "模板消息送达",
    event_mass: "群发送达",
    event_tag_added: "加上标签",
    event_tag_removed: "去掉标签",
    // The tags page.
    leads_per_tag: "各标签线索数",
    col_leads: "线索",
    col_sync: "微信同步",
    col_first_used: "首次使用",
    tags_note: "已同步:微信里已有这个标签。微信后台创建:员工在微信公众平台建的标签,wxtag 只展示,从不删除。待同步:第一次需要时由同步任务创建。无法同步:原因见下方(例如超过微信每个公众号 100 个标签的上限),标签仍保存在 wxtag 中。",
    derived_by_kind: "规则生成的标签",
    col_kind: "类别",
    col_given_by: "来自",
    no_derived: "还没有线索带规则生成的标签。",
    preview_link: "预览规则对现有线索的作用",
    sync_external: "微信后台创建",
    sync_synced: "已同步",
    sync_unsynced: "无法同步",
    sync_pending: "待同步",
    sync_failed: "同步失败",
    no_failed: "没有无法完成的同步。",
    col_op: "操作",
    col_error: "错误",
    op_tag: "打标签",
    op_untag: "取消标签",
    op_create: "创建标签",
    newest_shown: Pattern("只显示最新的 {} 条;全部见 "),
    full_stop: "。",
    // The preview page.
    preview_title: "规则预览",
    preview_intro: "每条规则、分层、阶段和偏好现在会给多少现有线索加上、去掉它的标签。",
    rules_in_force: "生效中的规则",
    files_on_disk: "磁盘上的文件",
    files_on_disk_note: Pattern("{} 中的文件,每次打开本页时重新读取;重新加载(SIGHUP)后才生效。"),
    col_name: "名称",
    would_tag: "会加上",
    would_untag: "会去掉",
    no_preview_rows: "没有规则、分层、阶段或偏好可以预览。",
    all_leads_read: Pattern("读取了全部 {} 个线索。"),
    first_leads_read: Pattern("只读取了前 {} 个线索;"),
    reads_them_all: " 会读取全部线索。",
    disk_not_loaded: "磁盘上的文件有错误,重新加载也不会生效;改正以下问题:",
    load_warnings: "加载时的提醒:",
    // The error page.
    error_title: "出错了",
    back_to_channels: "返回渠道",
    find_leads: "查找线索",
    cross_site: "这个表单只能从 wxtag 自己的页面提交。",
    forbidden: "你登录所用的凭据没有权限做这件事;请换一个有权限的凭据登录。",
    internal: "服务器内部错误,请稍后再试。",
    // The segment pages.
    nav_segments: "分群",
    new_segment: "新建分群",
    col_members: "人数",
    col_counted_at: "统计时间",
    col_saved_by: "保存人",
    no_segments: "还没有分群。新建一个：按标签、渠道、活跃度等条件圈选线索。",
    segments_note: "人数每 5 分钟重新统计一次；新进入分群的线索在下一次统计时被发现。",
    profile_title: "分群画像",
    profile_estimated: Pattern("按随机抽取的 {} 位成员估算。"),
    profile_none: "无",
    profile_tags: "常见标签",
    profile_channels: "首次渠道",
    profile_stages: "生命周期阶段",
    builder_title: "分群构建",
    segment_name: "分群名称",
    segment_name_hint: "展会 PLC 意向",
    preview_count: "预览人数",
    save_segment: "保存分群",
    json_only: "这个条件用到了构建器显示不了的写法（如 event），请在下面以 JSON 编辑。",
    group_kind: "条件组",
    group_all: "满足全部",
    group_any: "满足任一",
    group_none: "都不满足",
    remove_group: "删除此组",
    condition_kind: "条件",
    leaf_tag: "有标签",
    leaf_tag_prefix: "有此开头的标签",
    leaf_channel: "来过渠道",
    leaf_first_channel: "首次渠道是",
    leaf_subscribed: "关注状态",
    leaf_first_seen: "首次出现",
    leaf_last_seen: "有互动",
    leaf_inactive: "无互动",
    leaf_score: "得分",
    leaf_field: "填写了字段",
    leaf_count: "互动次数",
    within: "最近",
    days: "天",
    remove_condition: "删除条件",
    add_condition: "+ 条件",
    add_group: "+ 条件组",
    as_json: "以 JSON 查看和编辑",
    use_json: "使用这段 JSON",
    preview_members: Pattern("{} 位线索"),
    took_ms: Pattern("统计用时 {} 毫秒"),
    count_incomplete: "线索太多，只看了前一千万位：人数是下限",
    sample_title: "部分成员",
    not_counted: "尚未统计",
    counted_at: Pattern("统计于 {}"),
    saved_by: Pattern("由 {} 保存"),
    edit_segment: "编辑条件",
    delete_segment: "删除分群",
    trend_title: "最近 30 天的人数",
    trend_empty: "还没有每日统计。",
    bulk_title: "给全部成员打标签",
    job_progress: Pattern("已处理 {}"),
    job_running: "进行中",
    job_done: "已完成",
    job_cancelled: "已取消",
    job_failed: "失败",
    bulk_add: "添加标签",
    bulk_remove: "移除标签",
    dry_run: "先试算",
    dry_leads: "成员",
    dry_changes: "标签变更",
    dry_calls: "微信接口调用",
    dry_over_20: "超过微信 20 个标签上限的线索",
    confirm_bulk: "确认执行",
    members_title: "成员",
    no_members: "没有成员。",
    bad_segment: Pattern("分群名称不对:{}"),
    bad_json: Pattern("JSON 读不了:{}"),
    bad_condition: Pattern("条件有误:{}"),
    bad_bulk: Pattern("不能这样打标签:{}"),
    name_needed: "保存前请填写分群名称。",
    hint_tag: "兴趣:PLC",
    hint_prefix: "兴趣:",
};

/// English.
pub static EN: Words = Words {
    // The frame of every page, and the login page.
    html_lang: "en",
    nav_channels: "Channels",
    nav_leads: "Leads",
    nav_tags: "Tags",
    nav_export: "Export CSV",
    logout: "Log out",
    login: "Log in",
    login_subtitle: "Leads and tags of the official account",
    token_label: "Token",
    wrong_token_html: "Wrong token. Use the server's <code>WXTAG_ADMIN_TOKEN</code>, or a token <code>wxtag token create</code> made for you.",
    throttled: "Too many login attempts; try again in a minute.",
    // Shared by several pages.
    subscribed: "Following",
    unsubscribed: "Unfollowed",
    never_followed: "Not following (seen outside the chat)",
    all: "All",
    col_tag: "Tag",
    col_channel: "Channel",
    col_source: "Source",
    col_time: "Time",
    col_lead: "Lead",
    last_seen: "Last active",
    no_tags: "No tags yet.",
    other: "Other",
    organic: "Organic",
    // The channels page.
    from: "From",
    to: "To",
    show: "Show",
    last_7_days: "Last 7 days",
    last_week: "Last week",
    this_month: "This month",
    last_30_days: "Last 30 days",
    bad_dates: Pattern("Wrong dates: {}. Showing the last 7 days."),
    until: "to",
    best_channel: Pattern("The channel with the most new leads is {}."),
    no_new_leads: "No new leads.",
    in_all: "In all:",
    per_day: Pattern("{} per day"),
    none_in_range: Pattern("{}: none in this period."),
    chart_description: Pattern("{} per day, stacked by channel"),
    by_channel: "By channel",
    leads: "New leads",
    follows: "Follows",
    scans: "Scans",
    visits: "Link visits",
    link_channel: "Link channel (?ch=)",
    unfollows: "Unfollows",
    net: "Net",
    col_qr: "QR code",
    download_png: "Download PNG",
    total: "Total",
    channels_note: "New leads: people who came through the channel first. Follows: follows through the channel's code (re-follows after an unfollow count too). Scans: followers scanning the channel's code again. Unfollows: people whose first channel it is who unfollowed. Net = follows − unfollows. Times are China time.",
    funnel_title: "Funnel by channel",
    funnel_stage: "Stage",
    funnel_form: "Submitted a form",
    funnel_reached: Pattern("Reached {}"),
    funnel_holding: Pattern("Holding {}"),
    funnel_note: "New leads: people first seen in the period whose first channel it is; each step after is how many of them, and their share. Stages and tags count if held now: a lead that reached a stage and left it is not counted. Submitted a form: those of them who submitted any form in the period; without a [[form]] in the rules the column shows —.",
    funnel_incomplete: Pattern(
        "Only the newest {} leads were examined: the funnel's numbers are too low.",
    ),
    bad_funnel: Pattern("Cannot count that funnel: {}. Showing the default funnel."),
    // The lead list.
    status: "Status",
    search: "Search",
    no_leads_match: "No leads match.",
    next_page: "Next page",
    no_lead: Pattern("No lead has the openid {}."),
    bad_openid: Pattern("Not an openid: {}"),
    bad_tag: Pattern("Not a tag name: {}"),
    derived_tag: Pattern(
        "{} is derived from behaviour, so it cannot be added or removed by hand; change its \
         rule in channels/ instead.",
    ),
    bad_channel: Pattern("Not a channel: {}"),
    // One lead's page.
    lead_title: "Lead",
    first_source: "First source",
    channel_path: "Channel path",
    no_path: "None (organic)",
    first_seen: "First seen",
    last_location: "Last location",
    unionid: "UnionID",
    external_id: "External ID",
    do_not_contact: "Do not contact",
    blacklisted: "Blacklisted the account",
    why_column: "Source (why)",
    remove: "Remove",
    remove_tag: Pattern("Remove {}"),
    add_tag_label: "Add a sales tag",
    add_tag_example: "e.g. interest:high or owner:alice",
    add: "Add",
    add_tag_note: "Tags sales add are synced to WeChat like the rules' tags, with the source “Added by sales”.",
    score: "Score",
    stage: "Stage",
    derived: "Derived",
    derived_note: "Tags marked “Derived” come and go with the rules in channels/ as behaviour and time change; they cannot be removed by hand.",
    timeline: "Timeline",
    no_events: "Nothing recorded yet.",
    // Why a tag was applied.
    why_follow: "Followed the account",
    why_qr: "Channel QR code",
    why_channel: "Channel link",
    why_click: "Menu click",
    why_view: "Menu link",
    why_link: "Tracked link",
    why_form: "Form",
    fields_title: "Form fields",
    col_field: "Field",
    col_value: "Value",
    col_form: "Form",
    identity_link: "Known by the form link (a forward may have filled it in)",
    why_keyword: "Keyword",
    why_admin: "Added by sales",
    why_rule: "Rule",
    why_tiers: "Tiers",
    why_lifecycle: "Lifecycle",
    why_preference: "Preference",
    why_expire: "Expired",
    why_group: "Exclusive group",
    // What a timeline entry was.
    event_follow: "Followed",
    event_scan: "Scanned a code",
    event_unfollow: "Unfollowed the account",
    event_click: "Clicked a menu",
    event_view: "Opened a menu link",
    event_text: "Sent a message",
    event_image: "Sent an image",
    event_voice: "Sent a voice message",
    event_video: "Sent a video",
    event_location: "Sent a location",
    event_link: "Sent a link",
    event_link_click: "Opened a tracked link",
    event_forward: "Their link was opened by someone else (forwarded)",
    event_form: "Submitted a form",
    event_custom: "Event from another system",
    event_identity: "Joined an external ID",
    event_tag: "Tags changed",
    event_miniprogram: "Opened a mini program",
    event_scancode: "Scanned from the menu",
    event_pic: "Sent a photo from the menu",
    event_template: "Template message delivered",
    event_mass: "Broadcast delivered",
    event_tag_added: "Tag added",
    event_tag_removed: "Tag removed",
    // The tags page.
    leads_per_tag: "Leads per tag",
    col_leads: "Leads",
    col_sync: "WeChat sync",
    col_first_used: "First used",
    tags_note: "Synced: WeChat has the tag. Made in WeChat: a tag staff created on the WeChat platform; wxtag shows it and never deletes it. Pending: the sync worker creates it the first time it is needed. Cannot sync: see the reason below (for example WeChat’s limit of 100 tags per account); the tag is still kept in wxtag.",
    derived_by_kind: "Derived tags",
    col_kind: "Kind",
    col_given_by: "Given by",
    no_derived: "No lead holds a derived tag yet.",
    preview_link: "Preview what the rules do to existing leads",
    sync_external: "Made in WeChat",
    sync_synced: "Synced",
    sync_unsynced: "Cannot sync",
    sync_pending: "Pending",
    sync_failed: "Failed syncs",
    no_failed: "No failed syncs.",
    col_op: "Action",
    col_error: "Error",
    op_tag: "Tag",
    op_untag: "Untag",
    op_create: "Create tag",
    newest_shown: Pattern("Only the newest {} are listed; for all of them, see "),
    full_stop: ".",
    // The preview page.
    preview_title: "Rules preview",
    preview_intro: "How many existing leads each rule, tier list, stage and preference would tag and untag now.",
    rules_in_force: "The rules in force",
    files_on_disk: "The files on disk",
    files_on_disk_note: Pattern(
        "The files in {}, read afresh each time this page opens; they take effect on a reload (SIGHUP).",
    ),
    col_name: "Name",
    would_tag: "Would tag",
    would_untag: "Would untag",
    no_preview_rows: "No rule, tier list, stage or preference to preview.",
    all_leads_read: Pattern("All {} leads were read."),
    first_leads_read: Pattern("Only the first {} leads were read; "),
    reads_them_all: " reads them all.",
    disk_not_loaded: "The files on disk have mistakes, so a reload would keep the rules in force; fix these:",
    load_warnings: "Warnings from the load:",
    // The error page.
    error_title: "Something went wrong",
    back_to_channels: "Back to channels",
    find_leads: "Find leads",
    cross_site: "This form can only be sent from wxtag’s own pages.",
    forbidden: "The credential you logged in with may not do this; log in with one that may.",
    internal: "Internal server error; please try again later.",
    // The segment pages.
    nav_segments: "Segments",
    new_segment: "New segment",
    col_members: "Members",
    col_counted_at: "Counted",
    col_saved_by: "Saved by",
    no_segments: "No segments yet. Make one: pick leads by tags, channels, activity and more.",
    segments_note: "Counts are refreshed every 5 minutes; a lead that enters a segment is noticed at the next count.",
    profile_title: "Segment profile",
    profile_estimated: Pattern("Estimated from {} members picked at random."),
    profile_none: "None",
    profile_tags: "Top tags",
    profile_channels: "First channels",
    profile_stages: "Lifecycle stages",
    builder_title: "Segment builder",
    segment_name: "Name",
    segment_name_hint: "Expo PLC interest",
    preview_count: "Preview",
    save_segment: "Save segment",
    json_only: "This condition uses what the builder cannot show (such as event): edit it as JSON below.",
    group_kind: "Group",
    group_all: "All of",
    group_any: "Any of",
    group_none: "None of",
    remove_group: "Remove group",
    condition_kind: "Condition",
    leaf_tag: "Has tag",
    leaf_tag_prefix: "Has a tag starting with",
    leaf_channel: "Came through channel",
    leaf_first_channel: "First channel is",
    leaf_subscribed: "Following",
    leaf_first_seen: "First seen",
    leaf_last_seen: "Active",
    leaf_inactive: "No touch",
    leaf_score: "Score",
    leaf_field: "Has field",
    leaf_count: "Touches",
    within: "in the last",
    days: "days",
    remove_condition: "Remove condition",
    add_condition: "+ Condition",
    add_group: "+ Group",
    as_json: "View and edit as JSON",
    use_json: "Use this JSON",
    preview_members: Pattern("Members: {}"),
    took_ms: Pattern("Counted in {} ms"),
    count_incomplete: "Too many leads: only the first ten million were looked at, so the count is a lower bound",
    sample_title: "Some members",
    not_counted: "Not counted yet",
    counted_at: Pattern("counted {}"),
    saved_by: Pattern("Saved by {}"),
    edit_segment: "Edit condition",
    delete_segment: "Delete segment",
    trend_title: "Members over the last 30 days",
    trend_empty: "No daily counts yet.",
    bulk_title: "Tag every member",
    job_progress: Pattern("{} done"),
    job_running: "Running",
    job_done: "Done",
    job_cancelled: "Cancelled",
    job_failed: "Failed",
    bulk_add: "Add tags",
    bulk_remove: "Remove tags",
    dry_run: "Dry run",
    dry_leads: "Members",
    dry_changes: "Tag changes",
    dry_calls: "WeChat calls",
    dry_over_20: "Leads over WeChat's 20-tag limit",
    confirm_bulk: "Confirm and run",
    members_title: "Members",
    no_members: "No members.",
    bad_segment: Pattern("Bad segment name: {}"),
    bad_json: Pattern("The JSON does not read: {}"),
    bad_condition: Pattern("The condition is wrong: {}"),
    bad_bulk: Pattern("Cannot tag so: {}"),
    name_needed: "Give the segment a name before saving.",
    hint_tag: "interest:PLC",
    hint_prefix: "interest:",
};

/// Every field of a table: its name, its text, and whether it is a [`Pattern`]: destructured, so a new field
/// that is not listed here does not compile.
#[cfg(test)]
fn fields(t: &Words) -> Vec<(&'static str, &'static str, bool)> {
    let Words {
        html_lang,
        nav_channels,
        nav_leads,
        nav_tags,
        nav_export,
        logout,
        login,
        login_subtitle,
        token_label,
        wrong_token_html,
        throttled,
        subscribed,
        unsubscribed,
        never_followed,
        all,
        col_tag,
        col_channel,
        col_source,
        col_time,
        col_lead,
        last_seen,
        no_tags,
        other,
        organic,
        from,
        to,
        show,
        last_7_days,
        last_week,
        this_month,
        last_30_days,
        bad_dates,
        until,
        best_channel,
        no_new_leads,
        in_all,
        per_day,
        none_in_range,
        chart_description,
        by_channel,
        leads,
        follows,
        scans,
        visits,
        link_channel,
        unfollows,
        net,
        col_qr,
        download_png,
        total,
        channels_note,
        funnel_title,
        funnel_stage,
        funnel_form,
        funnel_reached,
        funnel_holding,
        funnel_note,
        funnel_incomplete,
        bad_funnel,
        status,
        search,
        no_leads_match,
        next_page,
        no_lead,
        bad_openid,
        bad_tag,
        derived_tag,
        bad_channel,
        lead_title,
        first_source,
        channel_path,
        no_path,
        first_seen,
        last_location,
        unionid,
        external_id,
        do_not_contact,
        blacklisted,
        why_column,
        remove,
        remove_tag,
        add_tag_label,
        add_tag_example,
        add,
        add_tag_note,
        score,
        stage,
        derived,
        derived_note,
        timeline,
        no_events,
        why_follow,
        why_qr,
        why_channel,
        why_click,
        why_view,
        why_link,
        why_form,
        fields_title,
        col_field,
        col_value,
        col_form,
        identity_link,
        why_keyword,
        why_admin,
        why_rule,
        why_tiers,
        why_lifecycle,
        why_preference,
        why_expire,
        why_group,
        event_follow,
        event_scan,
        event_unfollow,
        event_click,
        event_view,
        event_text,
        event_image,
        event_voice,
        event_video,
        event_location,
        event_link,
        event_link_click,
        event_forward,
        event_form,
        event_custom,
        event_identity,
        event_tag,
        event_miniprogram,
        event_scancode,
        event_pic,
        event_template,
        event_mass,
        event_tag_added,
        event_tag_removed,
        leads_per_tag,
        col_leads,
        col_sync,
        col_first_used,
        tags_note,
        derived_by_kind,
        col_kind,
        col_given_by,
        no_derived,
        preview_link,
        sync_external,
        sync_synced,
        sync_unsynced,
        sync_pending,
        sync_failed,
        no_failed,
        col_op,
        col_error,
        op_tag,
        op_untag,
        op_create,
        newest_shown,
        full_stop,
        preview_title,
        preview_intro,
        rules_in_force,
        files_on_disk,
        files_on_disk_note,
        col_name,
        would_tag,
        would_untag,
        no_preview_rows,
        all_leads_read,
        first_leads_read,
        reads_them_all,
        disk_not_loaded,
        load_warnings,
        error_title,
        back_to_channels,
        find_leads,
        cross_site,
        forbidden,
        internal,
        nav_segments,
        new_segment,
        col_members,
        col_counted_at,
        col_saved_by,
        no_segments,
        segments_note,
        profile_title,
        profile_estimated,
        profile_none,
        profile_tags,
        profile_channels,
        profile_stages,
        builder_title,
        segment_name,
        segment_name_hint,
        preview_count,
        save_segment,
        json_only,
        group_kind,
        group_all,
        group_any,
        group_none,
        remove_group,
        condition_kind,
        leaf_tag,
        leaf_tag_prefix,
        leaf_channel,
        leaf_first_channel,
        leaf_subscribed,
        leaf_first_seen,
        leaf_last_seen,
        leaf_inactive,
        leaf_score,
        leaf_field,
        leaf_count,
        within,
        days,
        remove_condition,
        add_condition,
        add_group,
        as_json,
        use_json,
        preview_members,
        took_ms,
        count_incomplete,
        sample_title,
        not_counted,
        counted_at,
        saved_by,
        edit_segment,
        delete_segment,
        trend_title,
        trend_empty,
        bulk_title,
        job_progress,
        job_running,
        job_done,
        job_cancelled,
        job_failed,
        bulk_add,
        bulk_remove,
        dry_run,
        dry_leads,
        dry_changes,
        dry_calls,
        dry_over_20,
        confirm_bulk,
        members_title,
        no_members,
        bad_segment,
        bad_json,
        bad_condition,
        bad_bulk,
        name_needed,
        hint_tag,
        hint_prefix,
    } = t;
    vec![
        ("html_lang", *html_lang, false),
        ("nav_channels", *nav_channels, false),
        ("nav_leads", *nav_leads, false),
        ("nav_tags", *nav_tags, false),
        ("nav_export", *nav_export, false),
        ("logout", *logout, false),
        ("login", *login, false),
        ("login_subtitle", *login_subtitle, false),
        ("token_label", *token_label, false),
        ("wrong_token_html", *wrong_token_html, false),
        ("throttled", *throttled, false),
        ("subscribed", *subscribed, false),
        ("unsubscribed", *unsubscribed, false),
        ("never_followed", *never_followed, false),
        ("all", *all, false),
        ("col_tag", *col_tag, false),
        ("col_channel", *col_channel, false),
        ("col_source", *col_source, false),
        ("col_time", *col_time, false),
        ("col_lead", *col_lead, false),
        ("last_seen", *last_seen, false),
        ("no_tags", *no_tags, false),
        ("other", *other, false),
        ("organic", *organic, false),
        ("from", *from, false),
        ("to", *to, false),
        ("show", *show, false),
        ("last_7_days", *last_7_days, false),
        ("last_week", *last_week, false),
        ("this_month", *this_month, false),
        ("last_30_days", *last_30_days, false),
        ("bad_dates", bad_dates.0, true),
        ("until", *until, false),
        ("best_channel", best_channel.0, true),
        ("no_new_leads", *no_new_leads, false),
        ("in_all", *in_all, false),
        ("per_day", per_day.0, true),
        ("none_in_range", none_in_range.0, true),
        ("chart_description", chart_description.0, true),
        ("by_channel", *by_channel, false),
        ("leads", *leads, false),
        ("follows", *follows, false),
        ("scans", *scans, false),
        ("visits", *visits, false),
        ("link_channel", *link_channel, false),
        ("unfollows", *unfollows, false),
        ("net", *net, false),
        ("col_qr", *col_qr, false),
        ("download_png", *download_png, false),
        ("total", *total, false),
        ("channels_note", *channels_note, false),
        ("funnel_title", *funnel_title, false),
        ("funnel_stage", *funnel_stage, false),
        ("funnel_form", *funnel_form, false),
        ("funnel_reached", funnel_reached.0, true),
        ("funnel_holding", funnel_holding.0, true),
        ("funnel_note", *funnel_note, false),
        ("funnel_incomplete", funnel_incomplete.0, true),
        ("bad_funnel", bad_funnel.0, true),
        ("status", *status, false),
        ("search", *search, false),
        ("no_leads_match", *no_leads_match, false),
        ("next_page", *next_page, false),
        ("no_lead", no_lead.0, true),
        ("bad_openid", bad_openid.0, true),
        ("bad_tag", bad_tag.0, true),
        ("derived_tag", derived_tag.0, true),
        ("bad_channel", bad_channel.0, true),
        ("lead_title", *lead_title, false),
        ("first_source", *first_source, false),
        ("channel_path", *channel_path, false),
        ("no_path", *no_path, false),
        ("first_seen", *first_seen, false),
        ("last_location", *last_location, false),
        ("unionid", *unionid, false),
        ("external_id", *external_id, false),
        ("do_not_contact", *do_not_contact, false),
        ("blacklisted", *blacklisted, false),
        ("why_column", *why_column, false),
        ("remove", *remove, false),
        ("remove_tag", remove_tag.0, true),
        ("add_tag_label", *add_tag_label, false),
        ("add_tag_example", *add_tag_example, false),
        ("add", *add, false),
        ("add_tag_note", *add_tag_note, false),
        ("score", *score, false),
        ("stage", *stage, false),
        ("derived", *derived, false),
        ("derived_note", *derived_note, false),
        ("timeline", *timeline, false),
        ("no_events", *no_events, false),
        ("why_follow", *why_follow, false),
        ("why_qr", *why_qr, false),
        ("why_channel", *why_channel, false),
        ("why_click", *why_click, false),
        ("why_view", *why_view, false),
        ("why_link", *why_link, false),
        ("why_form", *why_form, false),
        ("fields_title", *fields_title, false),
        ("col_field", *col_field, false),
        ("col_value", *col_value, false),
        ("col_form", *col_form, false),
        ("identity_link", *identity_link, false),
        ("why_keyword", *why_keyword, false),
        ("why_admin", *why_admin, false),
        ("why_rule", *why_rule, false),
        ("why_tiers", *why_tiers, false),
        ("why_lifecycle", *why_lifecycle, false),
        ("why_preference", *why_preference, false),
        ("why_expire", *why_expire, false),
        ("why_group", *why_group, false),
        ("event_follow", *event_follow, false),
        ("event_scan", *event_scan, false),
        ("event_unfollow", *event_unfollow, false),
        ("event_click", *event_click, false),
        ("event_view", *event_view, false),
        ("event_text", *event_text, false),
        ("event_image", *event_image, false),
        ("event_voice", *event_voice, false),
        ("event_video", *event_video, false),
        ("event_location", *event_location, false),
        ("event_link", *event_link, false),
        ("event_link_click", *event_link_click, false),
        ("event_forward", *event_forward, false),
        ("event_form", *event_form, false),
        ("event_custom", *event_custom, false),
        ("event_identity", *event_identity, false),
        ("event_tag", *event_tag, false),
        ("event_miniprogram", *event_miniprogram, false),
        ("event_scancode", *event_scancode, false),
        ("event_pic", *event_pic, false),
        ("event_template", *event_template, false),
        ("event_mass", *event_mass, false),
        ("event_tag_added", *event_tag_added, false),
        ("event_tag_removed", *event_tag_removed, false),
        ("leads_per_tag", *leads_per_tag, false),
        ("col_leads", *col_leads, false),
        ("col_sync", *col_sync, false),
        ("col_first_used", *col_first_used, false),
        ("tags_note", *tags_note, false),
        ("derived_by_kind", *derived_by_kind, false),
        ("col_kind", *col_kind, false),
        ("col_given_by", *col_given_by, false),
        ("no_derived", *no_derived, false),
        ("preview_link", *preview_link, false),
        ("sync_external", *sync_external, false),
        ("sync_synced", *sync_synced, false),
        ("sync_unsynced", *sync_unsynced, false),
        ("sync_pending", *sync_pending, false),
        ("sync_failed", *sync_failed, false),
        ("no_failed", *no_failed, false),
        ("col_op", *col_op, false),
        ("col_error", *col_error, false),
        ("op_tag", *op_tag, false),
        ("op_untag", *op_untag, false),
        ("op_create", *op_create, false),
        ("newest_shown", newest_shown.0, true),
        ("full_stop", *full_stop, false),
        ("preview_title", *preview_title, false),
        ("preview_intro", *preview_intro, false),
        ("rules_in_force", *rules_in_force, false),
        ("files_on_disk", *files_on_disk, false),
        ("files_on_disk_note", files_on_disk_note.0, true),
        ("col_name", *col_name, false),
        ("would_tag", *would_tag, false),
        ("would_untag", *would_untag, false),
        ("no_preview_rows", *no_preview_rows, false),
        ("all_leads_read", all_leads_read.0, true),
        ("first_leads_read", first_leads_read.0, true),
        ("reads_them_all", *reads_them_all, false),
        ("disk_not_loaded", *disk_not_loaded, false),
        ("load_warnings", *load_warnings, false),
        ("error_title", *error_title, false),
        ("back_to_channels", *back_to_channels, false),
        ("find_leads", *find_leads, false),
        ("cross_site", *cross_site, false),
        ("forbidden", *forbidden, false),
        ("internal", *internal, false),
        ("nav_segments", *nav_segments, false),
        ("new_segment", *new_segment, false),
        ("col_members", *col_members, false),
        ("col_counted_at", *col_counted_at, false),
        ("col_saved_by", *col_saved_by, false),
        ("no_segments", *no_segments, false),
        ("segments_note", *segments_note, false),
        ("profile_title", *profile_title, false),
        ("profile_estimated", profile_estimated.0, true),
        ("profile_none", *profile_none, false),
        ("profile_tags", *profile_tags, false),
        ("profile_channels", *profile_channels, false),
        ("profile_stages", *profile_stages, false),
        ("builder_title", *builder_title, false),
        ("segment_name", *segment_name, false),
        ("segment_name_hint", *segment_name_hint, false),
        ("preview_count", *preview_count, false),
        ("save_segment", *save_segment, false),
        ("json_only", *json_only, false),
        ("group_kind", *group_kind, false),
        ("group_all", *group_all, false),
        ("group_any", *group_any, false),
        ("group_none", *group_none, false),
        ("remove_group", *remove_group, false),
        ("condition_kind", *condition_kind, false),
        ("leaf_tag", *leaf_tag, false),
        ("leaf_tag_prefix", *leaf_tag_prefix, false),
        ("leaf_channel", *leaf_channel, false),
        ("leaf_first_channel", *leaf_first_channel, false),
        ("leaf_subscribed", *leaf_subscribed, false),
        ("leaf_first_seen", *leaf_first_seen, false),
        ("leaf_last_seen", *leaf_last_seen, false),
        ("leaf_inactive", *leaf_inactive, false),
        ("leaf_score", *leaf_score, false),
        ("leaf_field", *leaf_field, false),
        ("leaf_count", *leaf_count, false),
        ("within", *within, false),
        ("days", *days, false),
        ("remove_condition", *remove_condition, false),
        ("add_condition", *add_condition, false),
        ("add_group", *add_group, false),
        ("as_json", *as_json, false),
        ("use_json", *use_json, false),
        ("preview_members", preview_members.0, true),
        ("took_ms", took_ms.0, true),
        ("count_incomplete", *count_incomplete, false),
        ("sample_title", *sample_title, false),
        ("not_counted", *not_counted, false),
        ("counted_at", counted_at.0, true),
        ("saved_by", saved_by.0, true),
        ("edit_segment", *edit_segment, false),
        ("delete_segment", *delete_segment, false),
        ("trend_title", *trend_title, false),
        ("trend_empty", *trend_empty, false),
        ("bulk_title", *bulk_title, false),
        ("job_progress", job_progress.0, true),
        ("job_running", *job_running, false),
        ("job_done", *job_done, false),
        ("job_cancelled", *job_cancelled, false),
        ("job_failed", *job_failed, false),
        ("bulk_add", *bulk_add, false),
        ("bulk_remove", *bulk_remove, false),
        ("dry_run", *dry_run, false),
        ("dry_leads", *dry_leads, false),
        ("dry_changes", *dry_changes, false),
        ("dry_calls", *dry_calls, false),
        ("dry_over_20", *dry_over_20, false),
        ("confirm_bulk", *confirm_bulk, false),
        ("members_title", *members_title, false),
        ("no_members", *no_members, false),
        ("bad_segment", bad_segment.0, true),
        ("bad_json", bad_json.0, true),
        ("bad_condition", bad_condition.0, true),
        ("bad_bulk", bad_bulk.0, true),
        ("name_needed", *name_needed, false),
        ("hint_tag", *hint_tag, false),
        ("hint_prefix", *hint_prefix, false),
    ]
}

/// The table a `?lang=` value names: `en…` English, `zh…` Chinese, else none.
fn named(lang: &str) -> Option<&'static Words> {
    let lang = lang.trim().to_ascii_lowercase();
    let is = |code: &str| lang == code || lang.starts_with(&format!("{code}-"));
    if is("en") {
        Some(&EN)
    } else if is("zh") {
        Some(&ZH)
    } else {
        None
    }
}

/// The query's `lang` and `next` (the page a login returns to).
#[derive(Debug, Deserialize)]
struct LangQuery {
    lang: Option<String>,
    next: Option<String>,
}

/// The `?lang=` of a query, or else of its `next` page (the login page of an English link
/// opened logged out), when it names a table.
fn asked_in(query: &str) -> Option<&'static Words> {
    let query = web::Query::<LangQuery>::from_query(query)
        .ok()?
        .into_inner();
    match (query.lang, query.next) {
        (Some(lang), _) => named(&lang),
        (None, Some(next)) => asked_in(next.split_once('?')?.1),
        (None, None) => None,
    }
}

/// The `?lang=` of a request (or of the page it logs in to), when it names a table.
fn asked(req: &HttpRequest) -> Option<&'static Words> {
    asked_in(req.query_string())
}

/// The table a request asked for: `?lang=`, else the `wxtag_lang` cookie, else the first
/// `Accept-Language` when it is English, else Chinese.
pub fn for_request(req: &HttpRequest) -> &'static Words {
    asked(req)
        .or_else(|| req.cookie(LANG_COOKIE).and_then(|c| named(c.value())))
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split([',', ';']).next())
                .and_then(named)
                .filter(|t| t.html_lang == EN.html_lang)
        })
        .unwrap_or(&ZH)
}

/// A dashboard route's language: remembers a `?lang=` choice in the `wxtag_lang` cookie,
/// and shows a failed page in the request's language (a [`PageError`] renders in Chinese,
/// as it has no request to ask).
pub async fn localize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let chosen = asked(req.request());
    let t = for_request(req.request());
    let mut res = next.call(req).await?.map_into_boxed_body();
    if t.html_lang != ZH.html_lang {
        let page = res
            .response()
            .error()
            .and_then(|e| e.as_error::<PageError>())
            .map(|e| e.page(t));
        if let Some(page) = page {
            res = res.into_response(page);
        }
    }
    if let Some(chosen) = chosen {
        let cookie = Cookie::build(LANG_COOKIE, chosen.html_lang)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(Duration::days(LANG_COOKIE_DAYS))
            .finish();
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

/// The request's label table, as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct Lang(pub &'static Words);

impl FromRequest for Lang {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Lang(for_request(req))))
    }
}

/// What the frame of a page needs: which nav entry is current (empty: no nav), and the words.
#[derive(Debug, Clone, Copy)]
pub struct Nav {
    /// `channels`, `leads`, `tags`, `error`, or empty for the login page.
    pub page: &'static str,
    /// The labels.
    pub t: &'static Words,
}

impl Lang {
    /// The frame of the page `page` in this language.
    pub fn nav(self, page: &'static str) -> Nav {
        Nav { page, t: self.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn cjk(c: char) -> bool {
        matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
    }

    #[test]
    fn english_when_asked_by_query_cookie_or_first_language_else_chinese() {
        let pick = |req: TestRequest| for_request(&req.to_http_request()).html_lang;
        assert_eq!(pick(TestRequest::with_uri("/login?lang=en")), "en");
        assert_eq!(
            pick(TestRequest::default().insert_header(("accept-language", "en-US,en;q=0.9"))),
            "en"
        );
        assert_eq!(
            pick(TestRequest::default().insert_header(("accept-language", "zh-CN,en;q=0.8"))),
            "zh-CN"
        );
        assert_eq!(pick(TestRequest::default()), "zh-CN");
        assert_eq!(
            pick(TestRequest::with_uri(
                "/login?next=%2Fleads%3Ftag%3Dx%26lang%3Den"
            )),
            "en",
            "the page a login returns to"
        );
        assert_eq!(pick(TestRequest::with_uri("/leads?lang=fr")), "zh-CN");
        let english_cookie = Cookie::new(LANG_COOKIE, "en");
        assert_eq!(
            pick(TestRequest::default().cookie(english_cookie.clone())),
            "en"
        );
        assert_eq!(
            pick(TestRequest::with_uri("/?lang=zh").cookie(english_cookie)),
            "zh-CN",
            "the query wins over the cookie"
        );
        assert_eq!(
            pick(TestRequest::with_uri("/?lang=zh").insert_header(("accept-language", "en-US"))),
            "zh-CN",
            "the query wins over the browser"
        );
    }

    #[test]
    fn every_english_label_is_written_in_english_and_differs_from_the_chinese() {
        let chinese = fields(&ZH);
        for ((name, en, _), (_, zh, _)) in fields(&EN).into_iter().zip(chinese) {
            assert!(!en.trim().is_empty(), "EN.{name} is empty");
            assert!(!en.chars().any(cjk), "EN.{name} has Chinese: {en}");
            assert_ne!(en, zh, "EN.{name} is the Chinese label");
            assert!(!zh.is_empty(), "ZH.{name} is empty");
        }
    }

    #[test]
    fn patterns_hold_one_value_in_both_languages() {
        for t in [&ZH, &EN] {
            for (name, text, pattern) in fields(t) {
                let holes = text.matches("{}").count();
                assert_eq!(
                    holes,
                    usize::from(pattern),
                    "{}.{name}: {text}",
                    t.html_lang
                );
            }
        }
        assert_eq!(ZH.per_day.fill("新线索"), "每日新线索");
        assert_eq!(
            EN.best_channel.before(),
            "The channel with the most new leads is "
        );
        assert_eq!(EN.best_channel.after(), ".");
    }
}
