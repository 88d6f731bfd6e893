//! Redis stopped (SIGSTOP) and killed (SIGKILL, then restarted on the same AOF) while pushes
//! arrive: no push is answered 200 while Redis cannot take it, WeChat's retries (up to 3 of
//! every other answer) leave exactly one effect each, and every push answered 200 is there.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{Spawn, TestApp, eventually, xml};

/// How long WeChat waits for an answer before it counts the push as failed.
const WECHAT_WAIT: Duration = Duration::from_secs(5);

/// One push as WeChat delivers it: a signed query and body, sent again as they are.
struct Delivery {
    query: Vec<(String, String)>,
    body: String,
    attempts: u32,
    answered: bool,
}

impl Delivery {
    fn follow(app: &TestApp, lead: &str) -> Self {
        let (query, body) = app.signed(&xml::follow(lead, Some("expo-2026")));
        Self {
            query,
            body,
            attempts: 0,
            answered: false,
        }
    }

    /// One attempt; true when WeChat would count it delivered (200 with `success` or a reply).
    async fn attempt(&mut self, app: &TestApp) -> bool {
        self.attempts += 1;
        let sent = app
            .http
            .post(format!("{}/wechat", app.base))
            .query(&self.query)
            .body(self.body.clone())
            .timeout(WECHAT_WAIT)
            .send()
            .await;
        self.answered = match sent {
            Ok(response) if response.status() == StatusCode::OK => {
                !response.text().await.unwrap_or_default().is_empty()
            }
            _ => false,
        };
        self.answered
    }
}

fn leads(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("oRedisDown{i:018}")).collect()
}

/// Sends every delivery once, all at once; returns how many were answered 200.
async fn send_all(app: &TestApp, deliveries: &mut [Delivery]) -> usize {
    join_all(deliveries.iter_mut().map(|d| d.attempt(app)))
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count()
}

/// WeChat's retries once Redis is back: every delivery not yet answered, up to 3 more times.
async fn retry_all(app: &TestApp, deliveries: &mut [Delivery]) {
    for _ in 0..3 {
        let pending: Vec<&mut Delivery> = deliveries.iter_mut().filter(|d| !d.answered).collect();
        join_all(pending.into_iter().map(|d| d.attempt(app))).await;
    }
}

async fn healthy(app: &TestApp) {
    eventually(Duration::from_secs(15), || async {
        (app.health().await? == StatusCode::OK).then_some(())
    })
    .await;
}

fn signal(app: &TestApp, name: &str) {
    let pid = app.redis.server.pid().expect("redis-server runs");
    let status = std::process::Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {name} {pid}");
}

#[tokio::test]
async fn pushes_survive_a_stopped_and_a_killed_redis_with_one_effect_each() {
    let mut app = TestApp::spawn_with(Spawn {
        durable_redis: true,
        channels: vec![(
            "10.toml".to_owned(),
            "[[qr]]\nscene = \"expo-2026\"\nname = \"展会\"\ntags = [\"来源:展会\"]\n".to_owned(),
        )],
        ..Spawn::default()
    })
    .await;

    // Healthy: every push lands.
    let mut before: Vec<Delivery> = leads(0, 20)
        .iter()
        .map(|l| Delivery::follow(&app, l))
        .collect();
    assert_eq!(send_all(&app, &mut before).await, 20);

    // Stopped: Redis holds the connection but answers nothing. No push may be answered 200,
    // and every answer must come before WeChat gives up waiting.
    signal(&app, "-STOP");
    let mut stopped: Vec<Delivery> = leads(20, 40)
        .iter()
        .map(|l| Delivery::follow(&app, l))
        .collect();
    let started = std::time::Instant::now();
    assert_eq!(
        send_all(&app, &mut stopped).await,
        0,
        "answered 200 while Redis was stopped"
    );
    assert!(
        started.elapsed() < WECHAT_WAIT,
        "answered within WeChat's wait"
    );
    signal(&app, "-CONT");
    healthy(&app).await;
    retry_all(&app, &mut stopped).await;

    // Killed and restarted on the same AOF: the connection manager must reconnect.
    app.redis
        .server
        .kill_and_restart()
        .await
        .expect("redis restarts");
    let mut killed: Vec<Delivery> = leads(40, 60)
        .iter()
        .map(|l| Delivery::follow(&app, l))
        .collect();
    let landed = send_all(&app, &mut killed).await;
    healthy(&app).await;
    retry_all(&app, &mut killed).await;

    // Killed while pushes are in flight.
    let mut racing: Vec<Delivery> = leads(60, 80)
        .iter()
        .map(|l| Delivery::follow(&app, l))
        .collect();
    tokio::join!(send_all(&app, &mut racing), async {
        tokio::task::yield_now().await;
        signal(&app, "-KILL");
    });
    app.redis
        .server
        .kill_and_restart()
        .await
        .expect("redis restarts");
    healthy(&app).await;
    retry_all(&app, &mut racing).await;

    let all: Vec<&Delivery> = before
        .iter()
        .chain(&stopped)
        .chain(&killed)
        .chain(&racing)
        .collect();
    assert!(
        all.iter().all(|d| d.answered && d.attempts <= 4),
        "every push is answered 200 within WeChat's 3 retries"
    );
    assert!(landed <= killed.len());

    // Every push answered 200 is there, with exactly one effect.
    for lead in leads(0, 80) {
        let lead = app.lead(&lead).await;
        assert_eq!(lead["events"].as_array().unwrap().len(), 1, "{lead}");
        assert_eq!(lead["tags"][0]["name"], "来源:展会");
    }
    let expo = app.channel_report("expo-2026").await;
    assert_eq!(expo["follows"], 80, "{expo}");
    assert_eq!(expo["leads"], 80, "{expo}");
    assert_eq!(app.outbox_len().await, 80, "one sync queued per lead");
}
