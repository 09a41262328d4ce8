package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
)

// Requests without a valid virtual key cost an attacker nothing, so they must not cost Warden
// a write each: they are rate-limited per source and recorded as one aggregated access event
// per source (and key, for revoked or expired keys) per interval. Header values are validated
// and truncated; an identity they claim is recorded as a claim (attributes), never as the
// event's actor, so it cannot feed actor-based rules.

// maxHeaderField bounds a header value copied into an event.
const maxHeaderField = 256

// cleanHeader returns v truncated to maxHeaderField bytes (on a rune boundary) with control and
// invalid characters removed.
func cleanHeader(v string) string {
	if v == "" {
		return ""
	}
	var b strings.Builder
	for _, r := range v {
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxHeaderField {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unauthKey identifies one aggregate.
type unauthKey struct {
	ip    string // "" for the overflow aggregate
	keyID string // revoked or expired key, "" when no known key was sent
}

// unauthAgg is what an interval saw from one source.
type unauthAgg struct {
	first, last time.Time
	count       int
	limited     int            // of count, answered 429 by the per-source limit
	codes       map[string]int // denial code → count
	client      string         // last User-Agent, cleaned
	claimed     string         // last X-Warden-User, cleaned
	endpoint    string
	key         *keys.Key
}

// unauthLog aggregates unauthenticated requests; flush turns them into events.
type unauthLog struct {
	mu      sync.Mutex
	max     int // sources per interval; beyond, requests go to the overflow aggregate
	aggs    map[unauthKey]*unauthAgg
	dropped int // sources folded into the overflow aggregate this interval
}

// note records one denied request and reports whether its source is over limit requests in
// this interval (the request is then answered 429).
func (u *unauthLog) note(now time.Time, ip string, k *keys.Key, code string, limit int, r *http.Request) (limited bool) {
	key := unauthKey{ip: ip}
	if k != nil {
		key.keyID = k.ID
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	a := u.aggs[key]
	if a == nil {
		if len(u.aggs) >= u.max {
			key = unauthKey{}
			u.dropped++
			a = u.aggs[key]
		}
		if a == nil {
			a = &unauthAgg{first: now, codes: map[string]int{}, key: k}
			if u.aggs == nil {
				u.aggs = map[unauthKey]*unauthAgg{}
			}
			u.aggs[key] = a
		}
	}
	a.last = now
	limited = a.count >= limit
	a.count++
	if limited {
		a.limited++
	}
	a.codes[code]++
	a.client = cleanHeader(r.UserAgent())
	a.claimed = cleanHeader(r.Header.Get("X-Warden-User"))
	a.endpoint = cleanHeader(r.URL.Path)
	return limited
}

// flush returns one deny access event per aggregate and starts a new interval.
func (u *unauthLog) flush(env string) []*event.Event {
	u.mu.Lock()
	aggs, dropped := u.aggs, u.dropped
	u.aggs, u.dropped = nil, 0
	u.mu.Unlock()
	if len(aggs) == 0 {
		return nil
	}
	keysOrder := make([]unauthKey, 0, len(aggs))
	for k := range aggs {
		keysOrder = append(keysOrder, k)
	}
	slices.SortFunc(keysOrder, func(a, b unauthKey) int { return strings.Compare(a.ip+"\x00"+a.keyID, b.ip+"\x00"+b.keyID) })
	evs := make([]*event.Event, 0, len(aggs))
	for _, k := range keysOrder {
		a := aggs[k]
		codes := make([]string, 0, len(a.codes))
		for c := range a.codes {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var reason strings.Builder
		reason.WriteString("unauthenticated: " + strconv.Itoa(a.count) + " requests (")
		for i, c := range codes {
			if i > 0 {
				reason.WriteString(", ")
			}
			reason.WriteString(c + " " + strconv.Itoa(a.codes[c]))
		}
		reason.WriteString(")")
		ev := &event.Event{
			Type:        event.TypeAccess,
			Time:        a.last.UTC(),
			Environment: env,
			Source:      event.Source{IP: k.ip, Client: a.client, Endpoint: a.endpoint},
			Action:      "invoke",
			Resource:    "gateway:" + a.endpoint,
			Decision:    "deny",
			Reason:      reason.String(),
			Attributes: map[string]any{
				"gateway.unauthenticated":       true,
				"gateway.requests":              float64(a.count),
				"gateway.rate_limited":          float64(a.limited),
				"gateway.first_seen":            a.first.UTC().Format(time.RFC3339Nano),
				"gateway.interval_aggregate":    true,
				"gateway.claimed_user_is_claim": a.claimed != "",
			},
		}
		if a.claimed != "" {
			ev.Attributes["gateway.claimed_user"] = a.claimed
		}
		if k.ip == "" && dropped > 0 {
			ev.Attributes["gateway.sources_folded"] = float64(dropped)
		}
		if a.key != nil {
			// A revoked or expired key is proven by its secret: the key is the actor, not
			// whoever the headers claim.
			ev.Actor = event.Actor{APIKeyID: a.key.ID}
		}
		evs = append(evs, ev)
	}
	return evs
}

// isUnauthenticated reports whether a denial means the request proved no valid key.
func isUnauthenticated(k *keys.Key, e *apiError) bool {
	if k == nil {
		return true
	}
	return e.code == "key_revoked" || e.code == "key_expired"
}

// denyUnauthenticated answers a request without a valid key: 401, or 429 once its source
// exceeded Options.UnauthPerInterval in this interval. It writes no event; the aggregate does.
func (g *Gateway) denyUnauthenticated(w http.ResponseWriter, r *http.Request, k *keys.Key, e *apiError) *apiError {
	if g.unauth.note(g.opts.Now(), g.clientIP(r), k, e.code, g.opts.UnauthPerInterval, r) {
		e = policyError(http.StatusTooManyRequests, "rate_limit_exceeded", "Too many requests without a valid virtual key from this address.")
		e.retryAfter = retryAfter(g.opts.UnauthInterval)
	}
	writeAPIError(w, e)
	return e
}

// runUnauth flushes the aggregates every UnauthInterval until stop is closed, then once more.
func (g *Gateway) runUnauth(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(g.opts.UnauthInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			g.flushUnauth()
			return
		}
		g.flushUnauth()
	}
}

// flushUnauth queues this interval's aggregates, and those a full queue refused before. It
// runs on runUnauth's goroutine only. Aggregates still refused wait for the next interval, up
// to UnauthSources of them; beyond, they are dropped, counted and logged.
func (g *Gateway) flushUnauth() {
	evs := append(g.unauthPending, g.unauth.flush(g.opts.Environment)...)
	g.unauthPending = nil
	for _, ev := range evs {
		if g.events.push(ev, nil) {
			continue
		}
		if len(g.unauthPending) < g.opts.UnauthSources {
			g.unauthPending = append(g.unauthPending, ev)
			continue
		}
		g.events.dropped.Inc()
		g.log.Warn("gateway event queue full: aggregated unauthenticated count not recorded", "source", ev.Source.IP, "reason", ev.Reason)
	}
}
