//! Passive replies: what wxtag answers WeChat with, the XML it is sent as (protocol §4),
//! and the encrypted envelope it travels in for safe mode (§5.5).

use serde::Deserialize;
use thiserror::Error;

use super::crypto::{CryptoError, MessageCipher};
use super::signature::{ServerToken, SignatureError, msg_signature_of, verify_msg_signature};
use super::xml::{self, FieldError, Fields, XmlError, XmlWriter};
use crate::domain::{OpenId, UnixTime};

/// One article of a news (图文) reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Article {
    /// The headline.
    pub title: String,
    /// The line under the headline.
    #[serde(default)]
    pub description: String,
    /// Where a tap on the article goes.
    #[serde(default)]
    pub url: String,
    /// The cover picture's URL.
    #[serde(default)]
    pub picurl: String,
}

/// What to answer a follower with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A text message.
    Text(String),
    /// An image already uploaded to WeChat, by its media id.
    Image {
        /// The media id from WeChat's media upload API.
        media_id: String,
    },
    /// News (图文): 1 to 8 articles.
    News(Vec<Article>),
}

/// Why a reply's XML could not be read back or opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyParseError {
    /// The body is not well-formed `<xml>`, or declares a DTD.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A field is missing or does not hold what it should.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// The reply's `MsgType` is not one wxtag sends.
    #[error("reply type {msg_type:?} is not text, image or news")]
    Unsupported {
        /// `MsgType` as found.
        msg_type: String,
    },
    /// The encrypted reply's `MsgSignature` does not match.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The encrypted reply does not decrypt.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Renders `reply` as the passive-reply XML: to the follower, from the account (`gh_…`),
/// `CreateTime` in seconds; news keeps its first 8 articles.
pub fn render(reply: &Reply, to: &OpenId, from: &str, now: UnixTime) -> String {
    let mut w = XmlWriter::new();
    w.cdata("ToUserName", to.as_str())
        .cdata("FromUserName", from)
        .bare("CreateTime", now.0);
    match reply {
        Reply::Text(content) => {
            w.cdata("MsgType", "text").cdata("Content", content);
        }
        Reply::Image { media_id } => {
            w.cdata("MsgType", "image")
                .open("Image")
                .cdata("MediaId", media_id)
                .close("Image");
        }
        Reply::News(articles) => {
            let shown = &articles[..articles.len().min(super::limits::NEWS_ARTICLES)];
            w.cdata("MsgType", "news")
                .bare("ArticleCount", shown.len())
                .open("Articles");
            for a in shown {
                w.open("item")
                    .cdata("Title", &a.title)
                    .cdata("Description", &a.description)
                    .cdata("PicUrl", &a.picurl)
                    .cdata("Url", &a.url)
                    .close("item");
            }
            w.close("Articles");
        }
    }
    w.finish()
}

impl Reply {
    /// Reads back a rendered text, image or news reply, with its `ToUserName`.
    pub fn parse_xml(xml: &str) -> Result<(Reply, String), ReplyParseError> {
        let root = xml::parse_document(xml)?;
        let f = Fields(&root);
        let to = f.required("ToUserName")?;
        let msg_type = f.required("MsgType")?;
        let reply = match msg_type.as_str() {
            "text" => Reply::Text(f.required("Content")?),
            "image" => Reply::Image {
                media_id: f.required("Image/MediaId")?,
            },
            "news" => {
                let articles: Vec<Article> = root
                    .all("Articles/item")
                    .into_iter()
                    .map(|item| {
                        let a = Fields(item);
                        Article {
                            title: a.text("Title"),
                            description: a.text("Description"),
                            url: a.text("Url"),
                            picurl: a.text("PicUrl"),
                        }
                    })
                    .collect();
                let count: usize = f.parsed("ArticleCount", "a whole number")?;
                if count != articles.len() {
                    return Err(FieldError::invalid(
                        "ArticleCount",
                        &count.to_string(),
                        format!("the number of items ({})", articles.len()),
                    )
                    .into());
                }
                Reply::News(articles)
            }
            _ => return Err(ReplyParseError::Unsupported { msg_type }),
        };
        Ok((reply, to))
    }
}

/// A reply sealed for safe mode: the ciphertext and the `MsgSignature` over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedReply {
    /// The base64 ciphertext of the reply XML.
    pub encrypt: String,
    /// SHA-1 over the token, `timestamp`, `nonce` and `encrypt`.
    pub msg_signature: String,
    /// `TimeStamp`, in seconds.
    pub timestamp: String,
    /// `Nonce`.
    pub nonce: String,
}

