#!/usr/bin/env python3
"""Seeds for the `wire` fuzz target from the golden fixtures (core/tests/golden/formats.txt):
every client request body, alone and carrying a token, every reply, as a bare message and
inside a stream frame. Written to fuzz/seeds/wire under libFuzzer's names (SHA-1 of the
bytes), so a rerun adds only what changed. Run it when the protocol changes (`make
fuzz-seeds` does), then commit the new files: `make test` replays them."""

import hashlib
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "core/tests/golden/formats.txt"
OUT = ROOT / "fuzz/seeds/wire"


def samples() -> dict[str, bytes]:
    found = {}
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        found[name] = bytes.fromhex(value)
    return found


def frame(request_id: int, body: bytes) -> bytes:
    return struct.pack(">IQ", 8 + len(body), request_id) + body


def main() -> None:
    found = samples()
    store = found["ClientRequest"][: -2]  # the store's name: the request less Status (0b) and no token (00)
    with_token = found["ClientRequest with a token"]
    token = with_token[len(store) + 1 :]  # Some(token) after the Status body
    seeds = []
    for name, body in found.items():
        if name.startswith(("ClientBody::", "AuthOp::")):
            body = body if name.startswith("ClientBody::") else found["ClientBody::Auth"][:1] + body
            seeds += [store + body + b"\x00", store + body + token]
        elif name.startswith("ClientReply::"):
            seeds.append(b"\x00" + body)
        elif name.startswith("ClientFault::"):
            seeds.append(b"\x01" + body)
    seeds += [frame(1, seed) for seed in list(seeds)]
    seeds.append(b"".join(frame(n, seed) for n, seed in enumerate(seeds[:16], 1)))
    OUT.mkdir(parents=True, exist_ok=True)
    added = 0
    for seed in seeds:
        path = OUT / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
            added += 1
    print(f"wire seeds: {len(seeds)} from the golden fixtures, {added} new")


if __name__ == "__main__":
    main()
