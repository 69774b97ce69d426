//! A slab of entries addressed by `u32` slots, grown in fixed chunks so that growing never
//! moves existing entries (no multi-megabyte copy while a shard is write-locked) and never
//! over-allocates by more than one chunk. Each slot starts a cache line, so a 64-byte entry
//! is read with one memory access.

const CHUNK: usize = 1024;
const CHUNK_BITS: u32 = CHUNK.trailing_zeros();

/// One slot, aligned to a cache line.
#[repr(align(64))]
#[derive(Debug)]
struct Line<T>(Option<T>);

#[derive(Debug)]
pub(crate) struct Slab<T> {
    chunks: Vec<Vec<Line<T>>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let cell = self.cell_mut(slot);
            debug_assert!(cell.is_none());
            *cell = Some(value);
            return slot;
        }
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk_index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[chunk_index];
        let slot = (chunk_index << CHUNK_BITS) | chunk.len();
        chunk.push(Line(Some(value)));
        // The search index names an entry by shard and slot in 32 bits (`search::postings::Id`):
        // 2^28 slots of 64 bytes are 16 GiB in one shard of sixteen, past any quota.
        assert!(slot < 1 << 28, "a shard holds fewer than 2^28 entries");
        slot as u32
    }

    pub(crate) fn remove(&mut self, slot: u32) -> T {
        let value = self.cell_mut(slot).take().expect("removing an occupied slot");
        self.free.push(slot);
        self.len -= 1;
        value
    }

    pub(crate) fn get(&self, slot: u32) -> &T {
        self.chunks[(slot >> CHUNK_BITS) as usize][(slot as usize) & (CHUNK - 1)]
            .0
            .as_ref()
            .expect("reading an occupied slot")
    }

    /// Starts loading `slot`'s line (see `crate::prefetch`), without reading it.
    #[inline]
    pub(crate) fn prefetch(&self, slot: u32) {
        if let Some(chunk) = self.chunks.get((slot >> CHUNK_BITS) as usize) {
            crate::prefetch::line(chunk.as_ptr().wrapping_add((slot as usize) & (CHUNK - 1)));
        }
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut T {
        self.cell_mut(slot).as_mut().expect("writing an occupied slot")
    }

    fn cell_mut(&mut self, slot: u32) -> &mut Option<T> {
        &mut self.chunks[(slot >> CHUNK_BITS) as usize][(slot as usize) & (CHUNK - 1)].0
    }

    pub(crate) fn clear(&mut self) {
        *self = Slab::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_and_reused() {
        let mut slab = Slab::default();
        let slots: Vec<u32> = (0..3000).map(|i| slab.insert(i)).collect();
        assert_eq!(slab.len(), 3000);
        assert_eq!(*slab.get(slots[2500]), 2500);
        assert_eq!(slab.remove(slots[10]), 10);
        let reused = slab.insert(99);
        assert_eq!(reused, slots[10]);
        *slab.get_mut(reused) += 1;
        assert_eq!(*slab.get(reused), 100);
        assert_eq!(slab.len(), 3000);
    }
}
