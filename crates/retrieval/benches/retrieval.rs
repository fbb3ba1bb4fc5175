//! Indexing throughput, query latency, index size and recall of the embedded index.
//!
//! Run with `cargo bench -p retrieval --bench retrieval` (add `-- --quick` to skip the 100k
//! size). No criterion: the numbers wanted are throughput, latency percentiles over many
//! queries and recall, which a plain loop reports directly.
//!
//! The synthetic corpus is generated deterministically (a fixed-seed generator over a made-up
//! vocabulary with a Zipf-like word distribution), written as Markdown files with headings, and
//! indexed from disk like real content. Hybrid numbers use the fake OpenAI server's
//! `/embeddings` on loopback, so they show what fusion and the vector scan cost, not a real
//! embedding model's network latency (which dominates in production: one call per query).

use std::path::Path;
use std::time::{Duration, Instant};

use retrieval::{
    Access, EmbeddedIndex, EmbeddingsConfig, EncodingFormat, IndexConfig, Query, Retriever,
    SourceFolder,
};
use test_support::FakeOpenAi;

/// A small deterministic generator (SplitMix64): the corpus must be identical on every run.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// A word index with a Zipf-like skew: low indices are much more common.
    fn zipf(&mut self, vocabulary: usize) -> usize {
        let uniform = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((vocabulary as f64).powf(uniform) as usize)
            .saturating_sub(1)
            .min(vocabulary - 1)
    }
}

fn vocabulary(size: usize) -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ra", "tu", "so", "vi", "ze", "po", "qua", "der", "bin", "gal",
        "hor", "jun", "fex", "wel", "yst", "orm", "ush", "ith", "ean", "pli",
    ];
    let mut generator = Generator(7);
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        let length = 2 + generator.below(3);
        let word: String = (0..length)
            .map(|_| SYLLABLES[generator.below(SYLLABLES.len())])
            .collect();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

const VOCABULARY: usize = 20_000;
const SECTIONS_PER_FILE: usize = 10;
/// Words per section: about 600 characters, below the default chunk size, so one section is
/// one chunk and a corpus of N chunks is N / 10 files.
const WORDS_PER_SECTION: usize = 85;

