package rules

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestRunTestPrintsFirings(t *testing.T) {
	f, err := os.Open("testdata/scenarios/warden.sec.denials_then_allow/fire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := RunTest(context.Background(), "", true, f, &out); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
	for _, want := range []string{"warden.sec.denials_then_allow\tP2", "acc-", "was denied 5 times"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestReportsBadLine(t *testing.T) {
	in := strings.NewReader("{\"type\":\"inference\",\"time\":\"2026-03-02T10:00:00Z\",\"model\":{\"name\":\"m\"}}\n{\"type\":\"bogus\"}\n")
	err := RunTest(context.Background(), "", true, in, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want one naming line 2", err)
	}
}

func TestExamplesCheckAndFire(t *testing.T) {
	const dir = "../../examples/rules"
	if errs := Check(dir); len(errs) > 0 {
		t.Fatalf("examples do not check: %v", errs)
	}
	f, err := os.Open(dir + "/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := RunTest(context.Background(), dir, true, f, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acme.weights_off_hours\tP2\tevents=[a1]", "acme.key_sharing\tP2\tevents=[i1,i2,i3]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "events=[a2]") {
		t.Errorf("the release-bot exception did not hold:\n%s", out.String())
	}
}
