//! One tokio runtime per process, shared by every call and by the background refresher.

use std::sync::OnceLock;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ca-login")
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime (out of threads?)")
    })
}
