package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
	"github.com/warden-ai/warden/internal/notify/webhook"
)

const secret = "whsec_4f9a1c0e7b2d48a6"

// receiver is what a user of Warden would run: verify, then decode.
type receiver struct {
	now      func() time.Time
	payloads chan webhook.Payload
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, []byte(secret), 5*time.Minute, rc.now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "json", http.StatusBadRequest)
		return
	}
	rc.payloads <- p
	w.WriteHeader(http.StatusNoContent)
}

func TestReceiverVerifiesSignature(t *testing.T) {
	rc := &receiver{now: time.Now, payloads: make(chan webhook.Payload, 1)}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	n, err := webhook.New(webhook.Config{URL: srv.URL + "/hook", Secret: secret}, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Notification()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	p := <-rc.payloads
	want := notifytest.Alert()
	if p.Version != notify.PayloadVersion || p.Kind != notify.KindFiring || len(p.Alerts) != 1 ||
		p.Alerts[0].ID != want.ID || p.Alerts[0].DedupKey != want.DedupKey || p.Alerts[0].Severity != want.Severity {
		t.Fatalf("payload = %+v", p)
	}

	// Signed with a different secret: the receiver rejects it, and the error is permanent.
	bad, _ := webhook.New(webhook.Config{URL: srv.URL, Secret: "other-secret"}, webhook.Options{})
	err = bad.Notify(context.Background(), notifytest.Notification())
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong secret: err = %v; want a permanent 401", err)
	}

	// A delivery stamped 10 minutes ago is rejected as a replay.
	old, _ := webhook.New(webhook.Config{URL: srv.URL, Secret: secret}, webhook.Options{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	if err := old.Notify(context.Background(), notifytest.Notification()); err == nil {
		t.Fatal("stale signature accepted")
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"version":"1"}`)
	good := webhook.Sign([]byte(secret), now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, now, nil},
		{"valid within tolerance", good, body, now.Add(4 * time.Minute), nil},
		{"clock skew ahead", good, body, now.Add(-4 * time.Minute), nil},
		{"tampered body", good, []byte(`{"version":"2"}`), now, webhook.ErrSignatureMismatch},
		{"stale", good, body, now.Add(6 * time.Minute), webhook.ErrStaleTimestamp},
		{"future", good, body, now.Add(-6 * time.Minute), webhook.ErrStaleTimestamp},
		{"rotation: second v1 matches", webhook.Sign([]byte("old"), now, body) + "," + strings.Split(good, ",")[1], body, now, nil},
		{"timestamp swapped", strings.Replace(good, "t=1700000000", "t=1700000001", 1), body, now, webhook.ErrSignatureMismatch},
		{"empty", "", body, now, webhook.ErrMalformedSignature},
		{"no v1", "t=1700000000", body, now, webhook.ErrMalformedSignature},
		{"no t", strings.Split(good, ",")[1], body, now, webhook.ErrMalformedSignature},
		{"short v1", "t=1700000000,v1=abcd", body, now, webhook.ErrMalformedSignature},
		{"two t", good + ",t=1700000000", body, now, webhook.ErrMalformedSignature},
		{"negative t", "t=-5," + strings.Split(good, ",")[1], body, now, webhook.ErrMalformedSignature},
		{"unknown key ignored", good + ",v0=zz", body, now, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.header, tc.body, []byte(secret), 5*time.Minute, tc.now)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestSignatureFormat(t *testing.T) {
	// Independent check of the documented construction, with a known HMAC-SHA256 value:
	// HMAC-SHA256(key="key", "1.x") computed with: printf '1.x' | openssl dgst -sha256 -hmac key
	got := webhook.Sign([]byte("key"), time.Unix(1, 0), []byte("x"))
	const want = "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
	if got != want {
		t.Fatalf("Sign = %q; want %q", got, want)
	}
}

func TestNoSecretLeak(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusTooManyRequests} {
		srv := notifytest.EchoFailServer(t, status)
		n, err := webhook.New(webhook.Config{URL: srv.URL + "/in/" + secret + "?token=" + secret, Secret: secret,
			Header: http.Header{"X-Api-Key": {"apikey-77aa21"}}}, webhook.Options{})
		if err != nil {
			t.Fatal(err)
		}
		notifytest.AssertNoSecretLeak(t, n, secret, "apikey-77aa21")
	}
	n, _ := webhook.New(webhook.Config{URL: notifytest.ClosedURL(t, "/in/"+secret), Secret: secret}, webhook.Options{})
	notifytest.AssertNoSecretLeak(t, n, secret)
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []webhook.Config{
		{URL: "", Secret: "s"},
		{URL: "ftp://x/y", Secret: "s"},
		{URL: "/relative", Secret: "s"},
		{URL: "https://x/y", Secret: ""},
	} {
		if _, err := webhook.New(cfg, webhook.Options{}); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	body := []byte("b")
	f.Add(webhook.Sign([]byte("k"), time.Unix(1_700_000_000, 0), body))
	f.Add("t=1,v1=" + strings.Repeat("0", 64))
	f.Add("t=1,v1=" + strings.Repeat("0", 64) + ",v1=" + strings.Repeat("f", 64) + ",x=y")
	f.Add("")
	f.Add(",,,")
	f.Add("t=,v1=")
	f.Add("t=99999999999999999999,v1=zz")
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := webhook.ParseSignature(header)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformedSignature) {
				t.Fatalf("error %v does not wrap ErrMalformedSignature", err)
			}
			return
		}
		if sig.Timestamp <= 0 || len(sig.V1) == 0 {
			t.Fatalf("accepted %q as %+v", header, sig)
		}
		for _, v := range sig.V1 {
			if len(v) != 32 {
				t.Fatalf("v1 of %d bytes", len(v))
			}
		}
		// Verify must accept only the signature made with the key over this body.
		want := webhook.Sign([]byte("fuzz-key"), time.Unix(sig.Timestamp, 0), body)
		wantV1 := strings.TrimPrefix(strings.Split(want, ",")[1], "v1=")
		if webhook.Verify(header, body, []byte("fuzz-key"), time.Duration(1<<62), time.Unix(sig.Timestamp, 0)) == nil &&
			!strings.Contains(strings.ToLower(header), wantV1) {
			t.Fatalf("Verify accepted a forged header %q", header)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		n := notifytest.Notification()
		for len(n.Alerts) < size {
			n.Alerts = append(n.Alerts, notifytest.Alert())
		}
		b.Run(fmt.Sprintf("alerts=%d", size), func(b *testing.B) {
			for b.Loop() {
				body, err := webhook.Render(n)
				if err != nil {
					b.Fatal(err)
				}
				_ = webhook.Sign([]byte(secret), notifytest.Time, body)
			}
		})
	}
}

func TestPayloadGolden(t *testing.T) {
	body, err := webhook.Render(notifytest.Notification())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	notifytest.Golden(t, "payload", out.Bytes())
}
