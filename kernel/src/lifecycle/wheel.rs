//! A hierarchical timing wheel: O(1) insert and cancel, expiry in batches.
//!
//! Why a wheel and not a heap or a B-tree: with N pending timers a binary heap or `BTreeMap`
//! costs O(log N) per insert and per cancel, and a heap cannot cancel without a tombstone or an
//! index. This wheel costs the same for 10 or 10 million timers: an insert computes a level from
//! the highest bit in which the deadline differs from the current tick, links the entry at the
//! head of one slot list and sets one bit; a cancel unlinks by index. Finding the next expiry is one
//! `trailing_zeros` per level over a 64-bit occupancy mask. An entry cascades down at most once
//! per level it crosses, so the amortised cost per timer stays constant.
//!
//! Measured with 1M timers due within 10 s, half of them cancelled, on the 2-core dev machine
//! (`cargo test --release -p minoots-kernel wheel_bench -- --ignored --nocapture`, two runs):
//!
//! | per timer | insert | cancel | expire |
//! |---|---|---|---|
//! | this wheel | 34-49 ns | 15-23 ns | 235-275 ns |
//! | `BTreeMap<(deadline, id)>` | 563-565 ns | 609-803 ns | 110-111 ns |
//!
//! The wheel is 11-16x cheaper to arm and 27-53x cheaper to cancel; expiry costs it more (cascades
//! and slab cache misses), but a whole life (arm + expire) is still about 2.5x cheaper, and it
//! stays flat as N grows while the tree's costs grow with log N. Each entry is 24 bytes plus its
//! value in a slab (no allocation per timer): with the scheduler's 24-byte value, 1M pending
//! timers take about 48 MB.
//!
//! Layout: 7 levels of 64 slots with a 1 ms tick. Level `l` slots span `64^l` ms, so level 0
//! covers the next 64 ms and level 6 reaches 2^42 ms (about 139 years), well past the kernel's
//! 10-year horizon. The design follows the one tokio uses for its own timer.

/// Ticks are milliseconds since the Unix epoch.
pub type Tick = u64;

const LEVELS: usize = 7;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Deadlines must be less than this many ticks past `elapsed`.
pub const MAX_SPAN: Tick = 1 << (SLOT_BITS * LEVELS as u32);
const NIL: u32 = u32::MAX;

/// Handle to a wheel entry, valid until the entry expires or is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryKey {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Node<T> {
    deadline: Tick,
    prev: u32,
    next: u32,
    generation: u32,
    /// `level * SLOTS + slot` while linked, `NIL` while on the free list.
    slot: u32,
    value: T,
}

#[derive(Debug)]
pub struct TimingWheel<T> {
    /// Every deadline `<= elapsed` has been handed out by `poll`.
    elapsed: Tick,
    heads: Vec<u32>,
    occupied: [u64; LEVELS],
    nodes: Vec<Node<T>>,
    free_head: u32,
    len: usize,
}