fn sentence(generator: &mut Generator, words: &[String], length: usize) -> String {
    (0..length)
        .map(|_| words[generator.zipf(words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a corpus of `chunks` passages; returns its size in bytes.
fn write_corpus(dir: &Path, chunks: usize, words: &[String]) -> u64 {
    let mut generator = Generator(chunks as u64);
    let mut bytes = 0;
    for file in 0..chunks.div_ceil(SECTIONS_PER_FILE) {
        let mut text = format!(
            "---\ntitle: Document {file}\n---\n# {}\n\n",
            sentence(&mut generator, words, 3)
        );
        for section in 0..SECTIONS_PER_FILE {
            text.push_str(&format!(
                "## Part {section} {}\n\n{}.\n\n",
                sentence(&mut generator, words, 2),
                sentence(&mut generator, words, WORDS_PER_SECTION)
            ));
        }
        let path = dir.join(format!("{:03}/{file}.md", file % 100));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        bytes += text.len() as u64;
        std::fs::write(path, text).unwrap();
    }
    bytes
}

fn queries(count: usize, words: &[String]) -> Vec<String> {
    let mut generator = Generator(99);
    (0..count)
        .map(|_| {
            // Query words from the middle of the distribution: neither stopword-like nor absent.
            let length = 2 + generator.below(3);
            (0..length)
                .map(|_| words[50 + generator.below(2000)].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Latency {
    p50: Duration,
    p99: Duration,
}

async fn measure<F, Fut>(queries: &[String], mut run: F) -> Latency
where
    F: FnMut(Query) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for text in queries.iter().take(100) {
        run(Query::new(text, Access::user("bench")).with_k(5)).await;
    }
    let mut durations = Vec::with_capacity(queries.len());
    for text in queries {
        let query = Query::new(text, Access::user("bench")).with_k(5);
        let started = Instant::now();
        run(query).await;
        durations.push(started.elapsed());
    }
    durations.sort();
    Latency {
        p50: percentile(&durations, 0.50),
        p99: percentile(&durations, 0.99),
    }
}

async fn size_run(chunks: usize, words: &[String], server: &FakeOpenAi, hybrid: bool) {
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    let corpus_bytes = write_corpus(&documents, chunks, words);
    let sources = [SourceFolder::new(&documents)];

    let index = EmbeddedIndex::open(IndexConfig::new(folder.path().join("bm25"))).unwrap();
    let started = Instant::now();
    let report = index.update(&sources, &mut |_| {}).await.unwrap();
    let took = started.elapsed().as_secs_f64();
    let unchanged_started = Instant::now();
    let again = index.update(&sources, &mut |_| {}).await.unwrap();
    let unchanged = unchanged_started.elapsed();
    assert_eq!(again.files_indexed, 0);
    let queries = queries(2000, words);
    let bm25 = measure(&queries, |query| {
        let index = index.clone();
        async move {
            index.search_blocking(&query).unwrap();
        }
    })
    .await;
    let through_trait = measure(&queries[..500], |query| {
        let index = index.clone();
        async move {
            index.retrieve(&query).await.unwrap();
        }
    })
    .await;
    println!(
        "bm25   {:>6} chunks ({:>5.1} MB, {} files): index {:>6.2} s = {:>5.1} MB/s, {:>7.0} chunks/s; \
         unchanged re-index {:>6.0} ms; size on disk {:>6.1} MB; query p50 {:.3} ms, p99 {:.3} ms \
         (through retrieve(): p50 {:.3} ms, p99 {:.3} ms)",
        report.chunks_total,
        corpus_bytes as f64 / 1e6,
        report.files_indexed,
        took,
        corpus_bytes as f64 / 1e6 / took,
        report.chunks_written as f64 / took,
        millis(unchanged),
        index.size_on_disk() as f64 / 1e6,
        millis(bm25.p50),
        millis(bm25.p99),
        millis(through_trait.p50),
        millis(through_trait.p99),
    );

    if hybrid {
        let mut config = IndexConfig::new(folder.path().join("hybrid"));
        config.embeddings = Some(EmbeddingsConfig {
            base_url: server.base_url(),
            dimensions: Some(256),
            batch_size: 256,
            encoding_format: EncodingFormat::Base64,
            ..EmbeddingsConfig::default()
        });
        let hybrid_index = EmbeddedIndex::open(config).unwrap();
        let started = Instant::now();
        hybrid_index.update(&sources, &mut |_| {}).await.unwrap();
        let took = started.elapsed().as_secs_f64();
        let latency = measure(&queries[..500], |query| {
            let index = hybrid_index.clone();
            async move {
                index.retrieve(&query).await.unwrap();
            }
        })
        .await;
        println!(
            "hybrid {chunks:>6} chunks (256-dim fake vectors over loopback): index {:>6.2} s = {:>7.0} chunks/s; \
             size on disk {:>6.1} MB; query p50 {:.3} ms, p99 {:.3} ms (BM25 alone p50 {:.3} ms: hybrid/BM25 = {:.1}x)",
            took,
            report.chunks_written as f64 / took,
            hybrid_index.size_on_disk() as f64 / 1e6,
            millis(latency.p50),
            millis(latency.p99),
            millis(bm25.p50),
            latency.p50.as_secs_f64() / bm25.p50.as_secs_f64(),
        );
    }
}

#[derive(serde::Deserialize)]
struct Label {
    query: String,
    key: String,
    section: String,
}

async fn recall(server: &FakeOpenAi) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let labels: Vec<Label> =
        serde_json::from_slice(&std::fs::read(root.join("labels.json")).unwrap()).unwrap();
    let sources = [SourceFolder::new(root.join("docs"))];
    let folder = tempfile::tempdir().unwrap();
    let bm25 = EmbeddedIndex::open(IndexConfig::new(folder.path().join("bm25"))).unwrap();
    bm25.update(&sources, &mut |_| {}).await.unwrap();
    let mut config = IndexConfig::new(folder.path().join("hybrid"));
    config.embeddings = Some(EmbeddingsConfig {
        base_url: server.base_url(),
        ..EmbeddingsConfig::default()
    });
    let hybrid = EmbeddedIndex::open(config).unwrap();
    hybrid.update(&sources, &mut |_| {}).await.unwrap();
    for (name, index) in [("bm25", &bm25), ("hybrid (fake vectors)", &hybrid)] {
        let mut hits_at_5 = 0;
        let mut reciprocal_ranks = 0.0;
        for label in &labels {
            let found = index
                .retrieve(&Query::new(&label.query, Access::user("bench")).with_k(5))
                .await
                .unwrap();
            if let Some(rank) = found.iter().position(|passage| {
                passage.id.starts_with(&format!("{}#", label.key))
                    && passage
                        .source
                        .section
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&label.section)
            }) {
                hits_at_5 += 1;
                reciprocal_ranks += 1.0 / (rank + 1) as f64;
            }
        }
        println!(
            "recall@5 on the labelled docs corpus, {name}: {hits_at_5}/{} = {:.2}, MRR@5 {:.2} ({} chunks)",
            labels.len(),
            hits_at_5 as f64 / labels.len() as f64,
            reciprocal_ranks / labels.len() as f64,
            index.chunk_count()
        );
    }
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = FakeOpenAi::start().await;
        recall(&server).await;
        let words = vocabulary(VOCABULARY);
        let sizes: &[usize] = if quick {
            &[1_000, 10_000]
        } else {
            &[1_000, 10_000, 100_000]
        };
        for &chunks in sizes {
            size_run(chunks, &words, &server, true).await;
        }
    });
}
