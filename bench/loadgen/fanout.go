package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/proc"
	"github.com/beaconmesh/beacon/bench/internal/result"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// fanout parks o.waiters blocking queries
// (GET /v1/health/service/web?index=N&wait=60s) on beacon-httpgw, each on its
// own connection, measures the gateway's RSS growth, then makes one change
// (a new web instance, registered through gRPC) and times how long each
// waiter takes to return with an answer that holds it. With o.gzip the
// waiters ask for gzip, as Consul's Go client does, and decompress the
// answer. The waiters are lean HTTP/1.1 clients (see waiter), not Go's
// http.Transport, so that the figure is the gateway's.
func fanout(o options) (Result, error) {
	base := o.url
	svc := "web"
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return Result{}, fmt.Errorf("-url %q: not an http://host:port URL", base)
	}
	// The index to block on.
	resp, _, err := getBody(base + "/v1/health/service/" + svc)
	if err != nil {
		return Result{}, err
	}
	index, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil || index == 0 {
		return Result{}, fmt.Errorf("no X-Consul-Index from %s (%q)", base, resp.Header.Get("X-Consul-Index"))
	}
	cc, err := rpcclient.Dial(rpcclient.Config{Addrs: o.addrs})
	if err != nil {
		return Result{}, err
	}
	defer cc.Close()
	cat := catalogv1.NewCatalogServiceClient(cc)

	rssBefore, err := proc.RSSKiB(o.pid)
	if err != nil {
		return Result{}, err
	}
	var catBefore int64
	if o.catalogPid > 0 {
		catBefore, _ = proc.RSSKiB(o.catalogPid)
	}

	// Dials are throttled so the gateway's accept queue does not overflow
	// into SYN retries.
	dialSem := make(chan struct{}, 128)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	const changeID = "web-fanout" // the instance the change registers
	marker := []byte(`"ID":"` + changeID + `"`)
	req := fmt.Appendf(nil, "GET /v1/health/service/%s?index=%d&wait=60s HTTP/1.1\r\nHost: %s\r\nUser-Agent: beacon-loadgen\r\n", svc, index, u.Host)
	if o.gzip {
		req = append(req, "Accept-Encoding: gzip\r\n"...)
	}
	req = append(req, "\r\n"...)
	var gz gunzipper

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+o.timeout)
	defer cancel()
	var wrote, early, returned, errs, gzipped atomic.Int64
	var changed atomic.Int64 // UnixNano of the change; 0 before it
	var firstErr atomic.Value
	ends := make([]time.Time, o.waiters)
	var wg sync.WaitGroup
	setupStart := time.Now()
	for i := range o.waiters {
		wg.Go(func() {
			err := func() error {
				dialSem <- struct{}{}
				w, err := dialWaiter(ctx, dialer, u.Host)
				<-dialSem
				if err != nil {
					return err
				}
				defer w.conn.Close()
				stop := context.AfterFunc(ctx, func() { _ = w.conn.SetDeadline(time.Now()) })
				defer stop()
				if _, err := w.conn.Write(req); err != nil {
					return err
				}
				wrote.Add(1)
				a, err := w.read()
				if err != nil {
					return err
				}
				if a.status != http.StatusOK {
					return fmt.Errorf("status %d", a.status)
				}
				if changed.Load() == 0 {
					early.Add(1)
					return nil
				}
				body := a.body
				if a.zipped {
					gzipped.Add(1)
					buf, err := gz.unzip(body)
					if err != nil {
						return err
					}
					defer gz.put(buf)
					body = buf.Bytes()
				}
				if !bytes.Contains(body, marker) {
					return fmt.Errorf("an answer after the change does not hold %s", changeID)
				}
				ends[i] = time.Now() // the answer read, decompressed and checked
				returned.Add(1)
				return nil
			}()
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		})
	}
	// Wait until every request is on the wire, then until the gateway's
	// RSS settles (each request becomes a blocking gRPC call to the catalog).
	deadline := time.Now().Add(o.timeout)
	for wrote.Load()+errs.Load()+early.Load() < int64(o.waiters) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	setup := time.Since(setupStart)
	if n := wrote.Load(); n < int64(o.waiters) {
		logf("fanout: only %d of %d requests written after %s", n, o.waiters, o.timeout)
	}
	rssWith := settleRSS(o.pid)
	var catWith int64
	if o.catalogPid > 0 {
		catWith, _ = proc.RSSKiB(o.catalogPid)
	}

	// The change.
	t0 := time.Now()
	changed.Store(t0.UnixNano())
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = cat.Register(rctx, instance("fanout-node", "10.255.0.1", svc, changeID))
	rcancel()
	if err != nil {
		cancel()
		wg.Wait()
		return Result{}, fmt.Errorf("register the change: %w", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.timeout):
		logf("fanout: %d of %d waiters still blocked %s after the change; cancelling", int64(o.waiters)-returned.Load()-early.Load()-errs.Load(), o.waiters, o.timeout)
		cancel()
		<-done
	}
	// Leave the catalog as it was.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, derr := cat.Deregister(dctx, &catalogv1.DeregisterRequest{Node: "fanout-node"})
	dcancel()
	if derr != nil {
		logf("fanout: deregister the change: %v", derr)
	}
	if o.gzip && returned.Load() > 0 && gzipped.Load() == 0 {
		logf("fanout: the waiters asked for gzip but no answer came compressed")
	}
	if e := firstErr.Load(); e != nil {
		logf("fanout: %d waiters failed, first: %s", errs.Load(), e)
	}

	var lat []time.Duration
	for _, e := range ends {
		if !e.IsZero() {
			lat = append(lat, e.Sub(t0))
		}
	}
	res := Result{
		Kind: result.KindFanout, Op: "fanout", Waiters: o.waiters, Total: o.waiters,
		Returned: returned.Load(), Early: early.Load(), Errors: errs.Load(),
		RSSBeforeKiB: rssBefore, RSSKiB: rssWith,
		PerWaiterKiB: float64(rssWith-rssBefore) / float64(o.waiters),
		SetupSeconds: setup.Seconds(),
	}
	if o.catalogPid > 0 && catBefore > 0 {
		res.CatalogPerWaitKiB = float64(catWith-catBefore) / float64(o.waiters)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50ms, res.P99ms, res.MaxMs = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1])
		res.Seconds = lat[len(lat)-1].Seconds()
		res.Rate = float64(len(lat)) / res.Seconds
	}
	return res, nil
}

// settleRSS reads a process' RSS until it stops growing (two readings
// 250 ms apart within 0.5%), for at most 10 s after a first 1 s pause.
func settleRSS(pid int) int64 {
	time.Sleep(time.Second)
	last, _ := proc.RSSKiB(pid)
	for range 40 {
		time.Sleep(250 * time.Millisecond)
		cur, err := proc.RSSKiB(pid)
		if err != nil {
			return last
		}
		if d := cur - last; d >= -last/200 && d <= last/200 {
			return cur
		}
		last = cur
	}
	return last
}
