package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/warden-ai/warden/internal/event"
)

// funcState is the per-engine state behind the stateful CEL helpers. The engine evaluates under
// its mutex and sets cur and ruleID before each evaluation.
type funcState struct {
	cur    *evalCtx
	ruleID string

	learning   time.Duration
	minSamples int

	seen    *lru[*seenEntry]
	base    *lru[*baseEntry]
	last    *lru[string]
	hours   *lru[*hourEntry]
	dropped func(store string)
}

// hourEntry is one key's hour-of-week activity history (unusual_hour).
type hourEntry struct {
	first time.Time
	n     int
	slots [168]uint16
}

// Learning of unusual_hour: a key is judged after this many observations over at least a week.
const (
	minHourSamples = 20
	hourLearning   = 7 * 24 * time.Hour
)

type seenEntry struct {
	first  time.Time
	values []string
}

type baseEntry struct {
	n    int
	mean float64
}

// maxSeenValues caps the values remembered per first_seen key; beyond it the value seen least
// recently is dropped, so a key's everyday values (an actor's usual export destinations) stay
// known however many one-off values pass through, and only a value unseen for the last 64
// distinct ones can be "first seen" again.
const maxSeenValues = 64

func newFuncState(learning time.Duration, minSamples, maxKeys int, dropped func(string)) *funcState {
	if dropped == nil {
		dropped = func(string) {}
	}
	return &funcState{
		learning:   learning,
		minSamples: minSamples,
		seen:       newLRU[*seenEntry](maxKeys, func() { dropped("first_seen") }),
		base:       newLRU[*baseEntry](maxKeys, func() { dropped("baseline") }),
		last:       newLRU[string](maxKeys, func() { dropped("value_changed") }),
		hours:      newLRU[*hourEntry](maxKeys, func() { dropped("unusual_hour") }),
		dropped:    dropped,
	}
}

func (s *funcState) now() time.Time {
	if s.cur == nil {
		return time.Time{}
	}
	return s.cur.time()
}

