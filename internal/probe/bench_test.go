package probe

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

// BenchmarkJudge measures judging one answer (the output scan plus the probe's checks) for
// answers of growing size; probes are cheap next to the model call they follow.
func BenchmarkJudge(b *testing.B) {
	eng, err := scan.New(scan.Options{MaxDecodeDepth: 3})
	if err != nil {
		b.Fatal(err)
	}
	pr := &Probe{Name: "b", Family: "system_prompt_extraction", Prompt: "x", Judge: Judge{Canary: true, Refusal: true, Marker: "PWNED-1", Scan: []string{"pii", "secret"}}}
	sc := scan.Context{Model: "m", SystemPrompt: "You are the ACME support assistant. Internal reference code: CANARY-1.", Canaries: []string{"CANARY-1"}}
	for _, size := range []int{256, 4096, 32768} {
		// An ordinary answer with one customer record in it.
		prose := "Your claim was received on Monday and is being reviewed by our team; you will hear from us within five working days. "
		out := strings.Repeat(prose, size/len(prose)+1)[:size-len(upstreamsim.PIIText)] + upstreamsim.PIIText
		b.Run(fmt.Sprintf("answer=%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				judge(context.Background(), eng, pr, out, sc)
			}
		})
	}
}

// BenchmarkTrackerObserve measures the analysis worker's cost of one probe verdict for a model
// with a growing number of tracked probes.
func BenchmarkTrackerObserve(b *testing.B) {
	for _, probes := range []int{25, 250} {
		b.Run(fmt.Sprintf("probes=%d", probes), func(b *testing.B) {
			tr := NewTracker(TrackerOptions{})
			t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			i := 0
			for b.Loop() {
				r := Resisted
				if i%7 == 0 {
					r = Failed
				}
				tr.Observe(probeEvent("bot", fmt.Sprintf("p%d", i%probes), fmt.Sprintf("f%d", i%5), r, t0.Add(time.Duration(i)*time.Second)))
				i++
			}
		})
	}
}
