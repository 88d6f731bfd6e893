//! What the rules over time would do to the existing leads now, before they go live: for
//! every rule, tier list, stage and preference, how many leads it would tag and untag.
//! `wxtag check --preview` reads every lead; the dashboard reads a bounded number.

use super::Rules;
use super::derive::PreviewRow;
use crate::domain::UnixTime;
use crate::store::{Store, StoreError};

/// How many leads one read of states takes.
const PAGE: usize = 200;

/// A preview over the leads read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// One row per rule, tier list, stage and preference, in file order.
    pub rows: Vec<PreviewRow>,
    /// How many leads were read.
    pub leads: u64,
    /// False when `limit` stopped the walk before the last lead.
    pub complete: bool,
}

/// Previews each of `rule_sets` on the leads of `store` at `now`, reading at most `limit`
/// leads (`None`: every lead), oldest first, each once whatever the number of rule sets.
pub async fn preview(
    rule_sets: &[&Rules],
    store: &Store,
    now: UnixTime,
    limit: Option<u64>,
) -> Result<Vec<Preview>, StoreError> {
    let total = store.lead_count().await?;
    let stop = limit.map_or(total, |limit| limit.min(total));
    let mut previews: Vec<Preview> = rule_sets
        .iter()
        .map(|rules| Preview {
            rows: rules.preview_rows(),
            leads: 0,
            complete: stop == total,
        })
        .collect();
    let mut start = 0;
    while start < stop {
        let page = PAGE.min(usize::try_from(stop - start).unwrap_or(PAGE));
        let ids = store
            .lead_ids(usize::try_from(start).unwrap_or(usize::MAX), page)
            .await?;
        start += page as u64;
        for state in store.lead_states(&ids).await?.into_iter().flatten() {
            for (rules, preview) in rule_sets.iter().zip(&mut previews) {
                rules.preview(&state, now, &mut preview.rows);
                preview.leads += 1;
            }
        }
    }
    Ok(previews)
}

/// The preview as `check --preview` prints it: one line per row, then the leads read.
pub fn render(preview: &Preview) -> String {
    let mut out = String::new();
    if preview.rows.is_empty() {
        out.push_str("preview: no rule, tier, stage or preference to preview\n");
    }
    for row in &preview.rows {
        out.push_str(&format!(
            "preview: {} {:?}: would tag {} and untag {} lead(s)\n",
            row.kind, row.name, row.tag, row.untag
        ));
    }
    let scope = if preview.complete {
        "every"
    } else {
        "the first"
    };
    out.push_str(&format!(
        "preview: {scope} {} lead(s) read\n",
        preview.leads
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendering_names_each_row_and_the_scope() {
        let preview = Preview {
            rows: vec![PreviewRow {
                kind: "rule",
                name: "PLC 高意向".to_owned(),
                tag: 3,
                untag: 1,
            }],
            leads: 10,
            complete: false,
        };
        assert_eq!(
            render(&preview),
            "preview: rule \"PLC 高意向\": would tag 3 and untag 1 lead(s)\n\
             preview: the first 10 lead(s) read\n"
        );
    }
}
