package detection

import (
	"strings"
	"testing"
	"time"
)

func TestRegistryIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Schemas() {
		if seen[s.Kind] {
			t.Errorf("kind %s registered twice", s.Kind)
		}
		seen[s.Kind] = true
		if s.Emitter == "" || s.Doc == "" || s.ValueUnit == "" || len(s.Statistics) == 0 {
			t.Errorf("%s: emitter, doc, value unit and statistics are required: %+v", s.Kind, s)
		}
		names := map[string]bool{}
		for _, f := range s.Values {
			if f.Type != "number" || f.Unit == "" || f.Doc == "" || names[f.Name] {
				t.Errorf("%s: value %+v: type number, a unit, a doc and a unique name are required", s.Kind, f)
			}
			names[f.Name] = true
		}
		if s.Informational && s.CoveredBy != "" {
			t.Errorf("%s: informational and covered by a rule", s.Kind)
		}
		// Every kind that raises alerts either recovers (its alerts auto-resolve) or says why it
		// is a one-shot event that an analyst resolves.
		if !s.Informational && s.Recovers == (s.OneShot != "") {
			t.Errorf("%s: a kind either recovers or gives its one-shot reason (recovers=%v, one_shot=%q)", s.Kind, s.Recovers, s.OneShot)
		}
	}
	if len(seen) != len(Kinds()) {
		t.Errorf("Kinds() = %v, schemas %d", Kinds(), len(seen))
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		d    Detection
		want string // "" = valid
	}{
		{"cost", Detection{Kind: KindCostSpike, Time: now, Statistic: "daily_cost_ratio", Value: 2,
			Values: map[string]float64{"today_usd": 2, "trailing_daily_avg_usd": 1}}, ""},
		{"recovered without values", Detection{Kind: KindLatency, Time: now, Statistic: "latency_p95_ms", Recovered: true}, ""},
		{"unknown kind", Detection{Kind: "cost", Statistic: "daily_cost_ratio"}, "kind: \"cost\""},
		{"wrong statistic", Detection{Kind: KindDrift, Statistic: "ks"}, "statistic: \"ks\""},
		{"unknown value", Detection{Kind: KindCostSpike, Statistic: "daily_cost_ratio", Values: map[string]float64{"baseline": 1}}, "values.baseline"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.d)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