// digestValue is what first_seen and value_changed remember of a value: "sha256:" and its
// hash. Comparisons are unchanged, but a rule that passes a prompt or response
// (request.input, response.output) keeps no copy of the text in memory or in the engine's
// snapshot on disk, out of reach of retention and subject erasure. It is idempotent, so values
// restored from snapshots written before hashing are digested on restore.
func digestValue(v string) string {
	if isDigest(v) {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return digestPrefix + hex.EncodeToString(sum[:])
}

const digestPrefix = "sha256:"

func isDigest(v string) bool {
	if len(v) != len(digestPrefix)+64 || !strings.HasPrefix(v, digestPrefix) {
		return false
	}
	_, err := hex.DecodeString(v[len(digestPrefix):])
	return err == nil
}

// firstSeen reports whether value is new for key after key's learning period, and records it.
func (s *funcState) firstSeen(key, value string) bool {
	if s.cur == nil || value == "" {
		return false
	}
	k := s.ruleID + "\x00" + key
	value = digestValue(value)
	now := s.now()
	e, ok := s.seen.get(k)
	if !ok {
		s.seen.put(k, &seenEntry{first: now, values: []string{value}})
		return false
	}
	// values is kept in order of last sight, most recent last.
	for i, v := range e.values {
		if v == value {
			copy(e.values[i:], e.values[i+1:])
			e.values[len(e.values)-1] = value
			return false
		}
	}
	if len(e.values) >= maxSeenValues {
		copy(e.values, e.values[1:])
		e.values = e.values[:len(e.values)-1]
		s.dropped("first_seen_value")
	}
	e.values = append(e.values, value)
	return now.Sub(e.first) >= s.learning
}

// valueChanged reports whether key held a different value before, and records value.
func (s *funcState) valueChanged(key, value string) bool {
	if s.cur == nil || value == "" {
		return false
	}
	k := s.ruleID + "\x00" + key
	value = digestValue(value)
	prev, ok := s.last.get(k)
	s.last.put(k, value)
	return ok && prev != value
}

// valueSame reports whether key held exactly value before, and records value.
func (s *funcState) valueSame(key, value string) bool {
	if s.cur == nil || value == "" {
		return false
	}
	k := s.ruleID + "\x00" + key
	prev, ok := s.last.get(k)
	s.last.put(k, value)
	return ok && prev == value
}

// aboveBaseline reports whether value exceeds factor × the mean of key's earlier values (after
// minSamples of them). Values flagged as anomalous are not folded into the baseline, so an
// attacker cannot raise it with the very exports it flags.
func (s *funcState) aboveBaseline(key string, value, factor float64) bool {
	if s.cur == nil {
		return false
	}
	k := s.ruleID + "\x00" + key
	e, ok := s.base.get(k)
	if !ok {
		e = &baseEntry{}
		s.base.put(k, e)
	}
	if e.n >= s.minSamples && value > factor*e.mean {
		return true
	}
	e.n++
	e.mean += (value - e.mean) / float64(e.n)
	return false
}

// unusualHour reports whether t falls outside key's own activity pattern, learned from its
// hour-of-week history: after at least minHourSamples observations spanning a week, an hour is
// unusual when key was never active within an hour of it in the same hour of week, and fewer
// than twice within an hour of it on any day of the same kind (weekday or weekend). Usual hours
// are recorded; unusual ones are not, so an intruder cannot teach the baseline its own hours.
func (s *funcState) unusualHour(key string, t time.Time) bool {
	if s.cur == nil || key == "" {
		return false
	}
	k := s.ruleID + "\x00" + key
	e, ok := s.hours.get(k)
	if !ok {
		e = &hourEntry{first: t}
		s.hours.put(k, e)
	}
	t = t.UTC()
	how := int(t.Weekday())*24 + t.Hour()
	if e.n >= minHourSamples && t.Sub(e.first) >= hourLearning {
		near := 0
		for d := -1; d <= 1; d++ {
			near += int(e.slots[(how+d+168)%168])
		}
		sameKind := 0
		weekend := func(day int) bool { return day == 0 || day == 6 }
		for day := range 7 {
			if weekend(day) != weekend(int(t.Weekday())) {
				continue
			}
			for d := -1; d <= 1; d++ {
				sameKind += int(e.slots[(day*24+t.Hour()+d+168)%168])
			}
		}
		if near == 0 && sameKind < 2 {
			return true
		}
	}
	if e.slots[how] < 65535 {
		e.slots[how]++
	}
	e.n++
	if t.Before(e.first) {
		e.first = t
	}
	return false
}

func sensitivityRank(s string) int {
	switch strings.ToLower(s) {
	case "public":
		return 0
	case "internal":
		return 1
	case "confidential":
		return 2
	case "restricted":
		return 3
	}
	return 1 // unknown: treat as internal
}

func tierRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	}
	return 0
}

// clearance maps roles to the highest sensitivity they may access: a role named after a
// sensitivity level (or "clearance:<level>") grants that level; admin and security grant
// restricted; any other role grants internal.
func clearance(roles traits.Lister) int {
	best := 0
	it := roles.Iterator()
	for it.HasNext() == types.True {
		r, _ := it.Next().Value().(string)
		r = strings.ToLower(r)
		lvl := 1
		switch {
		case strings.HasPrefix(r, "clearance:"):
			lvl = sensitivityRank(strings.TrimPrefix(r, "clearance:"))
		case r == "public" || r == "internal" || r == "confidential" || r == "restricted":
			lvl = sensitivityRank(r)
		case r == "admin" || r == "security":
			lvl = 3
		}
		best = max(best, lvl)
	}
	return best
}

// offHours: weekends, or before 07:00 / from 20:00 UTC.
func offHours(t time.Time) bool {
	t = t.UTC()
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return true
	}
	return t.Hour() < 7 || t.Hour() >= 20
}

func (s *funcState) triggerScore(cat, role string) float64 {
	if s.cur == nil || s.cur.ev == nil || s.cur.ev.Safety == nil {
		return 0
	}
	best := 0.0
	found := false
	for i := range s.cur.ev.Safety.Triggers {
		t := &s.cur.ev.Safety.Triggers[i]
		if role != "" && t.Role != role {
			continue
		}
		if triggerMatches(t, cat) {
			found = true
			best = max(best, t.Score)
		}
	}
	if found && best == 0 {
		best = 1 // a finding without a score counts as certain
	}
	return best
}

