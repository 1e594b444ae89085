package consuljson

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// Duration is a duration as Consul writes it in JSON ("15s") and reads it:
// either a Go duration string or a number of nanoseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "10s"-style strings and numbers of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := parseDurationJSON(b, false)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// parseDurationJSON reads a JSON string or number as a duration. With
// smallIsSeconds, numbers below 1000 are seconds rather than nanoseconds, as
// Consul reads a session's LockDelay.
func parseDurationJSON(b []byte, smallIsSeconds bool) (time.Duration, error) {
	if string(b) == "null" {
		return 0, nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		if s == "" {
			return 0, nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, &json.UnmarshalTypeError{Value: "duration " + strconv.Quote(s), Type: durationType}
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, &json.UnmarshalTypeError{Value: "value " + string(b), Type: durationType}
	}
	if smallIsSeconds && f < 1000 {
		f *= float64(time.Second)
	}
	if f > float64(1<<63-1) || f < -float64(1<<63) {
		return 0, &json.UnmarshalTypeError{Value: "number " + string(b), Type: durationType}
	}
	return time.Duration(f), nil
}

var durationType = reflect.TypeFor[time.Duration]()

func (d Duration) proto() *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(time.Duration(d))
}

func durationFromProto(p *durationpb.Duration) Duration {
	if p == nil {
		return 0
	}
	return Duration(p.AsDuration())
}

// String formats the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }
