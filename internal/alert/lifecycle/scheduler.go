package lifecycle

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// Run drives group flushes, repeats and escalations until ctx is done. Timers are absolute due
// times kept in the journal, so a restarted Manager picks up where the old one stopped: what
// fell due while it was down is sent as soon as Run starts. Run must be called once.
func (m *Manager) Run(ctx context.Context) error {
	lastCompact := time.Now()
	for {
		now := time.Now()
		m.mu.Lock()
		m.processDueLocked(now)
		if now.Sub(lastCompact) >= time.Hour {
			lastCompact = now
			if err := m.compactLocked(now); err != nil {
				m.log.Error("compact alert journal", "err", err)
			}
		}
		out := m.outbox
		m.outbox = nil
		next := m.nextDueLocked()
		m.mu.Unlock()

		for _, d := range out {
			err := m.opt.Deliverer.Deliver(ctx, d.receiver, d.n)
			switch {
			case errors.Is(err, notify.ErrUnknownReceiver):
				m.log.Debug("no such receiver configured; notification not sent", "receiver", d.receiver, "kind", string(d.n.Kind))
			case err != nil:
				m.log.Warn("notify", "receiver", d.receiver, "kind", string(d.n.Kind), "level", d.n.Level, "group", d.n.GroupKey, "err", err)
			}
		}
		if len(out) > 0 {
			continue // deliveries took time; re-evaluate before sleeping
		}
		wait := time.Hour // periodic compaction
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (m *Manager) nextDueLocked() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range m.groups {
		earlier(g.NextFlush)
	}
	for _, id := range m.active {
		earlier(m.alerts[id].EscalateAt)
	}
	return next
}

// processDueLocked runs every flush and escalation due at now, queues the notifications and
// journals the changed state.
func (m *Manager) processDueLocked(now time.Time) {
	var recs []record
	// Escalations first, so a flush in the same instant sees the receivers they reached.
	type escKey struct {
		group string
		sev   alert.Severity
		level int
	}
	batches := map[escKey][]*entry{}
	mu := m.newMuterLocked(now)
	members := map[string][]*entry{}
	for _, id := range m.active {
		e := m.alerts[id]
		members[e.A.GroupKey] = append(members[e.A.GroupKey], e)
		if e.EscalateAt.IsZero() || e.EscalateAt.After(now) {
			continue
		}
		if e.A.State != alert.Firing {
			e.EscalateAt = time.Time{}
			recs = append(recs, alertRec(e))
			continue
		}
		if mu.isMuted(&e.A) {
			// Muted alerts do not escalate; look again once the mute may have ended.
			e.EscalateAt = now.Add(m.opt.GroupInterval)
			recs = append(recs, alertRec(e))
			continue
		}
		k := escKey{e.A.GroupKey, e.A.Severity, e.NextLevel}
		batches[k] = append(batches[k], e)
	}
	keys := make([]escKey, 0, len(batches))
	for k := range batches {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b escKey) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.sev), string(b.sev)); c != 0 {
			return c
		}
		return a.level - b.level
	})
	for _, k := range keys {
		es := batches[k]
		sortEntries(es)
		level := m.levels(k.sev)[k.level]
		alerts := make([]alert.Alert, len(es))
		for i, e := range es {
			alerts[i] = e.A
		}
		for _, r := range level.Receivers {
			m.outbox = append(m.outbox, delivery{receiver: r, n: &notify.Notification{
				Kind: notify.KindFiring, Level: k.level, GroupKey: k.group, Severity: k.sev, Alerts: alerts, Time: now,
			}})
		}
		for _, e := range es {
			e.Reached = addAll(e.Reached, level.Receivers)
			m.scheduleEscalation(e, k.level+1)
			recs = append(recs, alertRec(e))
		}
	}

	for key, g := range m.groups {
		if g.NextFlush.IsZero() || g.NextFlush.After(now) {
			continue
		}
		dropped, changed := m.flushLocked(g, members[key], mu, now)
		if dropped {
			delete(m.groups, key)
			recs = append(recs, record{Kind: recDropGrp, ID: key})
			continue
		}
		recs = append(recs, groupRec(g))
		for _, e := range changed {
			recs = append(recs, alertRec(e))
		}
	}
	if err := m.persist(recs...); err != nil {
		// State stays in memory; a restart may repeat these notifications.
		m.log.Error("journal alert timers", "err", err)
	}
}

