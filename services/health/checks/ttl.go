package checks

import (
	"sync"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// ttlCheck is pushed, not polled: the application reports its status, and
// if it stops reporting for ttl the check turns critical.
type ttlCheck struct {
	id     string
	ttl    time.Duration
	notify Notifier

	mu         sync.Mutex
	timer      *time.Timer
	lastOutput string
	stopped    bool
}

func startTTL(id string, ttl time.Duration, n Notifier) *ttlCheck {
	t := &ttlCheck{id: id, ttl: ttl, notify: n}
	t.timer = time.AfterFunc(ttl, t.expire)
	return t
}

// set records a status reported by the application and restarts the timer.
func (t *ttlCheck) set(status catalogv1.HealthStatus, output string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.lastOutput = output
	t.timer.Reset(t.ttl)
	t.notify.UpdateCheck(t.id, status, output)
}

func (t *ttlCheck) expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	out := "TTL expired"
	if t.lastOutput != "" {
		out = "TTL expired (last output before timeout follows): " + t.lastOutput
	}
	t.notify.UpdateCheck(t.id, Critical, TruncateOutput(out))
}

func (t *ttlCheck) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.timer.Stop()
}
