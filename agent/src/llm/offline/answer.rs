//! Answering a question from the retrieved knowledge, without a language model.
//!
//! The chunks in the prompt are already ranked by retrieval. A chunk is relevant when its
//! retrieval score is at least [`MIN_SCORE`] and it shares words with the question: at least
//! [`MIN_COVERAGE`] of the question's content terms (stop words dropped, word forms folded by
//! a light stemmer, each term weighted by its rarity among the retrieved chunks), or any of
//! them when the score is [`STRONG_SCORE`] or more (a semantic embedder found it without shared
//! words). The most covering chunk wins, with a bonus when its title holds the question's terms
//! (ties go to the better ranked); from it, the sentences (or list items) that share the most
//! with the question are quoted, up to [`MAX_SENTENCES`], with the chunk's title as the source;
//! a second chunk that answers as well adds its best sentences. With no relevant chunk the
//! caller says it does not know.

use super::lexicon::{same_term, terms};
use crate::prompt::Prompt;
use crate::retrieval::KnowledgeChunk;

/// Chunks scored below this by retrieval are never quoted. Low on purpose: the lexical `hash`
/// embedder scores a relevant chunk at 0.1-0.4, and the word overlap below does the real
/// filtering.
pub const MIN_SCORE: f32 = 0.05;
/// A chunk scored at least this (a semantic match) needs only one shared term.
pub const STRONG_SCORE: f32 = 0.5;
/// Share of the question's terms a chunk must contain to count as relevant.
pub const MIN_COVERAGE: f32 = 0.5;
/// Most sentences quoted in one answer: an answer, not a copy of the knowledge base.
pub const MAX_SENTENCES: usize = 3;

struct Candidate<'k> {
    chunk: &'k KnowledgeChunk,
    rank: usize,
    /// Weighted share of the question's terms the chunk contains.
    coverage: f32,
    /// Weighted share of the question's terms its title contains.
    title_coverage: f32,
    /// Sentences with the weight of the question terms each contains.
    units: Vec<(String, f32)>,
}

impl Candidate<'_> {
    /// How well the chunk answers: coverage, plus a bonus when the title names the subject.
    fn strength(&self) -> f32 {
        self.coverage + TITLE_BONUS * self.title_coverage
    }
}

/// Extra strength of a chunk, in proportion to the share of the question its title holds: a chunk titled
/// "Closing checklist" is about closing, one that mentions closing in passing is not.
pub const TITLE_BONUS: f32 = 0.25;

/// Weight of the question terms contained in `text_terms`.
fn matched(question: &[(String, f32)], text_terms: &[String]) -> f32 {
    question
        .iter()
        .filter(|(q, _)| text_terms.iter().any(|t| same_term(q, t)))
        .map(|(_, w)| w)
        .sum()
}

/// The question's terms, each weighted by how rare it is among the retrieved chunks
/// (1 + ln((n + 1) / (df + 1))): "tiramisu" in one chunk tells more than "gluten" in four.
fn weigh(question: Vec<String>, chunk_terms: &[Vec<String>]) -> Vec<(String, f32)> {
    #[expect(
        clippy::cast_precision_loss,
        reason = "chunk counts are tiny; the weight only ranks"
    )]
    let n = chunk_terms.len() as f32;
    question
        .into_iter()
        .map(|q| {
            #[expect(
                clippy::cast_precision_loss,
                reason = "chunk counts are tiny; the weight only ranks"
            )]
            let df = chunk_terms
                .iter()
                .filter(|terms| terms.iter().any(|t| same_term(&q, t)))
                .count() as f32;
            (q, 1.0 + ((n + 1.0) / (df + 1.0)).ln())
        })
        .collect()
}

