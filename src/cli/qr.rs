//! `wxtag qr SCENE [-o FILE.png]`: create a channel's QR code through WeChat and render it to
//! PNG locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Failure;
use super::sync::connect;
use crate::config::Settings;
use crate::domain::Scene;
use crate::wechat::qrcode::render_png;

/// `wxtag qr` arguments.
#[derive(Debug, Args)]
pub struct QrArgs {
    /// The channel's scene, as its `[[qr]]` section gives it.
    scene: String,
    /// Where to write the PNG; default `qr-SCENE.png`.
    #[arg(short, long, value_name = "FILE.png")]
    output: Option<PathBuf>,
}

/// Creates the code (permanent or temporary, as the channel says) and writes the PNG.
pub async fn run(settings: &Settings, args: QrArgs) -> Result<ExitCode, Failure> {
    let scene = Scene::parse(&args.scene).map_err(|e| format!("{:?}: {e}", args.scene))?;
    let rules = crate::rules::live::load(&settings.channels_dir, settings.history_days)?;
    let channel = rules.channel(&scene).ok_or_else(|| {
        format!(
            "no [[qr]] in {} has scene {scene}; add one, then run wxtag check",
            settings.channels_dir.display()
        )
    })?;
    let request = channel.qr_request().ok_or_else(|| channel.no_code())?;
    let connected = connect(settings).await?;
    let made = connected.worker.client().create_qrcode(&request).await;
    connected.close().await;
    let ticket = made.map_err(|e| format!("wechat did not create the qr code: {e}"))?;
    let png = render_png(&ticket.url)?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("qr-{scene}.png")));
    std::fs::write(&path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let lifetime = match ticket.expire_seconds {
        Some(secs) => format!("temporary, expires in {} days", secs / 86_400),
        None => "permanent".to_owned(),
    };
    println!(
        "{}: {} ({lifetime})\n  encodes {}",
        channel.name,
        path.display(),
        ticket.url
    );
    Ok(ExitCode::SUCCESS)
}
