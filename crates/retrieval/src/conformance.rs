//! The conformance suite of the [`Retriever`] contract, for every implementation.
//!
//! Every case runs against a retriever loaded with the same small corpus ([`corpus`]). The
//! caller's factory turns the corpus into its implementation (the embedded index writes it as
//! Markdown files and indexes them; the HTTP retriever serves it from a local service):
//!
//! ```
//! # async fn example() {
//! use std::sync::Arc;
//! use retrieval::{MemoryRetriever, Retriever, conformance};
//!
//! let report = conformance::run_all(|corpus| async move {
//!     Arc::new(MemoryRetriever::new(corpus)) as Arc<dyn Retriever>
//! })
//! .await;
//! report.assert_passed();
//! # }
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(example());
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::{
    Access, PageContext, Passage, PassageSource, Query, RetrievalError, Retriever, SourceLocation,
    Visibility,
};

/// The base of every URL in the corpus.
pub const BASE_URL: &str = "https://docs.example.test";

/// One case of the suite.
pub struct Case {
    /// The contract point it checks.
    pub name: &'static str,
    /// Runs the case; panics (with an explanation) when the contract is broken.
    pub run: fn(Arc<dyn Retriever>) -> BoxFuture<'static, ()>,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case of the suite, in a stable order.
        pub fn cases() -> Vec<Case> {
            vec![$(Case {
                name: stringify!($name),
                run: |retriever| Box::pin($name(retriever)),
            }),*]
        }
    };
}

cases!(
    blank_query_and_bad_k_are_invalid,
    finds_the_passage_that_answers,
    results_are_ranked_best_first_and_at_most_k,
    no_match_is_an_empty_list,
    private_passages_reach_only_their_owner,
    grants_open_restricted_passages,
    metadata_filters_hold_for_every_passage,
    page_context_boosts_the_current_page,
    passages_carry_their_source,
);

