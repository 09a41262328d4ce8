package app

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/listener"
)

// listenerCerts loads a listener's TLS files (nil when it serves plain HTTP). clientAuth applies
// when the listener has a client CA.
func (a *App) listenerCerts(name string, c config.ListenerTLS, clientAuth tls.ClientAuthType) (*listener.Certs, error) {
	if !c.Enabled() {
		return nil, nil
	}
	certs, err := listener.NewCerts(listener.TLS{CertFile: c.CertFile, KeyFile: c.KeyFile, ClientCAFile: c.ClientCAFile, ClientAuth: clientAuth},
		a.log.With("listener", name))
	if err != nil {
		return nil, fmt.Errorf("tls.%s: %w", name, err)
	}
	return certs, nil
}

// ingestClientCert wraps an ingest handler so that, when the API listener has a client CA, it
// needs a verified client certificate besides the ingest token (mTLS for ingest).
func (a *App) ingestClientCert(h http.Handler) http.Handler {
	if a.cfg.TLS.API.ClientCAFile == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !listener.HasClientCert(r.TLS) {
			httpx.WriteErrorBody(w, r, http.StatusUnauthorized, httpx.Error{Code: "client_certificate_required", Field: "tls",
				Message: "ingest needs a client certificate signed by the configured client CA (tls.api.client_ca_file)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