// flushLocked sends g's firing alerts to the first-level receivers when the set has new
// members, or a reminder when repeat_interval has passed. It reports whether g is finished
// (no unresolved members) and which entries gained reached receivers.
func (m *Manager) flushLocked(g *group, members []*entry, mu *muter, now time.Time) (dropped bool, changed []*entry) {
	var firing []*entry
	unresolved := 0
	for _, e := range members {
		unresolved++
		if e.A.State == alert.Firing && !mu.isMuted(&e.A) {
			firing = append(firing, e)
		}
	}
	if unresolved == 0 {
		return true, nil
	}
	g.LastFlush = now
	g.NextFlush = now.Add(m.opt.GroupInterval)
	if len(firing) == 0 {
		g.Sent = nil
		return false, nil
	}
	sortEntries(firing)
	ids := make([]string, len(firing))
	top := firing[0].A.Severity
	for i, e := range firing {
		ids[i] = e.A.ID
		if e.A.Severity.Rank() < top.Rank() {
			top = e.A.Severity
		}
	}
	fresh := false
	for _, id := range ids {
		if !slices.Contains(g.Sent, id) {
			fresh = true
			break
		}
	}
	reminder := false
	switch {
	case fresh:
	case now.Sub(g.LastSent) >= m.opt.RepeatInterval:
		reminder = true
	default:
		g.Sent = ids // the set may have shrunk
		return false, nil
	}
	receivers := m.firstLevel(top)
	alerts := make([]alert.Alert, len(firing))
	for i, e := range firing {
		alerts[i] = e.A
	}
	for _, r := range receivers {
		m.outbox = append(m.outbox, delivery{receiver: r, n: &notify.Notification{
			Kind: notify.KindFiring, Reminder: reminder, GroupKey: g.Key, Severity: top, Alerts: alerts, Time: now,
		}})
	}
	g.Sent, g.LastSent = ids, now
	if g.TopRank == 0 || top.Rank() < g.TopRank {
		g.TopRank = top.Rank()
	}
	for _, e := range firing {
		before := len(e.Reached)
		e.Reached = addAll(e.Reached, receivers)
		if len(e.Reached) != before {
			changed = append(changed, e)
		}
	}
	return false, changed
}

// firstLevel returns the receivers of sev's levels that apply at once (After 0).
func (m *Manager) firstLevel(sev alert.Severity) []string {
	var rs []string
	for _, l := range m.levels(sev) {
		if l.After > 0 {
			break
		}
		rs = addAll(rs, l.Receivers)
	}
	return rs
}

func addAll(dst, add []string) []string {
	for _, r := range add {
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}

func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		if c := a.A.StartsAt.Compare(b.A.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.A.ID, b.A.ID)
	})
}

// compactLocked drops resolved alerts and expired silences older than RetainResolved and
// rewrites the journal when it holds mostly superseded lines.
func (m *Manager) compactLocked(now time.Time) error {
	cut := now.Add(-m.opt.RetainResolved)
	for id, e := range m.alerts {
		if e.A.State == alert.Resolved && e.A.ResolvedAt != nil && e.A.ResolvedAt.Before(cut) {
			delete(m.alerts, id)
		}
	}
	if len(m.alerts) > m.opt.MaxAlerts {
		var resolved []*entry
		for _, e := range m.alerts {
			if e.A.State == alert.Resolved && e.A.ResolvedAt != nil {
				resolved = append(resolved, e)
			}
		}
		slices.SortFunc(resolved, func(a, b *entry) int { return a.A.ResolvedAt.Compare(*b.A.ResolvedAt) })
		// Down to 90% of the cap, so a flood does not sort the table at every new alert.
		for _, e := range resolved[:min(len(resolved), len(m.alerts)-m.opt.MaxAlerts*9/10)] {
			delete(m.alerts, e.A.ID)
		}
	}
	for id, s := range m.silences {
		if s.EndsAt.Before(cut) {
			delete(m.silences, id)
		}
	}
	if m.j == nil {
		return nil
	}
	live := len(m.alerts) + len(m.groups) + len(m.silences)
	if m.j.lines <= 2*live+1024 {
		return nil
	}
	recs := make([]record, 0, live)
	for _, e := range m.alerts {
		recs = append(recs, alertRec(e))
	}
	for _, g := range m.groups {
		recs = append(recs, groupRec(g))
	}
	for _, s := range m.silences {
		recs = append(recs, record{Kind: recSilence, Silence: s})
	}
	return m.j.rewrite(recs)
}

type cursor struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("decode cursor: %w", err)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return cursor{}, fmt.Errorf("decode cursor: malformed")
	}
	return c, nil
}

// before reports whether a sorts after the cursor position (newest first order).
func (c cursor) before(a *alert.Alert) bool {
	if cmp := a.StartsAt.Compare(c.T); cmp != 0 {
		return cmp < 0
	}
	return a.ID < c.ID
}
