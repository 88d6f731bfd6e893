//! Every label of the dashboard's frame and login page, one table per language.
//!
//! Chinese is complete; English covers the navigation and the login page, and the pages
//! themselves stay Chinese until their labels move here. `?lang=en`, or a browser whose
//! first `Accept-Language` is English, picks the English table; anything else gets Chinese.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};

/// The labels of one language.
#[derive(Debug)]
pub struct Words {
    /// The `lang` attribute of the page.
    pub html_lang: &'static str,
    /// The navigation: channels, leads, tags, export, and the logout button.
    pub nav_channels: &'static str,
    /// See `nav_channels`.
    pub nav_leads: &'static str,
    /// See `nav_channels`.
    pub nav_tags: &'static str,
    /// See `nav_channels`.
    pub nav_export: &'static str,
    /// See `nav_channels`.
    pub logout: &'static str,
    /// The login page: its title and button.
    pub login: &'static str,
    /// What the dashboard is, under the title.
    pub login_subtitle: &'static str,
    /// The token field's label.
    pub token_label: &'static str,
    /// A wrong token (a fixed HTML fragment, written here, never user input).
    pub wrong_token_html: &'static str,
    /// Too many attempts (plain text).
    pub throttled: &'static str,
}

/// Chinese, the dashboard's language.
pub static ZH: Words = Words {
    html_lang: "zh-CN",
    nav_channels: "渠道",
    nav_leads: "线索",
    nav_tags: "标签",
    nav_export: "导出 CSV",
    logout: "退出",
    login: "登录",
    login_subtitle: "公众号线索与标签看板",
    token_label: "管理令牌",
    wrong_token_html: "令牌不正确。请使用服务器上 <code>WXTAG_ADMIN_TOKEN</code> 的值,或 \
                       <code>wxtag token create</code> 为你生成的令牌。",
    throttled: "登录尝试太多,请一分钟后再试。",
};

/// English: the navigation and the login page.
pub static EN: Words = Words {
    html_lang: "en",
    nav_channels: "Channels",
    nav_leads: "Leads",
    nav_tags: "Tags",
    nav_export: "Export CSV",
    logout: "Log out",
    login: "Log in",
    login_subtitle: "Leads and tags of the official account",
    token_label: "Token",
    wrong_token_html: "Wrong token. Use the server's <code>WXTAG_ADMIN_TOKEN</code>, or a token \
                       <code>wxtag token create</code> made for you.",
    throttled: "Too many login attempts; try again in a minute.",
};

/// The table a request asked for: `?lang=en`, else the first `Accept-Language`.
pub fn for_request(req: &HttpRequest) -> &'static Words {
    let query = req.query_string();
    let asked = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("lang="))
        .map(str::to_owned)
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split([',', ';']).next())
                .map(|first| first.trim().to_ascii_lowercase())
        });
    match asked.as_deref() {
        Some(lang) if lang == "en" || lang.starts_with("en-") => &EN,
        _ => &ZH,
    }
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

    #[test]
    fn english_when_asked_by_query_or_first_language_else_chinese() {
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
    }
}