/// The answer to `question` from the prompt's knowledge, or `None` when nothing relevant was
/// retrieved.
pub fn answer(question: &str, prompt: &Prompt) -> Option<String> {
    let question = terms(question);
    if question.is_empty() {
        return None;
    }
    let usable: Vec<(usize, &KnowledgeChunk, Vec<String>, Vec<String>)> = prompt
        .knowledge
        .iter()
        .enumerate()
        .filter(|(_, c)| c.score >= MIN_SCORE)
        .map(|(rank, c)| {
            let title = terms(c.title.as_deref().unwrap_or_default());
            let mut all = title.clone();
            all.extend(terms(&c.content));
            (rank, c, title, all)
        })
        .collect();
    let all_terms: Vec<Vec<String>> = usable.iter().map(|(_, _, _, all)| all.clone()).collect();
    let question = weigh(question, &all_terms);
    let total: f32 = question.iter().map(|(_, w)| w).sum();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for (rank, chunk, title, all) in &usable {
        let coverage = matched(&question, all) / total;
        let title_coverage = matched(&question, title) / total;
        let relevant = coverage > 0.0 && (coverage >= MIN_COVERAGE || chunk.score >= STRONG_SCORE);
        if !relevant {
            continue;
        }
        let units = units(&chunk.content)
            .into_iter()
            .map(|u| {
                let w = matched(&question, &terms(&u));
                (u, w)
            })
            .collect();
        candidates.push(Candidate {
            chunk,
            rank: *rank,
            coverage,
            title_coverage,
            units,
        });
    }
    // Strongest first; retrieval's order breaks ties.
    candidates.sort_by(|a, b| {
        b.strength()
            .total_cmp(&a.strength())
            .then(a.rank.cmp(&b.rank))
    });
    let best = candidates.first()?;
    let mut parts = vec![quote(best, MAX_SENTENCES)];
    let used = parts[0].1;
    if used < MAX_SENTENCES
        && let Some(second) = candidates
            .get(1)
            .filter(|c| c.strength() >= best.strength() && c.units.iter().any(|(_, w)| *w > 0.0))
    {
        parts.push(quote(second, (MAX_SENTENCES - used).min(2)));
    }
    Some(
        parts
            .into_iter()
            .map(|(text, _)| text)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `From "Title": sentence. sentence.`: when the title holds the whole question, the chunk's
/// first sentences (it is about exactly that); otherwise the sentences that hold at least half
/// the weight of the best one (best first, at most `max`, shown in their original order), or
/// the first two when only the title matched. Returns the text and the sentence count.
fn quote(c: &Candidate<'_>, max: usize) -> (String, usize) {
    let best = c.units.iter().map(|(_, w)| *w).fold(0.0_f32, f32::max);
    let about_it = c.title_coverage >= 1.0 - f32::EPSILON;
    let mut picked: Vec<(usize, &str, f32)> = if about_it || best <= 0.0 {
        let take = if about_it { max } else { 2 };
        c.units
            .iter()
            .enumerate()
            .take(take)
            .map(|(i, (u, w))| (i, u.as_str(), *w))
            .collect()
    } else {
        c.units
            .iter()
            .enumerate()
            .filter(|(_, (_, w))| *w >= best * 0.5 && *w > 0.0)
            .map(|(i, (u, w))| (i, u.as_str(), *w))
            .collect()
    };
    picked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    picked.truncate(max.max(1));
    picked.sort_by_key(|(i, _, _)| *i);
    let source = c.chunk.title.as_ref().map_or_else(
        || format!("the {} notes", c.chunk.category),
        |t| format!("\"{t}\""),
    );
    let sentences: Vec<String> = picked.iter().map(|(_, u, _)| end_sentence(u)).collect();
    (
        format!("From {source}: {}", sentences.join(" ")),
        picked.len(),
    )
}

/// A sentence ends with punctuation.
fn end_sentence(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(['.', '!', '?']) {
        t.to_owned()
    } else {
        format!("{t}.")
    }
}

/// Whether a line is a Markdown list item; returns its text.
fn list_item(line: &str) -> Option<&str> {
    let l = line.trim_start();
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = l.strip_prefix(marker) {
            return Some(rest.trim());
        }
    }
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let rest = &l[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(rest.trim());
        }
    }
    None
}

/// The quotable units of a chunk: list items, and the sentences of its paragraphs (whose lines
/// may be soft-wrapped).
fn units(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let normalised = content.replace("\r\n", "\n");
    for paragraph in normalised.split("\n\n") {
        let lines: Vec<&str> = paragraph
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.iter().any(|l| list_item(l).is_some()) {
            let mut items: Vec<String> = Vec::new();
            for line in lines {
                match (list_item(line), items.last_mut()) {
                    (Some(item), _) => items.push(item.to_owned()),
                    // A continuation line of the previous item.
                    (None, Some(last)) => {
                        last.push(' ');
                        last.push_str(line);
                    }
                    (None, None) => out.extend(sentences(line)),
                }
            }
            out.extend(items);
        } else {
            out.extend(sentences(&lines.join(" ")));
        }
    }
    out.retain(|u| !u.trim().is_empty());
    out
}

/// Splits a paragraph after `.`, `!` or `?` followed by a space and a capital letter or digit.
fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?')
            && chars.get(i + 1).is_some_and(|n| n.is_whitespace())
            && chars
                .get(i + 2)
                .is_some_and(|n| n.is_uppercase() || n.is_ascii_digit());
        if ends {
            out.push(current.trim().to_owned());
            current.clear();
            i += 1;
        }
        i += 1;
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_split_sentences_and_list_items() {
        let text = "Trattoria Sole is closed on Mondays.\nTuesday to Thursday: lunch 12:00-14:30, \
                    dinner 18:30-22:30. Sunday: lunch only.\n\n- Burrata, 12 euro. Allergens: milk.\n- Tiramisu,\n  8 euro.";
        assert_eq!(
            units(text),
            [
                "Trattoria Sole is closed on Mondays.",
                "Tuesday to Thursday: lunch 12:00-14:30, dinner 18:30-22:30.",
                "Sunday: lunch only.",
                "Burrata, 12 euro. Allergens: milk.",
                "Tiramisu, 8 euro.",
            ]
        );
        assert_eq!(
            units("1. Kitchen: off.\n2. Bins out."),
            ["Kitchen: off.", "Bins out."]
        );
    }
}