impl EncryptedReply {
    /// Encrypts `xml` and signs it with these `timestamp` and `nonce`.
    pub fn seal(
        token: &ServerToken,
        cipher: &MessageCipher,
        xml: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Self {
        Self::signed(token, cipher.encrypt(xml), timestamp, nonce)
    }

    /// Like [`EncryptedReply::seal`] with a fixed random prefix; for test vectors.
    pub fn seal_with_random(
        token: &ServerToken,
        cipher: &MessageCipher,
        xml: &str,
        timestamp: &str,
        nonce: &str,
        random: &[u8; 16],
    ) -> Self {
        Self::signed(
            token,
            cipher.encrypt_with_random(xml, random),
            timestamp,
            nonce,
        )
    }

    fn signed(token: &ServerToken, encrypt: String, timestamp: &str, nonce: &str) -> Self {
        Self {
            msg_signature: msg_signature_of(token, timestamp, nonce, &encrypt),
            encrypt,
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
        }
    }

    /// Renders the encrypted reply envelope.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.cdata("Encrypt", &self.encrypt)
            .cdata("MsgSignature", &self.msg_signature)
            .bare("TimeStamp", &self.timestamp)
            .cdata("Nonce", &self.nonce);
        w.finish()
    }

    /// Reads an encrypted reply envelope.
    pub fn parse(xml: &str) -> Result<Self, ReplyParseError> {
        let root = xml::parse_document(xml)?;
        let f = Fields(&root);
        Ok(Self {
            encrypt: f.required("Encrypt")?,
            msg_signature: f.required("MsgSignature")?,
            timestamp: f.required("TimeStamp")?,
            nonce: f.required("Nonce")?,
        })
    }

    /// Checks the `MsgSignature` and decrypts the reply XML, as WeChat does.
    pub fn open(
        &self,
        token: &ServerToken,
        cipher: &MessageCipher,
    ) -> Result<String, ReplyParseError> {
        verify_msg_signature(
            token,
            &self.timestamp,
            &self.nonce,
            &self.encrypt,
            &self.msg_signature,
        )?;
        Ok(cipher.decrypt(&self.encrypt)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::crypto::EncodingAesKey;

    fn openid() -> OpenId {
        OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap()
    }

    fn article(i: usize) -> Article {
        Article {
            title: format!("标题 {i}"),
            description: format!("desc {i}"),
            url: format!("https://example.com/{i}?a=1&b=2"),
            picurl: format!("https://example.com/{i}.jpg"),
        }
    }

    fn read_back(reply: &Reply) -> (Reply, String) {
        let xml = render(reply, &openid(), "gh_10f6c3c3ac5a", UnixTime(1_714_112_446));
        Reply::parse_xml(&xml).unwrap()
    }

    #[test]
    fn text_reply_matches_the_documented_shape() {
        let xml = render(
            &Reply::Text("Thanks! A sales engineer will contact you.".to_owned()),
            &openid(),
            "gh_10f6c3c3ac5a",
            UnixTime(1_714_112_446),
        );
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName><FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName><CreateTime>1714112446</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[Thanks! A sales engineer will contact you.]]></Content></xml>"
        );
    }

