"""Leader election with a session (a lease kept alive), a conditional write and a watch.

    python examples/python/leader_election.py [store name or connection string]

Each candidate holds a session and tries to write the `leader` key with `if_absent`,
attached to its lease. The winner leads; the others watch the key and try again when it is
deleted, which happens when the leader resigns or its session is lost (its process died: the
lease expires and takes the key with it). Each candidate leads once, then resigns.
"""

from __future__ import annotations

import sys
import threading

import clustron

CANDIDATES = 3


def campaign(target: str, name: str, terms: list[str], lock: threading.Lock) -> None:
    # Each candidate opens its own handle, as separate processes would.
    with clustron.open(target) as store, store.session(5) as session:
        while True:
            # Watch first, then try: a deletion between the two cannot be missed.
            with store.watch.key("leader") as watch:
                claim = store.put("leader", name, lease=session.lease, if_absent=True)
                if claim.changed:
                    print(f"{name} is the leader (revision {claim.revision})")
                    with lock:
                        terms.append(name)
                    print(f"{name} resigns")
                    return  # leaving the session block revokes the lease and deletes the key
                leader = store.get("leader")
                print(f"{name} follows {leader.text if leader else 'nobody'}")
                for event in watch:
                    if event.kind == "delete":
                        break


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "leader-election"
    terms: list[str] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=campaign, args=(target, f"candidate-{i}", terms, lock)) for i in range(1, CANDIDATES + 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a candidate is stuck"
    assert sorted(terms) == [f"candidate-{i}" for i in range(1, CANDIDATES + 1)], "every candidate led exactly once"
    print("terms, in order:", ", ".join(terms))


if __name__ == "__main__":
    main()
