"""The shared conformance vectors (tests/conformance/*.json) run through the Python API.

A port of the Rust runner (tests/conformance/runner): the matcher and the argument format
are described in tests/conformance/README.md. The driver maps each operation to the public
`clustron` API and each result to the shared JSON shape.
"""

from __future__ import annotations

import json
import os
import select
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import clustron
from clustron import _native

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "conformance"
STEP_TIMEOUT = 10.0


class StepError(AssertionError):
    """The step or the driver is broken (not a store failure)."""


def vector_files() -> list[Path]:
    return sorted(p for p in VECTORS.glob("*.json") if p.name != "error_codes.json")


def on_cluster() -> bool:
    """Whether the vectors run against a cluster (CLUSTRON_NODES)."""
    return bool(os.environ.get("CLUSTRON_NODES"))


def load_vectors() -> list[tuple[str, str, int, dict[str, Any], bool]]:
    """(area, name, index, vector, runs) for every vector; `runs` is False for a suite that
    needs a cluster (`"needs": "cluster"`, the administration of stores) in process."""
    out = []
    for path in vector_files():
        suite = json.loads(path.read_text())
        runs = suite.get("needs") != "cluster" or on_cluster()
        for index, vector in enumerate(suite["vectors"]):
            out.append((suite["area"], vector["name"], index, vector, runs))
    return out


def error_codes() -> list[tuple[int, str]]:
    table = json.loads((VECTORS / "error_codes.json").read_text())
    return [(row["number"], row["name"]) for row in table["codes"]]


# --- variables and matching -------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return bool(a == b) and type(a) is type(b) if isinstance(a, bool) or isinstance(b, bool) else bool(a == b)


