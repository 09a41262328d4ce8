package incident

import (
	"bytes"
	"encoding/json"
	"net/http"
)

type bytesBuffer = bytes.Buffer

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone
}
