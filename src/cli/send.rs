//! `wxtag send`: act as WeChat toward a running bot.
//!
//! One event: sign it (and encrypt it when `WECHAT_AES_KEY` is set), POST it, print the
//! (decrypted) reply. With `--count`/`--concurrency` it is a load generator: a new openid per
//! request, kinds drawn from `--mix`, scenes, menu keys and keywords taken from the channel
//! rules; it prints events/s, latency percentiles and the number of non-2xx answers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};

use super::Failure;
use super::serve::local_public_url;
use super::sync::open_store;
use crate::config::{Account, Settings};
use crate::domain::{Clock, LinkId, OpenId, Scene, UnixTime};
use crate::links::Links;
use crate::redis_server::Local;
use crate::rules::Rules;
use crate::wechat::crypto::MessageCipher;
use crate::wechat::inbound::{Body, EncryptedEnvelope, Event, Inbound, Message};
use crate::wechat::reply::{EncryptedReply, Reply};
use crate::wechat::signature;

/// `wxtag send` arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct SendArgs {
    /// What the follower does.
    #[command(subcommand)]
    kind: Option<Kind>,
    /// Send the message in this XML file instead (as WeChat would, signed and encrypted).
    #[arg(long, global = true, value_name = "FILE")]
    xml: Option<PathBuf>,
    /// The bot's webhook; default http://WXTAG_BIND/wechat.
    #[arg(long, global = true)]
    url: Option<String>,
    /// The follower's openid; default a new random one (one per request under load).
    #[arg(long, global = true)]
    openid: Option<String>,
    /// How many events to send: more than 1 makes this a load test.
    #[arg(long, global = true, default_value_t = 1)]
    count: u64,
    /// How many requests in flight at once.
    #[arg(long, global = true, default_value_t = 1)]
    concurrency: usize,
    /// The mix of kinds under load, in percent, e.g. qr=70,click=20,text=10
    /// (kinds: qr, follow, scan, unfollow, click, view, text).
    #[arg(long, global = true, value_parser = parse_mix, conflicts_with = "sequence")]
    mix: Option<Mix>,
    /// Under load, send this sequence of kinds to each of --count new leads, in order
    /// (one openid per lead), e.g. qr,click,text,text,text.
    #[arg(long, global = true, value_delimiter = ',', value_parser = parse_kind_name)]
    sequence: Option<Vec<String>>,
}

/// One kind of event to send.
#[derive(Debug, Clone, Subcommand)]
enum Kind {
    /// Follow the account, through a channel's QR code with --scene.
    Follow {
        /// The channel's scene (scene_str or scene_id).
        #[arg(long)]
        scene: Option<String>,
    },
    /// Scan a channel's QR code while already following.
    Scan {
        /// The channel's scene.
        scene: String,
    },
    /// Unfollow the account.
    Unfollow,
    /// Click a CLICK menu button.
    Click {
        /// The button's key.
        key: String,
    },
    /// Click a VIEW menu button (a link).
    View {
        /// The link.
        url: String,
    },
    /// Send a text message.
    Text {
        /// What the follower writes.
        content: String,
    },
    /// Send nothing: print the tracked link (`$WXTAG_PUBLIC_URL/l/<token>`) of a `[[link]]`
    /// that a reply would send the lead --openid, to open it in a browser (e.g. as someone
    /// else, to see a forward with WECHAT_OAUTH=base).
    Link {
        /// The `[[link]]`'s id.
        id: String,
    },
}

/// Kinds with weights, for load runs.
#[derive(Debug, Clone)]
struct Mix(Vec<(String, u32)>);

const MIX_KINDS: [&str; 7] = ["qr", "follow", "scan", "unfollow", "click", "view", "text"];

fn parse_kind_name(raw: &str) -> Result<String, String> {
    let kind = raw.trim();
    if MIX_KINDS.contains(&kind) {
        Ok(kind.to_owned())
    } else {
        Err(format!(
            "unknown kind {kind:?}; use {}",
            MIX_KINDS.join(", ")
        ))
    }
}

