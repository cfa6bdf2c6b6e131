//! Accounts against a real SQLite file, with a clock the tests move.

use std::time::Duration;

use super::*;
use model::auth::ShareState;

struct Fixture {
    _dir: tempfile::TempDir,
    auth: AuthService,
    db: Db,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let auth = AuthService::new(db.clone(), AuthConfig::default(), Clock::default());
    Fixture {
        _dir: dir,
        auth,
        db,
    }
}

fn client(addr: &str) -> Client {
    Client {
        addr: addr.into(),
        user_agent: "test".into(),
    }
}

async fn add(f: &Fixture, name: &str, role: Role) {
    f.auth
        .add_user(None, name, "", role, "correct horse battery")
        .await
        .expect("add user");
}

#[tokio::test]
async fn first_start_creates_one_admin_with_a_random_password() {
    let f = fixture().await;
    let (name, password) = f
        .auth
        .ensure_first_admin()
        .await
        .expect("ok")
        .expect("created");
    assert_eq!(name, "admin");
    assert!(password.len() >= 20);
    assert!(
        f.auth.ensure_first_admin().await.expect("ok").is_none(),
        "only once"
    );
    let s = f
        .auth
        .login("admin", &password, &client("10.0.0.1"))
        .await
        .expect("login");
    assert_eq!(s.me.role, Role::Admin);
    // Nothing secret is stored in the clear.
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM app_user")
        .fetch_one(f.db.pool())
        .await
        .expect("hash");
    assert!(stored.starts_with("$argon2id$") && !stored.contains(&password));
    let session_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM app_session")
        .fetch_all(f.db.pool())
        .await
        .expect("ids");
    assert_eq!(session_ids, [token_hash(&s.token)]);
}

