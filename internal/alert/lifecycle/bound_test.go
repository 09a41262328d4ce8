package lifecycle

import (
	"context"
	"fmt"
	"testing"

	"github.com/warden-ai/warden/internal/alert"
)

// TestMaxAlertsDropsLongestResolved: past MaxAlerts the longest-resolved alerts go (issue 12:
// alerts were never evicted); firing ones stay, whatever their number.
func TestMaxAlertsDropsLongestResolved(t *testing.T) {
	ctx := context.Background()
	m, err := New(Options{Dir: t.TempDir(), Deliverer: &recorder{}, MaxAlerts: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var ids []string
	for i := range 12 {
		if err := m.Receive(ctx, []alert.Alert{mk(fmt.Sprint("r", i), alert.P3, "bot")}); err != nil {
			t.Fatal(err)
		}
		vs, _, err := m.List(Filter{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, vs[0].ID)
	}
	// 12 firing alerts over a cap of 10: none is dropped.
	if vs, _, _ := m.List(Filter{}); len(vs) != 12 {
		t.Fatalf("%d alerts, want all 12 firing ones kept", len(vs))
	}
	for _, id := range ids[:6] {
		if _, err := m.Resolve(ctx, id, "ann", "done"); err != nil {
			t.Fatal(err)
		}
	}
	// Each write over the cap prunes down to 90% of it, longest resolved first: 4 of the 6 go.
	if err := m.Receive(ctx, []alert.Alert{mk("r-new", alert.P3, "bot")}); err != nil {
		t.Fatal(err)
	}
	for k, id := range ids {
		_, err := m.Get(id)
		if kept := err == nil; kept != (k >= 4) {
			t.Errorf("alert %d kept = %v (err %v)", k, kept, err)
		}
	}
}
