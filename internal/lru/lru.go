// Package lru keeps keys in least-recently-used order, for bounded tables whose values live
// elsewhere: the owner touches a key on every use and, at its cap, evicts the oldest key it is
// allowed to evict. Not safe for concurrent use; the owner's lock guards it.
package lru

// Order is a set of keys ordered by last use. The zero value is not usable; call New.
type Order[K comparable] struct {
	nodes map[K]*node[K]
	root  node[K] // sentinel: root.next is the most recent, root.prev the oldest
}

type node[K comparable] struct {
	key        K
	prev, next *node[K]
}

// New returns an empty Order.
func New[K comparable]() *Order[K] {
	o := &Order[K]{nodes: map[K]*node[K]{}}
	o.root.next, o.root.prev = &o.root, &o.root
	return o
}

// Len is the number of keys.
func (o *Order[K]) Len() int { return len(o.nodes) }

// Contains reports whether k is in the set, without touching it.
func (o *Order[K]) Contains(k K) bool {
	_, ok := o.nodes[k]
	return ok
}

// Touch adds k as the most recently used key, or marks it so.
func (o *Order[K]) Touch(k K) {
	n := o.nodes[k]
	if n == nil {
		n = &node[K]{key: k}
		o.nodes[k] = n
	} else {
		if o.root.next == n {
			return
		}
		n.prev.next, n.next.prev = n.next, n.prev
	}
	n.prev, n.next = &o.root, o.root.next
	o.root.next.prev = n
	o.root.next = n
}

// Remove deletes k.
func (o *Order[K]) Remove(k K) {
	n := o.nodes[k]
	if n == nil {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	delete(o.nodes, k)
}

// Oldest returns the least recently used key for which keep is false (keep nil: the oldest key),
// walking from the oldest; ok is false when there is none.
func (o *Order[K]) Oldest(keep func(K) bool) (k K, ok bool) {
	for n := o.root.prev; n != &o.root; n = n.prev {
		if keep == nil || !keep(n.key) {
			return n.key, true
		}
	}
	return k, false
}

// Keys returns the keys from the oldest to the most recent.
func (o *Order[K]) Keys() []K {
	out := make([]K, 0, len(o.nodes))
	for n := o.root.prev; n != &o.root; n = n.prev {
		out = append(out, n.key)
	}
	return out
}
