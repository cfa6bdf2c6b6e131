//! The threads that render tiles: one per core, each at a lower CPU priority
//! (nice 10 on Linux), so that they use idle cores fully but pages, API
//! answers and the browser on the same machine never wait behind a render. Jobs queue in
//! order; a job whose caller stopped waiting (the request was dropped: its client
//! went away) before a thread took it is skipped, not run. The threads end when the
//! last handle to the pool is dropped. How many jobs may queue is bounded by the
//! caller (`cache`'s render permits), not here.

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

    /// Runs `f` on a render thread and waits for its answer. When this future
    /// is dropped before a thread takes the job, `f` is dropped unrun (with
    /// whatever it holds); once started, it runs to its end.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // Nobody waits for the answer any more: skip the work.
                if tx.is_closed() {
                    return;
                }
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

    #[tokio::test]
    async fn a_job_whose_caller_left_before_it_started_is_skipped() {
        let pool = RenderPool::start(1);
        // Keep the one thread busy until told.
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .await
            })
        };
        started.await.expect("the busy job started");
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let left = {
            let (pool, ran) = (pool.clone(), ran.clone());
            tokio::spawn(async move {
                pool.run(move || ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                    .await
            })
        };
        // Queued behind the busy job; then its caller goes away.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left.abort();
        assert!(left.await.is_err(), "aborted");
        release.send(()).expect("release");
        busy.await.expect("task").expect("ran");
        // One thread, jobs in order: this one runs after the skipped one was taken.
        pool.run(|| ()).await.expect("ran");
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0, "skipped");
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
