//! The in-memory reference [`Retriever`]: a fixed list of passages scored by term overlap.
//!
//! It exists to pin the contract (the conformance suite runs on it first) and for tests of code
//! built on a retriever; it is not a search engine.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use crate::{Passage, Query, RetrievalError, Retriever};

/// How much a passage from the query's page gains. Larger than any overlap score of a short
/// query, so that equal matches are ordered by page first.
const PAGE_BOOST: f32 = 1.0;

/// A retriever over a fixed list of passages.
#[derive(Debug, Clone, Default)]
pub struct MemoryRetriever {
    passages: Vec<Passage>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl MemoryRetriever {
    /// A retriever over `passages` (their `score` is ignored).
    pub fn new(passages: Vec<Passage>) -> Self {
        Self { passages }
    }

    fn searchable(passage: &Passage) -> Vec<String> {
        let mut all = words(&passage.text);
        all.extend(words(&passage.source.title));
        if let Some(section) = &passage.source.section {
            all.extend(words(section));
        }
        all
    }
}

#[async_trait]
impl Retriever for MemoryRetriever {
    async fn retrieve(&self, query: &Query) -> Result<Vec<Passage>, RetrievalError> {
        query.validate()?;
        let terms: HashSet<String> = words(&query.text).into_iter().collect();
        let documents: Vec<(&Passage, Vec<String>)> = self
            .passages
            .iter()
            .filter(|passage| query.access.allows(&passage.visibility))
            .filter(|passage| query.filters.matches(&passage.source.metadata))
            .map(|passage| (passage, Self::searchable(passage)))
            .collect();
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for (_, words) in &documents {
            let distinct: HashSet<&String> = words.iter().collect();
            for word in distinct {
                *document_frequency.entry(word.clone()).or_default() += 1;
            }
        }
        let total = documents.len() as f32;
        let page = query.page.as_ref().and_then(|page| page.key());
        let mut scored: Vec<Passage> = documents
            .into_iter()
            .filter_map(|(passage, words)| {
                let mut score = 0.0f32;
                for term in &terms {
                    let frequency = words.iter().filter(|word| *word == term).count();
                    if frequency > 0 {
                        let df = document_frequency.get(term).copied().unwrap_or(1);
                        let idf = (1.0 + total / df as f32).ln();
                        score += idf * (1.0 + (frequency as f32).ln());
                    }
                }
                if score == 0.0 {
                    return None;
                }
                // Normalized by length so that the boost below is comparable across passages.
                score /= (words.len() as f32).sqrt().max(1.0);
                if page.is_some() && passage.source.page_key() == page {
                    score += PAGE_BOOST;
                }
                let mut passage = passage.clone();
                passage.score = score;
                Some(passage)
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        scored.truncate(query.k);
        Ok(scored)
    }
}
