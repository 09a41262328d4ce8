package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
)

// growth is what the audit log gained from index from on, by origin.
type growth struct {
	total          int
	acked          int // entries of acknowledged ingest events
	unackedIngest  int // soakbench ids never acknowledged (a timed-out request may still land)
	junkStored     int // events of refused junk batches
	gwInference    int
	gwAllow        int            // gateway access decisions: allow
	allowActions   map[string]int // their actions
	aggregates     int            // aggregated unauthenticated counts
	aggRequests    int            // requests those aggregates count
	forgedActor    int            // entries whose actor is the identity the junk claims
	other          map[string]int // anything else, by type/action/decision
	missing        int            // acknowledged ids not in the log
	missingSamples []string
}

// checkLog opens the stopped server's audit log, looks up every acknowledged id and classifies
// every entry from index from on.
func checkLog(data string, from uint64, acked []string) (*growth, error) {
	log, err := audit.Open(audit.DefaultOptions(filepath.Join(data, "log")))
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	defer log.Close()
	g := &growth{other: map[string]int{}, allowActions: map[string]int{}}
	ackedSet := make(map[string]bool, len(acked))
	for _, id := range acked {
		ackedSet[id] = true
		if _, ok := log.Lookup(id); !ok {
			g.missing++
			if len(g.missingSamples) < 5 {
				g.missingSamples = append(g.missingSamples, id)
			}
		}
	}
	err = log.ReadLeaves(from, func(_ uint64, id string, leaf []byte) error {
		g.total++
		ev, err := event.ParseLeaf(leaf)
		if err != nil {
			return fmt.Errorf("entry %s: %w", id, err)
		}
		if ev.Actor.User == forgedUser {
			g.forgedActor++
		}
		switch {
		case ackedSet[id]:
			g.acked++
		case strings.HasPrefix(id, idPrefix):
			g.unackedIngest++
		case strings.HasPrefix(id, "junk-"):
			g.junkStored++
		case ev.Type == event.TypeInference:
			g.gwInference++
		case ev.Type == event.TypeAccess && ev.Decision == "allow":
			g.gwAllow++
			g.allowActions[ev.Action]++
		case ev.Type == event.TypeAccess && ev.Attributes["gateway.unauthenticated"] == true:
			g.aggregates++
			if n, ok := ev.Attributes["gateway.requests"].(float64); ok {
				g.aggRequests += int(n)
			}
		default:
			g.other[fmt.Sprintf("%s/%s/%s", ev.Type, ev.Action, ev.Decision)]++
		}
		return nil
	})
	return g, err
}

func (g *growth) print(validGateway int) {
	fmt.Printf("audit log growth from the start of the baseline: %d entries\n", g.total)
	fmt.Printf("  %9d acknowledged ingest events\n", g.acked)
	fmt.Printf("  %9d gateway inference events   (valid gateway requests answered 200: %d)\n", g.gwInference, validGateway)
	fmt.Printf("  %9d gateway access decisions (allow) by action: %v\n", g.gwAllow, g.allowActions)
	fmt.Printf("  %9d aggregated unauthenticated counts, covering %d requests\n", g.aggregates, g.aggRequests)
	fmt.Printf("  %9d ingest events whose request was not acknowledged\n", g.unackedIngest)
	fmt.Printf("  %9d events of refused junk batches\n", g.junkStored)
	for _, k := range slices.Sorted(maps.Keys(g.other)) {
		fmt.Printf("  %9d other: %s\n", g.other[k], k)
	}
	fmt.Printf("  entries with the forged identity %q as actor: %d\n", forgedUser, g.forgedActor)
}
