//! What `wxtag check` says: one `file:line: message` per mistake, and the summary line.
//!
//! Diagnostics are values; printing them is the CLI's job. [`report`] formats a whole load
//! result the way `wxtag check` shows it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{CheckFailed, Loaded, Stats};

/// How bad a diagnostic is: errors refuse the folder, warnings only inform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The folder cannot be used until this is fixed.
    Error,
    /// Worth a look; the folder still loads.
    Warning,
}

/// One mistake (or doubt) in a `channels/` file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or, for a folder-level problem, the folder).
    pub file: PathBuf,
    /// The 1-based line; 0 when the problem is about the whole file or folder.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what is allowed, lowercase.
    pub message: String,
}

impl Diagnostic {
    /// An error at `file:line`.
    pub fn error(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::new(file, line, Severity::Error, message)
    }

    /// A warning at `file:line`.
    pub fn warning(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::new(file, line, Severity::Warning, message)
    }

    fn new(file: &Path, line: usize, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            severity,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Turns byte offsets of one file's text into 1-based line numbers.
#[derive(Debug)]
pub(super) struct LineIndex {
    /// Byte offset of every `\n`.
    newlines: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub(super) fn new(text: &str) -> Self {
        let newlines = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Self { newlines }
    }

    /// The line a byte offset is on.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }

    /// The line a span starts on.
    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        self.line(span.start)
    }
}

/// `n` and the noun, plural when `n != 1`: `1 file`, `3 files`.
pub(super) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Formats a load result as `wxtag check` prints it: every diagnostic on its own line
/// (in file and line order), then a summary such as
/// `channels/: 3 files, 12 rules, 17 tags, 0 errors, 1 warning`. The flag is true when the
/// folder is usable (no errors).
pub fn report(dir: &Path, result: &Result<Loaded, CheckFailed>) -> (String, bool) {
    let (errors, warnings, stats): (&[Diagnostic], &[Diagnostic], Stats) = match result {
        Ok(loaded) => (&[], &loaded.warnings, loaded.rules.stats()),
        Err(failed) => (&failed.errors, &failed.warnings, failed.stats),
    };
    let mut all: Vec<&Diagnostic> = errors.iter().chain(warnings).collect();
    all.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut out = String::new();
    for d in all {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let mut shown = dir.display().to_string();
    if !shown.ends_with('/') {
        shown.push('/');
    }
    out.push_str(&format!(
        "{shown}: {}, {}, {}, {}, {}\n",
        count(stats.files, "file"),
        count(stats.rules, "rule"),
        count(stats.tags, "tag"),
        count(errors.len(), "error"),
        count(warnings.len(), "warning"),
    ));
    (out, errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one_and_follow_newlines() {
        let idx = LineIndex::new("a = 1\nb = 2\n\nc = 3");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(5), 1);
        assert_eq!(idx.line(6), 2);
        assert_eq!(idx.line(12), 3);
        assert_eq!(idx.line(13), 4);
    }

    #[test]
    fn display_is_file_line_message_with_warning_prefix() {
        let f = Path::new("channels/10-expo.toml");
        let e = Diagnostic::error(f, 7, "scene \"expo 2026\" has a space");
        assert_eq!(
            e.to_string(),
            "channels/10-expo.toml:7: scene \"expo 2026\" has a space"
        );
        let w = Diagnostic::warning(f, 3, "tag is long");
        assert_eq!(
            w.to_string(),
            "channels/10-expo.toml:3: warning: tag is long"
        );
        let d = Diagnostic::error(Path::new("channels"), 0, "folder not found");
        assert_eq!(d.to_string(), "channels: folder not found");
    }
}