fn parse_mix(raw: &str) -> Result<Mix, String> {
    let mut parts = Vec::new();
    for part in raw.split(',') {
        let (kind, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not kind=percent"))?;
        let kind = parse_kind_name(kind)?;
        let weight = weight
            .trim()
            .parse()
            .map_err(|_| format!("{weight:?} is not a whole number"))?;
        parts.push((kind, weight));
    }
    if parts.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        return Err("the weights add up to 0".to_owned());
    }
    Ok(Mix(parts))
}

/// What load runs draw scenes, keys, links and texts from: the channel rules, or stand-ins.
#[derive(Debug)]
struct Samples {
    scenes: Vec<String>,
    keys: Vec<String>,
    links: Vec<String>,
    texts: Vec<String>,
}

impl Samples {
    fn from_rules(rules: &Rules) -> Self {
        let or = |found: Vec<String>, fallback: &str| {
            if found.is_empty() {
                vec![fallback.to_owned()]
            } else {
                found
            }
        };
        let samples = rules.samples();
        Self {
            scenes: or(samples.scenes, "load-test"),
            keys: or(samples.click_keys, "LOAD_TEST"),
            links: or(samples.view_urls, "https://example.com/"),
            texts: or(samples.keywords, "你好"),
        }
    }

    fn kind(&self, name: &str, rng: &mut impl rand::Rng) -> Kind {
        let pick = |list: &[String], rng: &mut dyn rand::Rng| {
            list[rng.random_range(0..list.len())].clone()
        };
        match name {
            "qr" => Kind::Follow {
                scene: Some(pick(&self.scenes, rng)),
            },
            "follow" => Kind::Follow { scene: None },
            "scan" => Kind::Scan {
                scene: pick(&self.scenes, rng),
            },
            "unfollow" => Kind::Unfollow,
            "click" => Kind::Click {
                key: pick(&self.keys, rng),
            },
            "view" => Kind::View {
                url: pick(&self.links, rng),
            },
            _ => Kind::Text {
                content: pick(&self.texts, rng),
            },
        }
    }
}

/// A random openid shaped like WeChat's (28 characters).
fn random_openid(rng: &mut impl rand::Rng) -> OpenId {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let tail: String = (0..27)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    // 'o' plus 27 characters of the alphabet is always a valid openid.
    OpenId::parse(&format!("o{tail}")).expect("generated openids are valid")
}

fn inbound(
    kind: &Kind,
    from: OpenId,
    to: &str,
    msg_id: u64,
    created: UnixTime,
) -> Result<Inbound, Failure> {
    let scene = |raw: &str| Scene::parse(raw).map_err(|e| format!("--scene {raw:?}: {e}"));
    let body = match kind {
        Kind::Follow { scene: s } => Body::Event(Event::Subscribe {
            scene: s.as_deref().map(scene).transpose()?,
            ticket: None,
            event_key: None,
        }),
        Kind::Scan { scene: s } => Body::Event(Event::Scan {
            scene: scene(s)?,
            ticket: None,
        }),
        Kind::Unfollow => Body::Event(Event::Unsubscribe),
        Kind::Click { key } => Body::Event(Event::Click { key: key.clone() }),
        Kind::View { url } => Body::Event(Event::View {
            url: url.clone(),
            menu_id: None,
        }),
        Kind::Text { content } => Body::Message {
            msg_id: Some(msg_id),
            message: Message::Text {
                content: content.clone(),
            },
        },
        Kind::Link { .. } => return Err("`link` prints a tracked link; it sends no event".into()),
    };
    Ok(Inbound {
        to: to.to_owned(),
        from,
        created,
        body,
    })
}

