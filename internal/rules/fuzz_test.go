package rules

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// FuzzLoad feeds arbitrary rule files to the loader: it must never panic, every error must be a
// LoadError-wrapped ErrInvalid, and whatever loads must compile and evaluate.
func FuzzLoad(f *testing.F) {
	names, _ := fs.Glob(builtinPack, "pack/*.yaml")
	for _, n := range names {
		b, _ := builtinPack.ReadFile(n)
		f.Add(b)
	}
	f.Add([]byte("rules:\n  - id: x\n    severity: P1\n    select: {types: [access]}\n    condition: \"true\"\n    aggregate: {kind: temporal_ordered, timespan: 1m, steps: [{condition: \"true\"}, {condition: \"false\", count: 2}]}\n"))
	f.Add([]byte("macros: {a: b, b: a}\nrules: [{id: y, severity: P2, select: {types: [inference]}, condition: a}]\n"))
	f.Add([]byte("lists: {l: [x]}\nrules: [{id: z, severity: P4, select: {types: [inference]}, condition: \"event.model in l\", summary: \"{event.model\"}]\n"))
	f.Add([]byte("rules:\n  - id: v\n    severity: P3\n    select: {types: [inference]}\n    condition: \"true\"\n    resolve: false\n    aggregate: {kind: value_count, field: actor.id, timespan: 1m, threshold: \">= 1\"}\n"))
	f.Add([]byte("rules:\n  - id: r\n    severity: P3\n    select: {types: [inference]}\n    condition: \"true\"\n    resolve: true\n"))
	f.Add([]byte("- just a list"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := loadSources([]source{{name: "fuzz.yaml", data: data}}, DefaultMaxWindow)
		if err != nil {
			return
		}
		e, err := New(rs, Options{})
		if err != nil {
			t.Fatalf("loaded but New failed: %v", err)
		}
		ev := &event.Event{ID: "1", Type: event.TypeInference, Time: time.Unix(1e9, 0), Model: event.Model{Name: "m"},
			Actor: event.Actor{User: "u"}, Response: &event.Response{Status: "error"}}
		for range 3 {
			e.Observe(ev)
			e.ObserveDetection(Detection{Kind: "drift", Time: ev.Time})
			e.Tick(ev.Time.Add(time.Hour))
		}
	})
}

// FuzzReplay feeds arbitrary replay streams (the input of `warden rules test`) through the
// built-in pack: it must never panic, whatever the lines hold, and every auto-resolution must
// follow a firing with its dedup key, once per firing.
func FuzzReplay(f *testing.F) {
	rs, err := Load(true)
	if err != nil {
		f.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/scenarios/*/fire.jsonl")
	more, _ := filepath.Glob("testdata/scenarios/*/resolve.jsonl")
	files = append(files, more...)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"tick":"2026-01-01T00:00:00Z"}` + "\n" + `{"detection":{"kind":"x","time":"0001-01-01T00:00:00Z","values":{"baseline":-1}}}`))
	f.Add([]byte(`{"models":[{"name":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, _ := ReplayAll(context.Background(), rs, Options{}, bytes.NewReader(data))
		checkResolutions(t, rs, res)
	})
}