func (s *funcState) hasTrigger(cat, role string) bool { return s.triggerScore(cat, role) > 0 }

func str(v ref.Val) string {
	if s, ok := v.(types.String); ok {
		return string(s)
	}
	return ""
}

// noGuards drops the runtime argument-type guards of the helper functions: every program is
// type-checked at load, and the bindings assert their argument types themselves.
var noGuards = decls.DisableTypeGuards(true)

func newEnv(lists map[string][]string, st *funcState) (*cel.Env, error) {
	if st == nil {
		st = newFuncState(0, 1, 16, nil)
	}
	opts := make([]cel.EnvOption, 0, len(vars)+len(lists)+12)
	for _, v := range vars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	for name, items := range lists {
		opts = append(opts, cel.Constant(name, cel.ListType(cel.StringType), listConst(items)))
	}
	opts = append(opts, ext.Math(), ext.Strings(),
		cel.Function("has_trigger", noGuards,
			cel.Overload("has_trigger_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(c ref.Val) ref.Val { return types.Bool(st.hasTrigger(str(c), "")) })),
			cel.Overload("has_trigger_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(c, r ref.Val) ref.Val { return types.Bool(st.hasTrigger(str(c), str(r))) }))),
		cel.Function("trigger_score", noGuards,
			cel.Overload("trigger_score_string", []*cel.Type{cel.StringType}, cel.DoubleType,
				cel.UnaryBinding(func(c ref.Val) ref.Val { return types.Double(st.triggerScore(str(c), "")) })),
			cel.Overload("trigger_score_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.DoubleType,
				cel.BinaryBinding(func(c, r ref.Val) ref.Val { return types.Double(st.triggerScore(str(c), str(r))) }))),
		cel.Function("first_seen", noGuards,
			cel.Overload("first_seen_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(k, v ref.Val) ref.Val { return types.Bool(st.firstSeen(str(k), str(v))) }))),
		cel.Function("value_changed", noGuards,
			cel.Overload("value_changed_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(k, v ref.Val) ref.Val { return types.Bool(st.valueChanged(str(k), str(v))) }))),
		cel.Function("value_same", noGuards,
			cel.Overload("value_same_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(k, v ref.Val) ref.Val { return types.Bool(st.valueSame(str(k), str(v))) }))),
		cel.Function("above_baseline", noGuards,
			cel.Overload("above_baseline_string_double_double", []*cel.Type{cel.StringType, cel.DoubleType, cel.DoubleType}, cel.BoolType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					v, _ := args[1].Value().(float64)
					f, _ := args[2].Value().(float64)
					return types.Bool(st.aboveBaseline(str(args[0]), v, f))
				}))),
		cel.Function("off_hours", noGuards,
			cel.Overload("off_hours_timestamp", []*cel.Type{cel.TimestampType}, cel.BoolType,
				cel.UnaryBinding(func(t ref.Val) ref.Val {
					ts, _ := t.(types.Timestamp)
					return types.Bool(offHours(ts.Time))
				}))),
		cel.Function("unusual_hour", noGuards,
			cel.Overload("unusual_hour_string_timestamp", []*cel.Type{cel.StringType, cel.TimestampType}, cel.BoolType,
				cel.BinaryBinding(func(k, t ref.Val) ref.Val {
					ts, _ := t.(types.Timestamp)
					return types.Bool(st.unusualHour(str(k), ts.Time))
				}))),
		cel.Function("sensitivity_rank", noGuards,
			cel.Overload("sensitivity_rank_string", []*cel.Type{cel.StringType}, cel.IntType,
				cel.UnaryBinding(func(s ref.Val) ref.Val { return types.Int(sensitivityRank(str(s))) }))),
		cel.Function("tier_rank", noGuards,
			cel.Overload("tier_rank_string", []*cel.Type{cel.StringType}, cel.IntType,
				cel.UnaryBinding(func(s ref.Val) ref.Val { return types.Int(tierRank(str(s))) }))),
		cel.Function("clearance", noGuards,
			cel.Overload("clearance_list_string", []*cel.Type{cel.ListType(cel.StringType)}, cel.IntType,
				cel.UnaryBinding(func(l ref.Val) ref.Val {
					lister, ok := l.(traits.Lister)
					if !ok {
						return types.Int(0)
					}
					return types.Int(clearance(lister))
				}))),
	)
	return cel.NewEnv(opts...)
}

// lru is a bounded map with least-recently-used eviction.
type lru[V any] struct {
	max     int
	items   map[string]*lruNode[V]
	head    *lruNode[V] // most recent
	tail    *lruNode[V]
	evicted func()
}

type lruNode[V any] struct {
	key        string
	val        V
	prev, next *lruNode[V]
}

func newLRU[V any](max int, evicted func()) *lru[V] {
	return &lru[V]{max: max, items: make(map[string]*lruNode[V]), evicted: evicted}
}

func (l *lru[V]) len() int { return len(l.items) }

func (l *lru[V]) get(k string) (V, bool) {
	n, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.moveFront(n)
	return n.val, true
}

func (l *lru[V]) put(k string, v V) {
	if n, ok := l.items[k]; ok {
		n.val = v
		l.moveFront(n)
		return
	}
	n := &lruNode[V]{key: k, val: v}
	l.items[k] = n
	l.pushFront(n)
	if len(l.items) > l.max {
		old := l.tail
		l.unlink(old)
		delete(l.items, old.key)
		if l.evicted != nil {
			l.evicted()
		}
	}
}

// delete removes k; it reports whether k was present.
func (l *lru[V]) delete(k string) bool {
	n, ok := l.items[k]
	if !ok {
		return false
	}
	l.unlink(n)
	delete(l.items, k)
	return true
}

// getBytes is get for a key held in a reusable buffer; it does not allocate on a hit.
func (l *lru[V]) getBytes(k []byte) (V, bool) {
	n, ok := l.items[string(k)]
	if !ok {
		var zero V
		return zero, false
	}
	l.moveFront(n)
	return n.val, true
}

// each visits entries from most to least recently used; it must not modify the lru.
func (l *lru[V]) each(f func(k string, v V)) {
	for n := l.head; n != nil; n = n.next {
		f(n.key, n.val)
	}
}

func (l *lru[V]) pushFront(n *lruNode[V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *lru[V]) unlink(n *lruNode[V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (l *lru[V]) moveFront(n *lruNode[V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

// sizeEstimator bounds variable sizes for CEL's static cost estimate: text up to
// event.MaxTextLen, lists up to maxListLen elements, maps up to maxMapLen entries, and the
// helper functions at a small constant cost. A program whose worst case stays within
// celCostLimit runs without runtime cost tracking; any other runs with cel.CostLimit.
type sizeEstimator struct{}

const (
	maxListLen = 256
	maxMapLen  = 128
)

var helperOverloads = map[string]bool{
	"has_trigger_string": true, "has_trigger_string_string": true, "trigger_score_string": true,
	"trigger_score_string_string": true, "first_seen_string_string": true, "value_changed_string_string": true,
	"above_baseline_string_double_double": true, "off_hours_timestamp": true, "sensitivity_rank_string": true,
	"tier_rank_string": true, "clearance_list_string": true, "unusual_hour_string_timestamp": true,
	"value_same_string_string": true,
}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if n.Path() == nil {
		return nil
	}
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind:
		if p := n.Path(); len(p) == 1 && p[0] != "request.input" && p[0] != "response.output" && p[0] != "detection.message" {
			return &cost.SizeEstimate{Min: 0, Max: event.MaxNameLen * 4} // names, ids, codes
		}
		return &cost.SizeEstimate{Min: 0, Max: event.MaxTextLen}
	case types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: maxListLen}
	case types.MapKind:
		return &cost.SizeEstimate{Min: 0, Max: maxMapLen}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(_, overloadID string, _ *cost.AstNode, _ []cost.AstNode) *cost.CallEstimate {
	if helperOverloads[overloadID] {
		return &cost.CallEstimate{CostEstimate: cost.CostEstimate{Min: 1, Max: maxListLen}}
	}
	return nil
}