/// Signs (and encrypts) messages as WeChat does and posts them to the bot, with wxtag's
/// clock (`WXTAG_CLOCK_OFFSET_SECS`), so a bot running shifted accepts them.
#[derive(Debug)]
struct Sender {
    http: reqwest::Client,
    url: String,
    account: Account,
    cipher: Option<MessageCipher>,
    clock: Clock,
}

/// One answer from the bot.
#[derive(Debug)]
struct Answered {
    status: reqwest::StatusCode,
    body: String,
}

impl Sender {
    async fn post(&self, xml: &str) -> Result<Answered, Failure> {
        let timestamp = self.clock.now().0.to_string();
        // Up to 20 digits: thousands of pushes a second never repeat a timestamp and nonce,
        // which the replay guard would rightly refuse in plaintext mode (with WeChat's 10
        // digits, a load of 200,000 pushes at 9,000 a second has about one chance in ten).
        let nonce = rand::random::<u64>().to_string();
        let token = &self.account.token;
        let signature = signature::signature_of(token, &timestamp, &nonce);
        let mut query = vec![
            ("signature", signature),
            ("timestamp", timestamp.clone()),
            ("nonce", nonce.clone()),
        ];
        let body = match &self.cipher {
            None => xml.to_owned(),
            Some(cipher) => {
                let encrypt = cipher.encrypt(xml);
                query.push((
                    "msg_signature",
                    signature::msg_signature_of(token, &timestamp, &nonce, &encrypt),
                ));
                query.push(("encrypt_type", "aes".to_owned()));
                EncryptedEnvelope {
                    to_user_name: None,
                    encrypt,
                }
                .to_xml()
            }
        };
        let response = self
            .http
            .post(&self.url)
            .query(&query)
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {}", self.url, e.without_url()))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Ok(Answered { status, body })
    }

    /// The reply in plain words: decrypted and parsed when it is a message.
    fn describe(&self, body: &str) -> String {
        if body.is_empty() || body == "success" {
            return "no reply (success)".to_owned();
        }
        let xml = match (&self.cipher, EncryptedReply::parse(body)) {
            (Some(cipher), Ok(sealed)) => match sealed.open(&self.account.token, cipher) {
                Ok(xml) => xml,
                Err(e) => return format!("an encrypted reply that does not open: {e}"),
            },
            _ => body.to_owned(),
        };
        match Reply::parse_xml(&xml) {
            Ok((Reply::Text(text), _)) => format!("text reply: {text}"),
            Ok((Reply::News(articles), _)) => {
                let titles: Vec<_> = articles.iter().map(|a| a.title.as_str()).collect();
                format!("news reply: {}", titles.join(" | "))
            }
            Ok((Reply::Image { media_id }, _)) => format!("image reply: {media_id}"),
            Err(_) => format!("reply: {xml}"),
        }
    }
}

/// `wxtag send link <ID> --openid <OPENID>`: prints the lead's tracked link to `id`, signed
/// with the account's current key (read from Redis, made if the account has none yet).
async fn print_link(
    settings: &Settings,
    id: &str,
    openid: Option<&str>,
) -> Result<ExitCode, Failure> {
    let id = LinkId::parse(id).map_err(|e| format!("link {id:?}: {e}"))?;
    let openid =
        openid.ok_or("say whose link: --openid <OPENID> (the lead a reply would send it to)")?;
    let openid = OpenId::parse(openid).map_err(|e| format!("--openid: {e}"))?;
    let rules = Rules::load(&settings.channels_dir)
        .map_err(|e| format!("cannot read {}: {e}", settings.channels_dir.display()))?
        .rules;
    if rules.link(&id).is_none() {
        return Err(format!(
            "no [[link]] has id {id} in {}; `wxtag check` lists the files",
            settings.channels_dir.display()
        )
        .into());
    }
    // As `serve` serves them: in sandbox mode without a public URL, at its own address.
    let public_url = match &settings.public_url {
        Some(url) => Some(url.clone()),
        None if settings.is_sandbox() => local_public_url(settings.bind),
        None => None,
    };
    let links = Links::new(public_url, settings.history_days);
    let (store, local) = open_store(settings).await?;
    let url = links
        .tracked_url(&store, &id, &openid, settings.clock.now())
        .await;
    if let Some(Local::Owned(redis)) = local {
        redis.shutdown().await;
    }
    match url? {
        Some(url) => {
            println!("{url}");
            Ok(ExitCode::SUCCESS)
        }
        None => Err(
            "WXTAG_PUBLIC_URL is not set, so links go out untracked; set it to \
                     where browsers reach wxtag, e.g. http://127.0.0.1:8080"
                .into(),
        ),
    }
}

