//! Working migrations against a real database (SQLite file, or PostgreSQL when
//! the run has one): creation, bad input, template independence, ticks.

use model::{
    auth::Role,
    checklist::{ItemState, Migration, NewMigration},
};

use super::*;
use platform::{testing::user, Principal};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    url: String,
    checklist: ChecklistService,
    alice: Principal,
    bob: Principal,
    viewer: Principal,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    Fixture {
        alice: user(&db, "alice", "Alice Smith", Role::Staff).await,
        bob: user(&db, "bob", "Bob Jones", Role::Staff).await,
        viewer: user(&db, "vera", "Vera", Role::Viewer).await,
        checklist: ChecklistService::new(db.clone()),
        db,
        url,
        _dir: dir,
    }
}

fn form() -> NewMigration {
    NewMigration {
        name: "Move the shop".into(),
        domains: "shop.example.com, www.shop.example.com\ncdn.shop.example.net".into(),
        source_server: "old1.example.com".into(),
        target_server: "192.0.2.10".into(),
        services: "http https smtp:2525".into(),
        window_start: "2026-12-05T22:00".into(),
        window_end: "2026-12-06T02:00".into(),
        time_zone: "Europe/London".into(),
        owner: "Alice".into(),
        ttl_limit: String::new(),
    }
}

