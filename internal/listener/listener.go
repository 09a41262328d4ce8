// Package listener builds Warden's HTTP servers with every limit set: read, write and idle
// timeouts, a header size limit and a cap on open connections per listener, so slow or idle
// clients on one listener cannot exhaust file descriptors and starve the other.
package listener

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound one listener. Zero fields take the defaults of Defaults.
type Limits struct {
	// ReadHeaderTimeout bounds reading the request line and headers; ReadTimeout the whole
	// request including its body.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// WriteTimeout bounds writing a response (from the end of the request headers). Handlers
	// that stream for longer extend it per request with http.ResponseController.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int
	// MaxConns caps the open connections; further connections wait in the accept backlog.
	MaxConns int
}

// Defaults are the limits of both listeners unless configured otherwise.
var Defaults = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          4096,
}

func (l Limits) withDefaults() Limits {
	d := Defaults
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxConns > 0 {
		d.MaxConns = l.MaxConns
	}
	return d
}

// Server returns an http.Server for h with the limits applied; errors of the server go to log
// at warning level (nil: discarded).
func Server(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	l = l.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Limit wraps ln so that at most l.MaxConns connections are open at once.
func Limit(ln net.Listener, l Limits) net.Listener {
	return netutil.LimitListener(ln, l.withDefaults().MaxConns)
}

// Serve serves srv on ln with the connection cap of l, over TLS with certs' current
// configuration when certs is not nil.
func Serve(srv *http.Server, ln net.Listener, l Limits, certs *Certs) error {
	ln = Limit(ln, l)
	if certs == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = certs.Config()
	return srv.ServeTLS(ln, "", "")
}