/// Runs `wxtag send`.
pub async fn run(settings: &Settings, args: SendArgs) -> Result<ExitCode, Failure> {
    if let Some(Kind::Link { id }) = &args.kind {
        return print_link(settings, id, args.openid.as_deref()).await;
    }
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{}/wechat", settings.bind));
    crate::wechat::api::install_crypto_provider();
    let sender = Arc::new(Sender {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(args.concurrency.max(1))
            .build()?,
        url,
        cipher: settings
            .account
            .aes_key
            .clone()
            .map(|key| MessageCipher::new(key, settings.account.appid.clone())),
        account: settings.account.clone(),
        clock: settings.clock.clone(),
    });
    if args.count > 1 || args.concurrency > 1 {
        return load(settings, sender, args).await;
    }
    let (xml, openid) = match (&args.xml, &args.kind) {
        (Some(path), _) => {
            let xml = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (xml, None)
        }
        (None, Some(kind)) => {
            let openid = match &args.openid {
                Some(raw) => OpenId::parse(raw).map_err(|e| format!("--openid: {e}"))?,
                None => random_openid(&mut rand::rng()),
            };
            let message = inbound(
                kind,
                openid.clone(),
                "gh_wxtag_send",
                rand::random(),
                sender.clock.now(),
            )?;
            (message.to_xml(), Some(openid))
        }
        (None, None) => {
            return Err(
                "say what to send: follow, scan, unfollow, click, view, text, or --xml FILE".into(),
            );
        }
    };
    let started = Instant::now();
    let answer = sender.post(&xml).await?;
    println!(
        "{} in {:.1} ms: {}",
        answer.status,
        started.elapsed().as_secs_f64() * 1000.0,
        sender.describe(&answer.body)
    );
    if let Some(openid) = openid {
        println!("openid: {openid}");
        println!(
            "see the lead: curl -H \"Authorization: Bearer $WXTAG_ADMIN_TOKEN\" http://{}/api/leads/{openid}",
            settings.bind
        );
    }
    Ok(if answer.status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What each unit of a load run sends: one event of a fixed kind, one event drawn from a
/// weighted mix, or a sequence of events from one new lead.
#[derive(Debug, Clone)]
enum Plan {
    Fixed(Kind),
    Mix(Vec<(String, u32)>),
    Sequence(Vec<String>),
}

impl Plan {
    fn describe(&self) -> String {
        match self {
            Plan::Fixed(kind) => kind_name(kind).to_owned(),
            Plan::Mix(mix) => mix
                .iter()
                .map(|(k, w)| format!("{k}={w}"))
                .collect::<Vec<_>>()
                .join(","),
            Plan::Sequence(kinds) => format!("each lead: {}", kinds.join(",")),
        }
    }

    /// The events of one unit.
    fn kinds(&self, samples: &Samples, rng: &mut impl rand::Rng) -> Vec<Kind> {
        match self {
            Plan::Fixed(kind) => vec![kind.clone()],
            Plan::Mix(mix) => {
                let total: u32 = mix.iter().map(|(_, w)| w).sum();
                let mut roll = rng.random_range(0..total);
                let name = mix
                    .iter()
                    .find(|(_, w)| {
                        let hit = roll < *w;
                        roll = roll.saturating_sub(*w);
                        hit
                    })
                    .map_or("text", |(k, _)| k.as_str());
                vec![samples.kind(name, rng)]
            }
            Plan::Sequence(names) => names.iter().map(|name| samples.kind(name, rng)).collect(),
        }
    }
}

/// A fresh latency histogram: 1 µs to 60 s at 3 significant figures.
fn histogram() -> Histogram<u64> {
    // Fixed, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The load generator: `count` units, `concurrency` in flight, a new openid per unit.
async fn load(
    settings: &Settings,
    sender: Arc<Sender>,
    args: SendArgs,
) -> Result<ExitCode, Failure> {
    let rules = match Rules::load(&settings.channels_dir) {
        Ok(loaded) => loaded.rules,
        Err(_) => Rules::default(),
    };
    let samples = Arc::new(Samples::from_rules(&rules));
    let plan = match (args.sequence, args.mix, args.kind) {
        (Some(sequence), _, _) => Plan::Sequence(sequence),
        (None, Some(mix), _) => Plan::Mix(mix.0),
        (None, None, Some(kind)) => Plan::Fixed(kind),
        (None, None, None) => Plan::Mix(vec![
            ("qr".to_owned(), 70),
            ("click".to_owned(), 20),
            ("text".to_owned(), 10),
        ]),
    };
    let next = Arc::new(AtomicU64::new(0));
    let count = args.count;
    println!(
        "sending {count} × ({}) with {} in flight to {}",
        plan.describe(),
        args.concurrency,
        sender.url
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (sender, samples, next, plan) =
            (sender.clone(), samples.clone(), next.clone(), plan.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let (mut failed, mut errors) = (0u64, 0u64);
            let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let openid = random_openid(&mut rng);
                for kind in plan.kinds(&samples, &mut rng) {
                    let created = sender.clock.now();
                    let Ok(message) = inbound(
                        &kind,
                        openid.clone(),
                        "gh_wxtag_load",
                        rng.random(),
                        created,
                    ) else {
                        errors += 1;
                        continue;
                    };
                    let sent = Instant::now();
                    match sender.post(&message.to_xml()).await {
                        Ok(answer) if answer.status.is_success() => {}
                        Ok(_) => failed += 1,
                        Err(_) => errors += 1,
                    }
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    latencies.saturating_record(micros.max(1));
                }
            }
            (latencies, failed, errors)
        }));
    }
    let mut latencies = histogram();
    let (mut failed, mut errors) = (0, 0);
    for worker in workers {
        let (h, f, e) = worker.await?;
        latencies.add(h)?;
        failed += f;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    println!("  events      {}", latencies.len());
    println!(
        "  throughput  {:.0} events/s over {elapsed:.1} s",
        latencies.len() as f64 / elapsed
    );
    println!(
        "  latency     p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latencies.max() as f64 / 1000.0
    );
    println!("  non-2xx     {failed}");
    println!("  no answer   {errors}");
    Ok(if failed == 0 && errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Follow { scene: Some(_) } => "qr",
        Kind::Follow { scene: None } => "follow",
        Kind::Scan { .. } => "scan",
        Kind::Unfollow => "unfollow",
        Kind::Click { .. } => "click",
        Kind::View { .. } => "view",
        Kind::Text { .. } => "text",
        Kind::Link { .. } => "link",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_bad_ones_say_why() {
        let mix = parse_mix("qr=70,click=20,text=10").unwrap();
        assert_eq!(mix.0.len(), 3);
        assert!(parse_mix("qr").unwrap_err().contains("kind=percent"));
        assert!(parse_mix("foo=1").unwrap_err().contains("unknown kind"));
        assert!(parse_mix("qr=0").unwrap_err().contains("0"));
    }

    #[test]
    fn random_openids_are_wechat_shaped_and_distinct() {
        let mut rng = rand::rng();
        let (a, b) = (random_openid(&mut rng), random_openid(&mut rng));
        assert_eq!(a.as_str().len(), 28);
        assert_ne!(a, b);
    }
}
