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
	"github.com/warden-ai/warden/internal/event"
)

// Firing is one alert raised while replaying a stream, with the input line that raised it.
type Firing struct {
	Line  int
	Alert alert.Alert
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
func Replay(ctx context.Context, rs *RuleSet, opts Options, r io.Reader) ([]Firing, error) {
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
		return nil, err
	}
	// An empty inventory in the stream means none is configured, as it would be live.
	eng.opts.Models = nil
	var out []Firing
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if err := ctx.Err(); err != nil {
			return out, err
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
						return out, fmt.Errorf("line %d: models[].name is required", line)
					}
					inv[m.Name] = config.Model{Name: m.Name, RiskTier: m.RiskTier, Sensitivity: m.Sensitivity, Owner: m.Owner, AllowedGroups: m.AllowedGroups}
				}
				eng.mu.Lock()
				eng.opts.Models = opts.Models
				eng.mu.Unlock()
			case env.Detection != nil:
				if env.Detection.Kind == "" {
					return out, fmt.Errorf("line %d: detection.kind is required", line)
				}
				for _, a := range eng.ObserveDetection(*env.Detection) {
					out = append(out, Firing{Line: line, Alert: a})
				}
				for _, a := range eng.Tick(env.Detection.Time) {
					out = append(out, Firing{Line: line, Alert: a})
				}
			case env.Tick != nil:
				for _, a := range eng.Tick(*env.Tick) {
					out = append(out, Firing{Line: line, Alert: a})
				}
			}
			continue
		}
		evs, err := event.DecodeValid(b)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		for _, ev := range evs {
			ev.Normalize()
			for _, a := range eng.Observe(ev) {
				out = append(out, Firing{Line: line, Alert: a})
			}
			for _, a := range eng.Tick(ev.Time) {
				out = append(out, Firing{Line: line, Alert: a})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// RunTest loads the rules (the built-in pack when builtin is true, plus dir when not empty),
// replays events (see Replay) and writes, for rule authors, one line per alert — input line,
// rule id, severity, triggering event ids, summary — and then a count per rule. It is what
// `warden rules test DIR --events FILE.jsonl` runs.
func RunTest(ctx context.Context, dir string, builtin bool, events io.Reader, w io.Writer) error {
	var dirs []string
	if dir != "" {
		dirs = append(dirs, dir)
	}
	rs, err := Load(builtin, dirs...)
	if err != nil {
		return err
	}
	fired, err := Replay(ctx, rs, Options{}, events)
	bw := bufio.NewWriter(w)
	counts := map[string]int{}
	for _, f := range fired {
		a := f.Alert
		counts[a.RuleID]++
		fmt.Fprintf(bw, "line %d\t%s\t%s\tevents=[%s]\t%s\n", f.Line, a.RuleID, a.Severity, strings.Join(a.EventIDs, ","), a.Summary)
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(bw, "%d alert(s) from %d rule(s)\n", len(fired), len(ids))
	for _, id := range ids {
		fmt.Fprintf(bw, "  %s\t%d\n", id, counts[id])
	}
	if ferr := bw.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write results: %w", ferr)
	}
	return err
}
