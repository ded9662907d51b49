//! A schema of its own on the local PostgreSQL server for one test,
//! dropped when the test ends (`RECTIFY_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

pub struct Schema {
    server: String,
    name: String,
}

impl Schema {
    /// `rectify_<suite>_<test>_<pid>`: apart from every other test run.
    pub fn new(suite: &str, test: &str) -> Schema {
        Schema {
            server: std::env::var("RECTIFY_TEST_POSTGRES_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            name: format!("rectify_{suite}_{test}_{}", std::process::id()),
        }
    }

    pub fn url(&self) -> String {
        format!("{}?schema={}", self.server, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .output();
    }
}
