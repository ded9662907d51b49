//! The channel to a committer task, shared by the group commits of
//! submissions ([`crate::queue`]) and of the workers' writes
//! ([`crate::jobwrites`]), and by the lease renewals ([`crate::leases`]):
//! the task starts on first use, and again when
//! the runtime that ran it has gone away (a test's runtime, a Lambda
//! invocation's), so a handle outlives the runtimes it is used from.

use std::sync::Mutex;

use tokio::sync::mpsc;

type Start<P> = Box<dyn Fn(mpsc::UnboundedReceiver<P>) + Send + Sync>;

pub(crate) struct Committer<P> {
    sender: Mutex<Option<mpsc::UnboundedSender<P>>>,
    start: Start<P>,
}

impl<P: Send + 'static> Committer<P> {
    /// `start` spawns the task that reads what is sent.
    pub(crate) fn new(start: impl Fn(mpsc::UnboundedReceiver<P>) + Send + Sync + 'static) -> Self {
        Committer {
            sender: Mutex::new(None),
            start: Box::new(start),
        }
    }

    /// Hands `item` to the committer task, starting one when none runs.
    pub(crate) fn send(&self, mut item: P) {
        loop {
            match self.sender().send(item) {
                Ok(()) => return,
                // The task's runtime is gone: start a new one here.
                Err(mpsc::error::SendError(back)) => {
                    item = back;
                    self.slot().take();
                }
            }
        }
    }

    /// Hands `item` to the task if one runs; never starts one (for what
    /// only a running task cares about, and from `Drop`, outside any
    /// runtime).
    pub(crate) fn send_if_running(&self, item: P) {
        if let Some(sender) = self.slot().as_ref() {
            let _ = sender.send(item);
        }
    }

    fn sender(&self) -> mpsc::UnboundedSender<P> {
        let mut slot = self.slot();
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        (self.start)(receiver);
        *slot = Some(sender.clone());
        sender
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<mpsc::UnboundedSender<P>>> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner())
    }
}
