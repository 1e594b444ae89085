// Command httpfloor is the floor of Beacon's HTTP read benchmark: a bare
// net/http server that returns the same bytes (body and headers) beacon-httpgw
// returned for one request, from memory, on every path. What beacon-httpgw
// costs beyond this is routing, the gRPC call to the catalog, the catalog's
// read and the JSON encoding.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8580", "address to serve on")
	bodyFile := flag.String("body", "", "file holding the body to serve")
	headerFile := flag.String("headers", "", "file of 'Name: value' lines to send with it")
	flag.Parse()
	h, err := load(*bodyFile, *headerFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpfloor:", err)
		os.Exit(2)
	}
	if err := http.ListenAndServe(*addr, h); err != nil {
		fmt.Fprintln(os.Stderr, "httpfloor:", err)
		os.Exit(1)
	}
}

type handler struct {
	body   []byte
	header http.Header
}

func load(bodyFile, headerFile string) (*handler, error) {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return nil, err
	}
	h := &handler{body: body, header: http.Header{}}
	if headerFile != "" {
		raw, err := os.ReadFile(headerFile)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
				h.header.Add(k, v)
			}
		}
	}
	h.header.Set("Content-Length", strconv.Itoa(len(body)))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	for k, v := range h.header {
		hdr[k] = v
	}
	_, _ = w.Write(h.body)
}
