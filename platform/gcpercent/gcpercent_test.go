package gcpercent

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestDefault(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for _, tc := range []struct {
		name, gogc string
		unset      bool
		want       int
	}{
		{name: "unset", unset: true, want: 400},
		{name: "GOGC=150", gogc: "150", want: 150},
		{name: "GOGC=off", gogc: "off", want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.unset {
				// The runtime read GOGC at start; mimic a process started with it.
				t.Setenv("GOGC", tc.gogc)
				debug.SetGCPercent(map[string]int{"150": 150, "off": -1}[tc.gogc])
			} else {
				t.Setenv("GOGC", "") // restored after the test
				if err := os.Unsetenv("GOGC"); err != nil {
					t.Fatal(err)
				}
				debug.SetGCPercent(100)
			}
			if got := Default(400); got != tc.want {
				t.Errorf("Default(400) = %d, want %d", got, tc.want)
			}
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("target in effect %d, want %d", got, tc.want)
			}
		})
	}
}
