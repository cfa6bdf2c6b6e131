//! The threads that render tiles: one per core, each at a lower CPU priority
//! (nice 10 on Linux), so that they use idle cores fully but pages, API
//! answers and the browser on the same machine never wait behind a render. Jobs queue in
//! order; the threads end when the last handle to the pool is dropped.

use std::sync::{mpsc, Arc, Mutex};

use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the render threads (cheap to clone).
#[derive(Clone)]
pub(super) struct RenderPool {
    jobs: mpsc::Sender<Job>,
}

impl RenderPool {
    /// Starts `threads` render threads.
    pub(super) fn start(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tile-render-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match next {
                            // A render that panics loses its answer (the
                            // caller gets an error), not the thread.
                            Ok(job) => {
                                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                                    .is_err()
                                {
                                    tracing::error!("a tile render panicked");
                                }
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("could not start a tile render thread: {e}");
            }
        }
        Self { jobs }
    }

    /// Runs `f` on a render thread and waits for its answer.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| Error::Internal("the tile render threads are gone".into()))?;
        rx.await
            .map_err(|_| Error::Internal("a tile render failed (see the log)".into()))
    }
}

/// Nice 10 for the calling thread (Linux keeps a nice value per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::warn!("tile render thread: could not lower its priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_named_low_priority_threads() {
        let pool = RenderPool::start(2);
        let (name, nice) = pool
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
                (name, nice.ok())
            })
            .await
            .expect("ran");
        assert!(name.is_some_and(|n| n.starts_with("tile-render-")));
        assert_eq!(nice, Some(10));
        // A job that panics is an error to its caller; the threads go on.
        let panicked = pool.run(|| -> usize { panic!("a bug in a render") }).await;
        assert!(panicked.is_err());
        let panicked = pool.run(|| -> usize { panic!("a bug in a render") }).await;
        assert!(panicked.is_err());
        // Many jobs, all answered.
        let answers = futures_all(&pool, 50).await;
        assert_eq!(answers, (0..50).collect::<Vec<_>>());
    }

    async fn futures_all(pool: &RenderPool, n: usize) -> Vec<usize> {
        let mut handles = Vec::new();
        for i in 0..n {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move { pool.run(move || i).await }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("task").expect("ran"));
        }
        out
    }
}