class Vars:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, name: str, value: Any) -> None:
        self.values[name] = value

    def lookup(self, reference: str) -> tuple[bool, Any]:
        body = reference[1:]
        offset = 0
        cut = min((i for i in (body.find("+"), body.find("-")) if i >= 0), default=-1)
        path = body
        if cut >= 0:
            path, offset = body[:cut], int(body[cut:])
        parts = path.split(".")
        if parts[0] not in self.values:
            return False, None
        value = self.values[parts[0]]
        for field in parts[1:]:
            if not isinstance(value, dict) or field not in value:
                raise StepError(f"{reference!r}: no field {field!r} in {value!r}")
            value = value[field]
        if offset:
            if not _is_number(value):
                raise StepError(f"{reference!r}: {value!r} is not a number")
            value = value + offset
        return True, value

    def resolve(self, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("$"):
            found, value = self.lookup(argument)
            if not found:
                raise StepError(f"variable {argument!r} is not bound")
            return value
        if isinstance(argument, list):
            return [self.resolve(item) for item in argument]
        if isinstance(argument, dict):
            return {name: self.resolve(value) for name, value in argument.items()}
        return argument

    def check(self, expected: Any, actual: Any, path: str = "result") -> None:
        def fail(why: str) -> None:
            raise StepError(f"at {path}: {why}")

        if isinstance(expected, str) and expected.startswith("$"):
            plain = not any(c in expected[1:] for c in "+-.")
            found, bound = self.lookup(expected)
            if found:
                if not _equal(bound, actual):
                    fail(f"expected {expected} = {bound!r}, got {actual!r}")
            elif plain:
                self.bind(expected[1:], actual)
            else:
                fail(f"{expected} refers to an unbound variable")
        elif isinstance(expected, dict) and any(key.startswith("$") for key in expected):
            for operator, operand in expected.items():
                operand = self.resolve(operand)
                if operator == "$any":
                    ok = actual is not None
                elif operator == "$ne":
                    ok = not _equal(operand, actual)
                elif operator in ("$gt", "$ge", "$lt", "$le"):
                    if not (_is_number(actual) and _is_number(operand)):
                        fail(f"{operator} needs numbers, got {actual!r} and {operand!r}")
                    ok = {
                        "$gt": actual > operand,
                        "$ge": actual >= operand,
                        "$lt": actual < operand,
                        "$le": actual <= operand,
                    }[operator]
                else:
                    fail(f"unknown matcher {operator}")
                if not ok:
                    fail(f"expected {operator} {operand!r}, got {actual!r}")
        elif isinstance(expected, dict):
            if not isinstance(actual, dict):
                fail(f"expected an object {expected!r}, got {actual!r}")
            for name, value in expected.items():
                self.check(value, actual.get(name), f"{path}.{name}")
        elif isinstance(expected, list):
            if not isinstance(actual, list):
                fail(f"expected an array {expected!r}, got {actual!r}")
            if len(expected) != len(actual):
                fail(f"expected {len(expected)} items {expected!r}, got {len(actual)} {actual!r}")
            for index, (item, actual_item) in enumerate(zip(expected, actual)):
                self.check(item, actual_item, f"{path}[{index}]")
        elif not _equal(expected, actual):
            fail(f"expected {expected!r}, got {actual!r}")


# --- arguments ------------------------------------------------------------------------------


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "repeat" in value:
        return str(value["repeat"]) * int(value["count"])
    raise StepError(f"expected a string, got {value!r}")


def data(value: Any) -> bytes:
    if isinstance(value, dict) and "hex" in value:
        return bytes.fromhex(value["hex"])
    return text(value).encode()


def seconds(ms: Any) -> float:
    return ms / 1000.0


def guard(step: dict[str, Any]) -> Optional[tuple[str, int]]:
    g = step.get("guard")
    return None if g is None else (g["lock"], g["fence"])


def put_options(step: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "ttl_ms" in step:
        options["ttl"] = seconds(step["ttl_ms"])
    if "lease" in step:
        options["lease"] = step["lease"]
    if step.get("if_absent"):
        options["if_absent"] = True
    if "if_version" in step:
        options["if_version"] = step["if_version"]
    if guard(step) is not None:
        options["guard"] = guard(step)
    if "content_type" in step:
        options["content_type"] = text(step["content_type"])
    if "entity" in step:
        options["entity"] = text(step["entity"])
    if "labels" in step:
        options["labels"] = [
            (text(label["name"]), text(label["value"]), label.get("indexed", True) is not False)
            for label in step["labels"]
        ]
    return options


def range_args(step: dict[str, Any]) -> dict[str, Any]:
    if "prefix" in step:
        return {"prefix": text(step["prefix"])}
    if "range" in step:
        r = step["range"]
        return {"start": r.get("start", ""), "end": r.get("end")}
    return {}


def op(item: dict[str, Any]) -> clustron.Op:
    kind = item.get("op")
    if kind == "get":
        return clustron.Op.get(text(item["key"]))
    if kind == "put":
        return clustron.Op.put(text(item["key"]), data(item["value"]), **put_options(item))
    if kind == "delete":
        return delete_op(item)
    raise StepError(f"unknown batch op {kind!r}")


def delete_op(item: Any) -> clustron.Op:
    if isinstance(item, str):
        return clustron.Op.delete(item)
    return clustron.Op.delete(text(item["key"]), if_version=item.get("if_version"), guard=guard(item))


def compare(spec: dict[str, Any]) -> clustron.Compare:
    key, target, operator, operand = text(spec["key"]), spec["target"], spec["op"], spec.get("operand")
    if target == "value":
        return clustron.Compare.value(key, operator, data(operand))
    if target == "lease":
        return clustron.Compare.lease(key, operator, operand)
    return getattr(clustron.Compare, target)(key, operator, operand)


# --- result shapes --------------------------------------------------------------------------


def value_json(raw: bytes) -> Any:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": raw.hex()}


def entry(e: Optional[clustron.Entry]) -> Any:
    if e is None:
        return None
    return {
        "key": e.key,
        "value": value_json(e.value),
        "version": e.version,
        "create_revision": e.create_revision,
        "mod_revision": e.mod_revision,
        "lease": e.lease,
        "content_type": e.content_type,
        "entity": e.entity,
        "labels": [{"name": n, "value": v, "indexed": i} for n, v, i in e.labels],
    }


def put_result(r: clustron.PutResult) -> Any:
    return {"revision": r.revision, "version": r.version, "created": r.created, "changed": r.changed}


def delete_result(r: clustron.DeleteResult) -> Any:
    return {"deleted": r.deleted, "revision": r.revision}


def any_result(r: Any) -> Any:
    if isinstance(r, clustron.ClustronError):
        return {"error": r.code}
    if isinstance(r, clustron.PutResult):
        return put_result(r)
    if isinstance(r, clustron.DeleteResult):
        return delete_result(r)
    return entry(r)


def lease(info: Optional[clustron.Lease]) -> Any:
    if info is None:
        return None
    return {
        "id": info.id,
        "ttl_ms": round(info.ttl * 1000),
        "remaining_ms": round(info.remaining * 1000),
        "keys": info.keys,
    }


def lock(lk: Optional[clustron.Lock]) -> Any:
    return None if lk is None else {"name": lk.name, "fence": lk.fence, "lease": lk.lease}


def event(ev: clustron.Event) -> Any:
    return {
        "kind": ev.kind,
        "key": ev.key,
        "value": value_json(ev.value),
        "revision": ev.revision,
        "version": ev.version,
        "snapshot": ev.snapshot,
        "cause": ev.cause,
        "prev": entry(ev.prev),
        "lease": ev.entry.lease,
        "change": ev.query_change,
    }


def ttl_shape(remaining: Optional[float]) -> Any:
    if remaining is None:
        return {"state": "missing"}
    if remaining == float("inf"):
        return {"state": "persistent"}
    return {"state": "expires", "remaining_ms": round(remaining * 1000)}


# --- the driver ------------------------------------------------------------------------------


class Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PyDriver:
    """The sync Python API as a conformance driver. Background lock acquires run through
    the native reactor tasks that clustron.aio uses."""

    def __init__(self, store: str, config: dict[str, Any]) -> None:
        # CLUSTRON_NODES (host:port,...) runs the vectors against a cluster instead.
        host = os.environ.get("CLUSTRON_NODES") or "inproc"
        # The vector's store configuration travels as connection string parameters.
        params = "".join(f"&{name}={value}" for name, value in config.items())
        self.host = host
        self.store_name = store
        self.params = params
        self.target = f"clustron://{host}/{store}?clock=manual{params}"
        # A `backup` step's file and the store a `restore` step creates from it.
        self.backup_path = Path(tempfile.gettempdir()) / f"clustron-{os.getpid()}-{store}.backup"
        self.restored = f"clustron://{host}/{store}-restored?clock=manual"
        self.stores = {"main": clustron.Store(self.target)}
        self.locks: dict[str, clustron.Lock] = {}
        self.sessions: dict[str, clustron.Session] = {}
        self.watches: dict[str, clustron.Watch] = {}
        self.txns: dict[str, clustron.Transaction] = {}
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self.pipe = read
        self.reactor = _native.Reactor(write)
        self.pending: dict[str, _native.Pending] = {}

    def finish(self) -> None:
        for pending in self.pending.values():
            pending.cancel()
        for watch in self.watches.values():
            watch.close()
        for store in self.stores.values():
            store.close()
        os.close(self.pipe)
        self.backup_path.unlink(missing_ok=True)

    def run(self, name: str, step: dict[str, Any]) -> Any:
        """The result in the shared shape; raises Failure for a store error."""
        handler: Optional[Callable[[clustron.Store, dict[str, Any]], Any]] = getattr(self, "op_" + name, None)
        if handler is None:
            raise StepError(f"unknown op {name!r}")
        store = self.stores.get(step.get("store", "main"))
        if store is None:
            raise StepError(f"no store handle {step.get('store')!r}")
        try:
            return handler(store, step)
        except clustron.ClustronError as error:
            raise Failure(error.code, error.message) from None

    # handles and time
    def op_open(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        if "name" in step:
            target = f"clustron://{self.host}/{self.named(step)}?clock=manual{self.params}"
            self.stores[step["as"]] = clustron.Store(target)
        else:
            self.stores[step["as"]] = clustron.Store(self.target)

    # the administration of stores (a suite that needs a cluster)
    def named(self, step: dict[str, Any]) -> str:
        """The store an administration step is about: `<the vector's store>-<name>`."""
        return f"{self.store_name}-{text(step['name'])}"

    def admin(self) -> clustron.Admin:
        return clustron.Admin(f"clustron://{self.host}")

    def op_store_create(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.admin().create_store(self.named(step), **step.get("options", {}))

    def op_store_configure(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.admin().configure_store(self.named(step), **step.get("options", {}))

    def op_store_show(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.admin().store(self.named(step))

    def op_store_listed(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.named(step) in [info["store"] for info in self.admin().stores()]

    def op_store_drop(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.admin().drop_store(self.named(step))

    def op_backup(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        info = store.backup(self.backup_path)
        return {"store": info.store, "revision": info.revision, "entries": info.entries}

    def op_restore(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.stores[step["as"]] = clustron.restore(self.backup_path, self.restored)

    def op_close(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        store.close()

    def op_advance(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        store.advance_clock(seconds(step["ms"]))

    # keys
    def op_put(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return put_result(store.put(text(step["key"]), data(step["value"]), **put_options(step)))

    def op_get(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return entry(store.get(text(step["key"])))

    def op_delete(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return delete_result(
            store.delete(text(step["key"]), if_version=step.get("if_version"), guard=guard(step))
        )

    def op_get_many(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return [entry(e) for e in store.get_many([text(k) for k in step["keys"]])]

    def op_put_many(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        items = [clustron.Op.put(text(i["key"]), data(i["value"]), **put_options(i)) for i in step["items"]]
        return [any_result(r) for r in store.put_many(items)]

    def op_delete_many(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return [any_result(r) for r in store.delete_many([delete_op(i) for i in step["items"]])]

    def op_batch(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return [any_result(r) for r in store.batch([op(i) for i in step["items"]])]

    def _search(self, store: clustron.Store, step: dict[str, Any]) -> clustron.Search:
        search = store.search(text(step["entity"]) if "entity" in step else None)
        if "where" in step:
            search = search.where(text(step["where"]))
        if "order_by" in step:
            search = search.order_by(*step["order_by"])
        if "limit" in step:
            search = search.limit(step["limit"])
        if "after" in step:
            search = search.after(step["after"])
        if "select" in step:
            search = search.select(*step["select"])
        return search

    def op_search(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        page = self._search(store, step).page()
        return {
            "keys": list(page.keys),
            "entries": [entry(e) for e in page.entries],
            "next": page.next,
            "revision": page.revision,
        }

    def op_search_count(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self._search(store, step).count()

    def op_search_explain(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self._search(store, step).explain()

    def op_scan(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        page = store.scan_page(**range_args(step), limit=step.get("limit"), after=step.get("after"))
        return {
            "keys": [e.key for e in page.entries],
            "entries": [entry(e) for e in page.entries],
            "next": page.next,
            "revision": page.revision,
        }

    def op_count(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.count(**range_args(step))

    def op_clear(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        r = store.clear(**range_args(step))
        return {"deleted": r.deleted, "revision": r.revision}

    def op_expire(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.expire(text(step["key"]), seconds(step["ttl_ms"]))

    def op_persist(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.persist(text(step["key"]))

    def op_ttl(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return ttl_shape(store.ttl(text(step["key"])))

    # leases and sessions
    def op_lease_grant(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return lease(store.leases.grant(seconds(step["ttl_ms"])))

    def op_lease_keep_alive(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return lease(store.leases.keep_alive(step["lease"]))

    def op_lease_revoke(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.leases.revoke(step["lease"])

    def op_lease_ttl(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return lease(store.leases.time_to_live(step["lease"]))

    def op_lease_list(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return [lease(info) for info in store.leases.list()]

    def op_session(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        session = store.session(seconds(step["ttl_ms"]))
        self.sessions[step.get("as", "")] = session
        return {"lease": session.lease, "ttl_ms": round(session.ttl * 1000)}

    def op_session_lost(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        session = self.sessions[step["session"]]
        reason = session.wait_lost(0)
        return {"lost": session.lost, "reason": None if reason is None else reason.code}

    def op_session_close(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.sessions[step["session"]].close()

    # locks
    def op_lock_acquire(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        options: dict[str, Any] = {}
        if "ttl_ms" in step:
            options["ttl"] = seconds(step["ttl_ms"])
        if "lease" in step:
            options["lease"] = step["lease"]
        if "wait_ms" in step:
            options["wait"] = seconds(step["wait_ms"])
        name = step.get("as", "")
        if step.get("background"):
            pending = store.locks._acquire_task(text(step["name"]), **options)
            self.pending[name] = pending
            return None
        return self.keep(name, store.locks.try_acquire(text(step["name"]), **options))

    def keep(self, name: str, acquired: Optional[clustron.Lock]) -> Any:
        if acquired is not None:
            self.locks[name] = acquired
        return lock(acquired)

    def op_pending(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        done, value = self.pending[step["id"]].poll(self.reactor, 1)
        if done:
            raise StepError(f"the acquire completed early: {value!r}")
        return True

    def op_await(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        pending = self.pending.pop(step["id"])
        done, value = pending.poll(self.reactor, 1)
        while not done:
            readable, _, _ = select.select([self.pipe], [], [], STEP_TIMEOUT)
            if not readable:
                raise StepError(f"acquire {step['id']!r} did not complete")
            while True:
                try:
                    os.read(self.pipe, 4096)
                except BlockingIOError:
                    break
            if 1 in self.reactor.take_ready():
                done, value = pending.poll(self.reactor, 1)
        return self.keep(step["id"], value)

    def op_lock_renew(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.locks[step["lock"]].renew()
        return True

    def op_lock_release(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return self.locks[step["lock"]].release()

    def op_lock_drop(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        del self.locks[step["lock"]]

    def op_lock_info(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        info = store.locks.info(text(step["name"]))
        if info is None:
            return None
        return {"name": info.name, "fence": info.fence, "lease": info.lease, "waiters": info.waiters}

    # counters
    def op_counter_add(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        ttl = seconds(step["ttl_ms"]) if "ttl_ms" in step else None
        r = store.counters.add(text(step["name"]), step["delta"], min=step.get("min"), max=step.get("max"), ttl=ttl)
        return {"applied": r.applied, "previous": r.previous, "current": r.current, "revision": r.revision}

    def op_counter_get(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.counters.get(text(step["name"]))

    def op_counter_set(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        ttl = seconds(step["ttl_ms"]) if "ttl_ms" in step else None
        r = store.counters.set(text(step["name"]), step["value"], ttl=ttl)
        return {"previous": r.previous, "revision": r.revision}

    def op_counter_cas(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        r = store.counters.compare_and_set(text(step["name"]), step["expected"], step["value"])
        return {"applied": r.applied, "current": r.current, "revision": r.revision}

    def op_counter_delete(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return store.counters.delete(text(step["name"]))

    # watches
    def op_watch(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        options = {
            "snapshot": bool(step.get("snapshot")),
            "from_revision": step.get("from_revision"),
            "prev_value": bool(step.get("prev_value")),
        }
        if "key" in step:
            watch = store.watch.key(text(step["key"]), **options)
        elif "search" in step:
            search = step["search"]
            entity = text(search["entity"]) if "entity" in search else None
            watch = store.watch.search(entity, where=search.get("where"), **options)
        elif "prefix" in step:
            watch = store.watch.prefix(text(step["prefix"]), **options)
        elif "range" in step:
            watch = store.watch.range(step["range"].get("start", ""), step["range"].get("end"), **options)
        else:
            watch = store.watch.range(**options)
        self.watches[step.get("as", "")] = watch
        return None

    def op_watch_next(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        ev = self.watches[step["watch"]].next(STEP_TIMEOUT)
        if ev is None:
            raise StepError("no event arrived")
        return event(ev)

    def op_watch_none(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        ev = self.watches[step["watch"]].next(0)
        if ev is not None:
            raise StepError(f"expected no event, got {event(ev)!r}")
        return None

    def op_watch_cancel(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.watches[step["watch"]].close()

    # transactions
    def op_txn_begin(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.txns[step["as"]] = store.transaction()

    def op_txn_get(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return entry(self.txns[step["txn"]].get(text(step["key"])))

    def op_txn_put(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.txns[step["txn"]].put(text(step["key"]), data(step["value"]))

    def op_txn_delete(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.txns[step["txn"]].delete(text(step["key"]))

    def op_txn_commit(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        return {"revision": self.txns[step["txn"]].commit()}

    def op_txn_rollback(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        self.txns[step["txn"]].rollback()

    def op_txn(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        r = store.txn(
            compares=[compare(c) for c in step.get("compares", [])],
            then=[op(i) for i in step.get("then", [])],
            otherwise=[op(i) for i in step.get("else", [])],
        )
        return {"succeeded": r.succeeded, "revision": r.revision, "responses": [any_result(x) for x in r.responses]}

    # status and configuration
    def op_status(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        s = store.status()
        return {
            "store": s.store,
            "mode": s.mode,
            "revision": s.revision,
            "compacted_revision": s.compacted_revision,
            "keys": s.keys,
            "leases": s.leases,
            "locks": s.locks,
            "counters": s.counters,
            "watchers": s.watchers,
            "sessions": s.sessions,
        }

    def op_parse_config(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        config = clustron.parse_config(text(step["input"]))
        return {key: config[key] for key in ("mode", "store", "seeds", "clock", "history_events")}

    def op_open_target(self, store: clustron.Store, step: dict[str, Any]) -> Any:
        with clustron.open(text(step["target"])) as opened:
            return {"store": opened.name}


def run_vector(area: str, index: int, vector: dict[str, Any]) -> None:
    driver = PyDriver(f"conformance-python-{area}-{index}", vector.get("config") or {})
    variables = Vars()
    try:
        for number, step in enumerate(vector["steps"]):
            try:
                run_step(driver, variables, step)
            except StepError as why:
                raise StepError(f"step {number} {json.dumps(step)}: {why}") from None
    finally:
        driver.finish()


def run_step(driver: PyDriver, variables: Vars, step: dict[str, Any]) -> None:
    expected = step.get("expect")
    arguments = {name: value for name, value in step.items() if name != "expect"}
    resolved = variables.resolve(arguments)
    expected_error = resolved.get("error")
    try:
        actual = driver.run(resolved["op"], resolved)
    except Failure as failure:
        if expected_error is None:
            raise StepError(f"unexpected error {failure.code}: {failure.message}") from None
        if failure.code != expected_error:
            raise StepError(f"expected error {expected_error}, got {failure.code}: {failure.message}") from None
        part = resolved.get("message_contains")
        if part is not None and part not in failure.message:
            raise StepError(f"error message {failure.message!r} does not contain {part!r}") from None
        return
    if expected_error is not None:
        raise StepError(f"expected error {expected_error}, got {actual!r}")
    if "as" in resolved and isinstance(resolved["as"], str):
        variables.bind(resolved["as"], actual)
    if expected is not None:
        variables.check(expected, actual)
