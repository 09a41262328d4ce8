package statefile

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

type doc struct{ N int }

func decodeDoc(b []byte) (*doc, error) {
	var d doc
	if len(b) == 0 {
		return &d, nil
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := Update(path, func([]byte) ([]byte, error) { return []byte(s), nil }); err != nil {
		t.Fatal(err)
	}
}

func TestCacheFollowsOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	write(t, path, `{"N":1}`)
	c, err := NewCache(path, time.Hour, nil, decodeDoc)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, `{"N":2}`)
	if got := c.Get().N; got != 1 {
		t.Fatalf("Get within the poll interval = %d, want the loaded 1", got)
	}
	if got := c.Changed().N; got != 2 {
		t.Fatalf("Changed after a write = %d, want 2", got)
	}
	write(t, path, `{"N":3}`)
	if got := c.Fresh().N; got != 3 {
		t.Fatalf("Fresh = %d, want 3", got)
	}
}

func TestCachePollsAndKeepsLastGoodValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	c, err := NewCache(path, time.Nanosecond, nil, decodeDoc)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get().N; got != 0 {
		t.Fatalf("missing file reads as %d, want the zero value", got)
	}
	write(t, path, `{"N":7}`)
	time.Sleep(time.Millisecond) // past the 1 ns poll interval
	if got := c.Get().N; got != 7 {
		t.Fatalf("Get after the poll interval = %d, want 7", got)
	}
	write(t, path, `{"N":`)
	if got := c.Fresh().N; got != 7 {
		t.Fatalf("a corrupt file replaced the value: got %d, want the last good 7", got)
	}
	if _, err := NewCache(path, time.Second, nil, decodeDoc); err == nil {
		t.Fatal("NewCache on a corrupt file: want an error")
	}
}

func TestUpdateJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	bump := func(d *doc) error { d.N++; return nil }
	for want := 1; want <= 2; want++ {
		if err := UpdateJSON(path, doc{}, bump); err != nil {
			t.Fatal(err)
		}
		if c, err := NewCache(path, time.Hour, nil, decodeDoc); err != nil || c.Loaded().N != want {
			t.Fatalf("after update %d: %+v, %v", want, c, err)
		}
	}
	write(t, path, `{"N":`)
	if err := UpdateJSON(path, doc{}, bump); err == nil {
		t.Fatal("a corrupt document was overwritten")
	}
	if b, _, _ := Read(path); string(b) != `{"N":` {
		t.Fatalf("corrupt file changed to %q", b)
	}
}
