//! The one-way structure, checked: every module of `src/` uses only modules of the layers
//! below its own (the README's "Where things live" lists them), so no import points up and
//! the jobs (webhook, scheduler, sync, admin, automation) never use each other.

use std::path::Path;

/// The layers, bottom first; a module may use only modules of an earlier layer.
const LAYERS: &[&[&str]] = &[
    &["domain", "metrics", "telemetry", "redis_server"],
    &["store"],
    &["wechat"],
    &["sandbox"],
    &["config"],
    &["rules", "outreach"],
    &["oauth"],
    &["segments", "links", "events", "notify", "menus"],
    &["forms"],
    &["webhook", "scheduler", "sync", "admin", "automation"],
    &["startup"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file of a module: `src/<module>.rs` or everything under `src/<module>/`.
fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            files(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

#[test]
fn no_module_uses_a_module_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for layer in LAYERS {
        for module in *layer {
            let own = layer_of(module).unwrap();
            let mut sources = Vec::new();
            files(&src.join(module), &mut sources);
            files(&src.join(format!("{module}.rs")), &mut sources);
            assert!(!sources.is_empty(), "no source for module {module}");
            for file in sources {
                let text = std::fs::read_to_string(&file).unwrap();
                for (at, _) in text.match_indices("crate::") {
                    let used: String = text[at + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if used == *module {
                        continue;
                    }
                    let Some(theirs) = layer_of(&used) else {
                        upward.push(format!("{}: crate::{used} is in no layer", file.display()));
                        continue;
                    };
                    if theirs >= own {
                        upward.push(format!("{}: {module} uses {used}", file.display()));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}
