//! `concierge llm check`, run as a process: it names the configured provider and reports
//! whether one tiny request to it works, against a fake Gemini server.

use testkit::TestDb;
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini};

use crate::support::{concierge, stderr, stdout};

#[tokio::test]
async fn llm_check_reports_the_provider_and_whether_it_works() {
    let db = TestDb::new().await;
    let out = concierge(&db, &["llm", "check"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("LLM provider: offline"),
        "{}",
        stdout(&out)
    );

    let fake = FakeGemini::start().await;
    let base_url = fake.base_url();
    let gemini = |key: &'static str| {
        vec![
            ("GEMINI_API_KEY", key),
            ("GEMINI_BASE_URL", base_url.as_str()),
        ]
    };
    let out = concierge(&db, &["llm", "check"], &gemini(FAKE_GEMINI_KEY)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("LLM provider: gemini/gemini-2.5-flash at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("gemini/gemini-2.5-flash works"), "{text}");
    assert_eq!(fake.request_count(), 1);

    let out = concierge(&db, &["llm", "check"], &gemini("a-wrong-key")).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("API key is invalid"), "{err}");
    assert!(!err.contains("a-wrong-key"), "the key is never printed");

    let out = concierge(&db, &["llm", "check"], &[("LLM_PROVIDER", "gemini")]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs GEMINI_API_KEY"),
        "{}",
        stderr(&out)
    );
}
