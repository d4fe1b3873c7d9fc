use crate::support::*;

#[test]
fn demo_runs_the_whole_flow_and_leaves_nothing_behind() {
    let d = TestDir::new();
    let r = run(d.fulfill().env("TMPDIR", d.path()).args([
        "demo",
        "--api",
        "mws",
        "--orders",
        "60",
        "--time-scale",
        "2000",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("holds no PII key"), "{}", r.stdout);
    assert!(r.stdout.contains("findings: 0"), "{}", r.stdout);
    for step in [
        "label (checksum verified) in spool/; confirmed by Amazon",
        "sent 1 feed with 3 shipment(s)",
        "2 confirmed, 1 refused",
        "label file(s) shredded; WAL truncated: true",
    ] {
        assert!(r.stdout.contains(step), "{step}:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("ZQX"),
        "no PII marker in the demo's output"
    );
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("fulfill-demo-"))
        .collect();
    assert!(left.is_empty(), "the temporary home was deleted");
}

#[test]
fn demo_runs_the_whole_flow_on_sp_api_by_default() {
    let d = TestDir::new();
    let r = run(d.fulfill().env("TMPDIR", d.path()).args([
        "demo",
        "--orders",
        "60",
        "--time-scale",
        "2000",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for step in [
        "local fake SP-API",
        "Store the SP-API credentials",
        "label (its format checked) in spool/; confirmed by Amazon",
        "sent 3 confirmation(s)",
        "refused by Amazon: InvalidInput: The order has been canceled",
        "2 confirmed, 1 refused",
        "label file(s) shredded; WAL truncated: true",
        "findings: 0",
    ] {
        assert!(r.stdout.contains(step), "{step}:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("ZQX"),
        "no PII marker in the demo's output"
    );
    assert!(
        !r.stdout.contains("Atza|") && !r.stdout.contains("Atzr|"),
        "no token"
    );
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("fulfill-demo-"))
        .collect();
    assert!(left.is_empty(), "the temporary home was deleted");
}
