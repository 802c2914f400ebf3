//! The web console at `/ui` of the real binary: the page, its script and stylesheet are served
//! from the binary (the committed bundle), each with the strict Content-Security-Policy, and the
//! page needs no key while every call it makes still does. The console itself is exercised in
//! headless Chromium by console/test (scripts/test.sh).

mod common;

use std::process::Stdio;

use common::Server;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header missing on {}", response.url()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn ui_serves_the_embedded_console_under_a_strict_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;

    for path in ["/ui", "/ui/"] {
        let page = get(&format!("{}{path}", server.url)).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(header(&page, "content-security-policy"), POLICY);
        assert!(!POLICY.contains("unsafe"), "no inline script or style");
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        assert!(header(&page, "content-type").starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert_eq!(html, include_str!("../assets/console/index.html"));
        assert!(html.contains(r#"<script type="module" src="/ui/console.js"></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/ui/console.css">"#));
        assert!(!html.contains("style="), "no inline style attribute");
    }

    for (path, content_type, body) in [
        (
            "/ui/console.js",
            "text/javascript",
            include_str!("../assets/console/console.js"),
        ),
        (
            "/ui/console.css",
            "text/css",
            include_str!("../assets/console/console.css"),
        ),
    ] {
        let asset = get(&format!("{}{path}", server.url)).await;
        assert_eq!(asset.status(), 200, "{path}");
        assert_eq!(header(&asset, "content-security-policy"), POLICY);
        assert!(header(&asset, "content-type").starts_with(content_type));
        assert_eq!(asset.text().await.unwrap(), body, "{path}");
    }

    let missing = get(&format!("{}/ui/other.js", server.url)).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "content-security-policy"), POLICY);

    // The page is public; what it calls is not.
    let keys = get(&format!("{}/admin/keys", server.url)).await;
    assert_eq!(keys.status(), 401);
    let timers = get(&format!("{}/timers", server.url)).await;
    assert_eq!(timers.status(), 401);

    // The health view reads leadership from /metrics.
    let metrics = get(&format!("{}/metrics", server.url))
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("\nminoots_kernel_leader 1\n"), "{metrics}");
    server.kill();
}

#[tokio::test]
async fn a_gateway_serves_the_console_too_and_reports_its_regions_primary_first() {
    let dir = tempfile::tempdir().unwrap();
    // Kernels are dialled lazily: the console and /metrics need none to answer.
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--region-targets",
        "us-east=http://127.0.0.1:9,eu-west=http://127.0.0.1:9",
        "--primary-region",
        "eu-west",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut gateway = Server::run("gateway", &args, Stdio::inherit()).await;

    let page = get(&format!("{}/ui", gateway.url)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-security-policy"), POLICY);
    assert_eq!(
        page.text().await.unwrap(),
        include_str!("../assets/console/index.html")
    );

    let metrics = get(&format!("{}/metrics", gateway.url))
        .await
        .text()
        .await
        .unwrap();
    let regions: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("minoots_gateway_region{"))
        .collect();
    assert_eq!(
        regions,
        [
            r#"minoots_gateway_region{region="eu-west",primary="true"} 1"#,
            r#"minoots_gateway_region{region="us-east",primary="false"} 1"#,
        ]
    );
    assert!(!metrics.contains("minoots_kernel_leader"), "{metrics}");
    gateway.kill();
}
