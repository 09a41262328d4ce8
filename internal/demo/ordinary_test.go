package demo

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// TestOrdinaryDay: a day of ordinary traffic is valid schema-v1 events inside the day, follows
// the working day (staff only in working hours), is the same for a seed, and holds no failure.
func TestOrdinaryDay(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	day := OrdinaryDay(start, 24, 1)
	if len(day) < 2000 || len(day) > 4000 {
		t.Fatalf("%d events in a day", len(day))
	}
	if !reflect.DeepEqual(day, OrdinaryDay(start, 24, 1)) {
		t.Fatal("not deterministic for a seed")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, ev := range day {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := event.DecodeValid(b.Bytes())
	if err != nil {
		t.Fatalf("invalid events: %v", err)
	}
	perModelHour := map[string]map[int]int{}
	for _, ev := range evs {
		if ev.Time.Before(start) || !ev.Time.Before(start.Add(24*time.Hour)) {
			t.Fatalf("event at %s outside the day", ev.Time)
		}
		if ev.Response == nil || ev.Response.Status != "ok" || ev.Actor.Consumer == "" || ev.Actor.User == "" {
			t.Fatalf("not an ordinary answered request: %+v", ev)
		}
		if perModelHour[ev.Model.Name] == nil {
			perModelHour[ev.Model.Name] = map[int]int{}
		}
		perModelHour[ev.Model.Name][ev.Time.Hour()]++
	}
	staff := perModelHour["internal-assistant"]
	if staff[3] != 0 || staff[22] != 0 || staff[10] == 0 {
		t.Fatalf("staff traffic by hour %v: want working hours only", staff)
	}
	if c := perModelHour["support-bot"]; c[3] == 0 || c[14] <= c[3] {
		t.Fatalf("customer traffic by hour %v: want every hour, more at midday", c)
	}
}
