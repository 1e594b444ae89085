package consuljson

import (
	"encoding/json"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`"10s"`:        10 * time.Second,
		`"1m30s"`:      90 * time.Second,
		`"15.0s"`:      15 * time.Second,
		`"0s"`:         0,
		`""`:           0,
		`null`:         0,
		`1000000000`:   time.Second,
		`1.5e9`:        1500 * time.Millisecond,
		`"60000ms"`:    time.Minute,
		`"0.001s"`:     time.Millisecond,
		`"-5s"`:        -5 * time.Second,
		`"2562047h0s"`: 2562047 * time.Hour,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `"10"`, `true`, `{}`, `1e30`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	b, _ := json.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if string(b) != `{"D":"1m30s"}` {
		t.Errorf("marshal = %s", b)
	}
}

func TestLockDelayJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`15`:          15 * time.Second,
		`999`:         999 * time.Second,
		`1000`:        1000,
		`15000000000`: 15 * time.Second,
		`"15s"`:       15 * time.Second,
		`"15000ms"`:   15 * time.Second,
	} {
		var d LockDelay
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
}

func TestKindsAndStatuses(t *testing.T) {
	for k := range catalogv1.ServiceKind_name {
		kind := catalogv1.ServiceKind(k)
		back, ok := kindFromString(KindString(kind))
		if !ok || back != kind {
			t.Errorf("kind %v does not round-trip (%q)", kind, KindString(kind))
		}
	}
	if _, ok := kindFromString("sidecar"); ok {
		t.Error("unknown kind accepted")
	}
	for _, s := range []string{StatusPassing, StatusWarning, StatusCritical} {
		st, err := StatusFromString(s)
		if err != nil || StatusString(st) != s {
			t.Errorf("status %q does not round-trip", s)
		}
	}
	if StatusString(catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED) != StatusCritical {
		t.Error("an unset status is not critical")
	}
	if _, err := StatusFromString("maintenance"); err == nil {
		t.Error("maintenance accepted as a catalog status")
	}
}

func TestNilListsRenderEmpty(t *testing.T) {
	b, err := json.Marshal(HealthCheckFromProto(&catalogv1.HealthCheck{}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if tags, ok := m["ServiceTags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("ServiceTags = %v, want []", m["ServiceTags"])
	}
	b, _ = json.Marshal(NodeServiceFromProto(&catalogv1.Service{}))
	_ = json.Unmarshal(b, &m)
	if tags, ok := m["Tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("Tags = %v, want []", m["Tags"])
	}
}