#[tokio::test]
async fn wrong_name_and_wrong_password_fail_alike() {
    let f = fixture().await;
    add(&f, "alice", Role::Staff).await;
    let c = client("10.0.0.2");
    let a = f
        .auth
        .login("alice", "wrong password!", &c)
        .await
        .expect_err("bad password");
    let b = f
        .auth
        .login("mallory", "correct horse battery", &c)
        .await
        .expect_err("no user");
    assert!(matches!(a, Error::LoginFailed) && matches!(b, Error::LoginFailed));
    assert_eq!(a.to_string(), b.to_string());
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_from_that_address_until_the_window_passes() {
    let f = fixture().await;
    add(&f, "alice", Role::Staff).await;
    let attacker = client("10.0.1.1");
    for _ in 0..5 {
        let err = f
            .auth
            .login("alice", "nope nope nope", &attacker)
            .await
            .expect_err("wrong");
        assert!(matches!(err, Error::LoginFailed));
    }
    let err = f
        .auth
        .login("alice", "correct horse battery", &attacker)
        .await
        .expect_err("throttled even with the right password");
    let Error::Throttled { retry_after_secs } = err else {
        panic!("{err:?}")
    };
    assert!(retry_after_secs > 0 && retry_after_secs <= 15 * 60);
    assert!(err.to_string().contains("try again in"));
    // The real alice, elsewhere, is not locked out by someone else's guesses.
    f.auth
        .login("alice", "correct horse battery", &client("10.0.2.1"))
        .await
        .expect("another address signs in");
    f.auth.clock().advance(Duration::from_secs(15 * 60 + 1));
    f.auth
        .login("alice", "correct horse battery", &attacker)
        .await
        .expect("the window passed");
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled() {
    let f = fixture().await;
    add(&f, "bob", Role::Viewer).await;
    let c = client("192.0.2.9");
    let cap = AuthConfig::default().max_address_failures;
    for i in 0..cap {
        let _ = f.auth.login(&format!("user{i}"), "whatever12345", &c).await;
    }
    let err = f
        .auth
        .login("bob", "correct horse battery", &c)
        .await
        .expect_err("throttled");
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    // Another address is not affected.
    f.auth
        .login("bob", "correct horse battery", &client("192.0.2.10"))
        .await
        .expect("other address");
}

#[tokio::test]
async fn an_ipv6_client_counts_by_its_64_and_unlock_lets_the_address_in_again() {
    let f = fixture().await;
    add(&f, "bob", Role::Viewer).await;
    add(&f, "alice", Role::Viewer).await;
    let cap = AuthConfig::default().max_address_failures;
    // Each guess from a new address of one /64 (and a name no one has).
    for i in 0..cap {
        let _ = f
            .auth
            .login(
                &format!("user{i}"),
                "whatever12345",
                &client(&format!("2001:db8::{:x}", i + 1)),
            )
            .await;
    }
    let err = f
        .auth
        .login("bob", "correct horse battery", &client("2001:db8::99"))
        .await
        .expect_err("the /64 is throttled");
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    f.auth
        .login("bob", "correct horse battery", &client("2001:db9::1"))
        .await
        .expect("another /64");

    // An office behind one address: alice mistypes among others; the address
    // locks; unlocking alice lets her in from it again.
    let office = client("192.0.2.50");
    for i in 0..cap {
        let name = if i % 4 == 0 {
            "alice".to_owned()
        } else {
            format!("colleague{i}")
        };
        let _ = f.auth.login(&name, "mistyped12345", &office).await;
    }
    let err = f
        .auth
        .login("alice", "correct horse battery", &office)
        .await
        .expect_err("locked");
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert!(f.auth.unlock("alice").await.expect("unlock") >= u64::from(cap));
    f.auth
        .login("alice", "correct horse battery", &office)
        .await
        .expect("unlocked from the office");
}

#[tokio::test]
async fn a_peek_does_not_keep_an_idle_session_alive() {
    let f = fixture().await;
    add(&f, "dora", Role::Staff).await;
    let s = f
        .auth
        .login("dora", "correct horse battery", &client("10.0.0.7"))
        .await
        .expect("login");
    // An open event stream peeks every few seconds for 8 hours.
    for _ in 0..16 {
        assert!(matches!(
            f.auth.peek_session(&s.token).await.expect("peek"),
            Principal::User(_)
        ));
        f.auth.clock().advance(Duration::from_secs(30 * 60));
    }
    assert_eq!(
        f.auth.session(&s.token).await.expect("lookup"),
        Principal::Anonymous,
        "idle for 8 hours whatever the stream did"
    );
}

/// The flood of issue 17: many wrong guesses at once for one account from one
/// address. Each attempt reserves its try before hashing, so at most
/// `max_failures` reach argon2 and the rest are throttled without hashing.
#[tokio::test]
async fn a_concurrent_flood_gets_at_most_max_failures_guesses() {
    let f = fixture().await;
    add(&f, "admin1", Role::Admin).await;
    let before = f.auth.verifications();
    let attacker = client("203.0.113.66");
    let attempts = (0..50).map(|i| {
        let auth = f.auth.clone();
        let c = attacker.clone();
        tokio::spawn(async move { auth.login("admin1", &format!("guess number {i}"), &c).await })
    });
    let results = futures_util::future::join_all(attempts).await;
    let (mut failed, mut throttled) = (0, 0);
    for r in results {
        match r.expect("task") {
            Err(Error::LoginFailed) => failed += 1,
            Err(Error::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let max = AuthConfig::default().max_failures;
    assert_eq!(failed, max, "exactly the allowed guesses were tried");
    assert_eq!(throttled, 50 - max);
    assert_eq!(
        f.auth.verifications() - before,
        u64::from(max),
        "argon2 ran once per allowed guess and never for a throttled one"
    );
    // The real admin, from their own address, still gets in.
    f.auth
        .login("admin1", "correct horse battery", &client("198.51.100.1"))
        .await
        .expect("the admin from another address");
    // And `switchboard user unlock` clears the attacker's address too.
    // (Its failures for the account and the address's count they made.)
    let cleared = f.auth.unlock("admin1").await.expect("unlock");
    assert_eq!(cleared, 2 * u64::from(max));
    f.auth
        .login("admin1", "correct horse battery", &attacker)
        .await
        .expect("unlocked");
}

/// Hashing is bounded: when every turn is taken for longer than `hash_wait`,
/// a sign-in is refused as overloaded (503), and its reservation is given back.
#[tokio::test]
async fn hashing_turns_are_bounded_and_overload_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = platform::testing::database_url(dir.path()).await;
    let db = Db::connect(&url).await.expect("db");
    let config = AuthConfig {
        max_concurrent_hashes: 1,
        hash_wait: Duration::from_millis(1),
        ..AuthConfig::default()
    };
    let auth = AuthService::new(db.clone(), config, Clock::default());
    auth.add_user(None, "dave", "", Role::Staff, "correct horse battery")
        .await
        .expect("add");
    let turn = auth.hashing.turns.acquire().await.expect("the only turn");
    let err = auth
        .login("dave", "correct horse battery", &client("10.9.9.9"))
        .await
        .expect_err("busy");
    let Error::Overloaded {
        retry_after_secs, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(retry_after_secs >= 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failure")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(left, 0, "an attempt that never guessed counts for nothing");
    drop(turn);
    auth.login("dave", "correct horse battery", &client("10.9.9.9"))
        .await
        .expect("a turn is free again");
}

#[tokio::test]
async fn oversized_names_are_refused_before_anything_is_stored_or_hashed() {
    let f = fixture().await;
    let before = f.auth.verifications();
    let huge = "a".repeat(2 * 1024 * 1024);
    let err = f
        .auth
        .login(&huge, "whatever12345", &client("10.3.3.3"))
        .await
        .expect_err("too long");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("at most 40"), "{err}");
    assert_eq!(f.auth.verifications(), before, "nothing hashed");
    for table in ["login_failure", "audit_log", "login_attempt_lock"] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(f.db.pool())
                .await
                .expect("count");
        assert_eq!(n, 0, "{table}");
    }
    // The same bounds when adding users and share links.
    for (name, display) in [
        ("x".repeat(41), String::new()),
        ("ok_name".into(), "d".repeat(101)),
    ] {
        let err = f
            .auth
            .add_user(None, &name, &display, Role::Viewer, "correct horse battery")
            .await
            .expect_err("too long");
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }
    let err = f
        .auth
        .add_user(None, "longpw", "", Role::Viewer, &"p".repeat(1025))
        .await
        .expect_err("password too long");
    assert!(err.to_string().contains("at most 1024"), "{err}");
    // Audit details are cut, whatever a caller passes.
    f.auth
        .audit_system("test.long", &"t".repeat(5000), &"d".repeat(50_000))
        .await
        .expect("audit");
    let (target, detail): (String, String) =
        sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = 'test.long'")
            .fetch_one(f.db.pool())
            .await
            .expect("row");
    assert_eq!(target.chars().count(), limits::AUDIT_TARGET_MAX);
    assert_eq!(detail.chars().count(), limits::AUDIT_DETAIL_MAX);
    assert!(detail.ends_with('…'));
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely() {
    let f = fixture().await;
    add(&f, "carol", Role::Staff).await;
    let c = client("10.0.0.3");
    let s = f
        .auth
        .login("carol", "correct horse battery", &c)
        .await
        .expect("login");
    assert!(matches!(
        f.auth.session(&s.token).await.expect("ok"),
        Principal::User(_)
    ));
    // Idle: 8 hours without a request.
    f.auth.clock().advance(Duration::from_secs(8 * 3600));
    assert_eq!(
        f.auth.session(&s.token).await.expect("ok"),
        Principal::Anonymous
    );

    // Absolute: used every few hours, it still ends after 7 days.
    let s = f
        .auth
        .login("carol", "correct horse battery", &c)
        .await
        .expect("login");
    for _ in 0..(7 * 24 / 4) {
        assert!(matches!(
            f.auth.session(&s.token).await.expect("ok"),
            Principal::User(_)
        ));
        f.auth.clock().advance(Duration::from_secs(4 * 3600));
    }
    assert_eq!(
        f.auth.session(&s.token).await.expect("ok"),
        Principal::Anonymous
    );
}

#[tokio::test]
async fn each_login_gets_a_new_session_and_sign_out_everywhere_ends_all() {
    let f = fixture().await;
    add(&f, "dave", Role::Staff).await;
    let c = client("10.0.0.4");
    let a = f
        .auth
        .login("dave", "correct horse battery", &c)
        .await
        .expect("a");
    let b = f
        .auth
        .login("dave", "correct horse battery", &c)
        .await
        .expect("b");
    assert_ne!(a.token, b.token);
    f.auth.logout(&a.token, &c).await.expect("logout");
    assert_eq!(
        f.auth.session(&a.token).await.expect("ok"),
        Principal::Anonymous
    );
    let who = f.auth.session(&b.token).await.expect("ok");
    let c2 = f
        .auth
        .login("dave", "correct horse battery", &c)
        .await
        .expect("c");
    assert_eq!(
        f.auth
            .logout_everywhere(&who, &c)
            .await
            .expect("everywhere"),
        2
    );
    assert_eq!(
        f.auth.session(&b.token).await.expect("ok"),
        Principal::Anonymous
    );
    assert_eq!(
        f.auth.session(&c2.token).await.expect("ok"),
        Principal::Anonymous
    );
}

#[tokio::test]
async fn admins_manage_users_and_others_cannot() {
    let f = fixture().await;
    let (_, pw) = f
        .auth
        .ensure_first_admin()
        .await
        .expect("ok")
        .expect("admin");
    let c = client("10.0.0.5");
    let admin = Principal::User(f.auth.login("admin", &pw, &c).await.expect("login").me);
    let id = f
        .auth
        .add_user(
            Some((&admin, &c)),
            "erin",
            "Erin E",
            Role::Viewer,
            "correct horse battery",
        )
        .await
        .expect("add");
    let erin_session = f
        .auth
        .login("erin", "correct horse battery", &c)
        .await
        .expect("login");
    let erin = Principal::User(erin_session.me.clone());

    assert!(matches!(
        f.auth.list_users(&erin).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        f.auth.list_users(&Principal::Anonymous).await,
        Err(Error::Unauthenticated)
    ));
    let err = f
        .auth
        .add_user(
            Some((&erin, &c)),
            "x1",
            "",
            Role::Admin,
            "correct horse battery",
        )
        .await
        .expect_err("viewer");
    assert!(err.to_string().contains("needs admin"), "{err}");

    f.auth
        .set_role(&admin, &c, id, Role::Staff)
        .await
        .expect("role");
    let users = f.auth.list_users(&admin).await.expect("list");
    assert_eq!(
        users.iter().find(|u| u.id == id).map(|u| u.role),
        Some(Role::Staff)
    );
    // Resetting the password ends the user's sessions; the new one works.
    let new_pw = f.auth.reset_password(&admin, &c, id).await.expect("reset");
    assert_eq!(
        f.auth.session(&erin_session.token).await.expect("ok"),
        Principal::Anonymous
    );
    f.auth
        .login("erin", &new_pw, &c)
        .await
        .expect("new password");
    // Disabling ends sessions and blocks sign-in with the usual message.
    f.auth
        .set_disabled(&admin, &c, id, true)
        .await
        .expect("disable");
    assert!(matches!(
        f.auth.login("erin", &new_pw, &c).await,
        Err(Error::LoginFailed)
    ));
    // An admin cannot lock themselves out.
    let admin_id = admin.user().expect("me").id;
    assert!(f
        .auth
        .set_disabled(&admin, &c, admin_id, true)
        .await
        .is_err());
    assert!(f
        .auth
        .set_role(&admin, &c, admin_id, Role::Staff)
        .await
        .is_err());
    // Bad input is refused with a reason and writes nothing.
    assert!(f
        .auth
        .add_user(
            Some((&admin, &c)),
            "erin",
            "",
            Role::Viewer,
            "long enough pw"
        )
        .await
        .is_err());
    assert!(f
        .auth
        .add_user(Some((&admin, &c)), "ok", "", Role::Viewer, "short")
        .await
        .is_err());
    assert!(f
        .auth
        .add_user(
            Some((&admin, &c)),
            "bad name",
            "",
            Role::Viewer,
            "long enough pw"
        )
        .await
        .is_err());
    assert_eq!(f.auth.list_users(&admin).await.expect("list").len(), 2);

    let log = f.auth.list_audit(&admin, 100).await.expect("audit");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "user.create",
        "auth.login",
        "user.role",
        "user.reset_password",
        "user.disable",
        "auth.login_failed",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
}

#[tokio::test]
async fn share_links_open_expire_and_revoke() {
    let f = fixture().await;
    add(&f, "frank", Role::Staff).await;
    add(&f, "vera", Role::Viewer).await;
    let c = client("10.0.0.6");
    let staff = Principal::User(
        f.auth
            .login("frank", "correct horse battery", &c)
            .await
            .expect("l")
            .me,
    );
    let viewer = Principal::User(
        f.auth
            .login("vera", "correct horse battery", &c)
            .await
            .expect("l")
            .me,
    );

    assert!(matches!(
        f.auth
            .create_share_link(&viewer, &c, "east", "East", None)
            .await,
        Err(Error::Forbidden { .. })
    ));
    let (token, id) = f
        .auth
        .create_share_link(&staff, &c, "east:bedfordshire", "Beds reach", None)
        .await
        .expect("create");
    let grant = f.auth.open_share_link(&token).await.expect("open");
    assert_eq!(grant.selection, "east:bedfordshire");
    f.auth.open_share_link(&token).await.expect("again");
    let links = f.auth.list_share_links(&staff).await.expect("list");
    assert_eq!(links[0].open_count, 2);
    assert_eq!(links[0].state, ShareState::Active);

    f.auth
        .revoke_share_link(&staff, &c, id)
        .await
        .expect("revoke");
    let err = f.auth.open_share_link(&token).await.expect_err("revoked");
    assert!(matches!(err, Error::Gone(_)) && err.to_string().contains("revoked"));

    let (short, _) = f
        .auth
        .create_share_link(
            &staff,
            &c,
            "uk",
            "Day pass",
            Some(Duration::from_secs(3600)),
        )
        .await
        .expect("create");
    f.auth.open_share_link(&short).await.expect("fresh");
    f.auth.clock().advance(Duration::from_secs(3601));
    let err = f.auth.open_share_link(&short).await.expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(matches!(
        f.auth.open_share_link("nonsense").await,
        Err(Error::NotFound(_))
    ));
    assert!(f
        .auth
        .create_share_link(&staff, &c, "bad sel!", "x", None)
        .await
        .is_err());
    assert!(f
        .auth
        .create_share_link(&staff, &c, "uk", "  ", None)
        .await
        .is_err());
}

#[tokio::test]
async fn housekeeping_prunes_idle_sessions_and_old_failures_and_keeps_live_ones() {
    let f = fixture().await;
    add(&f, "ann", Role::Staff).await;
    add(&f, "bob", Role::Staff).await;
    let idle = f
        .auth
        .login("ann", "correct horse battery", &client("10.0.0.1"))
        .await
        .expect("login");
    let _ = f.auth.login("ann", "wrong", &client("10.0.0.1")).await;
    f.auth.clock().advance(Duration::from_secs(8 * 3600));
    let summary = f.auth.prune().await.expect("prune");
    // One failure is counted per account and one per address.
    assert_eq!(
        summary,
        "removed 1 expired session(s) and 2 old sign-in failure(s)"
    );
    for table in ["login_failure", "login_attempt_lock"] {
        let left: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(f.db.pool())
                .await
                .expect("count");
        assert_eq!(left, 0, "{table} pruned");
    }
    assert_eq!(
        f.auth.session(&idle.token).await.expect("lookup"),
        Principal::Anonymous
    );
    let fresh = f
        .auth
        .login("bob", "correct horse battery", &client("10.0.0.2"))
        .await
        .expect("login");
    let summary = f.auth.prune().await.expect("prune again");
    assert_eq!(
        summary,
        "removed 0 expired session(s) and 0 old sign-in failure(s)"
    );
    assert!(matches!(
        f.auth.session(&fresh.token).await,
        Ok(Principal::User(_))
    ));
}