    #[test]
    fn cdata_breakout_round_trips_exactly() {
        let sneaky = "a]]></Content><MsgType>news</MsgType><Content><![CDATA[b ]]]]> ]]>]]> end]]";
        let (reply, to) = read_back(&Reply::Text(sneaky.to_owned()));
        assert_eq!(reply, Reply::Text(sneaky.to_owned()));
        assert_eq!(to, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        let chinese = "欢迎关注!回复「资料」获取产品手册。\n第二行 <b>&amp;</b>";
        assert_eq!(
            read_back(&Reply::Text(chinese.to_owned())).0,
            Reply::Text(chinese.to_owned())
        );
    }

    #[test]
    fn image_reply_round_trips() {
        let reply = Reply::Image {
            media_id: "MEDIA_ID".to_owned(),
        };
        let xml = render(&reply, &openid(), "gh_x", UnixTime(1));
        assert!(xml.contains("<Image><MediaId><![CDATA[MEDIA_ID]]></MediaId></Image>"));
        assert_eq!(Reply::parse_xml(&xml).unwrap().0, reply);
    }

    #[test]
    fn news_keeps_eight_articles_and_counts_them() {
        let eight: Vec<Article> = (0..8).map(article).collect();
        let (reply, _) = read_back(&Reply::News(eight.clone()));
        assert_eq!(reply, Reply::News(eight.clone()));

        let ten: Vec<Article> = (0..10).map(article).collect();
        let xml = render(&Reply::News(ten), &openid(), "gh_x", UnixTime(1));
        assert!(xml.contains("<ArticleCount>8</ArticleCount>"));
        assert_eq!(xml.matches("<item>").count(), 8);
        assert_eq!(Reply::parse_xml(&xml).unwrap().0, Reply::News(eight));

        let one = vec![article(1)];
        let xml = render(&Reply::News(one.clone()), &openid(), "gh_x", UnixTime(1));
        assert!(xml.contains("<ArticleCount>1</ArticleCount>"));
        assert_eq!(Reply::parse_xml(&xml).unwrap().0, Reply::News(one));
    }

    #[test]
    fn parse_xml_refuses_what_we_never_send() {
        let xml = render(
            &Reply::News(vec![article(1)]),
            &openid(),
            "gh_x",
            UnixTime(1),
        );
        let miscounted = xml.replace("<ArticleCount>1<", "<ArticleCount>2<");
        assert!(matches!(
            Reply::parse_xml(&miscounted),
            Err(ReplyParseError::Field(FieldError::Invalid {
                field: "ArticleCount",
                ..
            }))
        ));
        let voice = "<xml><ToUserName>o</ToUserName><MsgType>voice</MsgType></xml>";
        assert_eq!(
            Reply::parse_xml(voice),
            Err(ReplyParseError::Unsupported {
                msg_type: "voice".to_owned()
            })
        );
        assert_eq!(
            Reply::parse_xml("<!DOCTYPE x><xml/>"),
            Err(ReplyParseError::Xml(XmlError::Dtd))
        );
        assert_eq!(
            Reply::parse_xml("success"),
            Err(ReplyParseError::Xml(XmlError::Malformed {
                reason: "text outside the root element".to_owned()
            }))
        );
    }

    #[test]
    fn reply_vector_2_through_seal() {
        let token = ServerToken::new("AAAAA".to_owned());
        let cipher = MessageCipher::new(
            EncodingAesKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
            "wx134c8103faa5a59e".to_owned(),
        );
        let msg = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
        let sealed = EncryptedReply::seal_with_random(
            &token,
            &cipher,
            msg,
            "1713424427",
            "415670741",
            b"999951349e8ee746",
        );
        assert_eq!(
            sealed,
            EncryptedReply {
                encrypt: "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7".to_owned(),
                msg_signature: "03e0812039325c2712ef5f0f980fd14c70d6e307".to_owned(),
                timestamp: "1713424427".to_owned(),
                nonce: "415670741".to_owned(),
            }
        );
        assert_eq!(
            sealed.to_xml(),
            format!(
                "<xml><Encrypt><![CDATA[{}]]></Encrypt><MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature><TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>",
                sealed.encrypt
            )
        );
    }

    #[test]
    fn vector_4_through_seal() {
        let token = ServerToken::new("spamtest".to_owned());
        let cipher = MessageCipher::new(
            EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap(),
            "wx2c2769f8efd9abc2".to_owned(),
        );
        let to = OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap();
        let xml = render(
            &Reply::Text("Thanks! We tagged you as a lead.".to_owned()),
            &to,
            "gh_10f6c3c3ac5a",
            UnixTime(1_714_112_445),
        );
        let sealed = EncryptedReply::seal_with_random(
            &token,
            &cipher,
            &xml,
            "1714112445",
            "987654321",
            b"0123456789abcdef",
        );
        // The signature covers the whole Encrypt text, so it pins every byte of it.
        assert_eq!(
            sealed.msg_signature,
            "b5868e721a0454ec237113917e52bb7e779ae38a"
        );
        assert!(
            sealed
                .encrypt
                .starts_with("Q3stYC6hdFzMh9T8HCvyDD0CVvaEZnXV")
        );
    }

    #[test]
    fn seal_then_open_round_trips_and_detects_tampering() {
        let token = ServerToken::new("my_wx_token_2024".to_owned());
        let cipher = MessageCipher::new(
            EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap(),
            "wx2c2769f8efd9abc2".to_owned(),
        );
        let xml = render(
            &Reply::News((0..3).map(article).collect()),
            &openid(),
            "gh_10f6c3c3ac5a",
            UnixTime(1_714_112_446),
        );
        let sealed = EncryptedReply::seal(&token, &cipher, &xml, "1714112446", "12345");
        let parsed = EncryptedReply::parse(&sealed.to_xml()).unwrap();
        assert_eq!(parsed, sealed);
        let opened = parsed.open(&token, &cipher).unwrap();
        assert_eq!(opened, xml);
        assert_eq!(
            Reply::parse_xml(&opened).unwrap().0,
            Reply::News((0..3).map(article).collect())
        );

        let wrong_token = ServerToken::new("other".to_owned());
        assert!(matches!(
            parsed.open(&wrong_token, &cipher),
            Err(ReplyParseError::Signature(_))
        ));
        let mut moved = parsed.clone();
        moved.nonce = "54321".to_owned();
        assert!(matches!(
            moved.open(&token, &cipher),
            Err(ReplyParseError::Signature(_))
        ));
        let other_app = MessageCipher::new(
            EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap(),
            "wx0000000000000000".to_owned(),
        );
        assert!(matches!(
            parsed.open(&token, &other_app),
            Err(ReplyParseError::Crypto(CryptoError::AppIdMismatch { .. }))
        ));
        assert_eq!(
            EncryptedReply::parse("<xml><Encrypt>x</Encrypt></xml>"),
            Err(ReplyParseError::Field(FieldError::Missing {
                field: "MsgSignature"
            }))
        );
    }
}
