package gateway

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket holding up to capacity tokens, refilled at capacity per minute.
// Its level may go below zero when actual usage exceeds what was reserved (token limits), which
// delays the next requests accordingly.
type bucket struct {
	mu       sync.Mutex
	capacity float64
	tokens   float64
	last     time.Time
}

// take removes n tokens if the bucket holds at least min(n, capacity); otherwise it returns
// how long until it will.
func (b *bucket) take(now time.Time, capacity, n float64) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.capacity != capacity { // new bucket, or the limit changed
		b.capacity, b.tokens, b.last = capacity, capacity, now
	}
	rate := capacity / 60 // per second
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(capacity, b.tokens+el*rate)
		b.last = now
	}
	need := math.Min(n, capacity)
	if b.tokens >= need {
		b.tokens -= n
		return true, 0
	}
	wait := time.Duration((need - b.tokens) / rate * float64(time.Second))
	return false, wait
}

// adjust adds (or with negative n removes) tokens after the fact.
func (b *bucket) adjust(n float64) {
	b.mu.Lock()
	b.tokens = math.Min(b.capacity, b.tokens+n)
	b.mu.Unlock()
}

// limiter holds the buckets by name ("rpm:<key id>", "tpm:<key id>", "crpm:<consumer>").
type limiter struct {
	buckets sync.Map // string → *bucket
}

func (l *limiter) get(name string) *bucket {
	if b, ok := l.buckets.Load(name); ok {
		return b.(*bucket)
	}
	b, _ := l.buckets.LoadOrStore(name, &bucket{})
	return b.(*bucket)
}

// retryAfter formats a wait as whole seconds, at least 1.
func retryAfter(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