/// The outcome of [`run_all`].
#[derive(Debug, Default)]
pub struct Report {
    /// Names of the cases that passed.
    pub passed: Vec<&'static str>,
    /// Names of the cases that failed, with their panic messages.
    pub failed: Vec<(&'static str, String)>,
}

impl Report {
    /// Panics with every failed case and its message.
    pub fn assert_passed(&self) {
        if !self.failed.is_empty() {
            let details: Vec<String> = self
                .failed
                .iter()
                .map(|(name, message)| format!("  {name}: {message}"))
                .collect();
            panic!(
                "{} of {} retriever conformance cases failed:\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                details.join("\n")
            );
        }
    }
}

/// Runs every case on a retriever that `factory` builds from [`corpus`], each in a task of its
/// own so that a panicking case is reported by name and the others still run.
pub async fn run_all<F, Fut>(mut factory: F) -> Report
where
    F: FnMut(Vec<Passage>) -> Fut,
    Fut: Future<Output = Arc<dyn Retriever>>,
{
    let mut report = Report::default();
    for case in cases() {
        let retriever = factory(corpus()).await;
        match tokio::spawn((case.run)(retriever)).await {
            Ok(()) => report.passed.push(case.name),
            Err(error) => {
                let message = match error.try_into_panic() {
                    Ok(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(error) => error.to_string(),
                };
                report.failed.push((case.name, message));
            }
        }
    }
    report
}

fn passage(
    id: &str,
    title: &str,
    location: SourceLocation,
    text: &str,
    visibility: Visibility,
    metadata: &[(&str, &str)],
) -> Passage {
    Passage {
        id: id.to_owned(),
        text: text.to_owned(),
        score: 0.0,
        source: PassageSource {
            title: title.to_owned(),
            location,
            section: None,
            anchor: None,
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        },
        visibility,
    }
}

fn url(path: &str) -> SourceLocation {
    SourceLocation::Url(format!("{BASE_URL}{path}"))
}

/// The corpus every case runs on: one passage per document, each document one short section.
///
/// `id`s are suggestions (implementations may assign their own); a [`SourceLocation::File`]
/// names the path the document should be stored at.
pub fn corpus() -> Vec<Passage> {
    let public = Visibility::Public;
    vec![
        passage(
            "jwks",
            "Configuring JWKS",
            url("/auth/jwks"),
            "The server verifies bearer tokens against the JWKS endpoint of your identity \
             provider. Set jwks_url to its address.",
            public.clone(),
            &[("kind", "guide")],
        ),
        passage(
            "limits",
            "Rate limits",
            url("/limits"),
            "Each user may send sixty messages per minute. Requests over the limit get status \
             429 with a Retry-After header.",
            public.clone(),
            &[("kind", "reference")],
        ),
        passage(
            "alice-notes",
            "Alice notes",
            SourceLocation::File("private/alice-notes.md".into()),
            "Zebrafish experiment notes: feeding schedule and water temperature.",
            Visibility::Restricted(vec!["user:alice".into()]),
            &[],
        ),
        passage(
            "teacher-guide",
            "Teacher guide",
            url("/courses/42/guide"),
            "Grading rubric for the marmalade assignment, for teachers of course 42.",
            Visibility::Restricted(vec!["course:42".into()]),
            &[],
        ),
        passage(
            "deploy",
            "Deployment",
            url("/deploy"),
            "Deploy the server behind a reverse proxy that keeps streaming responses \
             unbuffered.",
            public.clone(),
            &[("kind", "guide")],
        ),
        passage(
            "deploy-faq",
            "Deployment questions",
            url("/faq"),
            "Can I deploy the server on Kubernetes? Yes: deploy one replica per database.",
            public.clone(),
            &[("kind", "faq")],
        ),
        passage(
            "lesson-a",
            "Lesson A",
            url("/courses/rust/lesson-a"),
            "Borrowing rules: a reference borrows a value without taking ownership of it.",
            public.clone(),
            &[],
        ),
        passage(
            "lesson-b",
            "Lesson B",
            url("/courses/rust/lesson-b"),
            "Borrowing rules: a reference borrows a value without taking ownership of it.",
            public,
            &[],
        ),
    ]
}

async fn search(retriever: &Arc<dyn Retriever>, query: Query) -> Vec<Passage> {
    match retriever.retrieve(&query).await {
        Ok(passages) => passages,
        Err(error) => panic!("query {:?} failed: {error}", query.text),
    }
}

fn titles(passages: &[Passage]) -> Vec<&str> {
    passages
        .iter()
        .map(|passage| passage.source.title.as_str())
        .collect()
}

fn anyone() -> Access {
    Access::user("carol")
}

async fn blank_query_and_bad_k_are_invalid(retriever: Arc<dyn Retriever>) {
    for query in [
        Query::new("   ", anyone()),
        Query::new("jwks", anyone()).with_k(0),
        Query::new("jwks", anyone()).with_k(crate::MAX_K + 1),
    ] {
        match retriever.retrieve(&query).await {
            Err(RetrievalError::InvalidQuery(_)) => {}
            other => panic!("{query:?} must be InvalidQuery, got {other:?}"),
        }
    }
}

async fn finds_the_passage_that_answers(retriever: Arc<dyn Retriever>) {
    let found = search(&retriever, Query::new("jwks endpoint", anyone())).await;
    assert_eq!(
        titles(&found).first(),
        Some(&"Configuring JWKS"),
        "best passage for 'jwks endpoint': {:?}",
        titles(&found)
    );
    assert!(
        found[0].text.contains("JWKS endpoint"),
        "{:?}",
        found[0].text
    );
}

async fn results_are_ranked_best_first_and_at_most_k(retriever: Arc<dyn Retriever>) {
    let one = search(&retriever, Query::new("deploy server", anyone()).with_k(1)).await;
    assert_eq!(one.len(), 1, "k = 1: {:?}", titles(&one));
    let many = search(&retriever, Query::new("deploy server", anyone()).with_k(10)).await;
    assert!(
        many.len() >= 2,
        "two passages talk about deploying: {:?}",
        titles(&many)
    );
    assert!(many.len() <= 10);
    for pair in many.windows(2) {
        assert!(
            pair[0].score >= pair[1].score,
            "scores must not increase: {:?}",
            many.iter().map(|p| p.score).collect::<Vec<_>>()
        );
    }
    assert_eq!(one[0].id, many[0].id, "k must not change the order");
}

async fn no_match_is_an_empty_list(retriever: Arc<dyn Retriever>) {
    let found = search(&retriever, Query::new("xylophone quartz", anyone())).await;
    assert!(found.is_empty(), "{:?}", titles(&found));
}

async fn private_passages_reach_only_their_owner(retriever: Arc<dyn Retriever>) {
    let question = "zebrafish experiment notes";
    let bob = search(
        &retriever,
        Query::new(question, Access::user("bob")).with_k(10),
    )
    .await;
    assert!(
        !titles(&bob).contains(&"Alice notes"),
        "bob must never see alice's private notes: {:?}",
        titles(&bob)
    );
    // Not even with a grant that merely looks like hers.
    let sneaky = Access::user("bob").with_grant("user:alicee");
    let sneaky = search(&retriever, Query::new(question, sneaky).with_k(10)).await;
    assert!(!titles(&sneaky).contains(&"Alice notes"));
    let alice = search(&retriever, Query::new(question, Access::user("alice"))).await;
    assert_eq!(titles(&alice).first(), Some(&"Alice notes"));
}

async fn grants_open_restricted_passages(retriever: Arc<dyn Retriever>) {
    let question = "marmalade grading rubric";
    let outsider = search(&retriever, Query::new(question, anyone()).with_k(10)).await;
    assert!(
        !titles(&outsider).contains(&"Teacher guide"),
        "{:?}",
        titles(&outsider)
    );
    let other_course = anyone().with_grant("course:7");
    let other_course = search(&retriever, Query::new(question, other_course).with_k(10)).await;
    assert!(!titles(&other_course).contains(&"Teacher guide"));
    let teacher = anyone().with_grant("course:42");
    let teacher = search(&retriever, Query::new(question, teacher)).await;
    assert_eq!(titles(&teacher).first(), Some(&"Teacher guide"));
    assert_eq!(
        teacher[0].visibility,
        Visibility::Restricted(vec!["course:42".into()])
    );
}

async fn metadata_filters_hold_for_every_passage(retriever: Arc<dyn Retriever>) {
    let query = Query::new("deploy server", anyone())
        .with_k(10)
        .with_filter("kind", "faq");
    let found = search(&retriever, query).await;
    assert_eq!(titles(&found), vec!["Deployment questions"]);
    let none = Query::new("deploy server", anyone()).with_filter("kind", "nothing-has-this");
    assert!(search(&retriever, none).await.is_empty());
}

async fn page_context_boosts_the_current_page(retriever: Arc<dyn Retriever>) {
    for (page, expected) in [
        ("/courses/rust/lesson-a", "Lesson A"),
        ("/courses/rust/lesson-b/", "Lesson B"),
        (
            "https://docs.example.test/courses/rust/lesson-a#rules",
            "Lesson A",
        ),
    ] {
        let query =
            Query::new("borrowing reference ownership", anyone()).with_page(PageContext::url(page));
        let found = search(&retriever, query).await;
        assert_eq!(
            titles(&found).first(),
            Some(&expected),
            "on page {page}: {:?}",
            titles(&found)
        );
    }
}

async fn passages_carry_their_source(retriever: Arc<dyn Retriever>) {
    let found = search(
        &retriever,
        Query::new("sixty messages per minute", anyone()),
    )
    .await;
    let first = found.first().expect("the rate-limit passage matches");
    assert_eq!(first.source.title, "Rate limits");
    match &first.source.location {
        SourceLocation::Url(url) => {
            assert!(url.starts_with(&format!("{BASE_URL}/limits")), "{url}")
        }
        other => panic!("a URL source was expected: {other:?}"),
    }
    assert_eq!(
        first.source.metadata.get("kind").map(String::as_str),
        Some("reference")
    );
    let alice = search(&retriever, Query::new("zebrafish", Access::user("alice"))).await;
    match &alice.first().expect("alice sees her notes").source.location {
        SourceLocation::File(path) => assert!(path.ends_with("alice-notes.md"), "{path}"),
        other => panic!("a file source was expected: {other:?}"),
    }
}
