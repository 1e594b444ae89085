// Package profile writes CPU and heap profiles of a Beacon process when the
// BEACON_CPUPROFILE / BEACON_MEMPROFILE environment variables name files,
// so `make bench PROFILE=1` can profile every process under load.
package profile

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Start begins profiling as the environment asks; call the returned
// function before the process exits.
func Start() (stop func()) {
	var stops []func()
	if path := os.Getenv("BEACON_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			f.Close()
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("BEACON_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer f.Close()
			runtime.GC()
			if err := pprof.WriteHeapProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
