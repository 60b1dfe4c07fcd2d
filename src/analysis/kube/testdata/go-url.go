// go-url reads request targets the way a Go HTTP server (the Kubernetes API server) does: one JSON string per input
// line, answered by one JSON object per line with whether net/http accepts the request line, the path segments the
// API server's request-info resolver splits (strings.Split of the decoded path trimmed of slashes), and the query as
// url.ParseQuery reads it (with whether it reported an error, i.e. dropped a pair). Test oracle only.
package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
)

type answer struct {
	OK       bool                `json:"ok"`
	Segments []string            `json:"segments"`
	Query    map[string][]string `json:"query"`
	QueryErr bool                `json:"queryErr"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var target string
		if err := json.Unmarshal(in.Bytes(), &target); err != nil {
			panic(err)
		}
		raw := "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			_ = out.Encode(answer{OK: false})
			continue
		}
		path := strings.Trim(req.URL.Path, "/")
		segments := []string{}
		if path != "" {
			segments = strings.Split(path, "/")
		}
		query, qerr := url.ParseQuery(req.URL.RawQuery)
		_ = out.Encode(answer{OK: true, Segments: segments, Query: query, QueryErr: qerr != nil})
	}
}
