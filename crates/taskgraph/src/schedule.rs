//! Which task to run next: critical-path scheduling over a task graph.
//!
//! Every task's priority is the length of the longest chain of work that waits for it
//! (its own estimated time plus the longest chain of its dependents), then how many
//! tasks depend on it, then its own estimated time. Ready tasks wait in a binary heap;
//! the executor takes the most urgent one, reports completion or failure, and the tasks
//! that become ready are queued.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Tasks that depend on each other in a circle: the tasks of one circle, each depending on
/// the next (the first is repeated at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleError(pub Vec<usize>);

impl std::fmt::Display for CycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dependency cycle through tasks {:?}", self.0)
    }
}

impl std::error::Error for CycleError {}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for dependencies.
    Waiting,
    /// All dependencies done; queued.
    Ready,
    /// Handed out by [`Scheduler::next_ready`].
    Running,
    /// Finished successfully.
    Done,
    /// Failed.
    Failed,
    /// Will not run: something it depends on failed.
    Blocked,
}

/// A queued task with its priority key.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Queued {
    critical_path: f64,
    dependents: usize,
    estimate: f64,
    task: usize,
}

impl Eq for Queued {}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.critical_path
            .total_cmp(&other.critical_path)
            .then(self.dependents.cmp(&other.dependents))
            .then(self.estimate.total_cmp(&other.estimate))
            // Lower index first among equals, so runs are reproducible.
            .then(other.task.cmp(&self.task))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A topological order of `depends` (every task after what it depends on), or a cycle.
pub fn topological_order(depends: &[Vec<usize>]) -> Result<Vec<usize>, CycleError> {
    let count = depends.len();
    let mut remaining: Vec<usize> = depends.iter().map(Vec::len).collect();
    let dependents = reverse(depends);
    let mut order = Vec::with_capacity(count);
    let mut ready: Vec<usize> = (0..count).filter(|&t| remaining[t] == 0).collect();
    while let Some(task) = ready.pop() {
        order.push(task);
        for &user in &dependents[task] {
            remaining[user] -= 1;
            if remaining[user] == 0 {
                ready.push(user);
            }
        }
    }
    if order.len() == count {
        return Ok(order);
    }
    // Some tasks were never freed: follow unfinished dependencies until one repeats.
    let start = (0..count).find(|&t| remaining[t] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut seen = vec![usize::MAX; count];
    seen[start] = 0;
    let mut task = start;
    loop {
        let Some(&next) = depends[task].iter().find(|&&d| remaining[d] > 0) else {
            return Err(CycleError(path));
        };
        if seen[next] != usize::MAX {
            let mut cycle = path[seen[next]..].to_vec();
            cycle.push(next);
            return Err(CycleError(cycle));
        }
        seen[next] = path.len();
        path.push(next);
        task = next;
    }
}

fn reverse(depends: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); depends.len()];
    for (task, deps) in depends.iter().enumerate() {
        for &dep in deps {
            dependents[dep].push(task);
        }
    }
    dependents
}

/// Drives a build: hands out ready tasks most urgent first.
///
/// ```
/// use taskgraph::Scheduler;
///
/// // 0 ← 1 ← 3 and 0 ← 2: task 1 depends on 0, 3 on 1, 2 on 0.
/// let depends = vec![vec![], vec![0], vec![0], vec![1]];
/// let mut scheduler = Scheduler::new(&depends, &[1.0, 5.0, 1.0, 1.0])?;
/// assert_eq!(scheduler.critical_path(0), 7.0);
/// assert_eq!(scheduler.next_ready(), Some(0));
/// scheduler.complete(0);
/// assert_eq!(scheduler.next_ready(), Some(1)); // the longer chain goes first
/// // With -k a failure blocks what depends on it, and the rest goes on.
/// assert_eq!(scheduler.fail(1), vec![3]);
/// assert_eq!(scheduler.next_ready(), Some(2));
/// scheduler.complete(2);
/// assert!(scheduler.is_finished());
/// # Ok::<(), taskgraph::CycleError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scheduler {
    depends_left: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    critical_path: Vec<f64>,
    estimates: Vec<f64>,
    state: Vec<TaskState>,
    ready: BinaryHeap<Queued>,
    unfinished: usize,
}

impl Scheduler {
    /// A scheduler for tasks `0..depends.len()`, `depends[t]` being what task `t` depends
    /// on and `estimates[t]` its expected run time (seconds, from earlier runs; missing
    /// ones count as 1).
    pub fn new(depends: &[Vec<usize>], estimates: &[f64]) -> Result<Scheduler, CycleError> {
        let order = topological_order(depends)?;
        let count = depends.len();
        let estimates: Vec<f64> = (0..count)
            .map(|t| estimates.get(t).copied().unwrap_or(1.0))
            .collect();
        let dependents = reverse(depends);
        // Longest chain of work from a task to the end, dependents before dependencies.
        let mut critical_path = vec![0.0; count];
        for &task in order.iter().rev() {
            let longest = dependents[task]
                .iter()
                .map(|&d| critical_path[d])
                .fold(0.0, f64::max);
            critical_path[task] = estimates[task] + longest;
        }
        let mut scheduler = Scheduler {
            depends_left: depends.iter().map(Vec::len).collect(),
            dependents,
            critical_path,
            estimates,
            state: vec![TaskState::Waiting; count],
            ready: BinaryHeap::new(),
            unfinished: count,
        };
        for task in 0..count {
            if scheduler.depends_left[task] == 0 {
                scheduler.enqueue(task);
            }
        }
        Ok(scheduler)
    }

