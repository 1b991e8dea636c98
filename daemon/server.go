package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/meshjoin/meshjoin/internal/peercred"
)

// attachEvery is how often an attach stream sends the status.
const attachEvery = time.Second

// Handler is the control API:
//
//	GET  /v1/status          Status
//	POST /v1/services        ServicesRequest → Status, once joined
//	POST /v1/down            DownRequest → DownReply
//	GET  /v1/env             []EnvVar
//	GET  /v1/catalog         []mesh.Service: what can be joined
//	GET  /v1/attach?run=1    a stream of JSON lines: Attached, then a Status every second;
//	                         the client is attached (a run holds the session) until it closes it
//	POST /v1/release?lease=  ReleaseReply
//
// Every request passes the peer check first.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, d.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/services", func(w http.ResponseWriter, r *http.Request) {
		var req ServicesRequest
		if !readJSON(w, r, &req) {
			return
		}
		if err := d.AddServices(r.Context(), req.Add, req.Keep, req.Replace); err != nil {
			writeError(w, http.StatusConflict, d.errorBody(err))
			return
		}
		writeJSON(w, d.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/down", func(w http.ResponseWriter, r *http.Request) {
		var req DownRequest
		if !readJSON(w, r, &req) {
			return
		}
		reply, err := d.Down(r.Context(), req.Grace)
		if err != nil {
			writeError(w, http.StatusConflict, d.errorBody(err))
			return
		}
		writeJSON(w, reply)
	})
	mux.HandleFunc("GET /v1/env", func(w http.ResponseWriter, r *http.Request) {
		vars, err := d.Env(r.Context())
		if err != nil {
			writeError(w, http.StatusConflict, d.errorBody(err))
			return
		}
		writeJSON(w, vars)
	})
	mux.HandleFunc("GET /v1/catalog", func(w http.ResponseWriter, r *http.Request) {
		if err := d.waitStarted(r.Context()); err != nil {
			writeError(w, http.StatusConflict, d.errorBody(err))
			return
		}
		d.mu.Lock()
		s := d.sess
		d.mu.Unlock()
		writeJSON(w, s.CatalogServices())
	})
	mux.HandleFunc("GET /v1/attach", d.serveAttach)
	mux.HandleFunc("POST /v1/release", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, ReleaseReply{Ended: d.release(r.URL.Query().Get("lease"))})
	})
	return allowPeer(mux)
}

// serveAttach holds a client: while the request lasts, the client counts (and a run holds
// the session). A client that dies is released when its connection closes.
func (d *Daemon) serveAttach(w http.ResponseWriter, r *http.Request) {
	lease := d.attach(r.URL.Query().Get("run") == "1")
	// A client that went away without releasing is released here, in the background as
	// nobody waits; after an explicit release this does nothing.
	defer func() { go d.release(lease) }()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	if err := enc.Encode(Attached{Lease: lease, Status: d.Status(r.Context())}); err != nil {
		return
	}
	t := time.NewTicker(attachEvery)
	defer t.Stop()
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.ended:
			enc.Encode(d.Status(r.Context()))
			return
		case <-t.C:
			d.mu.Lock()
			_, held := d.leases[lease]
			d.mu.Unlock()
			if !held { // released explicitly
				return
			}
			if err := enc.Encode(d.Status(r.Context())); err != nil {
				return
			}
		}
	}
}

// Server is the HTTP server for Handler, recording each connection's peer.
func (d *Daemon) Server() *http.Server {
	return &http.Server{Handler: d.Handler(), ConnContext: peercred.ConnContext, ReadHeaderTimeout: 10 * time.Second}
}

// Serve serves the control API on l until the daemon ends, then shuts the server down.
func (d *Daemon) Serve(l *Listener) error {
	srv := d.Server()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-d.ended:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Attach streams never end on their own: close them rather than wait.
	if err := srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
	}
	return nil
}

const maxRequestBody = 1 << 20

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, errorf(codeUsage, "", "bad request: %v", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *RemoteError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e.ErrorBody)
}