impl<T: Copy> TimingWheel<T> {
    pub fn new(now: Tick) -> Self {
        Self {
            elapsed: now,
            heads: vec![NIL; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            nodes: Vec::new(),
            free_head: NIL,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn elapsed(&self) -> Tick {
        self.elapsed
    }

    /// Adds an entry. A deadline that is not after `elapsed` is already due: the value comes back
    /// as `Err` for the caller to fire now.
    pub fn insert(&mut self, deadline: Tick, value: T) -> Result<EntryKey, T> {
        if deadline <= self.elapsed {
            return Err(value);
        }
        debug_assert!(
            deadline - self.elapsed < MAX_SPAN,
            "deadline beyond the wheel's span"
        );
        let index = match self.free_head {
            NIL => {
                let index = u32::try_from(self.nodes.len()).expect("more than 4 billion timers");
                self.nodes.push(Node {
                    deadline,
                    prev: NIL,
                    next: NIL,
                    generation: 0,
                    slot: NIL,
                    value,
                });
                index
            }
            index => {
                let node = &mut self.nodes[index as usize];
                self.free_head = node.next;
                node.deadline = deadline;
                node.value = value;
                index
            }
        };
        self.link(index);
        self.len += 1;
        Ok(EntryKey {
            index,
            generation: self.nodes[index as usize].generation,
        })
    }

    /// Removes an entry that has not expired yet.
    pub fn remove(&mut self, key: EntryKey) -> Option<T> {
        let node = self.nodes.get(key.index as usize)?;
        if node.generation != key.generation || node.slot == NIL {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    /// The tick at which `poll` next has work: the start of the earliest occupied slot. For an
    /// upper-level slot that work may only be cascading entries down.
    pub fn next_deadline(&self) -> Option<Tick> {
        self.next_expiration().map(|(_, _, deadline)| deadline)
    }

    /// The value of an entry that has not expired or been removed.
    pub fn get(&self, key: EntryKey) -> Option<&T> {
        let node = self.nodes.get(key.index as usize)?;
        (node.generation == key.generation && node.slot != NIL).then_some(&node.value)
    }

    /// Advances to `now`, appending every value whose deadline is `<= now` to `expired`, in
    /// deadline order slot by slot.
    pub fn poll(&mut self, now: Tick, expired: &mut Vec<T>) {
        self.poll_entries(now, |_, value| expired.push(value));
    }

    /// [`poll`](Self::poll), handing each expired value to `expired` with the key it had.
    pub fn poll_entries(&mut self, now: Tick, mut expired: impl FnMut(EntryKey, T)) {
        while let Some((level, slot, deadline)) = self.next_expiration() {
            if deadline > now {
                break;
            }
            self.elapsed = deadline;
            let slot_index = level * SLOTS + slot;
            let mut index = std::mem::replace(&mut self.heads[slot_index], NIL);
            self.occupied[level] &= !(1 << slot);
            while index != NIL {
                let next = self.nodes[index as usize].next;
                if self.nodes[index as usize].deadline <= self.elapsed {
                    let key = EntryKey {
                        index,
                        generation: self.nodes[index as usize].generation,
                    };
                    expired(key, self.release(index));
                } else {
                    self.link(index);
                }
                index = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    fn next_expiration(&self) -> Option<(usize, usize, Tick)> {
        // Entries on a lower level always expire before any entry on a higher one, so the first
        // occupied level holds the earliest slot.
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let shift = SLOT_BITS * level as u32;
            let slot_range: Tick = 1 << shift;
            let level_range: Tick = slot_range << SLOT_BITS;
            let now_slot = (self.elapsed >> shift) & SLOT_MASK;
            let slot = (u64::from(occupied.rotate_right(now_slot as u32).trailing_zeros())
                + now_slot)
                & SLOT_MASK;
            let level_start = self.elapsed & !(level_range - 1);
            let mut deadline = level_start + slot * slot_range;
            if deadline <= self.elapsed {
                // Only the top level wraps around: its slots form a ring beyond the last level.
                deadline += level_range;
            }
            Some((level, slot as usize, deadline))
        })
    }

    fn level_for(&self, deadline: Tick) -> usize {
        let masked = ((self.elapsed ^ deadline) | SLOT_MASK).min(MAX_SPAN - 1);
        let significant = 63 - masked.leading_zeros();
        (significant / SLOT_BITS) as usize
    }

    fn link(&mut self, index: u32) {
        let deadline = self.nodes[index as usize].deadline;
        let level = self.level_for(deadline);
        let slot = ((deadline >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize;
        let slot_index = level * SLOTS + slot;
        let head = self.heads[slot_index];
        if head != NIL {
            self.nodes[head as usize].prev = index;
        }
        let node = &mut self.nodes[index as usize];
        node.prev = NIL;
        node.next = head;
        node.slot = slot_index as u32;
        self.heads[slot_index] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let Node {
            prev, next, slot, ..
        } = self.nodes[index as usize];
        if prev == NIL {
            self.heads[slot as usize] = next;
            if next == NIL {
                self.occupied[slot as usize / SLOTS] &= !(1 << (slot as usize % SLOTS));
            }
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn release(&mut self, index: u32) -> T {
        let node = &mut self.nodes[index as usize];
        node.slot = NIL;
        node.generation = node.generation.wrapping_add(1);
        node.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        node.value
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Deterministic xorshift, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const START: Tick = 1_763_900_000_123;

    #[test]
    fn fires_in_deadline_order_across_levels() {
        let mut wheel = TimingWheel::new(START);
        let offsets = [
            1,
            63,
            64,
            65,
            4_095,
            4_096,
            262_143,
            262_144,
            16_777_216,
            1 << 30,
            315_360_000_000,
        ];
        for (i, offset) in offsets.iter().enumerate().rev() {
            wheel.insert(START + offset, i).unwrap();
        }
        let mut fired = Vec::new();
        while let Some(next) = wheel.next_deadline() {
            let before = fired.len();
            wheel.poll(next, &mut fired);
            for &i in &fired[before..] {
                assert_eq!(
                    START + offsets[i],
                    next,
                    "entry {i} fired at the wrong tick"
                );
            }
        }
        assert_eq!(fired, (0..offsets.len()).collect::<Vec<_>>());
        assert!(wheel.is_empty());
    }

    #[test]
    fn due_deadlines_are_returned_at_once() {
        let mut wheel = TimingWheel::new(START);
        assert_eq!(wheel.insert(START, 7), Err(7));
        assert_eq!(wheel.insert(START - 5, 8), Err(8));
    }

    #[test]
    fn removed_entries_never_fire_and_stale_keys_do_nothing() {
        let mut wheel = TimingWheel::new(START);
        let a = wheel.insert(START + 10, 'a').unwrap();
        let b = wheel.insert(START + 10, 'b').unwrap();
        assert_eq!(wheel.remove(a), Some('a'));
        assert_eq!(wheel.remove(a), None);
        let mut fired = Vec::new();
        wheel.poll(START + 10, &mut fired);
        assert_eq!(fired, vec!['b']);
        assert_eq!(wheel.remove(b), None, "an expired entry's key is stale");
        let c = wheel.insert(START + 20, 'c').unwrap();
        assert_eq!(
            wheel.remove(b),
            None,
            "a reused slab slot must not honour the old key"
        );
        assert_eq!(wheel.remove(c), Some('c'));
    }

    #[test]
    fn matches_a_sorted_map_under_random_insert_cancel_and_poll() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut wheel = TimingWheel::new(START);
        let mut reference: BTreeMap<(Tick, u64), EntryKey> = BTreeMap::new();
        let mut now = START;
        let mut next_id = 0u64;
        for _ in 0..20_000 {
            match rng.next() % 10 {
                0..=5 => {
                    let offset = match rng.next() % 4 {
                        0 => rng.next() % 64,
                        1 => rng.next() % 10_000,
                        2 => rng.next() % 5_000_000,
                        _ => rng.next() % 315_360_000_000,
                    } + 1;
                    let key = wheel.insert(now + offset, next_id).unwrap();
                    reference.insert((now + offset, next_id), key);
                    next_id += 1;
                }
                6 => {
                    if let Some((&(deadline, id), &key)) =
                        reference.iter().nth((rng.next() % 16) as usize)
                    {
                        assert_eq!(wheel.remove(key), Some(id));
                        reference.remove(&(deadline, id));
                    }
                }
                _ => {
                    now += match rng.next() % 3 {
                        0 => rng.next() % 100,
                        1 => rng.next() % 100_000,
                        _ => rng.next() % 50_000_000,
                    };
                    let mut fired = Vec::new();
                    wheel.poll(now, &mut fired);
                    let due: Vec<(Tick, u64)> = reference
                        .range(..=(now, u64::MAX))
                        .map(|(k, _)| *k)
                        .collect();
                    let mut expected: Vec<u64> = due.iter().map(|(_, id)| *id).collect();
                    for key in due {
                        reference.remove(&key);
                    }
                    fired.sort_unstable();
                    expected.sort_unstable();
                    assert_eq!(fired, expected, "at tick {now}");
                }
            }
            assert_eq!(wheel.len(), reference.len());
            if let (Some(next), Some(((first, _), _))) =
                (wheel.next_deadline(), reference.first_key_value())
            {
                assert!(
                    next <= *first,
                    "next_deadline {next} is after the earliest entry {first}"
                );
            }
        }
    }

    /// Not a test: prints per-operation costs for the module docs.
    #[test]
    #[ignore]
    fn wheel_bench() {
        use std::time::Instant;
        let n = 1_000_000u64;
        let mut rng = Rng(42);
        let mut wheel = TimingWheel::new(START);
        let started = Instant::now();
        let keys: Vec<EntryKey> = (0..n)
            .map(|i| wheel.insert(START + 1 + rng.next() % 10_000, i).unwrap())
            .collect();
        let insert = started.elapsed();
        let started = Instant::now();
        for key in keys.iter().step_by(2) {
            wheel.remove(*key);
        }
        let cancel = started.elapsed();
        for i in 0..n / 2 {
            wheel.insert(START + 1 + rng.next() % 10_000, i).unwrap();
        }
        let started = Instant::now();
        let mut fired = Vec::with_capacity(n as usize);
        let mut now = START;
        while !wheel.is_empty() {
            now += 1;
            wheel.poll(now, &mut fired);
        }
        let expire = started.elapsed();
        println!(
            "wheel:    insert {:.1} ns, cancel {:.1} ns, expire {:.1} ns per timer; node size {} bytes",
            insert.as_nanos() as f64 / n as f64,
            cancel.as_nanos() as f64 / (n / 2) as f64,
            expire.as_nanos() as f64 / fired.len() as f64,
            std::mem::size_of::<Node<[u64; 2]>>(),
        );

        // The same workload on an ordered map keyed by (deadline, id), the usual alternative.
        let mut rng = Rng(42);
        let mut map = BTreeMap::new();
        let started = Instant::now();
        let keys: Vec<(Tick, u64)> = (0..n)
            .map(|i| {
                let key = (START + 1 + rng.next() % 10_000, i);
                map.insert(key, i);
                key
            })
            .collect();
        let insert = started.elapsed();
        let started = Instant::now();
        for key in keys.iter().step_by(2) {
            map.remove(key);
        }
        let cancel = started.elapsed();
        for i in 0..n / 2 {
            map.insert((START + 1 + rng.next() % 10_000, n + i), i);
        }
        let started = Instant::now();
        let mut expired = 0usize;
        let mut now = START;
        while !map.is_empty() {
            now += 1;
            while map
                .first_key_value()
                .is_some_and(|((deadline, _), _)| *deadline <= now)
            {
                map.pop_first();
                expired += 1;
            }
        }
        let expire = started.elapsed();
        println!(
            "btreemap: insert {:.1} ns, cancel {:.1} ns, expire {:.1} ns per timer",
            insert.as_nanos() as f64 / n as f64,
            cancel.as_nanos() as f64 / (n / 2) as f64,
            expire.as_nanos() as f64 / expired as f64,
        );
    }
}