async fn count(db: &Db, table: &str) -> i64 {
    let sql = match table {
        "migration" => "SELECT COUNT(*) FROM migration",
        "migration_item" => "SELECT COUNT(*) FROM migration_item",
        _ => unreachable!("table"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
}

#[tokio::test]
async fn a_migration_gets_its_own_copy_of_the_template() {
    let f = fixture().await;
    let id = f
        .checklist
        .create_migration(&f.alice, &form())
        .await
        .expect("create");
    let m = f
        .checklist
        .migration(&f.viewer, id, "Australia/Melbourne")
        .await
        .expect("read");
    assert_eq!(
        m.summary.domains,
        [
            "shop.example.com",
            "www.shop.example.com",
            "cdn.shop.example.net"
        ]
    );
    assert_eq!(m.services.len(), 3);
    assert_eq!(m.ttl_limit, DEFAULT_TTL_LIMIT);
    assert_eq!(m.summary.progress.total, 40);
    assert_eq!(m.summary.progress.percent(), 0);
    assert_eq!(m.sections.len(), 14);
    assert_eq!(m.viewer_zone, "Australia/Melbourne");
    assert!(
        m.summary
            .window
            .viewer_text
            .contains("Sun 6 Dec 2026 09:00 – 13:00 Australia/Melbourne"),
        "{}",
        m.summary.window.viewer_text
    );
    assert!(m.summary.window.planned_text.contains("Europe/London"));

    // Editing the template later leaves the running checklist alone...
    let template = f
        .checklist
        .template(DEFAULT_TEMPLATE)
        .await
        .expect("template");
    let first = template.sections[0].items[0].id;
    f.checklist
        .reword_template_item(&f.alice, first, "Reworded first point", "")
        .await
        .expect("reword");
    f.checklist
        .retire_template_item(&f.alice, template.sections[0].items[1].id, true)
        .await
        .expect("retire");
    let added = f
        .checklist
        .add_template_item(&f.alice, "dns", "Lower the SOA minimum too", "", None)
        .await
        .expect("add");
    let again = f
        .checklist
        .migration(&f.viewer, id, "UTC")
        .await
        .expect("read");
    assert_eq!(
        again.sections,
        m.sections
            .iter()
            .cloned()
            .map(|mut s| {
                for i in &mut s.items {
                    i.changed_at = None;
                }
                s
            })
            .collect::<Vec<_>>()
    );
    assert_ne!(again.sections[0].items[0].text, "Reworded first point");
    // ...and the next migration gets the edited template.
    let next = f
        .checklist
        .create_migration(
            &f.alice,
            &NewMigration {
                name: "Second".into(),
                ..form()
            },
        )
        .await
        .expect("create");
    let next = f
        .checklist
        .migration(&f.viewer, next, "UTC")
        .await
        .expect("read");
    assert_eq!(next.summary.progress.total, 40);
    assert_eq!(next.sections[0].items[0].text, "Reworded first point");
    assert!(next.sections[4]
        .items
        .iter()
        .any(|i| i.text == "Lower the SOA minimum too"));
    let edited = f
        .checklist
        .template(DEFAULT_TEMPLATE)
        .await
        .expect("template");
    assert!(edited.sections[0].items[1].retired);
    assert_eq!(edited.item_count(), 40);
    // Reordering swaps neighbours; the first point cannot go further up.
    f.checklist
        .move_template_item(&f.alice, added, true)
        .await
        .expect("up");
    let dns = &f
        .checklist
        .template(DEFAULT_TEMPLATE)
        .await
        .expect("t")
        .sections[4];
    let n = dns.items.len();
    assert_eq!(dns.items[n - 2].id, added);
    f.checklist
        .move_template_item(&f.alice, first, true)
        .await
        .expect("noop");
    assert_eq!(
        f.checklist
            .template(DEFAULT_TEMPLATE)
            .await
            .expect("t")
            .sections[0]
            .items[0]
            .id,
        first
    );
    // Viewers cannot edit the template or create migrations.
    assert!(matches!(
        f.checklist
            .retire_template_item(&f.viewer, first, true)
            .await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        f.checklist.create_migration(&f.viewer, &form()).await,
        Err(Error::Forbidden { .. })
    ));
}

#[tokio::test]
async fn bad_input_is_explained_and_stores_nothing() {
    let f = fixture().await;
    let cases = [
        (
            NewMigration {
                domains: "exa mple.com shop..example.com".into(),
                ..form()
            },
            "not a domain name",
        ),
        (
            NewMigration {
                domains: " ".into(),
                ..form()
            },
            "at least one domain",
        ),
        (
            NewMigration {
                window_end: "2026-12-05T21:00".into(),
                ..form()
            },
            "ends (2026-12-05T21:00) before it starts",
        ),
        (
            NewMigration {
                window_end: "2026-12-05T22:00".into(),
                ..form()
            },
            "before it starts",
        ),
        (
            NewMigration {
                time_zone: "AEST".into(),
                ..form()
            },
            "did you mean Australia/Sydney, Australia/Melbourne",
        ),
        (
            // A database name (fixed UTC-5), but an Australian means Sydney.
            NewMigration {
                time_zone: "EST".into(),
                ..form()
            },
            "did you mean America/New_York, Australia/Sydney",
        ),
        (
            NewMigration {
                time_zone: "Australia/Melbourne".into(),
                window_start: "2026-10-04T02:30".into(),
                ..form()
            },
            "does not exist in Australia/Melbourne",
        ),
        (
            NewMigration {
                target_server: "old1.example.com".into(),
                ..form()
            },
            "target server is the source",
        ),
        (
            NewMigration {
                target_server: "not a host".into(),
                ..form()
            },
            "neither an IP address nor a host name",
        ),
        (
            NewMigration {
                services: "smtp gopher".into(),
                ..form()
            },
            "gopher",
        ),
        (
            NewMigration {
                ttl_limit: "-5".into(),
                ..form()
            },
            "TTL limit",
        ),
        (
            NewMigration {
                name: String::new(),
                owner: " ".into(),
                ..form()
            },
            "give the migration a name",
        ),
    ];
    for (bad, expect) in cases {
        let err = f
            .checklist
            .create_migration(&f.alice, &bad)
            .await
            .expect_err(expect);
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains(expect), "{expect:?} not in {err}");
    }
    // Several problems are reported together.
    let err = f
        .checklist
        .create_migration(
            &f.alice,
            &NewMigration {
                name: String::new(),
                owner: String::new(),
                ..form()
            },
        )
        .await
        .expect_err("two problems");
    assert!(
        err.to_string().contains("name") && err.to_string().contains("owns"),
        "{err}"
    );
    assert_eq!(count(&f.db, "migration").await, 0);
    assert_eq!(count(&f.db, "migration_item").await, 0);
}

#[tokio::test]
async fn ticks_count_towards_progress_and_a_stale_tick_is_refused() {
    let f = fixture().await;
    let id = f
        .checklist
        .create_migration(&f.alice, &form())
        .await
        .expect("create");
    let m = f
        .checklist
        .migration(&f.alice, id, "UTC")
        .await
        .expect("read");
    let items: Vec<_> = m.sections.iter().flat_map(|s| &s.items).collect();
    let (a, b, c) = (items[0], items[1], items[2]);

    let ticked = f
        .checklist
        .tick(
            &f.alice,
            id,
            a.id,
            ItemState::Done,
            "copied",
            Some(a.revision),
        )
        .await
        .expect("tick");
    assert_eq!(ticked.state, ItemState::Done);
    assert_eq!(ticked.changed_by.as_deref(), Some("Alice Smith"));
    assert_eq!(ticked.revision, a.revision + 1);
    f.checklist
        .tick(
            &f.bob,
            id,
            b.id,
            ItemState::NotApplicable,
            "",
            Some(b.revision),
        )
        .await
        .expect("n/a");
    // Blocked needs a reason.
    let err = f
        .checklist
        .tick(&f.bob, id, c.id, ItemState::Blocked, " ", None)
        .await
        .expect_err("no note");
    assert!(err.to_string().contains("what blocks"), "{err}");
    f.checklist
        .tick(
            &f.bob,
            id,
            c.id,
            ItemState::Blocked,
            "waiting for the DNS host",
            None,
        )
        .await
        .expect("blocked");

    // Bob ticks point a on the view he loaded before Alice's tick: refused, and
    // the message says who changed it.
    let err = f
        .checklist
        .tick(&f.bob, id, a.id, ItemState::Open, "", Some(a.revision))
        .await
        .expect_err("stale");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("Alice Smith set this point to \"Done\""),
        "{err}"
    );

    let m = f
        .checklist
        .migration(&f.viewer, id, "UTC")
        .await
        .expect("read");
    let p = m.summary.progress;
    assert_eq!(
        (p.total, p.done, p.not_applicable, p.blocked, p.open()),
        (40, 1, 1, 1, 37)
    );
    assert_eq!(p.percent(), 5);
    assert_eq!(m.sections[0].progress.settled(), 2);
    let first = &m.sections[0].items[0];
    assert_eq!(
        (first.state, first.note.as_str()),
        (ItemState::Done, "copied")
    );
    let list = f
        .checklist
        .list_migrations(&f.viewer, "UTC")
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].progress, p);

    // Unknown points and viewers' ticks.
    assert!(matches!(
        f.checklist
            .tick(&f.alice, id, 999_999, ItemState::Done, "", None)
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        f.checklist
            .tick(&f.viewer, id, b.id, ItemState::Done, "", None)
            .await,
        Err(Error::Forbidden { .. })
    ));
    // The three ticks that landed, newest first (the refused ones are not there).
    let history = &m.activity;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].by, "Bob Jones");
    assert_eq!(history[0].state, ItemState::Blocked);
    assert_eq!(history[2].item_text, a.text);

    // Exports carry the same state.
    let md = markdown(&m);
    assert!(md.contains("- [x] "), "{md}");
    assert!(
        md.contains("- [!] ") && md.contains("> waiting for the DNS host"),
        "{md}"
    );
    assert!(
        md.contains("Progress: 2 of 40 settled (5%), 1 blocked"),
        "{md}"
    );
    let csv = csv(&m);
    assert_eq!(csv.lines().count(), 41);
    assert!(
        csv.lines()
            .nth(1)
            .expect("line")
            .contains("\"done\",\"copied\",\"Alice Smith\""),
        "{csv}"
    );
}

