//! Configuration end to end: flags from the environment, bad configuration refused before any AWS
//! call (exit 2, one line), and credentials that never reach the logs at any level.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn flags_from_the_environment() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    let east = launch(HOME_REGION, 2).await;
    let west = launch(OTHER_REGION, 1).await;
    register_all(&svc, &east).await;
    register_all(&svc, &west).await;
    terminate(&ec2(HOME_REGION).await, &[east[0].id.clone()]).await;
    let out = Cli::worker()
        .env("CLOUD_UNMAP_SERVICE_ID", &svc)
        .env("CLOUD_UNMAP_SERVICE_REGION", HOME_REGION)
        .env(
            "CLOUD_UNMAP_INSTANCES_REGION",
            &format!("{HOME_REGION},{OTHER_REGION}"),
        )
        .env("CLOUD_UNMAP_SINGLE_RUN", "true")
        .output(std::time::Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        registered(&svc).await,
        sorted(vec![east[1].id.clone(), west[0].id.clone()])
    );
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &[
            "--service-id",
            "svc-1",
            "--service-region",
            "us-east-1",
            "--instances-region",
            "us-east-1",
        ],
        &[
            "--service-id",
            "srv-abc",
            "--service-region",
            "useast",
            "--instances-region",
            "us-east-1",
        ],
        &["--service-id", "srv-abc", "--service-region", "us-east-1"],
        &[
            "--service-region",
            "us-east-1",
            "--instances-region",
            "us-east-1",
        ],
    ];
    // A valid selection with one bad flag (or value) each.
    let valid = home_args("srv-abc");
    let bad_flags: &[&[&str]] = &[
        &["--frequency", "0"],
        &["--instances-role-arn", "arn:aws:iam::1:role/x"],
        &["--no-such-flag"],
        &["--frequency", "soon"],
        &["--frequency", "18446744073709551615"],
        &["--max-not-found", "200%"],
        // A state table coordinates the replicas of a queue: without one it has no use.
        &["--state-table", "cloud-unmap-state"],
        &[
            "--queue-url",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "--state-table",
            "no/table",
        ],
    ];
    for extra in bad_flags {
        assert_usage_error(&[&valid[..], extra].concat());
    }
    for args in cases {
        assert_usage_error(args);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_reach_the_logs() {
    const SECRET: &str = "kNoWnSeCrEtAcCeSsKeY0123456789abcdefXYZ";
    const TOKEN: &str = "kNoWnSeSsIoNtOkEn-0123456789-abcdef-XYZ";
    let ns = namespace().await;
    let svc = service(&ns).await;
    let inst = launch(HOME_REGION, 2).await;
    register_all(&svc, &inst).await;
    terminate(&ec2(HOME_REGION).await, &[inst[0].id.clone()]).await;
    for level in ["INFO", "TRACE"] {
        let out = Cli::worker()
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .args(&home_args(&svc))
            .args(&[
                "--instances-role-arn",
                MEMBER_ROLE,
                "--single-run",
                "--log-level",
                level,
            ])
            .output(std::time::Duration::from_secs(60));
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(all.lines().count() >= 2, "logs were produced at {level}");
        assert!(
            !all.contains(SECRET) && !all.contains(TOKEN),
            "a credential reached the logs at {level}"
        );
    }
}
