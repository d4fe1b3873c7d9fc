//! The PostgreSQL harness the station tests stand on (`tests/support/pg.rs`): a throwaway
//! cluster of the distribution's server, as the `postgres` user when the tests run as root (as
//! CI does), reachable only through its own unix socket, and gone when dropped.

use crate::support::pg::Pg;

#[test]
fn a_throwaway_cluster_serves_on_its_own_socket_only_and_is_gone_when_dropped() {
    let pg = Pg::start();
    assert_eq!(pg.psql("postgres", "SELECT 6 * 7").trim(), "42");
    // No TCP listener: the socket in its own folder is the only way in.
    assert_eq!(pg.psql("postgres", "SHOW listen_addresses").trim(), "");
    let dir = pg.psql("postgres", "SHOW unix_socket_directories");
    assert_eq!(std::path::Path::new(dir.trim()), pg.socket_dir);
    // The server never runs as root.
    assert_eq!(
        pg.psql("postgres", "SELECT current_user").trim(),
        "postgres"
    );
    let data = pg.psql("postgres", "SHOW data_directory");
    let owner = std::fs::metadata(data.trim()).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if rustix::process::getuid().is_root() {
        assert_ne!(
            owner.unwrap(),
            0,
            "the cluster's files are the server user's"
        );
    }
    // Two clusters at once (tests run in parallel) stay apart.
    let other = Pg::start();
    pg.psql("postgres", "CREATE DATABASE only_in_the_first");
    let listed = other.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname = 'only_in_the_first'",
    );
    assert_eq!(listed.trim(), "0");
    drop(other);

    let socket = pg.socket_dir.join(format!(".s.PGSQL.{}", pg.port));
    assert!(socket.exists(), "{}", pg.log());
    let root = pg.socket_dir.parent().unwrap().to_path_buf();
    drop(pg);
    assert!(!socket.exists(), "the server stopped and took its socket");
    assert!(!root.exists(), "the cluster's folder is removed");
}
