use std::sync::Arc;

use auth::{AnonymousAuthenticator, Authenticator, Principal};

#[tokio::test]
async fn every_request_becomes_the_configured_user_whatever_the_token() {
    let configured = Principal::new("dev-user")
        .with_email("dev@localhost")
        .with_name("Developer");
    let authenticator: Arc<dyn Authenticator> =
        Arc::new(AnonymousAuthenticator::new(configured.clone()));
    for token in [None, Some(""), Some("garbage"), Some("a.b.c")] {
        let principal = authenticator
            .authenticate(token)
            .await
            .expect("the anonymous authenticator accepts everything");
        assert_eq!(principal, configured, "token {token:?}");
    }
}