    fn enqueue(&mut self, task: usize) {
        self.state[task] = TaskState::Ready;
        self.ready.push(Queued {
            critical_path: self.critical_path[task],
            dependents: self.dependents[task].len(),
            estimate: self.estimates[task],
            task,
        });
    }

    /// The length of the longest chain of work that starts with `task`.
    pub fn critical_path(&self, task: usize) -> f64 {
        self.critical_path[task]
    }

    /// Where `task` stands.
    pub fn state(&self, task: usize) -> TaskState {
        self.state[task]
    }

    /// The most urgent ready task, now counted as running.
    pub fn next_ready(&mut self) -> Option<usize> {
        // Tasks blocked by a failure after they were queued stay in the heap; skip them.
        while let Some(queued) = self.ready.pop() {
            if self.state[queued.task] == TaskState::Ready {
                self.state[queued.task] = TaskState::Running;
                return Some(queued.task);
            }
        }
        None
    }

    /// Records that `task` succeeded; the tasks this makes ready are queued.
    pub fn complete(&mut self, task: usize) {
        if self.state[task] != TaskState::Running && self.state[task] != TaskState::Ready {
            return;
        }
        self.state[task] = TaskState::Done;
        self.unfinished -= 1;
        for i in 0..self.dependents[task].len() {
            let user = self.dependents[task][i];
            self.depends_left[user] -= 1;
            if self.depends_left[user] == 0 && self.state[user] == TaskState::Waiting {
                self.enqueue(user);
            }
        }
    }

    /// Records that `task` failed: everything depending on it, directly or not, will not
    /// run (BitBake's `-k`: the rest of the build goes on). Returns those tasks.
    pub fn fail(&mut self, task: usize) -> Vec<usize> {
        if matches!(
            self.state[task],
            TaskState::Done | TaskState::Failed | TaskState::Blocked
        ) {
            return Vec::new();
        }
        self.state[task] = TaskState::Failed;
        self.unfinished -= 1;
        let mut blocked = Vec::new();
        let mut stack = self.dependents[task].clone();
        while let Some(user) = stack.pop() {
            if matches!(self.state[user], TaskState::Waiting | TaskState::Ready) {
                self.state[user] = TaskState::Blocked;
                self.unfinished -= 1;
                blocked.push(user);
                stack.extend(self.dependents[user].iter().copied());
            }
        }
        blocked.sort_unstable();
        blocked
    }

    /// Puts a running `task` back in the ready queue (to try it again after a transient
    /// failure).
    pub fn retry(&mut self, task: usize) {
        if self.state[task] == TaskState::Running {
            self.enqueue(task);
        }
    }

    /// Whether every task is done, failed or blocked.
    pub fn is_finished(&self) -> bool {
        self.unfinished == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_reported_with_its_tasks_in_order() {
        let depends = vec![vec![], vec![0, 3], vec![1], vec![2]];
        let err = topological_order(&depends).unwrap_err();
        assert_eq!(err.0.first(), err.0.last());
        assert_eq!(err.0.len(), 4);
        for pair in err.0.windows(2) {
            assert!(depends[pair[0]].contains(&pair[1]), "{err:?}");
        }
    }

    #[test]
    fn every_task_runs_once_after_its_dependencies() {
        let depends = vec![vec![], vec![0], vec![0], vec![1, 2], vec![]];
        let mut scheduler = Scheduler::new(&depends, &[]).unwrap();
        let mut done = Vec::new();
        while let Some(task) = scheduler.next_ready() {
            assert!(depends[task].iter().all(|d| done.contains(d)));
            done.push(task);
            scheduler.complete(task);
        }
        assert!(scheduler.is_finished());
        assert_eq!(done.len(), 5);
        // The start of the longest chain comes first.
        assert_eq!(done[0], 0);
    }

    #[test]
    fn a_ready_task_blocked_by_a_failure_is_not_handed_out() {
        let depends = vec![vec![], vec![0], vec![1]];
        let mut scheduler = Scheduler::new(&depends, &[]).unwrap();
        assert_eq!(scheduler.next_ready(), Some(0));
        assert_eq!(scheduler.fail(0), vec![1, 2]);
        assert_eq!(scheduler.next_ready(), None);
        assert!(scheduler.is_finished());
    }

    #[test]
    fn a_task_retried_is_handed_out_again() {
        let mut scheduler = Scheduler::new(&[vec![], vec![0]], &[]).unwrap();
        assert_eq!(scheduler.next_ready(), Some(0));
        assert_eq!(scheduler.next_ready(), None);
        scheduler.retry(0);
        assert_eq!(scheduler.next_ready(), Some(0));
        scheduler.complete(0);
        assert_eq!(scheduler.next_ready(), Some(1));
    }
}
