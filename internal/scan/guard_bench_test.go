package scan

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkGuardScan is the cost a guard model adds to a scan on Warden's side: one loopback HTTP
// round trip to a guard that answers at once (request encoding, transport, bounded read, parse
// and merge), next to the built-in scan of the same 1 KB input. The guard's own inference time
// comes on top of it.
func BenchmarkGuardScan(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"warden.guard/v1","findings":[{"category":"prompt_injection","score":0.02,"label":"BENIGN"}]}`))
	}))
	defer srv.Close()
	opts := DefaultOptions()
	opts.Guards = []GuardOptions{{Name: "g", Categories: []string{CatPromptInjection, CatJailbreak},
		Hook: ExternalOptions{URL: srv.URL, Timeout: 5 * time.Second}}}
	e, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("Please summarise the attached quarterly report for the board. ", 17)[:1024]
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		guards []string
	}{{"builtin-only", nil}, {"with-guard", []string{"g"}}} {
		b.Run(bc.name, func(b *testing.B) {
			sc := Context{Model: "m", Guards: bc.guards}
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Scan(ctx, text, Input, sc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
