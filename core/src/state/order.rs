//! The ordered index of one shard: its slots sorted by key, kept in chunks of at most
//! `MAX_CHUNK` slots (the shape of a two-level B+tree). Keys are not copied here: the
//! caller supplies `key_of(slot)`, which reads the key from the slab. That costs 4 bytes per
//! key instead of a second copy of every key.

use std::cmp::Ordering;

const MAX_CHUNK: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct Order {
    chunks: Vec<Vec<u32>>,
}

/// A position in the order: chunk index and offset. `chunk == chunks.len()` is the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    chunk: usize,
    offset: usize,
}

impl Order {
    /// The first position whose key is not less than `key` (or, with `after`, greater).
    pub(crate) fn seek<'a>(&self, key: &str, after: bool, key_of: impl Fn(u32) -> &'a str) -> Position {
        let before = |slot: u32| match key_of(slot).cmp(key) {
            Ordering::Less => true,
            Ordering::Equal => after,
            Ordering::Greater => false,
        };
        let chunk = self.chunks.partition_point(|chunk| before(*chunk.last().expect("chunks are never empty")));
        if chunk == self.chunks.len() {
            return self.end();
        }
        let offset = self.chunks[chunk].partition_point(|slot| before(*slot));
        Position { chunk, offset }
    }

    pub(crate) fn start(&self) -> Position {
        Position { chunk: 0, offset: 0 }
    }

    pub(crate) fn end(&self) -> Position {
        Position { chunk: self.chunks.len(), offset: 0 }
    }

    /// The slot at `position`, if it is not the end.
    pub(crate) fn at(&self, position: Position) -> Option<u32> {
        self.chunks.get(position.chunk).map(|chunk| chunk[position.offset])
    }

    pub(crate) fn next(&self, position: Position) -> Position {
        if position.offset + 1 < self.chunks[position.chunk].len() {
            Position { chunk: position.chunk, offset: position.offset + 1 }
        } else {
            Position { chunk: position.chunk + 1, offset: 0 }
        }
    }

    /// How many slots lie in `[from, to)`.
    pub(crate) fn count_between(&self, from: Position, to: Position) -> usize {
        if from.chunk >= to.chunk {
            return to.offset.saturating_sub(from.offset);
        }
        let middle: usize = self.chunks[from.chunk + 1..to.chunk].iter().map(Vec::len).sum();
        let tail = self.chunks.get(to.chunk).map_or(0, |_| to.offset);
        self.chunks[from.chunk].len() - from.offset + middle + tail
    }

    pub(crate) fn insert<'a>(&mut self, slot: u32, key: &str, key_of: impl Fn(u32) -> &'a str) {
        if self.chunks.is_empty() {
            let mut chunk = new_chunk();
            chunk.push(slot);
            self.chunks.push(chunk);
            return;
        }
        let mut chunk = self.chunks.partition_point(|chunk| key_of(*chunk.last().expect("non-empty")) < key);
        if chunk == self.chunks.len() {
            chunk -= 1;
        }
        let offset = self.chunks[chunk].partition_point(|other| key_of(*other) < key);
        if self.chunks[chunk].len() == MAX_CHUNK {
            // A key past the end of the last chunk (or before the start of the first) starts
            // a chunk of its own rather than splitting a full one in halves: keys that arrive
            // in order (ids, timestamps) then leave full chunks behind, 4 bytes a key instead
            // of 8.
            let last = chunk + 1 == self.chunks.len();
            if (last && offset == MAX_CHUNK) || (chunk == 0 && offset == 0) {
                let mut alone = new_chunk();
                alone.push(slot);
                self.chunks.insert(if offset == 0 { 0 } else { chunk + 1 }, alone);
                return;
            }
        }
        let target = &mut self.chunks[chunk];
        target.insert(offset, slot);
        if target.len() > MAX_CHUNK {
            let mut tail = new_chunk();
            tail.extend(target.drain(MAX_CHUNK / 2..));
            self.chunks.insert(chunk + 1, tail);
        }
    }

    pub(crate) fn remove<'a>(&mut self, slot: u32, key: &str, key_of: impl Fn(u32) -> &'a str) {
        let position = self.seek(key, false, key_of);
        let chunk = &mut self.chunks[position.chunk];
        debug_assert_eq!(chunk[position.offset], slot, "the ordered index is out of step with the slab");
        chunk.remove(position.offset);
        if chunk.is_empty() {
            self.chunks.remove(position.chunk);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
    }
}

fn new_chunk() -> Vec<u32> {
    Vec::with_capacity(MAX_CHUNK + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(order: &Order) -> Vec<u32> {
        let mut out = Vec::new();
        let mut position = order.start();
        while let Some(slot) = order.at(position) {
            out.push(slot);
            position = order.next(position);
        }
        out
    }

    #[test]
    fn keeps_slots_sorted_by_key_through_splits_and_removals() {
        let keys: Vec<String> = (0..5000u32).map(|i| format!("k{:05}", (i * 7919) % 5000)).collect();
        let key_of = |slot: u32| keys[slot as usize].as_str();
        let mut order = Order::default();
        for slot in 0..keys.len() as u32 {
            order.insert(slot, key_of(slot), key_of);
        }
        let sorted: Vec<&str> = collect(&order).into_iter().map(key_of).collect();
        assert!(sorted.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(sorted.len(), 5000);
        for slot in (0..5000u32).step_by(3) {
            order.remove(slot, key_of(slot), key_of);
        }
        let left = collect(&order);
        assert_eq!(left.len(), 5000 - 1667);
        assert!(left.iter().all(|slot| slot % 3 != 0));
        let from = order.seek("k01000", false, key_of);
        let to = order.seek("k02000", false, key_of);
        let expected = left.iter().filter(|slot| ("k01000".."k02000").contains(&key_of(**slot))).count();
        assert_eq!(order.count_between(from, to), expected);
        assert_eq!(order.count_between(order.start(), order.end()), left.len());
        let after = order.seek(key_of(left[0]), true, key_of);
        assert_eq!(order.at(after), Some(left[1]));
    }

    #[test]
    fn keys_in_order_fill_their_chunks() {
        for descending in [false, true] {
            let keys: Vec<String> = (0..10 * MAX_CHUNK as u32).map(|i| format!("k{i:06}")).collect();
            let key_of = |slot: u32| keys[slot as usize].as_str();
            let mut order = Order::default();
            let mut slots: Vec<u32> = (0..keys.len() as u32).collect();
            if descending {
                slots.reverse();
            }
            for slot in slots {
                order.insert(slot, key_of(slot), key_of);
            }
            assert_eq!(order.chunks.len(), 10, "descending: {descending}");
            assert!(order.chunks.iter().all(|chunk| chunk.len() == MAX_CHUNK));
            assert_eq!(collect(&order), (0..keys.len() as u32).collect::<Vec<_>>());
            // A key between two full chunks still splits one in halves.
            let mut keys = keys.clone();
            keys.push("k000100x".to_owned());
            let key_of = |slot: u32| keys[slot as usize].as_str();
            order.insert(keys.len() as u32 - 1, key_of(keys.len() as u32 - 1), key_of);
            assert_eq!(order.chunks.len(), 11);
            let sorted: Vec<&str> = collect(&order).into_iter().map(key_of).collect();
            assert!(sorted.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }
}