#[tokio::test]
async fn two_people_ticking_at_once_lose_nothing() {
    let f = fixture().await;
    let id = f
        .checklist
        .create_migration(&f.alice, &form())
        .await
        .expect("create");
    let m = f
        .checklist
        .migration(&f.alice, id, "UTC")
        .await
        .expect("read");
    let items: Vec<(i64, i64)> = m
        .sections
        .iter()
        .flat_map(|s| &s.items)
        .map(|i| (i.id, i.revision))
        .collect();
    // Two people (each through a separate connection pool, as two browsers
    // through two replicas would be) tick interleaved halves, all at once.
    let other = ChecklistService::new(Db::connect(&f.url).await.expect("second pool"));
    let mut tasks = Vec::new();
    for (n, (item, rev)) in items.iter().copied().enumerate() {
        let (svc, who) = if n % 2 == 0 {
            (f.checklist.clone(), f.alice.clone())
        } else {
            (other.clone(), f.bob.clone())
        };
        tasks.push(tokio::spawn(async move {
            svc.tick(
                &who,
                id,
                item,
                ItemState::Done,
                &format!("tick {n}"),
                Some(rev),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("tick");
    }
    let m = f
        .checklist
        .migration(&f.viewer, id, "UTC")
        .await
        .expect("read");
    assert_eq!(m.summary.progress.done, 40, "a tick was lost");
    let by: std::collections::HashSet<_> = m
        .sections
        .iter()
        .flat_map(|s| &s.items)
        .filter_map(|i| i.changed_by.clone())
        .collect();
    assert_eq!(by.len(), 2);
    let changes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM migration_item_change WHERE migration_id = $1")
            .bind(id)
            .fetch_one(f.db.pool())
            .await
            .expect("changes");
    assert_eq!(changes, 40, "every tick is kept");
    assert_eq!(m.activity.len(), Migration::ACTIVITY as usize);
}

#[tokio::test]
async fn a_check_run_is_stored_with_its_evidence_and_shown_latest_first() {
    let f = fixture().await;
    // A real listener that greets like SSH, and a port with nothing behind it.
    let ssh = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ssh_port = ssh.local_addr().expect("addr").port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut s, _)) = ssh.accept().await {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        }
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let new = NewMigration {
        target_server: "127.0.0.1".into(),
        services: format!("ssh:{ssh_port}"),
        ..form()
    };
    let id = f
        .checklist
        .create_migration(&f.alice, &new)
        .await
        .expect("create");
    let report = f
        .checklist
        .run_check(&f.alice, id, AutomatedCheck::ServicePorts)
        .await
        .expect("run");
    assert_eq!(
        report.verdict,
        model::checklist::Verdict::Pass,
        "{report:?}"
    );
    assert!(
        report.evidence[0].detail.contains("SSH-2.0-OpenSSH_9.2"),
        "{report:?}"
    );
    let m = f
        .checklist
        .migration(&f.viewer, id, "UTC")
        .await
        .expect("read");
    assert_eq!(m.checks.len(), 1);
    assert_eq!(m.checks[0].ran_by, "Alice Smith");
    assert_eq!(m.checks[0].report, report);

    // The plan changes behind the page (the port closes): the next run fails,
    // and the page shows the latest run only.
    sqlx::query("UPDATE migration SET services = $1 WHERE id = $2")
        .bind(format!("ssh:{closed}"))
        .bind(id)
        .execute(f.db.pool())
        .await
        .expect("update");
    let runs = f
        .checklist
        .run_checks(
            &f.bob,
            id,
            &[AutomatedCheck::ServicePorts, AutomatedCheck::HttpHost],
        )
        .await
        .expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0].verdict,
        model::checklist::Verdict::Fail,
        "{:?}",
        runs[0]
    );
    let m = f
        .checklist
        .migration(&f.viewer, id, "UTC")
        .await
        .expect("read");
    assert_eq!(m.checks.len(), 2);
    assert_eq!(m.checks[0].report.check, AutomatedCheck::ServicePorts);
    assert_eq!(m.checks[0].report.verdict, model::checklist::Verdict::Fail);
    assert_eq!(m.checks[0].ran_by, "Bob Jones");
    // Viewers read the checks but do not run them.
    assert!(matches!(
        f.checklist
            .run_check(&f.viewer, id, AutomatedCheck::DnsTtl)
            .await,
        Err(Error::Forbidden { .. })
    ));
}
