// Package web serves the Observer's page: one HTML page, its script and its style, all embedded
// in the binary (no CDN: it works with no internet), and the overview as JSON, which the page
// polls every second.
package web

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"

	"tsbank/contract"
)

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// Handler serves the page at /, the overview at /overview.json and the page's files under
// /static/. latest returns the newest overview, or false before the first.
func Handler(latest func() (contract.Overview, bool)) http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.HandleFunc("GET /overview.json", func(w http.ResponseWriter, _ *http.Request) {
		ov, ok := latest()
		if !ok {
			http.Error(w, "no overview yet: the first is being collected", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(ov)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		// The page carries the overview it opens with, so that it shows the bank at once (and a
		// browser that runs no further requests, as a headless test, sees the same).
		var initial []byte
		if ov, ok := latest(); ok {
			initial, _ = json.Marshal(ov)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// json.Marshal escapes <, > and &, so the overview cannot end the script element early.
		_ = page.Execute(w, struct{ Initial template.JS }{template.JS(initial)})
	})
	return mux
}
