"""A priority job queue on search: a worker claims the highest-priority pending job with a
search, a compare-and-swap on the job's version (so two workers never claim the same job),
and a claim key on the worker's lease (so a worker that dies gives its claims back).

    python examples/python/priority_queue.py [store name or connection string]
"""

from __future__ import annotations

import sys

import clustron
from clustron import Q

PRIORITIES = [3, 9, 1, 7, 5, 9, 2]


def claim(store: clustron.Store, worker: str, lease: int) -> clustron.Entry | None:
    """The highest-priority pending job, now marked as this worker's; None when none is left."""
    while True:
        page = store.search("job").where(Q.eq("status", "pending")).order_by("-priority").limit(1).page()
        if not page.entries:
            return None
        job = page.entries[0]
        priority = next(value for name, value, _ in job.labels if name == "priority")
        labels: dict[str, clustron.LabelValue] = {"status": "running", "priority": priority, "owner": worker}
        # Only if nobody changed the job since the search read it.
        claimed = store.put(job.key, job.value, if_version=job.version, entity="job", labels=labels)
        if claimed.changed:
            store.put(f"claims/{job.key}", worker, lease=lease)
            return job
        # Another worker claimed it first: search again.


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "priority-queue"
    with clustron.open(target) as store:
        store.clear(prefix="job/")
        store.clear(prefix="claims/")
        for number, priority in enumerate(PRIORITIES):
            pending: dict[str, clustron.LabelValue] = {"status": "pending", "priority": priority}
            store.put(f"job/{number}", f"payload {number}", entity="job", labels=pending)
        lease = store.leases.grant(30).id

        # A rival read the same job as the worker below, but writes after it: its CAS fails.
        stale = store.search("job").where("status = pending").order_by("-priority").limit(1).page().entries[0]
        first = claim(store, "worker-a", lease)
        assert first is not None and first.key == stale.key
        rival = store.put(stale.key, stale.value, if_version=stale.version, entity="job", labels={"status": "running"})
        assert not rival.changed, "the job was claimed already"

        order = [first.key]
        while (job := claim(store, "worker-a", lease)) is not None:
            order.append(job.key)
            done: dict[str, clustron.LabelValue] = {"status": "done", "priority": PRIORITIES[int(job.key[4:])]}
            store.put(job.key, job.value, entity="job", labels=done)
        expected = [f"job/{n}" for n in sorted(range(len(PRIORITIES)), key=lambda n: (-PRIORITIES[n], f"job/{n}"))]
        assert order == expected, (order, expected)
        print(f"claimed by priority: {' '.join(order)}")
        assert store.search("job").where("status = pending").count() == 0
        # The worker goes away: its lease ends and its claims with it.
        assert store.count(prefix="claims/") == len(PRIORITIES)
        store.leases.revoke(lease)
        assert store.count(prefix="claims/") == 0
        print("the worker's claims ended with its lease")


if __name__ == "__main__":
    main()
