"""Backups from Python: a store written to a file and restored into a new one with the same
entries, versions and revision, sync and asyncio; damaged files, used stores and wrong types
refused. `test_round_trip_sync_and_aio` also runs on the cluster of `make
test-bindings-cluster` (CLUSTRON_NODES)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

import clustron
import clustron.aio


def _entries(store: clustron.Store) -> list[tuple[str, bytes, int, int, int, object, object]]:
    return [
        (e.key, e.value, e.version, e.create_revision, e.mod_revision, e.content_type, e.labels)
        for e in store.scan()
    ]


def _target(name: str) -> str:
    nodes = os.environ.get("CLUSTRON_NODES") or "inproc"
    return f"clustron://{nodes}/{name}-{uuid.uuid4().hex[:8]}"


def test_round_trip_sync_and_aio(tmp_path: Path) -> None:
    with clustron.open(_target("py-backup")) as store:
        for i in range(2500):
            store.put(f"k/{i:05}", f"value {i}")
        store.put("k/00001", b"\x00\x01 binary")
        store.put("doc", '{"a": 1}', content_type=clustron.JSON, entity="doc", labels={"kind": "a"})
        store.delete("k/00002")
        store.counters.add("hits", 5)
        path = tmp_path / "store.backup"
        info = store.backup(path)
        assert isinstance(info, clustron.BackupInfo)
        assert (info.store, info.entries, info.revision) == (store.name, 2500, store.status().revision)
        assert info.file_bytes == path.stat().st_size and info.clustron_version
        assert clustron.inspect_backup(str(path)) == info

        restored = _target("py-restored")
        with clustron.restore(path, restored) as copy:
            assert _entries(copy) == _entries(store)
            assert copy.status().revision == info.revision
            assert copy.counters.get("hits") == 5
            assert copy.search("doc").where("kind = a").count() == 1
            copy.put("written/after", "x")
            if "inproc" in restored:
                # Open with data in this process: it cannot be replaced.
                with pytest.raises(clustron.ConflictError):
                    clustron.restore(path, restored, replace=True)
            else:
                # A cluster's store is dropped and made anew from the backup.
                with clustron.restore(path, restored, replace=True) as replaced:
                    assert _entries(replaced) == _entries(store)
                    assert replaced.status().revision == info.revision

        async def main() -> None:
            aio_store = clustron.aio.Store.wrap(store)
            again = await aio_store.backup(tmp_path / "aio.backup")
            assert again.revision == info.revision and again.entries == info.entries
            copy = await clustron.aio.restore(tmp_path / "aio.backup", _target("py-aio-restored"))
            assert (await copy.get("k/00001")).value == b"\x00\x01 binary"  # type: ignore[union-attr]
            assert (await copy.status()).revision == info.revision
            copy.close()

        asyncio.run(main())


def test_refusals(tmp_path: Path) -> None:
    with clustron.open(f"py-backup-refusals-{uuid.uuid4().hex[:8]}") as store:
        store.put("a", "1")
        path = tmp_path / "b"
        store.backup(path)
        # Into a store that holds data: ConflictError, nothing changed.
        with clustron.open(f"py-backup-used-{uuid.uuid4().hex[:8]}") as used:
            used.put("mine", "keep")
            with pytest.raises(clustron.ConflictError):
                clustron.restore(path, used.name)
            with pytest.raises(TypeError):
                clustron.restore(path, used.name, replace="yes")  # type: ignore[arg-type]
            assert [e.key for e in used.scan()] == ["mine"]
        # Damaged, truncated, missing: refused before anything is created.
        data = path.read_bytes()
        damaged = tmp_path / "damaged"
        damaged.write_bytes(data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :])
        truncated = tmp_path / "truncated"
        truncated.write_bytes(data[:-3])
        for bad, why in ((damaged, "checksum"), (truncated, "cut short")):
            with pytest.raises(clustron.InvalidInputError, match=why):
                clustron.inspect_backup(bad)
            with pytest.raises(clustron.InvalidInputError, match=why):
                clustron.restore(bad, f"py-never-{uuid.uuid4().hex[:8]}")
        with pytest.raises(clustron.NotFoundError):
            clustron.restore(tmp_path / "missing", "py-never")
        # Wrong types are TypeErrors.
        with pytest.raises(TypeError):
            store.backup(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            clustron.restore(None, "x")  # type: ignore[arg-type]
