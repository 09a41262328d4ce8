package jetstream

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTransientSetupError: what processes starting together on a NATS cluster see half-way
// (a stream "not found", then "overlapping" with itself) is retried; a refused configuration is
// not.
func TestTransientSetupError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"overlap", fmt.Errorf("stream WARDEN_LOGGED: %w", &jetstream.APIError{Code: 400, ErrorCode: 10065, Description: "subjects overlap with an existing stream"}), true},
		{"not found", fmt.Errorf("stream X: %w", jetstream.ErrStreamNotFound), true},
		{"timeout", fmt.Errorf("lease bucket: %w", nats.ErrTimeout), true},
		{"unavailable", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{"insufficient resources", &jetstream.APIError{Code: 500, ErrorCode: 10023, Description: "insufficient resources"}, false},
		{"replicas", &jetstream.APIError{Code: 400, ErrorCode: 10074, Description: "replicas > 1 not supported in non-clustered mode"}, false},
		{"other", errors.New("boom"), false},
	} {
		if got := transientSetupError(tc.err); got != tc.want {
			t.Errorf("%s: transient %v, want %v", tc.name, got, tc.want)
		}
	}
}
