//! What the engine's tests share: an engine on a store from a config text,
//! with the local actions and no effects outside rectify.

#![allow(dead_code)]

use std::sync::Arc;

use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};

/// An engine for `yaml` (a whole config; its `store` is opened).
pub async fn local_engine(yaml: &str) -> Arc<Engine> {
    let config = Loader::new()
        .load_str(yaml, std::path::Path::new("test.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let store = rectify_store::open(&config.store).await.unwrap();
    Arc::new(
        Engine::new(
            Arc::new(config),
            store,
            rectify_local::catalog(),
            Arc::new(NoFindingUpdates),
            Arc::new(NoNotifications),
            EngineOptions::default(),
        )
        .unwrap(),
    )
}
