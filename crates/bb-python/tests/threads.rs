//! Metadata python runs without threads (RustPython is built without them): what needs
//! only locks works, what needs a second thread fails at once instead of hanging.

use bb_data::{DataStore, PythonHost};
use bb_python::Python;

#[test]
fn threading_logging_and_queue_work_in_one_thread() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    python
        .exec(
            &d,
            "\
import logging, queue, threading
logging.getLogger('hz.test').warning('logged under a lock')
lock = threading.Lock()
with lock:
    assert lock.locked()
    assert not lock.acquire(False)
assert not lock.locked()
rlock = threading.RLock()
with rlock:
    with rlock:
        pass
assert not threading.Event().wait(0.01)
q = queue.Queue()
q.put(1)
assert q.get() == 1
assert threading.current_thread() is threading.main_thread()
",
        )
        .expect("single-threaded uses of threading work");
}

#[test]
fn starting_a_thread_or_waiting_forever_is_an_error() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    let started = python
        .exec(
            &d,
            "import threading\nthreading.Thread(target=print).start()",
        )
        .expect_err("a thread cannot start");
    assert!(started.to_string().contains("without threads"), "{started}");
    let waited = python
        .exec(&d, "import queue\nqueue.Queue().get()")
        .expect_err("nothing could ever put into the queue");
    assert!(waited.to_string().contains("deadlock"), "{waited}");
}
