package audit

import (
	"errors"
	"hash/maphash"
)

// idTable maps record IDs to log indexes in about 13 bytes per entry. It
// stores only a 24-bit hash tag and a 40-bit index per slot; a tag hit is a
// candidate that the caller confirms against the stored entry.
//
// Layout: 256 shards chosen by the low 8 bits of the 64-bit hash, each an
// open-addressing table whose slot position is the top k bits of the tag
// (the top 24 bits of the hash), so a shard can grow without the full hash.
type idTable struct {
	seed   maphash.Seed
	shards [256]idShard
}

type idShard struct {
	slots []uint64 // tag<<40 | (index+1); 0 = empty
	n     int
	k     uint // len(slots) == 1<<k
}

const (
	idIndexBits = 40
	idIndexMask = 1<<idIndexBits - 1
	idMaxK      = 24
)

var errIDTableFull = errors.New("id table full")

func newIDTable() *idTable { return &idTable{seed: maphash.MakeSeed()} }

func (t *idTable) hash(id []byte) uint64 { return maphash.Bytes(t.seed, id) }

// candidates calls fn with every index whose tag matches h until fn returns true.
func (t *idTable) candidates(h uint64, fn func(index uint64) bool) bool {
	s := &t.shards[h&255]
	if s.n == 0 {
		return false
	}
	tag := h >> idIndexBits
	mask := uint64(len(s.slots) - 1)
	for i := tag >> (idMaxK - s.k); ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return false
		}
		if v>>idIndexBits == tag && fn(v&idIndexMask-1) {
			return true
		}
	}
}

func (t *idTable) insert(h, index uint64) error {
	if index >= idIndexMask {
		return errIDTableFull
	}
	s := &t.shards[h&255]
	if (s.n+1)*4 > len(s.slots)*3 {
		if err := s.grow(); err != nil {
			return err
		}
	}
	s.put(h>>idIndexBits<<idIndexBits | (index + 1))
	s.n++
	return nil
}

func (s *idShard) put(v uint64) {
	mask := uint64(len(s.slots) - 1)
	for i := v >> idIndexBits >> (idMaxK - s.k); ; i = (i + 1) & mask {
		if s.slots[i] == 0 {
			s.slots[i] = v
			return
		}
	}
}

func (s *idShard) grow() error {
	k := s.k + 1
	if s.slots == nil {
		k = 4
	}
	if k > idMaxK {
		return errIDTableFull
	}
	old := s.slots
	s.slots, s.k = make([]uint64, 1<<k), k
	for _, v := range old {
		if v != 0 {
			s.put(v)
		}
	}
	return nil
}

// reserve sizes every shard for n entries in total (spread evenly, with slack), so that loading
// a large log does not rehash each shard once per doubling. It only grows.
func (t *idTable) reserve(n uint64) {
	per := n/256 + n/2048 + 64
	k := uint(4)
	for (uint64(1)<<k)*3 < per*4 && k < idMaxK {
		k++
	}
	for i := range t.shards {
		s := &t.shards[i]
		if s.k >= k && s.slots != nil {
			continue
		}
		old := s.slots
		s.slots, s.k = make([]uint64, 1<<k), k
		for _, v := range old {
			if v != 0 {
				s.put(v)
			}
		}
	}
}

func (t *idTable) hashString(id string) uint64 { return maphash.String(t.seed, id) }
