//! `GET /api/export.csv`: every lead as one CSV row, streamed page by page (a segment's
//! export, `admin::segments`, writes the same file for its members).
//!
//! The file starts with a UTF-8 byte-order mark, so Excel opens the Chinese tag names as
//! UTF-8. Columns: `openid, subscribed, first_channel, channels, tags, first_seen,
//! last_seen, fields, external_id`; lists are joined with `;`, times are RFC 3339 in China
//! time, and `fields` is the lead's form fields as one JSON object (`{"<name>": {"value",
//! "at", "form", "identity"}}`, `{}` for none). Leads come newest
//! first, paged with the lead list's stable cursor, so leads that arrive during the download
//! never shift the pages still to come.
//!
//! Cells are quoted when they hold a comma, quote or line break (RFC 4180), and a cell that
//! starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so a
//! spreadsheet shows it as text instead of running it as a formula (sales' tags are free
//! text). If Redis fails half-way the response is cut off, not completed short. A corrupt
//! lead is left out (logged and counted by the store); the rest of the file goes on.

use actix_web::{HttpResponse, http::header, web::Bytes, web::Data};
use futures_util::{Stream, StreamExt, stream};

use crate::domain::Clock;
use crate::store::{Lead, LeadFilter, ListError, Store, day_of};

/// Leads read from Redis per round trip.
const PAGE: usize = 200;

/// The byte-order mark and the header row (`wxtag segment export` writes them too).
pub(crate) const HEAD: &str = "\u{feff}openid,subscribed,first_channel,channels,tags,first_seen,last_seen,fields,external_id\r\n";

/// Appends one cell: neutralised against formulas, then quoted when it has to be.
fn cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let prefix = if formula { "'" } else { "" };
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(prefix);
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(prefix);
        out.push_str(value);
    }
}

/// The CSV rows of `leads`, one a lead (`wxtag segment export` writes them too).
pub(crate) fn rows(leads: &[Lead]) -> String {
    let mut out = String::new();
    for lead in leads {
        row(&mut out, lead);
    }
    out
}

/// Appends one lead as a CSV row.
fn row(out: &mut String, lead: &Lead) {
    let tags: Vec<&str> = lead.tags.iter().map(|t| t.name.as_str()).collect();
    // A map of strings always encodes.
    let fields = serde_json::to_string(&lead.fields).unwrap_or_default();
    let cells = [
        lead.openid.as_str(),
        match lead.subscribed {
            Some(true) => "true",
            Some(false) => "false",
            None => "",
        },
        lead.first_channel.as_deref().unwrap_or(""),
        &lead.channels.join(";"),
        &tags.join(";"),
        &lead.first_seen,
        &lead.last_seen,
        &fields,
        lead.external_id.as_deref().unwrap_or(""),
    ];
    for (i, value) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, value);
    }
    out.push_str("\r\n");
}

/// The leads of one page from `cursor` (the first page for `None`), and the cursor of the
/// next page, if any.
async fn page(
    store: &Store,
    cursor: Option<String>,
) -> Result<(Vec<Lead>, Option<Option<String>>), ListError> {
    let page = store
        .leads(&LeadFilter::default(), PAGE, cursor.as_deref())
        .await?;
    Ok((page.leads, page.next_cursor.map(Some)))
}

/// `GET /api/export.csv`: all leads, streamed.
pub(super) async fn export(store: Data<Store>, clock: Data<Clock>) -> HttpResponse {
    let store = store.get_ref().clone();
    // The state is the cursor of the page to read: `Some(None)` the first, `None` when done.
    let pages = stream::try_unfold(Some(None), move |cursor| {
        let store = store.clone();
        async move {
            let Some(cursor) = cursor else {
                return Ok(None);
            };
            page(&store, cursor).await.map(Some)
        }
    });
    csv(format!("wxtag-leads-{}.csv", day_of(clock.now())), pages)
}

/// A CSV download of `pages` of leads, streamed as they are read: the byte-order mark and
/// the header row, then one row per lead. An error cuts the file off, logged.
pub(super) fn csv<E: std::fmt::Display + 'static>(
    filename: String,
    pages: impl Stream<Item = Result<Vec<Lead>, E>> + 'static,
) -> HttpResponse {
    let rows = pages.map(|result| {
        result
            .map(|leads| Bytes::from(rows(&leads)))
            .inspect_err(|error| tracing::error!(%error, "lead export cut off"))
            .map_err(|error| actix_web::error::ErrorInternalServerError(error.to_string()))
    });
    let head =
        stream::once(async { Ok::<_, actix_web::Error>(Bytes::from_static(HEAD.as_bytes())) });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(head.chain(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> String {
        let mut out = String::new();
        cell(&mut out, value);
        out
    }

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(one("来源:展会"), "来源:展会");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one(""), "");
    }

    #[test]
    fn formula_cells_are_shown_as_text() {
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("+1"), "'+1");
        assert_eq!(one("-o1"), "'-o1");
        assert_eq!(one("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(one("a=b"), "a=b", "only a leading sign counts");
    }
}
