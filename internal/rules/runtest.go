package rules

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
)

// Firing is one alert raised while replaying a stream, with the input line that raised it.
type Firing struct {
	Line  int
	Alert alert.Alert
}

// Cleared is one auto-resolution seen while replaying a stream, with the input line after which
// the condition was found clear.
type Cleared struct {
	Line int
	Resolution
}

// Replayed is what a replay raised: alerts and auto-resolutions, each in the order they happened.
type Replayed struct {
	Firings []Firing
	Cleared []Cleared
}

// testModel declares an inventory entry inside a replay stream.
type testModel struct {
	Name          string   `json:"name"`
	RiskTier      string   `json:"risk_tier"`
	Sensitivity   string   `json:"sensitivity"`
	Owner         string   `json:"owner"`
	AllowedGroups []string `json:"allowed_groups"`
}

// streamLine is the envelope of the non-event lines a replay stream may hold.
type streamLine struct {
	Detection *Detection  `json:"detection"`
	Models    []testModel `json:"models"`
	Tick      *time.Time  `json:"tick"`
}

// maxLine bounds one line of a replay stream.
const maxLine = 8 << 20

// Replay feeds a JSON Lines stream through a new Engine built from rs and returns every alert
// raised. Each line is one of:
//
//	an event (schema v1; validated and normalized as ingest would),
//	{"detection": {...}}   an analysis detection (see Detection),
//	{"models": [{"name": .., "risk_tier": .., "sensitivity": .., "allowed_groups": [..]}]}
//	                       inventory entries, added to (and overriding) opts.Models,
//	{"tick": "RFC 3339"}   advance the clock and run timers.
//
// Blank lines and lines starting with # or // are ignored. After each input the engine is ticked
// to that input's time, so "for" durations and windows behave as they would live.
// Auto-resolutions go to opts.Resolved as they would live; ReplayAll returns them too.
func Replay(ctx context.Context, rs *RuleSet, opts Options, r io.Reader) ([]Firing, error) {
	res, err := ReplayAll(ctx, rs, opts, r)
	return res.Firings, err
}

// ReplayAll is Replay returning the auto-resolutions (conditions found clear) beside the alerts.
func ReplayAll(ctx context.Context, rs *RuleSet, opts Options, r io.Reader) (Replayed, error) {
	var res Replayed
	line := 0
	inv := map[string]config.Model{}
	base := opts.Models
	opts.Models = func(name string) (config.Model, bool) {
		if m, ok := inv[name]; ok {
			return m, true
		}
		if base != nil {
			return base(name)
		}
		return config.Model{}, false
	}
	eng, err := New(rs, opts)
	if err != nil {
		return res, err
	}
	eng.onResolved = func(x Resolution) { res.Cleared = append(res.Cleared, Cleared{Line: line, Resolution: x}) }
	// An empty inventory in the stream means none is configured, as it would be live.
	eng.opts.Models = nil
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line++
		if err := ctx.Err(); err != nil {
			return res, err
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' || bytes.HasPrefix(b, []byte("//")) {
			continue
		}
		var env streamLine
		if err := json.Unmarshal(b, &env); err == nil && (env.Detection != nil || env.Models != nil || env.Tick != nil) {
			switch {
			case env.Models != nil:
				for _, m := range env.Models {
					if m.Name == "" {
						return res, fmt.Errorf("line %d: models[].name is required", line)
					}
					inv[m.Name] = config.Model{Name: m.Name, RiskTier: m.RiskTier, Sensitivity: m.Sensitivity, Owner: m.Owner, AllowedGroups: m.AllowedGroups}
				}
				eng.mu.Lock()
				eng.opts.Models = opts.Models
				eng.mu.Unlock()
			case env.Detection != nil:
				if err := detection.Validate(env.Detection); err != nil {
					return res, fmt.Errorf("line %d: detection.%w", line, err)
				}
				for _, a := range eng.ObserveDetection(*env.Detection) {
					res.Firings = append(res.Firings, Firing{Line: line, Alert: a})
				}
				for _, a := range eng.Tick(env.Detection.Time) {
					res.Firings = append(res.Firings, Firing{Line: line, Alert: a})
				}
			case env.Tick != nil:
				for _, a := range eng.Tick(*env.Tick) {
					res.Firings = append(res.Firings, Firing{Line: line, Alert: a})
				}
			}
			continue
		}
		evs, err := event.DecodeValid(b)
		if err != nil {
			return res, fmt.Errorf("line %d: %w", line, err)
		}
		for _, ev := range evs {
			ev.Normalize()
			for _, a := range eng.Observe(ev) {
				res.Firings = append(res.Firings, Firing{Line: line, Alert: a})
			}
			for _, a := range eng.Tick(ev.Time) {
				res.Firings = append(res.Firings, Firing{Line: line, Alert: a})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("line %d: %w", line+1, err)
	}
	return res, nil
}

// RunTest loads the rules (the built-in pack when builtin is true, plus dir when not empty),
// replays events (see Replay) and writes, for rule authors, one line per alert — input line,
// rule id, severity, triggering event ids, summary — and one per auto-resolution — input line,
// "resolved", rule id, the dedup key of the alert it resolves — in input order, then the counts
// per rule. It is what `warden rules test DIR --events FILE.jsonl` runs.
func RunTest(ctx context.Context, dir string, builtin bool, events io.Reader, w io.Writer) error {
	var dirs []string
	if dir != "" {
		dirs = append(dirs, dir)
	}
	rs, err := Load(builtin, dirs...)
	if err != nil {
		return err
	}
	res, err := ReplayAll(ctx, rs, Options{}, events)
	bw := bufio.NewWriter(w)
	counts := map[string]int{}
	resolved := map[string]int{}
	fired, cleared := res.Firings, res.Cleared
	for len(fired) > 0 || len(cleared) > 0 {
		// A resolution found on the same line as an alert was found first: clearing is judged
		// before firing, and a group never does both at once.
		if len(cleared) > 0 && (len(fired) == 0 || cleared[0].Line <= fired[0].Line) {
			c := cleared[0]
			cleared = cleared[1:]
			resolved[c.RuleID]++
			fmt.Fprintf(bw, "line %d\tresolved\t%s\t%s\n", c.Line, c.RuleID, c.DedupKey)
			continue
		}
		f := fired[0]
		fired = fired[1:]
		a := f.Alert
		counts[a.RuleID]++
		fmt.Fprintf(bw, "line %d\t%s\t%s\tevents=[%s]\t%s\n", f.Line, a.RuleID, a.Severity, strings.Join(a.EventIDs, ","), a.Summary)
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(bw, "%d alert(s) from %d rule(s), %d resolved\n", len(res.Firings), len(ids), len(res.Cleared))
	for _, id := range ids {
		if n := resolved[id]; n > 0 {
			fmt.Fprintf(bw, "  %s\t%d\tresolved %d\n", id, counts[id], n)
		} else {
			fmt.Fprintf(bw, "  %s\t%d\n", id, counts[id])
		}
	}
	if ferr := bw.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write results: %w", ferr)
	}
	return err
}
