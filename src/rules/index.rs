//! The lookup structures behind matching: their cost depends on the input (a URL, a message),
//! never on how many rules there are.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use regex::RegexSet;

use super::RuleId;

/// The key an `exact` keyword is stored and looked up under: trimmed, ASCII lowercase.
pub(super) fn normalise(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

/// A byte trie of VIEW URL prefixes: matching walks the URL once, collecting every rule whose
/// prefix ends on the path.
#[derive(Debug, Default)]
pub(super) struct PrefixTrie {
    /// `nodes[0]` is the root once anything is inserted.
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// Next byte → node index, sorted by byte.
    children: Vec<(u8, usize)>,
    /// Rules whose prefix ends here.
    rules: Vec<RuleId>,
}

impl PrefixTrie {
    /// Adds a rule for URLs starting with `prefix`.
    pub(super) fn insert(&mut self, prefix: &str, rule: RuleId) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut at = 0;
        for &b in prefix.as_bytes() {
            at = match self.nodes[at]
                .children
                .binary_search_by_key(&b, |&(c, _)| c)
            {
                Ok(i) => self.nodes[at].children[i].1,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[at].children.insert(i, (b, next));
                    next
                }
            };
        }
        self.nodes[at].rules.push(rule);
    }

    /// Pushes onto `out` every rule whose prefix starts `url`.
    pub(super) fn matches(&self, url: &str, out: &mut Vec<RuleId>) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        out.extend(&node.rules);
        for &b in url.as_bytes() {
            match node.children.binary_search_by_key(&b, |&(c, _)| c) {
                Ok(i) => {
                    node = &self.nodes[node.children[i].1];
                    out.extend(&node.rules);
                }
                Err(_) => return,
            }
        }
    }
}

/// Every `[[keyword]]` rule: exact texts in a map, `contains` texts in one automaton, regexes
/// in one set.
#[derive(Debug, Default)]
pub(super) struct KeywordIndex {
    /// Every `exact` and `contains` text, as a follower could send it.
    pub(super) texts: Vec<String>,
    /// Normalised text → rules.
    exact: HashMap<String, Vec<RuleId>>,
    /// All `contains` texts; `None` when there are none.
    contains: Option<AhoCorasick>,
    /// Automaton pattern id → rules.
    contains_rules: Vec<Vec<RuleId>>,
    /// All regexes.
    regexes: RegexSet,
    /// Set index → rules.
    regex_rules: Vec<Vec<RuleId>>,
}

impl KeywordIndex {
    /// Pushes onto `out` every keyword rule that matches a message.
    pub(super) fn matches(&self, content: &str, out: &mut Vec<RuleId>) {
        let text = content.trim();
        if !self.exact.is_empty()
            && let Some(rules) = self.exact.get(&normalise(text))
        {
            out.extend(rules);
        }
        if let Some(ac) = &self.contains {
            // The automaton is built with the default (standard) match kind, which overlapping
            // search requires.
            for m in ac.find_overlapping_iter(text) {
                out.extend(&self.contains_rules[m.pattern().as_usize()]);
            }
        }
        for i in self.regexes.matches(text).iter() {
            out.extend(&self.regex_rules[i]);
        }
    }
}

/// Collects keyword rules, then compiles them into a [`KeywordIndex`].
#[derive(Debug, Default)]
pub(super) struct KeywordIndexBuilder {
    exact: HashMap<String, Vec<RuleId>>,
    contains: Patterns,
    regexes: Patterns,
}

/// Distinct patterns, each with the rules that use it (two rules may share a text).
#[derive(Debug, Default)]
struct Patterns {
    texts: Vec<String>,
    rules: Vec<Vec<RuleId>>,
    by_text: HashMap<String, usize>,
}

impl Patterns {
    fn add(&mut self, text: String, rule: RuleId) {
        let i = *self.by_text.entry(text.clone()).or_insert_with(|| {
            self.texts.push(text);
            self.rules.push(Vec::new());
            self.texts.len() - 1
        });
        self.rules[i].push(rule);
    }
}

impl KeywordIndexBuilder {
    /// Adds an `exact` keyword.
    pub(super) fn exact(&mut self, text: &str, rule: RuleId) {
        self.exact.entry(normalise(text)).or_default().push(rule);
    }

    /// Adds a `contains` keyword.
    pub(super) fn contains(&mut self, text: &str, rule: RuleId) {
        self.contains.add(normalise(text), rule);
    }

    /// Adds a `regex` keyword that is known to compile on its own.
    pub(super) fn regex(&mut self, pattern: &str, rule: RuleId) {
        self.regexes.add(pattern.to_owned(), rule);
    }

    /// Compiles the automaton and the regex set; fails only when they grow past the
    /// libraries' size limits.
    pub(super) fn build(self) -> Result<KeywordIndex, String> {
        let contains = if self.contains.texts.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&self.contains.texts)
                .map_err(|e| format!("the contains keywords do not fit in one matcher: {e}"))?;
            Some(ac)
        };
        let regexes = RegexSet::new(&self.regexes.texts).map_err(|e| {
            format!("the regex keywords together are too large for one regex set: {e}")
        })?;
        let mut texts: Vec<String> = self.exact.keys().cloned().collect();
        texts.sort();
        texts.extend(self.contains.texts.iter().cloned());
        Ok(KeywordIndex {
            texts,
            exact: self.exact,
            contains,
            contains_rules: self.contains.rules,
            regexes,
            regex_rules: self.regexes.rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [RuleId; 0] = [];

    fn found(f: impl FnOnce(&mut Vec<RuleId>)) -> Vec<RuleId> {
        let mut out = Vec::new();
        f(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn trie_finds_every_prefix_of_the_url_and_nothing_else() {
        let mut t = PrefixTrie::default();
        t.insert("https://example.com/", 0);
        t.insert("https://example.com/cases/", 1);
        t.insert("https://example.com/cases/", 2);
        t.insert("https://example.com/casestudy", 3);
        t.insert("https://other.com/", 4);
        assert_eq!(
            found(|o| t.matches("https://example.com/cases/42", o)),
            [0, 1, 2]
        );
        assert_eq!(found(|o| t.matches("https://example.com/", o)), [0]);
        assert_eq!(found(|o| t.matches("https://example.com", o)), NONE);
        assert_eq!(found(|o| PrefixTrie::default().matches("x", o)), NONE);
    }

    #[test]
    fn keywords_normalise_case_and_space_but_regexes_see_the_text_as_is() {
        let mut b = KeywordIndexBuilder::default();
        b.exact(" PDF ", 0);
        b.contains("报价", 1);
        b.contains("Price", 2);
        b.contains("price", 3);
        b.regex(r"^\d{11}$", 4);
        b.regex("Demo", 5);
        let k = b.build().unwrap();
        assert_eq!(found(|o| k.matches("pdf", o)), [0]);
        assert_eq!(found(|o| k.matches("  Pdf\u{3000}", o)), [0]);
        assert_eq!(found(|o| k.matches("pdf please", o)), NONE);
        assert_eq!(found(|o| k.matches("PRICE 报价 报价", o)), [1, 2, 3]);
        assert_eq!(found(|o| k.matches(" 13800000000 ", o)), [4]);
        assert_eq!(found(|o| k.matches("demo", o)), NONE);
        assert_eq!(found(|o| k.matches("a Demo", o)), [5]);
    }
}
